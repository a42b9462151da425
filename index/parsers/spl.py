r"""SPL (Splunk searches) to predicates: the subset security_content detections use.

A search is read after macro expansion (`spl_macros`), in three layers:

1. **Pipeline.** The text is split at top-level `|` (aware of double quotes, backslash
   escapes and `[subsearch]` brackets); each stage is a command and its arguments.
2. **Grammars** (lark, LALR). The *search* grammar reads the first stage, `| search`, the
   `where` slice of `| tstats` / `| mstats`, and `searchmatch()`: terms, `f=v`, `f!=v`,
   `f<v`..., `f IN (...)`, `NOT` / `AND` / `OR` / implicit AND (in a search `OR` binds
   tighter than `AND`, as Splunk evaluates it), parentheses and `[subsearches]`. Its
   tokens come from `tokenize_search`, which knows SPL's context: after a comparison
   operator a value runs to the next space and may hold attached parentheses
   (`*GetCurrent()*`). The *eval* grammar reads `| where` and `| eval`.
3. **Predicates**, with the polarity rule of DESIGN.md (odd number of `NOT` / `!=` on the
   path: `exclude`).

Decisions:

* `f=v` in a search is case-insensitive; a value with `*` is `wildcard`, `f=*` is
  `exists true`, an IP network (`10.0.0.0/8`) is `cidr`, as the search command matches
  it, a bare term (also `TERM(x)`) is `match` (`*` alone adds nothing). In `where`, `=` / `==`
  compare strings exactly (Splunk's eval is case-sensitive) and never glob; `like()` /
  `LIKE` are `wildcard` (`%` -> `*`, `_` -> `?`; `eq` when the pattern has neither),
  `match()` and `| regex` are `regex_match`, all case-sensitive, unless the field is
  wrapped in `lower()` / `upper()`, which is then listed in `transforms` and the test
  is case-insensitive. Other one-field functions around a field (`len`, `trim`, ...)
  are transforms too. `isnull()` / `isnotnull()` are `exists false` / `true`,
  `cidrmatch(c, f)` is `cidr`, `in(f, ...)` and `f IN (...)` one `eq` per value,
  field-to-field equality `fieldref`. Tests of computed values (`a+b>3`) add nothing.
* Quoted values are read as Splunk reads them: `\\` is one backslash, `\"` a quote.
* Data selection is not a predicate: tests of `index`, `source`, `sourcetype`,
  `eventtype`, `Channel` and `nodename`, and tstats/`from` data models
  (`Endpoint.Processes`), go to `ParsedQuery.indices`; time bounds (`earliest=...`) are
  dropped.
* Fields are named as the search first produced them: `rename a AS b`, `eval b=a`
  (also `eval b=lower(a)`, which adds the transform), `stats values(a) AS b` and
  `rename Processes.* AS *` (what `drop_dm_object_name` expands to; applied to the fields
  the search has named so far) are followed, so `| where process_name=...` after a
  tstats reads `Processes.process_name`.
* `by` fields of `tstats`, `mstats` and `stats` are the grouping fields.
* Subsearches (`join`, `append`, `[...]` in a search) are parsed too; their predicates are
  labelled with the subsearch and carry the polarity of their position.
* Stages that filter nothing by a stated value (`stats`, `table`, `lookup`, `rex`,
  `inputlookup ... where`, `map`, ...) add nothing; a command outside `PASSIVE_COMMANDS`
  and the handled ones makes the parse fail, so an unknown filter is never skipped
  silently. `map` runs searches of its own, so aliases end there.
* Bounds: `MAX_LENGTH` characters, `MAX_NESTING` parentheses / negations, and
  `MAX_SUBSEARCH_DEPTH` nested subsearches; past them the search is unparsed. LALR
  parsing is linear, so time per search is bounded by its length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError
from lark.lexer import Lexer

from ..models import Operator, Predicate
from . import ParsedQuery, QueryParseError, lalr_parser

MAX_LENGTH = 100_000
MAX_NESTING = 100
MAX_SUBSEARCH_DEPTH = 5

SELECTION_FIELDS = frozenset({"index", "source", "sourcetype", "eventtype", "channel",
                              "nodename"})
TIME_FIELDS = frozenset({"earliest", "latest", "_index_earliest", "_index_latest",
                         "earliest_time", "latest_time", "starttime", "endtime"})
# eval functions of one field that rulecat reads as a transform of that field.
TRANSFORM_FUNCS = frozenset({"lower", "upper", "trim", "ltrim", "rtrim", "len", "urldecode"})
CASE_FOLDING = frozenset({"lower", "upper"})
# stats functions whose result is (a value of) their argument field.
VALUE_AGGREGATES = frozenset({"values", "latest", "earliest", "first", "last", "min", "max",
                              "mode", "list"})
# Commands that filter no event by a field value (or whose filter rulecat cannot state).
PASSIVE_COMMANDS = frozenset("""
    stats eventstats streamstats chart timechart top rare table fields lookup inputlookup
    outputlookup rex spath bucket bin fillnull dedup mvexpand makemv iplocation sort convert
    apply fit addtotals foreach transaction xmlkv fromjson tojson makeresults head tail
    reverse filldown replace strcat accum delta autoregress predict trendline eventcount
    metadata loadjob nomv mvcombine rangemap kvform extract multikv geostats cluster
    kmeans anomalydetection addinfo localize gentimes typer fieldformat format return
    xyseries untable collect sendalert rest datamodel outputcsv inputcsv tags
    fieldsummary sichart sistats sitimechart sitop dbinspect ldapsearch ldapfilter
    ldapgroup summary anomalies anomalousvalue selfjoin uniq setfields erex outlier cyberchef
    """.split())
# Commands a subsearch may start with without a leading `|` (besides `search`).
GENERATING_COMMANDS = frozenset({"search", "tstats", "mstats", "inputlookup", "makeresults",
                                 "summary", "rest", "from", "datamodel", "loadjob", "inputcsv"})
SUBSEARCH_COMMANDS = frozenset({"join", "append", "appendcols", "union", "multisearch",
                                "set", "appendpipe"})

_CMP_OPERATORS: dict[str, Operator] = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "==": "==", "!=": "!=",
            "<>": "<>"}
_CIDR = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]*)/\d{1,3}$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_KEYWORD = re.compile(r"\b(from|where|by|groupby)\b", re.IGNORECASE)
_AGGREGATE = re.compile(r"(\w+)\(([^()]*)\)(?:\s+as\s+(\"[^\"]*\"|[\w.{}@:\-*]+))?",
                        re.IGNORECASE)
_DATAMODEL = re.compile(r"datamodel\s*[=:]?\s*\"?([\w.\-*]+)\"?", re.IGNORECASE)
_REGEX_STAGE = re.compile(
    r"^\s*(?:(?P<field>\"[^\"]*\"|[\w.{}@:\-]+)\s*(?P<op>!=|=)\s*)?"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|\S+)\s*$", re.DOTALL)
_RENAME_TOKEN = re.compile(r"\"(?:[^\"\\]|\\.)*\"|,|[^\s,]+")
_PAREN_AHEAD = re.compile(r"\s*\(")
_OPERATOR_AT = re.compile(r"!=|<=|>=|==|=|<|>")

SEARCH_GRAMMAR = r"""
start: expr?
?expr: and_expr
?and_expr: or_expr (_AND? or_expr)*
?or_expr: not_expr (_OR not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: _LPAR expr _RPAR
     | _LPAR _RPAR -> empty
     | name CMP value -> comparison
     | name _IN _LPAR values? _RPAR -> in_list
     | WORD -> term
     | STRING -> term
     | SUBSEARCH -> subsearch
name: WORD | STRING
?value: WORD | STRING
values: _COMMA* value (_COMMA* value)* _COMMA*
%declare _OR _AND _NOT _IN _LPAR _RPAR _COMMA CMP WORD STRING SUBSEARCH
"""

EVAL_GRAMMAR = r"""
?start: expr
assignments: assignment (_COMMA assignment)*
assignment: target CMP expr
?target: TARGET | QFIELD | STRING
?expr: or_expr
?or_expr: xor_expr (_OR xor_expr)*
?xor_expr: and_expr (_XOR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | cmp_expr
?cmp_expr: sum_expr CMP sum_expr -> compare
         | sum_expr _NOT _IN _LP [args] _RP -> not_in
         | sum_expr _IN _LP [args] _RP -> in_list
         | sum_expr _NOT _LIKE sum_expr -> not_like
         | sum_expr _LIKE sum_expr -> like_op
         | sum_expr
?sum_expr: prod_expr ((PLUS | MINUS | DOT) prod_expr)*
?prod_expr: unary ((STAR | SLASH | PERCENT) unary)*
?unary: MINUS unary -> neg
      | PLUS unary
      | atom
?atom: NUMBER -> number
     | STRING -> string
     | FIELD -> field
     | QFIELD -> field
     | FIELD _LP [args] _RP -> call
     | _LIKE _LP [args] _RP -> like_call
     | _IN _LP [args] _RP -> in_call
     | _NOT _LP [args] _RP -> not_call
     | _LP expr _RP
args: expr (_COMMA expr)*

_OR.3: /or\b/i
_XOR.3: /xor\b/i
_AND.3: /and\b/i
_NOT.3: /not\b/i
_IN.3: /in\b/i
_LIKE.3: /like\b/i
CMP: "==" | "!=" | "<>" | "<=" | ">=" | "<" | ">" | "="
PLUS: "+"
MINUS: "-"
DOT: "."
STAR: "*"
SLASH: "/"
PERCENT: "%"
_LP: "("
_RP: ")"
_COMMA: ","
NUMBER.2: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(?![\w.])/
STRING: /"(?:[^"\\]|\\.)*"/s
QFIELD: /'[^']*'/
FIELD: /[A-Za-z_@$](?:[\w{}@$:]|\.(?=[\w{@$]))*/
TARGET: /[A-Za-z_@${][\w.{}@$:\-]*/
%ignore /\s+/
"""


Node = Tree[Token] | Token  # a parse-tree node or leaf


class _TokenLexer(Lexer):
    """Hands lark the tokens `tokenize_search` made (lark's own lexer cannot see context)."""

    def __init__(self, lexer_conf: object) -> None:
        pass

    def lex(self, data: list[Token]) -> Iterator[Token]:  # type: ignore[override]
        yield from data


@cache
def _search_parser() -> Lark:
    return lalr_parser(SEARCH_GRAMMAR, lexer=_TokenLexer)


@cache
def _eval_parser() -> Lark:
    return lalr_parser(EVAL_GRAMMAR, start=["start", "assignments"])


# --------------------------------------------------------------------------- public API


def parse_spl(search: str) -> ParsedQuery:
    """Predicates, grouping fields and data selection of an expanded SPL search.

    Raises `QueryParseError` when any part cannot be read whole (see module doc).
    """
    if len(search) > MAX_LENGTH:
        raise QueryParseError(f"search longer than {MAX_LENGTH} characters")
    pipeline = _Pipeline()
    pipeline.run(search)
    return ParsedQuery(
        predicates=pipeline.predicates,
        grouping_fields=list(dict.fromkeys(pipeline.grouping)),
        indices=list(dict.fromkeys(pipeline.indices)),
    )


def split_pipeline(text: str) -> list[str]:
    """Top-level `|`-separated stages; pipes in quotes or `[...]` stay inside their stage."""
    stages: list[str] = []
    start, depth = 0, 0
    for i, ch in _unquoted(text, 0, strict=True):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise QueryParseError(f"unbalanced ']' at offset {i}")
        elif depth == 0 and ch == "|":
            stages.append(text[start:i])
            start = i + 1
    if depth:
        raise QueryParseError("unclosed '[' (subsearch)")
    stages.append(text[start:])
    return stages


def _unquoted(text: str, start: int, strict: bool = False) -> Iterator[tuple[int, str]]:
    """(offset, character) of each character outside double quotes, backslash escapes
    skipped; with `strict`, an unclosed quote at the end is a `QueryParseError`."""
    i, quoted = start, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            yield i, ch
        i += 1
    if quoted and strict:
        raise QueryParseError("unclosed double quote")


# --------------------------------------------------------------------------- search lexer


def tokenize_search(text: str) -> list[Token]:
    """Tokens of a search expression for `SEARCH_GRAMMAR` (see module doc)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    expect_value = in_list = False
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            end = _string_end(text, i)
            tokens.append(Token("STRING", text[i:end]))
            i, expect_value = end, False
        elif expect_value or (in_list and ch not in ",)"):
            end = _value_end(text, i, ",)" if in_list else ")")
            if end == i:
                raise QueryParseError(f"missing value at offset {i}")
            tokens.append(Token("WORD", text[i:end]))
            i, expect_value = end, False
        else:
            i, in_list, expect_value = _lex_symbol(text, i, tokens, in_list)
    if expect_value:
        raise QueryParseError("missing value at the end of the search")
    return tokens


def _lex_symbol(text: str, i: int, tokens: list[Token], in_list: bool) -> tuple[int, bool, bool]:
    """One token that is not a value: (next offset, in an IN list, a value follows)."""
    ch = text[i]
    simple = {"(": "_LPAR", ")": "_RPAR", ",": "_COMMA"}
    if ch in simple:
        tokens.append(Token(simple[ch], ch))
        return i + 1, in_list and ch != ")", False
    if ch == "[":
        end = _bracket_end(text, i)
        tokens.append(Token("SUBSEARCH", text[i:end]))
        return end, False, False
    if ch == "]":
        raise QueryParseError(f"unbalanced ']' at offset {i}")
    if op := _operator_at(text, i):
        tokens.append(Token("CMP", op))
        return i + len(op), False, True
    end = _word_end(text, i)
    word = text[i:end]
    if word in ("AND", "OR", "NOT"):
        tokens.append(Token(f"_{word}", word))
    elif word.upper() == "IN" and (paren := _PAREN_AHEAD.match(text, end)):
        tokens.append(Token("_IN", word))
        tokens.append(Token("_LPAR", "("))
        return paren.end(), True, False
    elif word.upper() in ("TERM", "CASE") and text[end:end + 1] == "(":
        close = _value_end(text, end, ")")  # TERM(x) / CASE(x): the term x
        tokens.append(Token("WORD", text[end + 1:close - 1]))
        return close, in_list, False
    else:
        tokens.append(Token("WORD", word))
    return end, in_list, False


def _operator_at(text: str, i: int) -> str | None:
    match = _OPERATOR_AT.match(text, i)
    return match.group(0) if match else None


def _word_end(text: str, i: int) -> int:
    """End of a bare word: stops at space, `()"=<>,[]` or `!=`."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch in '()"=<>,[]' or (ch == "!" and text[i + 1:i + 2] == "="):
            break
        i += 2 if ch == "\\" and i + 1 < n else 1
    return i


def _value_end(text: str, i: int, stops: str) -> int:
    """End of an unquoted value: the next space, or a stop char outside its own parens."""
    depth, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch == '"':
            break
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch in stops and not depth:
            break
        i += 2 if ch == "\\" and text[i + 1:i + 2] in ('\\', '"') else 1
    return i


def _string_end(text: str, i: int) -> int:
    """Offset after the double-quoted string starting at `i`."""
    j, n = i + 1, len(text)
    while j < n:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j + 1
        j += 1
    raise QueryParseError(f"unclosed double quote at offset {i}")


def _bracket_end(text: str, i: int) -> int:
    """Offset after the `[...]` subsearch starting at `i` (nested, quote-aware)."""
    depth, j, n = 0, i, len(text)
    while j < n:
        ch = text[j]
        if ch == '"':
            j = _string_end(text, j)
            continue
        if ch == "\\":
            j += 2
            continue
        depth += (ch == "[") - (ch == "]")
        j += 1
        if depth == 0:
            return j
    raise QueryParseError(f"unclosed '[' at offset {i}")


def unescape(text: str) -> str:
    r"""A value as Splunk reads it: `\\` -> `\`, `\"` -> `"`; other escapes kept."""
    if "\\" not in text:
        return text
    return re.sub(r'\\([\\"])', r"\1", text)


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        token = token[1:-1]
    return unescape(token)


def _check_nesting(text: str) -> None:
    depth = deepest = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise QueryParseError(f"parentheses nested deeper than {MAX_NESTING}")


# --------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class _Alias:
    """What a field name stands for: the field the search first produced, and transforms."""

    field: str
    transforms: tuple[str, ...] = ()


@dataclass
class _Pipeline:
    """State while reading one search (a subsearch gets a pipeline of its own)."""

    depth: int = 0
    label: str = ""
    predicates: list[Predicate] = field(default_factory=list)
    indices: list[str] = field(default_factory=list)
    grouping: list[str] = field(default_factory=list)
    aliases: dict[str, _Alias] = field(default_factory=dict)
    known: dict[str, None] = field(default_factory=dict)  # field names the search produced

    def run(self, text: str) -> None:
        stages = split_pipeline(text)
        for n, stage in enumerate(stages):
            stripped = stage.strip()
            if not stripped:
                continue
            if n == 0:  # a search, unless it names a generating command (`[tstats ...]`)
                command, _, args = stripped.partition(" ")
                if command.lower() not in GENERATING_COMMANDS:
                    command, args = "search", stripped
            else:
                command, _, args = stripped.partition(" ")
            self.stage(command.lower(), args)

    def stage(self, command: str, args: str) -> None:
        """Read one stage; an unknown command fails the parse (see module doc)."""
        handler = _HANDLERS.get(command)
        if handler is not None:
            handler(self, command, args)
        elif command in SUBSEARCH_COMMANDS:
            self.subsearches(command, args)
        elif command not in PASSIVE_COMMANDS:
            raise QueryParseError(f"unsupported command `{command}`")

    # ----------------------------------------------------------------- helpers

    def selection(self, command: str) -> str:
        return f"{self.label}{command}"

    def resolve(self, name: str) -> _Alias:
        return self.aliases.get(name) or _Alias(name)

    def mention(self, name: str) -> None:
        self.known.setdefault(name, None)

    def emit(self, name: str, operator: Operator, value: str, negations: int,
             selection: str, case_sensitive: bool = False,
             transforms: tuple[str, ...] = ()) -> None:
        """Add one predicate for the field a search calls `name` (aliases followed)."""
        if name.lower() in SELECTION_FIELDS and operator in ("eq", "wildcard"):
            self.indices.append(("NOT " if negations % 2 else "") + f"{name}={value}")
            return
        self.mention(name)
        alias = self.resolve(name)
        transforms = alias.transforms + transforms
        if CASE_FOLDING & set(transforms):
            case_sensitive = False
        self.predicates.append(Predicate(
            vendor_field=alias.field, operator=operator, value=value,
            polarity="exclude" if negations % 2 else "detect", selection=selection,
            transforms=list(transforms), case_sensitive=case_sensitive,
        ))

    def keyword(self, value: str, negations: int, selection: str) -> None:
        self.predicates.append(Predicate(
            vendor_field=None, operator="match", value=value,
            polarity="exclude" if negations % 2 else "detect", selection=selection,
        ))

    def subsearch(self, text: str, negations: int, label: str) -> None:
        """Parse `[...]` text as a search of its own; merge what it found."""
        if self.depth >= MAX_SUBSEARCH_DEPTH:
            raise QueryParseError(f"subsearches nested deeper than {MAX_SUBSEARCH_DEPTH}")
        inner = _Pipeline(depth=self.depth + 1, label=f"{self.label}{label}/")
        if label == "appendpipe":
            inner.aliases, inner.known = dict(self.aliases), dict(self.known)
        inner.run(text.strip()[1:-1])
        for pred in inner.predicates:
            if negations % 2:
                pred.polarity = "detect" if pred.polarity == "exclude" else "exclude"
            self.predicates.append(pred)
        self.indices.extend(inner.indices)
        for name, alias in inner.aliases.items():
            self.aliases.setdefault(name, alias)
        self.known.update(inner.known)

    def subsearches(self, command: str, args: str) -> None:
        """`join`, `append`, ...: every top-level `[...]` in the arguments."""
        i = 0
        while (start := _find_unquoted(args, "[", i)) >= 0:
            end = _bracket_end(args, start)
            self.subsearch(args[start:end], 0, command)
            i = end


def _find_unquoted(text: str, char: str, start: int) -> int:
    """Offset of the next `char` outside double quotes, or -1."""
    return next((i for i, ch in _unquoted(text, start) if ch == char), -1)


# --------------------------------------------------------------------------- search stages


def _parse_search(text: str) -> Tree[Token]:
    _check_nesting(text)
    try:
        return _search_parser().parse(tokenize_search(text))  # type: ignore[arg-type,unused-ignore]
    except LarkError as exc:
        raise QueryParseError(f"search grammar: {_lark_reason(exc)}") from None


def _search_stage(p: _Pipeline, command: str, args: str) -> None:
    _read_search(p, args, p.selection(command), 0)


def _read_search(p: _Pipeline, text: str, selection: str, negations: int) -> None:
    _walk_search(p, _parse_search(text), selection, negations, 0)


def _walk_search(p: _Pipeline, node: Node, selection: str, neg: int,
                 depth: int) -> None:
    """Predicates of a search-grammar tree; `neg` counts the negations above `node`."""
    if depth > MAX_NESTING:
        raise QueryParseError(f"search nested deeper than {MAX_NESTING}")
    if isinstance(node, Token):
        return
    kind = node.data
    if kind == "negation":
        _walk_search(p, node.children[0], selection, neg + 1, depth + 1)
    elif kind == "comparison":
        name, op, value = node.children
        _search_comparison(p, _name(name), str(op), value, selection, neg)
    elif kind == "in_list":
        for value in _args(node.children[1] if len(node.children) > 1 else None):
            _search_comparison(p, _name(node.children[0]), "=", value, selection, neg)
    elif kind == "term":
        text = _unquote(str(node.children[0]))
        if text.strip("*"):
            p.keyword(text, neg, selection)
    elif kind == "subsearch":
        p.subsearch(str(node.children[0]), neg, "subsearch")
    else:  # start, and_expr, or_expr, empty
        for child in node.children:
            if child is not None:
                _walk_search(p, child, selection, neg, depth + 1)


def _name(node: Node) -> str:
    token = node.children[0] if isinstance(node, Tree) else node
    return _unquote(str(token))


def _search_comparison(p: _Pipeline, name: str, op: str, value_token: Node,
                       selection: str, neg: int) -> None:
    value = _unquote(str(value_token))
    if name.lower() in TIME_FIELDS:  # time bounds (`earliest=-1h`) are not tests
        return
    if op in _CMP_OPERATORS:
        p.emit(name, _CMP_OPERATORS[op], value, neg, selection)
        return
    neg += op == "!="
    if value == "*":
        p.emit(name, "exists", "true", neg, selection)
    elif _CIDR.match(value):  # the search command matches `ip=10.0.0.0/8` as a network
        p.emit(name, "cidr", value, neg, selection)
    else:
        p.emit(name, "wildcard" if "*" in value else "eq", value, neg, selection)


def _regex_stage(p: _Pipeline, command: str, args: str) -> None:
    match = _REGEX_STAGE.match(args)
    if not match:
        raise QueryParseError(f"cannot read `regex {args.strip()[:60]}`")
    name = _unquote(match["field"]) if match["field"] else "_raw"
    p.emit(name, "regex_match", _unquote(match["value"]), int(match["op"] == "!="),
           p.selection(command), case_sensitive=True)


# --------------------------------------------------------------------------- tstats, from


def _keyword_slices(text: str) -> dict[str, str]:
    """`{'head': ..., 'from': ..., 'where': ..., 'by': ...}` at top level of a stats call."""
    marks: list[tuple[int, int, str]] = []
    top = _top_level_offsets(text)
    for match in _KEYWORD.finditer(text):
        if match.start() in top:
            word = match.group(1).lower()
            marks.append((match.start(), match.end(), "by" if word == "groupby" else word))
            if marks[-1][2] == "by":  # the rest are field names, whatever they are called
                break
    slices = {"head": text[: marks[0][0]] if marks else text}
    for n, (_, end, word) in enumerate(marks):
        stop = marks[n + 1][0] if n + 1 < len(marks) else len(text)
        if word in slices:
            raise QueryParseError(f"`{word}` twice in one stats command")
        slices[word] = text[end:stop]
    return slices


def _top_level_offsets(text: str) -> set[int]:
    """Offsets outside quotes and parentheses (one pass, so keyword checks stay linear)."""
    top: set[int] = set()
    depth, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if not quoted and depth == 0:
            top.add(i)
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            depth += (ch == "(") - (ch == ")")
        i += 1
    return top


def _tstats_stage(p: _Pipeline, command: str, args: str) -> None:
    parts = _keyword_slices(args)
    _aggregates(p, parts["head"])
    if "from" in parts:
        models = _DATAMODEL.findall(parts["from"])
        if not models:
            raise QueryParseError(f"cannot read `{command} ... from{parts['from'][:60]}`")
        p.indices.extend(models)
    if "where" in parts:
        _read_search(p, parts["where"], p.selection(command), 0)
    _group_by(p, parts.get("by", ""))


def _from_stage(p: _Pipeline, command: str, args: str) -> None:
    models = _DATAMODEL.findall(args)
    if not models:
        raise QueryParseError(f"cannot read `from {args.strip()[:60]}`")
    p.indices.extend(models)


def _stats_stage(p: _Pipeline, command: str, args: str) -> None:
    parts = _keyword_slices(args)
    if set(parts) - {"head", "by"}:
        raise QueryParseError(f"cannot read `{command} {args.strip()[:60]}`")
    _aggregates(p, parts["head"])
    _group_by(p, parts.get("by", ""))


def _aggregates(p: _Pipeline, text: str) -> None:
    """Aliases from `values(a) AS b` (value-keeping functions) and names of the others."""
    for func, arg, alias in _AGGREGATE.findall(text):
        arg = _unquote(arg.strip())
        if arg:
            p.mention(arg)
        if not alias:
            continue
        alias = _unquote(alias)
        if func.lower() in VALUE_AGGREGATES and arg and "*" not in arg:
            p.aliases[alias] = p.resolve(arg)
        else:
            p.aliases.pop(alias, None)
        p.mention(alias)


def _group_by(p: _Pipeline, text: str) -> None:
    for word in text.replace(",", " ").split():
        if "=" in word or word == "_time":  # time buckets (`_time span=1h`) group nothing
            continue
        name = _unquote(word)
        p.mention(name)
        p.grouping.append(p.resolve(name).field)


def _map_stage(p: _Pipeline, command: str, args: str) -> None:
    """`map` replaces the results with those of new searches: earlier aliases end."""
    p.aliases.clear()
    p.known.clear()


# --------------------------------------------------------------------------- rename


def _rename_stage(p: _Pipeline, command: str, args: str) -> None:
    words = [w for w in _RENAME_TOKEN.findall(args) if w != ","]
    if len(words) % 3 or any(w.lower() != "as" for w in words[1::3]):
        raise QueryParseError(f"cannot read `rename {args.strip()[:60]}`")
    for source, target in zip(words[0::3], words[2::3], strict=True):
        _rename(p, _unquote(source), _unquote(target))


def _rename(p: _Pipeline, source: str, target: str) -> None:
    if "*" not in source:
        p.aliases[target] = p.resolve(source)
        p.known.pop(source, None)
        p.mention(target)
        return
    pattern = re.compile("^" + re.escape(source).replace(r"\*", "(.*)") + "$")
    for name in list(p.known):
        match = pattern.match(name)
        if match:
            stars = iter(match.groups())
            new = re.sub(r"\*", lambda _: next(stars, ""), target)
            p.aliases[new] = p.resolve(name)
            p.mention(new)


# --------------------------------------------------------------------------- eval, where


def _parse_eval(text: str, start: str) -> Tree[Token]:
    _check_nesting(text)
    try:
        return _eval_parser().parse(text, start=start)
    except LarkError as exc:
        raise QueryParseError(f"eval grammar: {_lark_reason(exc)}") from None


def _eval_stage(p: _Pipeline, command: str, args: str) -> None:
    """`eval b=a` and `eval b=lower(a)` make `b` an alias; other assignments end one."""
    tree = _parse_eval(args, "assignments")
    for assignment in _args(tree):
        target, op, expr = _args(assignment)
        if str(op) != "=":
            raise QueryParseError(f"eval assignment with `{op}`")
        name = _unquote(str(target))
        operand = _field_operand(p, expr)
        if operand is not None:
            p.aliases[name] = _Alias(operand.field, operand.transforms)
        else:
            p.aliases.pop(name, None)
        p.mention(name)


def _where_stage(p: _Pipeline, command: str, args: str) -> None:
    _walk_where(p, _parse_eval(args, "start"), p.selection(command), 0, 0)


def _walk_where(p: _Pipeline, node: Node, selection: str, neg: int,
                depth: int) -> None:
    """Predicates of a boolean eval expression (see module doc for each form)."""
    if depth > MAX_NESTING:
        raise QueryParseError(f"expression nested deeper than {MAX_NESTING}")
    if not isinstance(node, Tree):
        return
    kind = node.data
    if kind in ("or_expr", "xor_expr", "and_expr"):
        for child in node.children:
            _walk_where(p, child, selection, neg, depth + 1)
    elif kind in ("negation", "not_call"):
        for child in _args(node.children[0]) if kind == "not_call" else node.children:
            _walk_where(p, child, selection, neg + 1, depth + 1)
    elif kind == "compare":
        _where_compare(p, node.children, selection, neg)
    elif kind in ("in_list", "not_in"):
        _where_in(p, node.children[0], _args(node.children[1]), selection,
                  neg + (kind == "not_in"))
    elif kind in ("like_op", "not_like"):
        _where_like(p, node.children, selection, neg + (kind == "not_like"))
    elif kind in ("call", "like_call", "in_call"):
        _where_call(p, node, selection, neg, depth)


def _args(node: Node | None) -> list[Node]:
    return list(node.children) if isinstance(node, Tree) else []


def _call_name(node: Tree[Token]) -> str:
    if node.data == "like_call":
        return "like"
    if node.data == "in_call":
        return "in"
    return str(node.children[0]).lower()


def _call_args(node: Tree[Token]) -> list[Node]:
    return _args(node.children[-1]) if node.children else []


def _where_call(p: _Pipeline, node: Tree[Token], selection: str, neg: int, depth: int) -> None:
    name, args = _call_name(node), _call_args(node)
    if name == "like" and len(args) == 2:
        _where_like(p, args, selection, neg)
    elif name == "match" and len(args) == 2:
        _emit_operand(p, args[0], "regex_match", args[1], selection, neg, True)
    elif name in ("isnull", "isnotnull") and len(args) == 1:
        operand = _field_operand(p, args[0])
        if operand is not None:
            value = "false" if name == "isnull" else "true"
            _emit_resolved(p, operand, "exists", value, selection, neg, False)
    elif name == "cidrmatch" and len(args) == 2:
        _emit_operand(p, args[1], "cidr", args[0], selection, neg, False)
    elif name == "in" and args:
        _where_in(p, args[0], args[1:], selection, neg)
    elif name == "searchmatch" and len(args) == 1:
        text = _literal(args[0])
        if text is not None:
            _read_search(p, text, selection, neg)


def _where_like(p: _Pipeline, args: list[Node], selection: str, neg: int) -> None:
    pattern = _literal(args[1])
    operand = _field_operand(p, args[0])
    if pattern is None or operand is None:
        return
    glob = pattern.replace("%", "*").replace("_", "?")
    operator: Operator = "wildcard" if glob != pattern else "eq"
    _emit_resolved(p, operand, operator, glob, selection, neg, True)


def _where_in(p: _Pipeline, subject: Node, values: list[Node],
              selection: str, neg: int) -> None:
    for value in values:
        _emit_operand(p, subject, "eq", value, selection, neg, True)


def _where_compare(p: _Pipeline, children: list[Node], selection: str,
                   neg: int) -> None:
    left, op_token, right = children
    op = str(op_token)
    if _field_operand(p, left) is None:
        left, right, op = right, left, _FLIPPED[op]
    operand = _field_operand(p, left)
    if operand is None:
        return
    if op in ("!=", "<>"):
        neg, op = neg + 1, "=="
    other = _field_operand(p, right)
    value = _literal(right)
    if op in _CMP_OPERATORS and value is not None:
        _emit_resolved(p, operand, _CMP_OPERATORS[op], value, selection, neg, False)
    elif op in ("=", "==") and value is not None:
        _emit_resolved(p, operand, "eq", value, selection, neg, not _NUMBER.match(value))
    elif op in ("=", "==") and other is not None and not other.transforms \
            and other != operand:
        _emit_resolved(p, operand, "fieldref", other.field, selection, neg, False)


def _emit_operand(p: _Pipeline, subject: Node, operator: Operator,
                  value_node: Node, selection: str, neg: int,
                  case_sensitive: bool) -> None:
    operand = _field_operand(p, subject)
    value = _literal(value_node)
    if operand is not None and value is not None:
        _emit_resolved(p, operand, operator, value, selection, neg, case_sensitive)


def _emit_resolved(p: _Pipeline, operand: _Alias, operator: Operator, value: str,
                   selection: str, neg: int, case_sensitive: bool) -> None:
    """Emit for an operand `_field_operand` resolved already (aliases applied once)."""
    saved = p.aliases
    p.aliases = {}
    try:
        p.emit(operand.field, operator, value, neg, selection, case_sensitive,
               operand.transforms)
    finally:
        p.aliases = saved


def _field_operand(p: _Pipeline, node: Node) -> _Alias | None:
    """The field (aliases followed) and transforms an expression reads, or None."""
    for _ in range(MAX_NESTING):
        if isinstance(node, Token):
            return None
        if node.data == "field":
            name = _unquote(str(node.children[0]))
            p.mention(name)
            return p.resolve(name)
        if node.data != "call" or len(_call_args(node)) != 1:
            return None
        func = _call_name(node)
        if func not in TRANSFORM_FUNCS:
            return None
        inner = _field_operand(p, _call_args(node)[0])
        return _Alias(inner.field, inner.transforms + (func,)) if inner else None
    return None


def _literal(node: Node) -> str | None:
    """The text of a string or number literal (`-5` too), or None."""
    if not isinstance(node, Tree):
        return None
    if node.data == "string":
        return unescape(str(node.children[0])[1:-1])
    if node.data == "number":
        return str(node.children[0])
    if node.data == "neg" and isinstance(node.children[-1], Tree):
        inner = node.children[-1]
        return f"-{inner.children[0]}" if inner.data == "number" else None
    return None


def _lark_reason(exc: LarkError) -> str:
    """A one-line reason from a lark error."""
    token = getattr(exc, "token", None)
    column = getattr(exc, "column", None)
    if token is not None:
        where = f" at column {column}" if isinstance(column, int) and column > 0 else ""
        return f"unexpected {str(token)[:40]!r}{where}"
    return str(exc).splitlines()[0][:120]


_HANDLERS = {
    "search": _search_stage,
    "where": _where_stage,
    "regex": _regex_stage,
    "tstats": _tstats_stage,
    "mstats": _tstats_stage,
    "from": _from_stage,
    "stats": _stats_stage,
    "eventstats": _stats_stage,
    "streamstats": _stats_stage,
    "rename": _rename_stage,
    "map": _map_stage,
    "eval": _eval_stage,
}
