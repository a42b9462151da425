r"""EQL (Elastic Event Query Language) queries to predicates, through our own lark grammar.

`parse_eql(text)` reads one query whole or raises `QueryParseError` (with line:column and
the unexpected token); it never raises anything else. The grammar is LALR with lark's
contextual lexer, so time is linear in the query's length.

What is read: `<category> where <condition>` (also `any where`), `sequence [by ...]
[with maxspan=...]` with `[...]` steps, per-step `by` and `with runs=N`, missing-event steps
`![...]`, `until [...]`, `sample by ... [...]`, and the `| head N` / `| tail N` pipes;
conditions with `and` / `or` / `not`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `:`, `in`, `in~`,
`not in`, `like`, `like~`, `regex`, `regex~` (each with one value or a list), function calls
(`name(...)`, `name~(...)`), arithmetic, `?optional` fields and backquoted field names.

Decisions, one predicate per tested value (DESIGN.md, "Predicates"):

* `vendor_field` is the field as written without the `?` optional marker and without
  backquotes (``a.`0`.b`` -> `a.0.b`); `value` is the string after escapes are resolved.
* `==`, `in`, `like`, `regex` and functions without `~` are case-sensitive; `:`, `in~`,
  `like~`, `regex~` and `name~(...)` are not (`case_sensitive` says which).
* operator from the value, as for Sigma and KQL: `:`, `like`, `like~`, `wildcard()` give
  `wildcard` when the value holds `*` or `?`, else `eq` (a pattern without wildcards matches
  exactly). `==` and `in` never glob: their values are `eq` as written.
* `startsWith(f, "x")` -> `wildcard x*`, `endsWith` -> `*x`, `stringContains` -> `*x*`,
  `cidrMatch(f, nets...)` -> `cidr` per network, `regex` -> `regex_match`. A `*` or `?`
  in the written prefix is literal for EQL but reads as a wildcard in the value (the Sigma
  parser has the same ambiguity): `startsWith(f, "DC=*,")` -> `DC=*,*`.
* `!=` is an `eq` with one more negation; `not` flips polarity (`exclude` when the number of
  negations above a predicate is odd).
* null: `f == null` -> `exists false`, `f != null` -> `exists true`; here the `!=` is the
  test itself, not a negation (so `source.ip != null` is a `detect` that the field exists,
  and `not f == null` an `exclude` of the field's absence). `null` in a list -> `exists false`.
* a wrapped field (`length(f) > 3`, `string(f) == "x"`, `substring(f, 0, 2) : "ab"`) is a
  predicate on `f` with the wrapper names in `transforms`, innermost first
  (`["length"]`); only the first argument of a wrapper is followed, the others are its
  parameters. Arithmetic adds `add` / `subtract` / `multiply` / `divide` / `modulo`.
* field against field (`a == b`, `startsWith~(a, substring(b, 0, -1))`) -> `fieldref` on the
  left field with the right field's name as value; `transforms` holds the left wrappers, the
  comparing function (`startsWith`) and the right wrappers prefixed `ref:` (`ref:substring`).
  Ordering comparisons between fields keep the comparison as a transform (`gt`, ...).
* a wrapper compared with `null` (`indexOf(string(a), string(b)) == null`) is an `exists`
  on the wrapped field with the wrappers as transforms; the other field is not recorded.
* `f : "*"` and `f like "*"` test that the field is present: `exists true` (as KQL `f:*`).
* a bare field used as a condition tests `f == true`.
* the event category (`process where`) is a predicate `event.category eq process`
  (case-sensitive) in every step; `any where` adds none.
* `selection` is None for a single event query, `step1`, `step2`, ... for sequence and
  sample steps, `until` for the until step. A missing-event step `![...]` counts as one
  negation (its predicates are `exclude`).
* `by` keys (sequence, sample and per-step) go to `ParsedQuery.grouping_fields` (a wrapped key
  gives its field), never to predicates; `maxspan`, `runs` and pipes add nothing.
* identical predicates (same step, field, operator, value, polarity, transforms, case) are
  kept once, in query order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

from ..models import Operator, Predicate
from . import ParsedQuery, QueryParseError, dedupe, lalr_parser

_GRAMMAR = r"""
start: query pipe*

