"""Sigma reader: rule files to `RuleRecord`s, one file at a time.

Each file goes through the strict C safe YAML loader (duplicate keys rejected), then each
document through pySigma's `SigmaRule.from_dict` / `SigmaCorrelationRule.from_dict`. Sigma
rule collections are honoured within a file: `action: global` sets a template merged into
every following document (the document's own keys win), `action: reset` drops it and
`action: repeat` re-uses the previous document with the new keys laid over it.

Nothing here raises for bad content. A file or document that cannot be read becomes a
`Rejection` (path relative to the source root, the line when known, and why); a rule whose
detection cannot be turned into predicates is kept, with `parsed=False` and the reason.

Hostile files are bounded by `limits.py`: a file over 5 MiB, a symlink out of the source, a
FIFO, NUL bytes or bad UTF-8 are refused unread; YAML past 100 documents, 50,000 nodes,
1,000 alias uses or 64 levels of nesting is refused before pySigma sees it; a condition
over 10,000 characters leaves its rule unparsed.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaRuleBase

from ..models import LogSource, Rejection, RuleRecord
from ..parsers.sigma_detection import extract_predicates
from ..errors import RuleFileError
from ..sources import rule_url
from .limits import MAX_CONDITION_CHARS, read_rule_text
from .walk import rule_files_under
from .yamlsafe import (
    DuplicateKeyError, YamlDocument, YamlLimitError, error_line, load_yaml_document_list,
)

# SigmaHQ's rule folders; any top-level folder whose name starts with "rules" is read.
SIGMA_RULE_FOLDERS: tuple[str, ...] = (
    "rules",
    "rules-threat-hunting",
    "rules-emerging-threats",
    "rules-placeholder",
    "rules-compliance",
)
RULE_FOLDER_PREFIX = "rules"
RULE_SUFFIXES = (".yml", ".yaml")

_TECHNIQUE = re.compile(r"t\d{4}(?:\.\d{3})?", re.IGNORECASE)
_TECHNIQUE_LIKE = re.compile(r"t\d", re.IGNORECASE)  # shaped like a technique ID
_TACTIC = re.compile(r"[a-z]+(?:-[a-z]+)*", re.IGNORECASE)
_DOC_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t]|$)", re.MULTILINE)


def sigma_rule_files(root: Path) -> list[Path]:
    """Every `*.yml` / `*.yaml` under `root`'s `rules*` folders, sorted.

    A root without any `rules*` folder (a user's own flat rule folder) is read whole.
    Hidden folders (`.git`, `.github`) and symlinked folders (the build does not follow
    them) are skipped.
    """
    root = Path(root)
    folders = sorted(
        p for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and p.name.startswith(RULE_FOLDER_PREFIX)
    ) if root.is_dir() else []
    if not folders and root.is_dir():
        folders = [root]
    return rule_files_under(folders, RULE_SUFFIXES)


def read_sigma_file(
    source: str, root: Path, path: Path
) -> tuple[list[RuleRecord], list[Rejection]]:
    """The rules in one Sigma file and the documents that could not be read."""
    rel = _relative(root, path)
    rules: list[RuleRecord] = []
    rejections: list[Rejection] = []

    def reject(reason: str, line: int | None = None) -> None:
        rejections.append(Rejection(source=source, path=rel, line=line, reason=reason))

    try:  # size, symlinks out of the source, NUL bytes, UTF-8: see limits.py
        text = read_rule_text(root, path, "YAML")
    except RuleFileError as exc:
        reject(exc.reason, exc.line)
        return rules, rejections
    try:
        docs = load_yaml_document_list(text)
    except YamlLimitError as exc:
        reject(exc.reason, exc.line)
        return rules, rejections
    except DuplicateKeyError as exc:
        reject(
            f"duplicate key {exc.key!r} on line {exc.line} (first on line {exc.first_line})",
            exc.line,
        )
        return rules, rejections
    except yaml.YAMLError as exc:
        reject(f"malformed YAML: {_yaml_problem(exc)}", error_line(exc))
        return rules, rejections

    present = [(n, doc) for n, doc in enumerate(docs, 1) if doc.data is not None]
    if not present:
        reject("empty file: no YAML document")
        return rules, rejections
    multi = len(present) > 1
    raws = _document_texts(text, docs) if multi else {}

    template: dict[str, Any] = {}
    template_raw = ""
    previous: dict[str, Any] = {}
    previous_raw = ""
    names: dict[str, str] = {}  # rule name -> native id, for correlation references
    used_ids: set[str] = set()
    correlations: list[tuple[RuleRecord, list[str]]] = []

    for n, doc in present:
        label = f"document {n}: " if multi else ""
        raw = raws.get(n, "") if multi else text
        body = doc.data
        if not isinstance(body, dict):
            reject(f"{label}not a mapping (found a YAML {_kind(body)})", doc.line)
            continue
        action = body.get("action")
        if action == "global":
            template = {k: v for k, v in body.items() if k != "action"}
            template_raw = raw
            previous, previous_raw = template, raw
            continue
        if action == "reset":
            template, template_raw = {}, ""
            continue
        if action == "repeat":
            body = _merged(previous, {k: v for k, v in body.items() if k != "action"})
            raw = _join(previous_raw, raw)
        elif action is not None:
            reject(f"{label}unknown Sigma collection action {action!r}", doc.line)
            continue
        elif template and "correlation" not in body and "filter" not in body:
            body = _merged(template, body)
            raw = _join(template_raw, raw)
        previous, previous_raw = body, raw

        if "filter" in body and "correlation" not in body:
            reject(f"{label}Sigma meta filter (`filter:`), not a rule: not indexed", doc.line)
            continue
        if "detection" not in body and "correlation" not in body:
            reject(f"{label}no `detection` section: not a Sigma rule", doc.line)
            continue
        record, references, problem = _record(source, root, rel, n, body, raw)
        if problem is not None or record is None:
            reason, key = problem or _Problem("no rule")
            reject(f"{label}{reason}", _key_line(text, doc.line, key) or doc.line)
            continue
        if record.native_id in used_ids:  # e.g. an `id` in an `action: global` template
            record.native_id = f"{record.native_id}#{n}"
        used_ids.add(record.native_id)
        rules.append(record)
        name = body.get("name")
        if isinstance(name, str):
            names[name] = record.native_id
        if references is not None:
            correlations.append((record, references))

    for record, references in correlations:  # names of rules in the same file -> their ids
        record.related_rules = _unique(names.get(ref, ref) for ref in references)
    if not rules and not rejections:
        reject("no rule in file: only Sigma collection actions")
    return rules, rejections


# The reader protocol of rulecat.index.readers.
rule_files = sigma_rule_files
read_file = read_sigma_file


class _Problem(NamedTuple):
    reason: str
    key: str | None = None  # the top-level key it is about, to point at its line


def _record(
    source: str, root: Path, rel: str, n: int, body: dict[str, Any], raw: str
) -> tuple[RuleRecord | None, list[str] | None, _Problem | None]:
    """(record, correlation references or None, problem) for one Sigma document."""
    is_correlation = "correlation" in body
    try:
        if is_correlation:
            parsed: SigmaRuleBase = SigmaCorrelationRule.from_dict(body, collect_errors=True)
        else:
            parsed = SigmaRule.from_dict(body, collect_errors=True)
    except Exception as exc:  # pySigma raises a few errors even when collecting them
        return None, None, _Problem(f"pySigma: {_message(exc)}", _error_key(exc))
    if parsed.errors:
        return None, None, _Problem("pySigma: " + "; ".join(_message(e) for e in parsed.errors),
                                    _error_key(parsed.errors[0]))
    try:
        rule, references, _ = _build(source, root, rel, n, parsed, raw)
    except Exception as exc:  # metadata pySigma let through but the record refuses
        return None, None, _Problem(f"unreadable rule metadata: {_message(exc)}")
    return rule, references, None


# pySigma's error classes (`Sigma<Name>Error`) -> the rule key they are about, where the
# lower-cased name is not the key itself.
_ERROR_KEYS = {"identifier": "id", "condition": "detection", "modifier": "detection",
               "value": "detection", "regularexpression": "detection", "tag": "tags",
               "correlationcondition": "correlation", "correlationtype": "correlation",
               "timespan": "correlation"}
_RULE_KEYS = {"id", "title", "name", "status", "level", "date", "modified", "description",
              "author", "references", "license", "logsource", "detection", "tags",
              "falsepositives", "fields", "related", "scope", "taxonomy", "correlation"}


def _error_key(exc: BaseException) -> str | None:
    """The top-level key a pySigma error is about (`SigmaIdentifierError` -> `id`)."""
    name = type(exc).__name__.removeprefix("Sigma").removesuffix("Error").lower()
    key = _ERROR_KEYS.get(name, name)
    return key if key in _RULE_KEYS else None


def _key_line(text: str, start: int, key: str | None) -> int | None:
    """The 1-based line of top-level `key:` in the document starting at line `start`."""
    if key is None:
        return None
    lines = text.splitlines()
    for number in range(max(start, 1), len(lines) + 1):
        line = lines[number - 1]
        if number > start and _DOC_MARKER.match(line):
            return None
        if line.startswith(f"{key}:"):
            return number
    return None


def _build(
    source: str, root: Path, rel: str, n: int, parsed: SigmaRuleBase, raw: str
) -> tuple[RuleRecord, list[str] | None, None]:
    """The record for a rule pySigma accepted (and a correlation's references)."""
    is_correlation = isinstance(parsed, SigmaCorrelationRule)
    native_id = str(parsed.id) if parsed.id is not None else f"path:{rel}#{n}"
    tags = [str(t) for t in parsed.tags]
    techniques, tactics, malformed = _attack_tags(tags)
    status = str(parsed.status) if parsed.status is not None else None
    record = RuleRecord(
        source=source,
        vendor="sigma",
        native_id=native_id,
        title=parsed.title or "",
        description=parsed.description or "",
        status=status,
        level=str(parsed.level) if parsed.level is not None else None,
        deprecated=status == "deprecated",
        author=parsed.author,
        license=parsed.license,
        date=parsed.date.isoformat() if parsed.date else None,
        modified=parsed.modified.isoformat() if parsed.modified else None,
        references=[str(r) for r in parsed.references],
        falsepositives=[str(f) for f in parsed.falsepositives],
        tags=tags,
        techniques=techniques,
        tactics=tactics,
        malformed_tags=malformed,
        language="sigma",
        rule_type="correlation" if is_correlation else "detection",
        path=rel,
        url=rule_url("sigma", source, root, rel),
        raw=raw,
    )
    if isinstance(parsed, SigmaCorrelationRule):
        references = [str(r.reference) for r in parsed.rules or []]
        condition = parsed.condition
        if hasattr(condition, "get_referenced_rules"):  # extended temporal condition
            references += [str(r) for r in condition.get_referenced_rules()]
        return record, _unique(references), None

    assert isinstance(parsed, SigmaRule)
    ls = parsed.logsource
    record.logsource = LogSource(product=ls.product, category=ls.category, service=ls.service)
    longest = max((len(c) for c in parsed.detection.condition if isinstance(c, str)), default=0)
    if longest > MAX_CONDITION_CHARS:  # pySigma's condition parser slows steeply with length
        record.parsed = False
        record.unparsed_reason = (f"condition of {longest:,} characters, over the "
                                  f"{MAX_CONDITION_CHARS:,} rulecat parses")
        return record, None, None
    try:
        record.predicates = extract_predicates(parsed)
    except Exception as exc:  # the rule stays, searchable by its text
        record.parsed = False
        record.unparsed_reason = f"{type(exc).__name__}: {_message(exc)}"
    return record, None, None


def _attack_tags(tags: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(techniques, tactics, malformed technique tags) from a rule's tags."""
    techniques: list[str] = []
    tactics: list[str] = []
    malformed: list[str] = []
    for tag in tags:
        namespace, _, name = tag.partition(".")
        if namespace.lower() != "attack" or not name:
            continue
        if _TECHNIQUE.fullmatch(name):
            techniques.append(name.upper())
        elif _TECHNIQUE_LIKE.match(name):
            malformed.append(tag)
        elif _TACTIC.fullmatch(name):  # group (g0001), software (s0001), ds0001 fall through
            tactics.append(name.lower())
    return _unique(techniques), _unique(tactics), _unique(malformed)


def _merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A new dict: `base` with `overlay` laid over it, nested mappings merged."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _document_texts(text: str, docs: list[YamlDocument]) -> dict[int, str]:
    """Text of each document (1-based number -> text), cut at the `---` / `...` markers."""
    lines = text.splitlines(keepends=True)
    starts: list[int] = [0]  # 0-based line where each segment starts
    for match in _DOC_MARKER.finditer(text):
        starts.append(text.count("\n", 0, match.start()))
    starts = sorted(set(starts))
    texts: dict[int, str] = {}
    for n, doc in enumerate(docs, 1):
        if doc.data is None:
            continue
        first = doc.line - 1
        begin = max(s for s in starts if s <= first)
        after = [s for s in starts if s > first]
        end = after[0] if after else len(lines)
        segment = lines[begin:end]
        if segment and segment[0].rstrip() in ("---", "...") and begin < first:
            segment = segment[1:]
        texts[n] = "".join(segment)
    return texts


def _join(first: str, second: str) -> str:
    if not first:
        return second
    return first if not second else first.rstrip("\n") + "\n---\n" + second


def _relative(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        context = f"{context} (from line {context_mark.line + 1})"
    if problem:
        return f"{context}, {problem}" if context else str(problem)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _message(exc: BaseException) -> str:
    """An exception's message without pySigma's location suffix."""
    return str(exc) or type(exc).__name__


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))
