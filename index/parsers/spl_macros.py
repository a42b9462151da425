"""SPL search macros: load definitions, strip comments, expand `` `name(args)` `` calls.

Splunk expands macros before it parses a search, and so does rulecat: the SPL parser only
ever sees expanded text.

Decisions:

* Definitions come from a source's `macros/*.yml` (`name`, `definition`, optional
  `arguments`), keyed by name and arity as Splunk keys them (`name(2)`).
* A few macros detections call are defined by Splunk's CIM and ES apps, not in
  security_content. `BUILTIN_MACROS` holds rulecat's stand-ins for them, reduced to what
  matters to predicates (`drop_dm_object_name(x)` is `rename x.* AS *`); a source's own
  definition of the same name and arity wins.
* `..._filter` macros (per-detection tuning hooks, `search *` upstream) expand to their
  definition when the source has one, else to nothing; they are never reported missing.
* A missing macro expands to nothing and is reported (`Expansion.unresolved`), so the rest
  of the search is still read.
* Arguments are split at top-level commas; one pair of surrounding double quotes is
  dropped (`drop_dm_object_name("Web")` means `Web`), and `\\"` read as `"`.
* Triple-backtick comments are removed first, as Splunk does; an unclosed one runs to
  the end of the search. Backticks inside double-quoted strings are literal.
* Expansion is bounded: `MAX_DEPTH` nested expansions, `MAX_EXPANSIONS` expansions in
  all and `MAX_LENGTH` characters of output. A macro past a bound is left unexpanded and
  reported, so a cycle (`a` -> `b` -> `a`) or a macro calling itself many times ends as an
  unresolved macro, never as a hang.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..readers.yamlsafe import load_yaml_documents

MAX_DEPTH = 12
MAX_LENGTH = 200_000
MAX_EXPANSIONS = 5_000
FILTER_SUFFIX = "_filter"

_COMMENT = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_CALL = re.compile(r"^\s*([\w.:\-]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_ARG = re.compile(r"\$(\w+)\$")

# Macros of Splunk's CIM and ES apps that detections call (name, arguments, definition).
BUILTIN_MACROS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("drop_dm_object_name", ("object",), "rename $object$.* AS *"),
    ("get_asset", ("field",), "lookup asset_lookup_by_str asset AS $field$ OUTPUTNEW asset_id"),
    (
        "cim_corporate_web_domain_search",
        ("field",),
        "[| inputlookup cim_corporate_web_domain_lookup | rename domain AS $field$"
        " | fields $field$]",
    ),
)


@dataclass(frozen=True)
class Macro:
    """One macro definition; `arguments` name the `$arg$` placeholders in order."""

    name: str
    definition: str
    arguments: tuple[str, ...] = ()
    builtin: bool = False

    @property
    def key(self) -> str:
        return _key(self.name, len(self.arguments))


@dataclass
class Expansion:
    """Expanded search text, the macros used, and the calls that could not be expanded."""

    text: str
    used: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    expansions: int = 0  # macro bodies expanded so far (bounded by MAX_EXPANSIONS)
    size: int = 0  # characters macro bodies added so far (bounded by MAX_LENGTH)


@dataclass
class MacroLibrary:
    """Macro definitions by `name(arity)` key; build with `load()` or from a list."""

    macros: dict[str, Macro] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # macro files that could not be read

    @classmethod
    def from_macros(cls, macros: list[Macro], builtins: bool = True) -> MacroLibrary:
        library = cls()
        if builtins:
            library.add_builtins()
        for macro in macros:
            library.macros[macro.key] = macro
        return library

    @classmethod
    def load(cls, folder: Path) -> MacroLibrary:
        """Every `*.yml` definition under `folder` plus the built-ins; bad files noted."""
        library = cls.from_macros([])
        for path in sorted(Path(folder).glob("*.yml")) if Path(folder).is_dir() else []:
            try:
                macro = _read_macro(path)
            except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
                library.problems.append(f"{path.name}: {str(exc).splitlines()[0]}")
                continue
            library.macros[macro.key] = macro
        return library

    def add_builtins(self) -> None:
        for name, args, definition in BUILTIN_MACROS:
            self.macros.setdefault(_key(name, len(args)), Macro(name, definition, args, True))

    def get(self, name: str, arity: int) -> Macro | None:
        return self.macros.get(_key(name, arity))

    def expand(self, search: str) -> Expansion:
        """`search` with comments removed and every macro call expanded (see module doc)."""
        result = Expansion(text="")
        result.size = len(search)
        result.text = self._expand(strip_comments(search), 0, result)
        result.used = list(dict.fromkeys(result.used))
        result.unresolved = list(dict.fromkeys(result.unresolved))
        return result

    def _expand(self, text: str, depth: int, result: Expansion) -> str:
        out: list[str] = []
        for literal, call in _split_calls(text):
            out.append(literal)
            if call is None:
                continue
            if result.size > MAX_LENGTH:
                result.unresolved.append(f"{_call_label(call)} (expansion too long)")
                continue
            body = self._call(call, depth, result)
            result.size += len(body)
            out.append(body)
        return "".join(out)

    def _call(self, call: str, depth: int, result: Expansion) -> str:
        """The expansion of one macro call (without backticks); '' when it cannot expand."""
        match = _CALL.match(call)
        if not match:
            if call.strip():
                result.unresolved.append(f"`{call.strip()[:60]}` (not a macro call)")
            return ""
        name, args_text = match.group(1), match.group(2)
        args = split_arguments(args_text) if args_text is not None else []
        macro = self.get(name, len(args))
        if macro is None:
            if not name.endswith(FILTER_SUFFIX):
                result.unresolved.append(_key(name, len(args)))
            return ""
        if depth >= MAX_DEPTH:
            result.unresolved.append(f"{macro.key} (nested deeper than {MAX_DEPTH})")
            return ""
        if result.expansions >= MAX_EXPANSIONS:
            result.unresolved.append(f"{macro.key} (more than {MAX_EXPANSIONS} expansions)")
            return ""
        result.expansions += 1
        result.used.append(macro.key)
        body = substitute(macro, args)
        return self._expand(strip_comments(body), depth + 1, result)


def strip_comments(text: str) -> str:
    """`text` without ```` ```...``` ```` comments (an unclosed one runs to the end)."""
    return _COMMENT.sub(" ", text) if "```" in text else text


def split_arguments(text: str) -> list[str]:
    """Macro arguments: split at top-level commas, one pair of outer quotes dropped."""
    if not text.strip():
        return []
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth = max(depth - 1, 0)
        elif not quoted and depth == 0 and ch == ",":
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return [_unquote(p.strip()) for p in parts]


def substitute(macro: Macro, args: list[str]) -> str:
    """The macro's definition with each `$name$` replaced by its argument."""
    values = dict(zip(macro.arguments, args, strict=False))
    return _ARG.sub(lambda m: values.get(m.group(1), m.group(0)), macro.definition)