?query: event_query | sequence | sample
event_query: category "where" expr
category: FIELD | STRING | RAW_STRING

sequence: "sequence" header_option* step+ until_step?
header_option: by_clause | with_clause
step: BANG? "[" event_query "]" step_option*
?step_option: by_clause | with_clause
until_step: "until" "[" event_query "]" by_clause?
sample: "sample" by_clause? sample_step+
sample_step: "[" event_query "]" by_clause?
by_clause: "by" sum ("," sum)*
with_clause: "with" FIELD "=" NUMBER FIELD?
pipe: "|" FIELD [expr ("," expr)*]

?expr: or_expr
?or_expr: and_expr ("or" and_expr)*
?and_expr: not_expr ("and" not_expr)*
?not_expr: NOT not_expr -> negation
    | comparison
?comparison: sum
    | sum COMPARE sum -> compare
    | sum NOT? set_op sum -> match
!set_op: "in" | IN_CI | "like" | LIKE_CI | "regex" | REGEX_CI | ":"
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: ADD_OP unary -> signed
    | atom
?atom: FIELD -> field
    | STRING -> string
    | RAW_STRING -> raw_string
    | NUMBER -> number
    | "true" -> true
    | "false" -> false
    | "null" -> null
    | FIELD TILDE? "(" [expr ("," expr)*] ")" -> call
    | "(" expr ("," expr)* ","? ")" -> group

NOT: "not"
IN_CI.2: "in~"
LIKE_CI.2: "like~"
REGEX_CI.2: "regex~"
TILDE: "~"
BANG: "!"
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
FIELD: /\??(?:[A-Za-z_@][A-Za-z0-9_@]*|`(?:[^`]|``)+`)(?:\.(?:[A-Za-z0-9_@]+|`(?:[^`]|``)+`))*/
STRING: /"(?:[^"\\\r\n]|\\.)*"/
RAW_STRING.3: /"{3}[\s\S]*?"{3}/ | /\?"[^"\r\n]*"/
NUMBER: /[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
COMMENT.4: /\/\*[\s\S]*?\*\// | /\/\/[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""

# Canonical spelling of EQL's functions (EQL reads function names case-insensitively).
_FUNCTIONS = {
    name.lower(): name
    for name in (
        "add", "between", "cidrMatch", "concat", "divide", "endsWith", "indexOf", "length",
        "modulo", "multiply", "number", "startsWith", "string", "stringContains", "substring",
        "subtract", "wildcard",
    )
}
_ARITHMETIC = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "modulo"}
_ORDER: dict[str, Operator] = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_SWAPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
# Pattern functions: how the pattern becomes a value.
_PATTERNS = {
    "startsWith": "{}*",
    "endsWith": "*{}",
    "stringContains": "*{}*",
    "wildcard": "{}",
}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\", "0": "\0"}


# -- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Literal:
    kind: str  # "string", "number", "bool", "null"
    value: str


@dataclass(frozen=True)
class Call:
    name: str  # canonical spelling when known, else lower case
    args: tuple[Node, ...]
    insensitive: bool  # written with `~`


@dataclass(frozen=True)
class Arith:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Group:
    """A parenthesised list of two or more values (the right side of `in`, `:`, ...)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    left: Node
    op: str  # "==", "<", "in", "in~", ":", "like~", ...
    right: Node
    negated: bool = False  # `not in`, `not like`


Node = Field | Literal | Call | Arith | Group | Not | BoolOp | Compare


@dataclass(frozen=True)
class EventQuery:
    category: str
    condition: Node


@dataclass(frozen=True)
class Step:
    label: str | None
    query: EventQuery
    keys: tuple[Node, ...] = ()
    missing: bool = False


# -- parsing -----------------------------------------------------------------------------


@cache
def _parser() -> Lark:
    """The LALR parser, built on first use; it applies `_ToSteps` while parsing (no tree)."""
    return lalr_parser(_GRAMMAR, maybe_placeholders=False, transformer=_ToSteps())


def parse_eql(text: str) -> ParsedQuery:
    """Read one EQL query into predicates; `QueryParseError` when it cannot be read whole."""
    steps, keys = read_tree(_parser(), text)
    try:
        predicates = dedupe(p for step in steps for p in _step_predicates(step))
    except RecursionError:
        raise QueryParseError(TOO_DEEP) from None
    grouping = list(dict.fromkeys(_key_field(key) for key in keys))
    return ParsedQuery(predicates=predicates, grouping_fields=grouping)


# -- helpers shared with the ES|QL parser -------------------------------------------------

TOO_DEEP = "the query is nested too deeply"


def read_tree(parser: Lark, text: str) -> Any:
    """Parse `text` with a parser that transforms as it goes; every failure becomes a
    `QueryParseError`.

    A syntax error says where (line:column) and what was found; a `QueryParseError` raised
    by the transformer passes through; nesting deeper than Python's recursion limit is
    reported as such, never as a `RecursionError`.
    """
    try:
        return parser.parse(text)
    except UnexpectedInput as error:
        raise QueryParseError(describe_error(error, parser)) from None
    except RecursionError:
        raise QueryParseError(TOO_DEEP) from None
    except LarkError as error:
        raise QueryParseError(f"cannot read the query: {error}") from None


def describe_error(error: UnexpectedInput, parser: Lark) -> str:
    """`line L:C: unexpected ...; expected ...` for a lark syntax error."""
    where = f"line {error.line}:{error.column}" if error.line not in (None, -1) else "end"
    if isinstance(error, UnexpectedCharacters):
        return f"{where}: unexpected character {error.char!r}"
    token = getattr(error, "token", None)
    if token is None or token.type == "$END":
        found = "end of query"
    else:
        found = repr(str(token)[:40])
    names = {t.name: t.pattern for t in parser.terminals}
    expected = sorted(
        repr(names[name].value) if names.get(name) and names[name].type == "str" else name
        for name in getattr(error, "expected", None) or ()
        if name != "$END"
    )
    hint = f"; expected one of {', '.join(expected[:10])}" if expected else ""
    return f"{where}: unexpected {found}{hint}"


@v_args(inline=True)
class _ToSteps(Transformer[Token, tuple[list[Step], list[Node]]]):
    """Lark tree to (steps, `by` keys): the small syntax tree above."""

    def start(self, query: object, *pipes: None) -> tuple[list[Step], list[Node]]:
        if isinstance(query, EventQuery):
            return [Step(None, query)], []
        return query  # type: ignore[return-value]

    def pipe(self, name: Token, *arguments: Node) -> None:
        where = f"line {name.line}:{name.column}"
        if name.lower() not in ("head", "tail"):
            raise QueryParseError(f"{where}: unsupported pipe {str(name)!r} (head, tail are read)")
        if len(arguments) != 1 or not isinstance(arguments[0], Literal):
            raise QueryParseError(f"{where}: {name} takes one number")

    def event_query(self, category: str, condition: Node) -> EventQuery:
        return EventQuery(category, condition)

    def category(self, token: Token) -> str:
        if token.type == "FIELD":
            return unquote_field(token)
        return string_value(token)

    def sequence(self, *parts: object) -> tuple[list[Step], list[Node]]:
        keys = [key for part in parts if isinstance(part, list) for key in part]
        steps = _label([part for part in parts if isinstance(part, Step)])
        return steps, keys + [key for step in steps for key in step.keys]

    sample = sequence

    def header_option(self, option: list[Node] | None) -> list[Node]:
        return option or []

    def step(self, *parts: object) -> Step:
        missing = isinstance(parts[0], Token) and parts[0].type == "BANG"
        (query,) = [part for part in parts if isinstance(part, EventQuery)]
        keys = tuple(key for part in parts if isinstance(part, list) for key in part)
        return Step(None, query, keys, missing)

    def sample_step(self, query: EventQuery, keys: list[Node] | None = None) -> Step:
        return Step(None, query, tuple(keys or ()))

    def until_step(self, query: EventQuery, keys: list[Node] | None = None) -> Step:
        return Step("until", query, tuple(keys or ()))

    def by_clause(self, *keys: Node) -> list[Node]:
        return list(keys)

    def with_clause(self, name: Token, number: Token, unit: Token | None = None) -> None:
        if name.lower() not in ("maxspan", "runs"):
            raise QueryParseError(f"line {name.line}:{name.column}: unknown option {name!r}")

    def negation(self, _not: Token, operand: Node) -> Not:
        return Not(operand)

    def or_expr(self, *operands: Node) -> BoolOp:
        return BoolOp("or", operands)

    def and_expr(self, *operands: Node) -> BoolOp:
        return BoolOp("and", operands)

    def compare(self, left: Node, op: Token, right: Node) -> Compare:
        return Compare(left, str(op), right)

    def match(self, left: Node, *rest: object) -> Compare:
        op, right = rest[-2], rest[-1]
        return Compare(left, str(op), right, negated=len(rest) == 3)  # type: ignore[arg-type]

    def set_op(self, token: Token) -> str:
        return str(token)

    def sum(self, *parts: object) -> Node:
        return _fold(parts)

    product = sum

    def signed(self, sign: Token, operand: Node) -> Node:
        if sign == "+":
            return operand
        if isinstance(operand, Literal) and operand.kind == "number":
            text = operand.value
            return Literal("number", text[1:] if text.startswith("-") else f"-{text}")
        return Arith("subtract", Literal("number", "0"), operand)

    def field(self, token: Token) -> Field:
        return Field(unquote_field(token))

    def string(self, token: Token) -> Literal:
        return Literal("string", string_value(token))

    raw_string = string

    def number(self, token: Token) -> Literal:
        return Literal("number", str(token))

    def true(self) -> Literal:
        return Literal("bool", "true")

    def false(self) -> Literal:
        return Literal("bool", "false")

    def null(self) -> Literal:
        return Literal("null", "null")

    def call(self, name: Token, *rest: object) -> Call:
        insensitive = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "TILDE"
        args = tuple(arg for arg in rest if not isinstance(arg, Token))
        if name.startswith("?") or "`" in name:
            raise QueryParseError(f"line {name.line}:{name.column}: bad function name {name!r}")
        return Call(_FUNCTIONS.get(name.lower(), name.lower()), args, insensitive)  # type: ignore

    def group(self, *items: Node) -> Node:
        return items[0] if len(items) == 1 else Group(items)


def _fold(parts: tuple[object, ...]) -> Node:
    """Left-associative arithmetic from `operand (op operand)*`."""
    node = parts[0]
    for index in range(1, len(parts), 2):
        node = Arith(_ARITHMETIC[str(parts[index])], node, parts[index + 1])  # type: ignore
    return node  # type: ignore[return-value]


def _label(steps: list[Step]) -> list[Step]:
    labelled: list[Step] = []
    for number, step in enumerate(steps, start=1):
        label = step.label or f"step{number}"
        labelled.append(Step(label, step.query, step.keys, step.missing))
    return labelled


def unquote_field(token: str) -> str:
    """The field as written, without the `?` marker and without backquotes (`` `a.b`.c``)."""
    name = token.removeprefix("?")
    if "`" not in name:
        return name
    out: list[str] = []
    index = 0
    while index < len(name):
        if name[index] != "`":
            out.append(name[index])
            index += 1
            continue
        end = index + 1
        while True:
            end = name.index("`", end)
            if name.startswith("``", end):
                end += 2
                continue
            break
        out.append(name[index + 1 : end].replace("``", "`"))
        index = end + 1
    return "".join(out)


def string_value(token: str) -> str:
    r"""A string literal's text: raw strings (triple-quoted, `?"..."`) as written; in `"..."`
    escapes are resolved (`\n`, `\t`, `\"`, `\\`, `\u{XXXX}`; others stay as written)."""
    if token.startswith('"""'):
        return token[3:-3]
    if token.startswith('?"'):
        return token[2:-1]
    return _unescape(token[1:-1])