def _split_calls(text: str) -> list[tuple[str, str | None]]:
    """(literal text, macro call or None) pieces; backticks inside quotes are literal."""
    pieces: list[tuple[str, str | None]] = []
    start, i, quoted = 0, 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "`" and not quoted:
            end = text.find("`", i + 1)
            if end < 0:  # a lone backtick: literal text, as Splunk would fail on it
                break
            pieces.append((text[start:i], text[i + 1:end]))
            start = i = end + 1
            continue
        i += 1
    pieces.append((text[start:], None))
    return pieces


def _unquote(arg: str) -> str:
    if arg.startswith('\\"') and arg.endswith('\\"') and len(arg) >= 4:
        return arg[2:-2]
    if len(arg) >= 2 and arg[0] == arg[-1] == '"':
        return arg[1:-1].replace('\\"', '"')
    return arg


def _key(name: str, arity: int) -> str:
    return f"{name}({arity})" if arity else name


def _call_label(call: str) -> str:
    match = _CALL.match(call)
    return match.group(1) if match else call.strip()[:60]


def _read_macro(path: Path) -> Macro:
    """One macro file; ValueError when it is not a macro definition."""
    docs = [d for d in load_yaml_documents(path.read_text(encoding="utf-8-sig")) if d]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValueError("not one YAML mapping")
    data = docs[0]
    name, definition = data.get("name"), data.get("definition")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("no macro `name`")
    args = data.get("arguments") or []
    if not isinstance(args, list):
        raise ValueError("`arguments` is not a list")
    if isinstance(definition, bool):  # `definition: false` read as YAML's boolean
        definition = str(definition).lower()
    text = "" if definition is None else str(definition)
    return Macro(name.strip(), text, tuple(str(a) for a in args))