def _unescape(body: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 >= len(body):
            out.append(char)
            index += 1
            continue
        nxt = body[index + 1]
        if nxt == "u" and body.startswith("{", index + 2) and "}" in body[index + 3 :]:
            end = body.index("}", index + 3)
            out.append(_code_point(body[index + 3 : end]))
            index = end + 1
            continue
        out.append(_ESCAPES.get(nxt, "\\" + nxt))
        index += 2
    return "".join(out)


def _code_point(digits: str) -> str:
    try:
        return chr(int(digits, 16))
    except (ValueError, OverflowError):
        raise QueryParseError(f"bad unicode escape \\u{{{digits}}}") from None


# -- predicates --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    """A tested field and the functions wrapped around it, innermost first."""

    field: str
    transforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Where:
    """Where a predicate sits: its step and whether an odd number of negations is above."""

    selection: str | None
    negated: bool

    def flip(self) -> _Where:
        return _Where(self.selection, not self.negated)

    def make(
        self,
        subject: _Subject,
        operator: Operator,
        value: str,
        case_sensitive: bool,
        transforms: Iterable[str] = (),
    ) -> Predicate:
        return Predicate(
            vendor_field=subject.field,
            operator=operator,
            value=value,
            polarity="exclude" if self.negated else "detect",
            selection=self.selection,
            transforms=[*subject.transforms, *transforms],
            case_sensitive=case_sensitive,
        )


def _step_predicates(step: Step) -> Iterator[Predicate]:
    where = _Where(step.label, step.missing)
    category = step.query.category
    if category.lower() != "any":
        yield where.make(_Subject("event.category"), "eq", category, True)
    yield from _condition(step.query.condition, where)


def _condition(node: Node, where: _Where) -> Iterator[Predicate]:
    if isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _condition(operand, where)
    elif isinstance(node, Not):
        yield from _condition(node.operand, where.flip())
    elif isinstance(node, Compare):
        yield from _comparison(node, where.flip() if node.negated else where)
    elif isinstance(node, Call) and node.name in (*_PATTERNS, "cidrMatch"):
        yield from _pattern_function(node, where)
    elif isinstance(node, Literal) and node.kind == "bool":
        return
    elif (subject := _subject(node)) is not None:
        yield where.make(subject, "eq", "true", False)
    else:
        raise QueryParseError(f"not a condition: {_show(node)}")


def _subject(node: Node) -> _Subject | None:
    """The field a value expression reads, with its wrappers; None for a constant."""
    if isinstance(node, Field):
        return _Subject(node.name)
    if isinstance(node, Call) and node.args:
        inner = _subject(node.args[0])
        return None if inner is None else _wrap(inner, node.name)
    if isinstance(node, Arith):
        inner = _subject(node.left) or _subject(node.right)
        return None if inner is None else _wrap(inner, node.op)
    return None


def _is_constant(node: Node) -> bool:
    if isinstance(node, Literal):
        return True
    if isinstance(node, Group):
        return all(_is_constant(item) for item in node.items)
    if isinstance(node, Call):
        return all(_is_constant(arg) for arg in node.args)
    if isinstance(node, Arith):
        return _is_constant(node.left) and _is_constant(node.right)
    return False


def _wrap(subject: _Subject, transform: str) -> _Subject:
    return _Subject(subject.field, (*subject.transforms, transform))


def _comparison(node: Compare, where: _Where) -> Iterator[Predicate]:
    left, op, right = node.left, node.op, node.right
    if _subject(left) is None and _subject(right) is not None and op in _SWAPPED:
        left, op, right = right, _SWAPPED[op], left
    subject = _subject(left)
    if subject is None:
        if _is_constant(left) and _is_constant(right):
            return  # constant against constant: tests no field
        raise QueryParseError(f"cannot read {_show(left)} {op} {_show(right)}")
    values = right.items if isinstance(right, Group) else (right,)
    if isinstance(right, Group) and op in _SWAPPED:
        raise QueryParseError(f"a list needs in, :, like or regex, not {op}")
    for value in values:
        yield _compared(subject, op, value, where)


def _compared(subject: _Subject, op: str, value: Node, where: _Where) -> Predicate:
    """One predicate for `subject op value`."""
    insensitive = op in (":", "in~", "like~", "regex~")
    if op == "!=" and not _is_null(value):
        where = where.flip()
    if (other := _subject(value)) is not None:
        extra = [_ORDER[op]] if op in _ORDER else []
        refs = [f"ref:{name}" for name in other.transforms]
        sensitive = not insensitive and op not in _ORDER
        return where.make(subject, "fieldref", other.field, sensitive, [*extra, *refs])
    if not isinstance(value, Literal):
        raise QueryParseError(f"cannot read the value {_show(value)}")
    if value.kind == "null":
        if op in _ORDER or op.startswith(("like", "regex")):
            raise QueryParseError(f"cannot compare {subject.field} {op} null")
        return where.make(subject, "exists", "true" if op == "!=" else "false", False)
    if op in _ORDER:
        return where.make(subject, _ORDER[op], value.value, False)
    operator, text = _value_operator(op, value)
    sensitive = not insensitive and value.kind == "string" and operator != "exists"
    return where.make(subject, operator, text, sensitive)


def _value_operator(op: str, value: Literal) -> tuple[Operator, str]:
    if value.kind != "string":
        return "eq", value.value
    if op.startswith("regex"):
        return "regex_match", value.value
    if op.startswith(("like", ":")) and value.value == "*":
        return "exists", "true"
    if op.startswith(("like", ":")) and _has_wildcard(value.value):
        return "wildcard", value.value
    return "eq", value.value


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _is_null(node: Node) -> bool:
    return isinstance(node, Literal) and node.kind == "null"


def _pattern_function(node: Call, where: _Where) -> Iterator[Predicate]:
    """`startsWith` / `endsWith` / `stringContains` / `wildcard` / `cidrMatch` calls."""
    if len(node.args) < 2 or (subject := _subject(node.args[0])) is None:
        raise QueryParseError(f"cannot read {_show(node)}")
    sensitive = not node.insensitive and node.name != "cidrMatch"
    for arg in node.args[1:]:
        if (other := _subject(arg)) is not None:
            refs = [f"ref:{name}" for name in other.transforms]
            yield where.make(subject, "fieldref", other.field, sensitive, [node.name, *refs])
        elif isinstance(arg, Literal) and arg.kind == "string":
            yield _pattern_predicate(node.name, subject, arg.value, sensitive, where)
        else:
            raise QueryParseError(f"cannot read the argument {_show(arg)} of {node.name}")


def _pattern_predicate(
    function: str, subject: _Subject, text: str, sensitive: bool, where: _Where
) -> Predicate:
    if function == "cidrMatch":
        return where.make(subject, "cidr", text, False)
    value = _PATTERNS[function].format(text)
    operator: Operator = "wildcard" if _has_wildcard(value) else "eq"
    return where.make(subject, operator, value, sensitive)


def _key_field(node: Node) -> str:
    subject = _subject(node)
    if subject is None:
        raise QueryParseError(f"a by key must name a field, not {_show(node)}")
    return subject.field


def _show(node: Node) -> str:
    """Short EQL-like text of a node, for error reasons."""
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Literal):
        return repr(node.value) if node.kind == "string" else node.value
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_show(arg) for arg in node.args)})"
    if isinstance(node, Group):
        return f"({', '.join(_show(item) for item in node.items)})"
    return type(node).__name__.lower()
