r"""ES|QL (Elastic's piped query language) to predicates, through our own lark grammar.

`parse_esql(text)` reads one query whole or raises `QueryParseError` (line:column and the
unexpected token); it never raises anything else. LALR with lark's contextual lexer.

Commands read: `from` (indices, `metadata`), `where`, `eval`, `stats` / `inline stats` /
`inlinestats` (with per-aggregate `where` and `by`), `keep`, `drop`, `rename` (`a as b`,
`b = a`), `sort`, `limit`, `mv_expand`, `grok`, `dissect`, `completion`. Expressions:
`and` / `or` / `not`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `like` / `rlike` (one pattern or a
list), `in`, `is [not] null`, the match operator `:`, arithmetic, `::` casts, function calls
(`count(*)`, named-option maps `{...}`), time intervals (`9 minutes`), `?params`. Keywords in
any case; comments `//` and `/* */`. Other commands (`enrich`, `lookup join`, `fork`, `row`,
...) are not read: such a query is unparsed, with the reason.

Decisions (DESIGN.md, "Predicates"):

* `from` index patterns go to `ParsedQuery.indices`; only `where` commands give predicates.
* `==`, `!=`, `in`, `like` and `rlike` compare case-sensitively; a field wrapped in
  `to_lower` / `to_upper` is a predicate on the field with that transform and
  `case_sensitive=False`. The match operator `f : "text"` and `match(f, "text")` are
  full-text searches: operator `match` on the field, case-insensitive.
* `like` gives `wildcard` when the pattern holds an unescaped `*` or `?`, else `eq`; `like
  "*"` is `exists true`. LIKE's own `\` escapes are resolved, so `like "C:\\\\Windows\\\\*"`
  (the corpus's way) is `C:\Windows\*`; an escaped `\*` is a literal star, rendered bare
  (as the Sigma parser does). `rlike` -> `regex_match` (the pattern as written).
* `in` -> one `eq` per value (`null` in the list -> `exists false`). `!=`, `not`, `not in`,
  `not like`, `not rlike` negate; `is null` -> `exists false`, `is not null` -> `exists
  true` (the `not` there is the test, not a negation).
* `starts_with(f, "x")` -> `wildcard x*`, `ends_with` -> `*x`, `cidr_match(f, nets...)` ->
  `cidr` per network, `kql("...")` -> the KQL parser's predicates (negations above it
  applied; a KQL parse error makes the ES|QL query unparsed). A bare boolean field tests
  `== true`; `true in (c1, c2)` / `c == true` / `c != false` on conditions are the
  conditions themselves.
* other wrappers (`length(f) > 5`, `mv_count`, `to_string`, `f::double`, arithmetic) are a
  predicate on `f` with the function names in `transforms`, innermost first (`::t` is
  `to_t`; arithmetic `add` / `subtract` / ...). Only one-field expressions resolve to a field.
* `eval` aliases are resolved in later commands:
  - `eval x = to_lower(f)` then `where x == "a"` is `f eq a` with `transforms ["to_lower"]`
    (any one-field expression resolves to that field, its wrappers in `transforms`);
  - `eval b = f in (...)` (a condition) then `where b` inlines that condition;
  - `eval v = case(c1, "a", c2, "b", "other")` then `where v != "other"` (or `is not null`,
    `== "a"`, `in (...)`, a bare `where v`) is the `or` of the branch conditions whose value
    passes the test, when the default fails it and the branch values are constants;
  - `coalesce(a, b)` of fields tests each field: one predicate per field, with the
    transform `coalesce` (after the wrappers any of them has);
  - `json_extract(_source, "a.b")` reads the field `a.b` (transform `json_extract`);
  - any other alias (`concat(a, b)`, `case(...)` otherwise) keeps the alias name as
    `vendor_field` with the transform `eval` (then any wrappers around it); such an
    expression tested inline (`where concat(a, b) == "x"`) is named by its ES|QL text;
  - `rename` follows the column; `grok` / `dissect` outputs resolve to their source field
    with the transform `grok` / `dissect` (from a computed column: the output's own name
    with that transform); a `completion` output reads like a function of its prompt.
* `where` on aggregated values (a `stats` output such as `where count > 5`, or anything
  computed from one) gives no predicate: it is a threshold, not a test of an event. The
  per-aggregate filter of `stats x = count(*) where ...` gives none either (it feeds a
  threshold). After a plain `stats` only its outputs exist, so any other name read later
  is taken as aggregated. `stats ... by` keys go to `grouping_fields` (an alias resolved to
  its field or fields).
* values are kept as written; a constant expression on the right (`now() - 9 minutes`)
  is kept as its ES|QL text. Predicates have no `selection` (ES|QL has no steps) and are
  kept once each, in query order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

from lark import Lark, Token, Transformer, v_args

from ..models import Operator, Predicate
from . import ParsedQuery, QueryParseError, lalr_parser
from .eql import (
    TOO_DEEP,
    Arith,
    BoolOp,
    Call,
    Compare,
    Field,
    Group,
    Literal,
    Node,
    Not,
    read_tree,
    string_value,
    unquote_field,
)
from . import dedupe
from .values import unescape

_GRAMMAR = r"""
start: from_command ("|" _command)*

from_command: FROM index ("," index)* metadata?
index: INDEX_PATTERN | STRING
metadata: METADATA NAME ("," NAME)*

_command: where_command | eval_command | stats_command | keep_command | drop_command
    | rename_command | sort_command | limit_command | mv_expand_command | grok_command
    | dissect_command | completion_command

where_command: WHERE expr
eval_command: EVAL assignment ("," assignment)*
stats_command: (INLINE STATS | INLINESTATS | STATS) [aggregate ("," aggregate)*] by_keys?
aggregate: assignment (WHERE expr)?
by_keys: BY assignment ("," assignment)*
assignment: NAME "=" expr -> named
    | expr -> unnamed
keep_command: KEEP PATTERN ("," PATTERN)*
drop_command: DROP PATTERN ("," PATTERN)*
rename_command: RENAME rename ("," rename)*
rename: NAME AS NAME -> rename_as
    | NAME "=" NAME -> rename_to
sort_command: SORT sort_key ("," sort_key)*
sort_key: expr ORDER? (NULLS POSITION)?
limit_command: LIMIT NUMBER
mv_expand_command: MV_EXPAND NAME
grok_command: GROK primary STRING
dissect_command: DISSECT primary STRING (NAME "=" STRING)?
completion_command: COMPLETION (NAME "=")? primary WITH map

?expr: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
    | predicate
?predicate: sum
    | sum COMPARE sum -> compare
    | sum NOT? LIKE patterns -> like
    | sum NOT? RLIKE patterns -> rlike
    | sum NOT? IN "(" expr ("," expr)* ")" -> in_list
    | sum IS NOT? NULL -> is_null
    | sum ":" sum -> match_op
patterns: STRING | "(" STRING ("," STRING)* ")"
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: ADD_OP unary -> signed
    | cast
?cast: primary
    | cast "::" NAME -> cast
?primary: NAME -> name
    | STRING -> string
    | NUMBER -> number
    | NUMBER NAME -> interval
    | TRUE -> true
    | FALSE -> false
    | NULL -> null
    | PARAM -> param
    | NAME "(" [arguments] ")" -> call
    | "(" expr ")"
    | "[" [expr ("," expr)*] "]" -> array
arguments: STAR | expr ("," expr)* ("," map)?
map: "{" [STRING ":" expr ("," STRING ":" expr)*] "}"

FROM: "from"i
METADATA: "metadata"i
WHERE: "where"i
EVAL: "eval"i
STATS: "stats"i
INLINE: "inline"i
INLINESTATS: "inlinestats"i
BY: "by"i
KEEP: "keep"i
DROP: "drop"i
RENAME: "rename"i
AS: "as"i
SORT: "sort"i
ORDER: "asc"i | "desc"i
NULLS: "nulls"i
POSITION: "first"i | "last"i
LIMIT: "limit"i
MV_EXPAND: "mv_expand"i
GROK: "grok"i
DISSECT: "dissect"i
COMPLETION: "completion"i
WITH: "with"i
AND: "and"i
OR: "or"i
NOT: "not"i
LIKE: "like"i
RLIKE: "rlike"i
IN: "in"i
IS: "is"i
NULL: "null"i
TRUE: "true"i
FALSE: "false"i
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
STAR: "*"
NAME: /(?:[A-Za-z_@][A-Za-z0-9_@]*|`(?:[^`]|``)+`)(?:\.(?:[A-Za-z0-9_@]+|`(?:[^`]|``)+`))*/i
PATTERN: /(?:[A-Za-z0-9_@*]+|`(?:[^`]|``)+`)(?:\.(?:[A-Za-z0-9_@*]+|`(?:[^`]|``)+`))*/i
INDEX_PATTERN: /[^\s,|"`\/()\[\]{}]+/i
PARAM: /\?[A-Za-z0-9_]*/
STRING.3: /"{3}[\s\S]*?"{3}/ | /"(?:[^"\\\r\n]|\\.)*"/
NUMBER: /(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
COMMENT.4: /\/\*[\s\S]*?\*\// | /\/\/[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""

_AGGREGATES = frozenset(
    {
        "absent", "avg", "count", "count_distinct", "first", "last", "max", "median",
        "median_absolute_deviation", "min", "percentile", "present", "rate", "sample",
        "st_centroid_agg", "st_extent_agg", "std_dev", "sum", "top", "values", "weighted_avg",
    }
)
_PATTERNS = {"starts_with": "{}*", "ends_with": "*{}"}
_CONDITIONS = frozenset({*_PATTERNS, "cidr_match", "match", "kql"})
_ARITHMETIC = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "modulo"}
_ORDER: dict[str, Operator] = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_SWAPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_CASE_FOLDING = frozenset({"to_lower", "to_upper"})
_GROK_NAME = re.compile(r"%\{[^}:]+:([^}:]+)(?::[^}]*)?\}|\(\?<([A-Za-z_@][\w.@]*)>")
_DISSECT_KEY = re.compile(r"%\{([^{}]*)\}")


# -- commands ----------------------------------------------------------------------------

Assignment = tuple[str | None, Node]


@dataclass(frozen=True)
class Where:
    condition: Node


@dataclass(frozen=True)
class Eval:
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class Stats:
    aggregates: tuple[Assignment, ...]
    keys: tuple[Assignment, ...]
    inline: bool  # `inline stats` keeps the other columns; `stats` keeps only its outputs


@dataclass(frozen=True)
class ByKeys:
    keys: tuple[Assignment, ...]


@dataclass(frozen=True)
class Rename:
    pairs: tuple[tuple[str, str], ...]  # (old, new)


@dataclass(frozen=True)
class Extract:
    """`grok` / `dissect`: new columns read out of one source column."""

    kind: str
    source: Node
    names: tuple[str, ...]


Command = Where | Eval | Stats | Rename | Extract


@cache
def _parser() -> Lark:
    """The LALR parser, built on first use; it applies `_ToCommands` while parsing."""
    return lalr_parser(_GRAMMAR, maybe_placeholders=False, transformer=_ToCommands())


def parse_esql(text: str) -> ParsedQuery:
    """Read one ES|QL query into predicates; `QueryParseError` when it cannot be read whole."""
    indices, commands = read_tree(_parser(), text)
    pipeline = _Pipeline()
    try:
        for command in commands:
            pipeline.run(command)
    except RecursionError:
        raise QueryParseError(TOO_DEEP) from None
    return ParsedQuery(
        predicates=dedupe(pipeline.predicates),
        grouping_fields=list(dict.fromkeys(pipeline.grouping)),
        indices=indices,
    )


def _words(parts: Iterable[object]) -> list[object]:
    """Children without keyword tokens (named terminals lark keeps)."""
    return [part for part in parts if not isinstance(part, Token)]


@v_args(inline=True)
class _ToCommands(Transformer[Token, tuple[list[str], list[Command]]]):
    """Lark tree to (indices, commands); expressions become the EQL syntax-tree nodes."""

    def start(
        self, indices: list[str], *commands: Command | None
    ) -> tuple[list[str], list[Command]]:
        return indices, [command for command in commands if command is not None]

    def from_command(self, *parts: object) -> list[str]:
        return [part for part in parts if isinstance(part, str) and not isinstance(part, Token)]

    def index(self, token: Token) -> str:
        return string_value(token) if token.type == "STRING" else str(token)

    def metadata(self, *parts: object) -> None:
        return None

    def where_command(self, _where: Token, condition: Node) -> Where:
        return Where(condition)

    def eval_command(self, *parts: object) -> Eval:
        return Eval(tuple(_words(parts)))  # type: ignore[arg-type]

    def named(self, name: Token, expr: Node) -> Assignment:
        return unquote_field(name), expr

    def unnamed(self, expr: Node) -> Assignment:
        return None, expr

    def aggregate(self, assignment: Assignment, *_filter: object) -> Assignment:
        return assignment  # the per-aggregate `where` feeds a threshold: no predicates

    def by_keys(self, _by: Token, *keys: Assignment) -> ByKeys:
        return ByKeys(keys)

    def stats_command(self, *parts: object) -> Stats:
        keys: tuple[Assignment, ...] = ()
        aggregates: list[Assignment] = []
        for part in _words(parts):
            if isinstance(part, ByKeys):
                keys = part.keys
            else:
                aggregates.append(part)  # type: ignore[arg-type]
        inline = any(isinstance(part, Token) and part.type.startswith("INLINE") for part in parts)
        return Stats(tuple(aggregates), keys, inline)

    def rename_as(self, old: Token, _as: Token, new: Token) -> tuple[str, str]:
        return unquote_field(old), unquote_field(new)

    def rename_to(self, new: Token, old: Token) -> tuple[str, str]:
        return unquote_field(old), unquote_field(new)

    def rename_command(self, _rename: Token, *pairs: tuple[str, str]) -> Rename:
        return Rename(pairs)

    def grok_command(self, _grok: Token, source: Node, pattern: Token) -> Extract:
        found = _GROK_NAME.findall(string_value(pattern))  # %{SYNTAX:name}, (?<name>...)
        return Extract("grok", source, tuple(named or group for named, group in found))

    def dissect_command(self, _dissect: Token, source: Node, pattern: Token, *_: object) -> Extract:
        keys = (_dissect_name(key) for key in _DISSECT_KEY.findall(string_value(pattern)))
        return Extract("dissect", source, tuple(key for key in keys if key))

    def completion_command(self, *parts: object) -> Eval:
        name = parts[1] if isinstance(parts[1], Token) and parts[1].type == "NAME" else None
        target = unquote_field(name) if name else "completion"
        prompt = parts[-3]  # COMPLETION [name =] prompt WITH {...}
        return Eval(((target, Call("completion", (prompt,), False)),))  # type: ignore[arg-type]

    def keep_command(self, *_: object) -> None:
        return None

    drop_command = sort_command = limit_command = mv_expand_command = keep_command

    def negation(self, _not: Token, operand: Node) -> Not:
        return Not(operand)

    def or_expr(self, *parts: object) -> BoolOp:
        return BoolOp("or", tuple(_words(parts)))  # type: ignore[arg-type]

    def and_expr(self, *parts: object) -> BoolOp:
        return BoolOp("and", tuple(_words(parts)))  # type: ignore[arg-type]

    def compare(self, left: Node, op: Token, right: Node) -> Compare:
        return Compare(left, str(op), right)

    def like(self, left: Node, *rest: object) -> Compare:
        return Compare(left, "like", rest[-1], negated=len(rest) == 3)  # type: ignore[arg-type]

    def rlike(self, left: Node, *rest: object) -> Compare:
        return Compare(left, "rlike", rest[-1], negated=len(rest) == 3)  # type: ignore[arg-type]

    def in_list(self, left: Node, *rest: object) -> Compare:
        negated = isinstance(rest[0], Token) and rest[0].type == "NOT"
        items = tuple(_words(rest))
        return Compare(left, "in", Group(items), negated=negated)  # type: ignore[arg-type]

    def is_null(self, left: Node, *rest: Token) -> Compare:
        op = "!=" if any(token.type == "NOT" for token in rest) else "=="
        return Compare(left, op, Literal("null", "null"))

    def match_op(self, left: Node, right: Node) -> Compare:
        return Compare(left, ":", right)

    def patterns(self, *tokens: Token) -> Node:
        values = tuple(Literal("string", string_value(token)) for token in tokens)
        return values[0] if len(values) == 1 else Group(values)

    def sum(self, *parts: object) -> Node:
        node = parts[0]
        for index in range(1, len(parts), 2):
            node = Arith(_ARITHMETIC[str(parts[index])], node, parts[index + 1])  # type: ignore
        return node  # type: ignore[return-value]

    product = sum

    def signed(self, sign: Token, operand: Node) -> Node:
        if sign == "+":
            return operand
        if isinstance(operand, Literal) and operand.kind == "number":
            text = operand.value
            return Literal("number", text[1:] if text.startswith("-") else f"-{text}")
        return Arith("subtract", Literal("number", "0"), operand)

    def cast(self, operand: Node, type_name: Token) -> Call:
        return Call(f"to_{type_name.lower()}", (operand,), False)

    def name(self, token: Token) -> Field:
        return Field(unquote_field(token))

    def string(self, token: Token) -> Literal:
        return Literal("string", string_value(token))

    def number(self, token: Token) -> Literal:
        return Literal("number", str(token))

    def interval(self, number: Token, unit: Token) -> Literal:
        return Literal("interval", f"{number} {unit.lower()}")

    def true(self, _token: Token) -> Literal:
        return Literal("bool", "true")

    def false(self, _token: Token) -> Literal:
        return Literal("bool", "false")

    def null(self, _token: Token) -> Literal:
        return Literal("null", "null")

    def param(self, token: Token) -> Literal:
        return Literal("param", str(token))

    def call(self, name: Token, arguments: tuple[Node, ...] = ()) -> Call:
        if "`" in name or "." in name:
            raise QueryParseError(f"line {name.line}:{name.column}: bad function name {name!r}")
        return Call(name.lower(), arguments, False)

    def arguments(self, *items: Node | Token) -> tuple[Node, ...]:
        return tuple(Literal("star", "*") if isinstance(item, Token) else item for item in items)

    def map(self, *items: object) -> Literal:
        return Literal("map", "{...}")

    def array(self, *items: Node) -> Group:
        return Group(items)


def _dissect_name(key: str) -> str | None:
    """The column a dissect key writes: None for skipped (`?k`) and empty keys."""
    key = key.split("->")[0].split("/")[0]
    if not key or key.startswith("?"):
        return None
    return key.lstrip("+*&") or None


# -- columns and predicates --------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """Where a column's values come from: a field and the functions applied to it (`kind`
    "field"; several fields for `coalesce(a, b)`), an alias that is not one field
    ("computed"; `fields` holds the alias name, or nothing yet), or an aggregate."""

    fields: tuple[str, ...] = ()
    transforms: tuple[str, ...] = ()
    kind: str = "field"

    def wrap(self, transform: str) -> _Origin:
        return _Origin(self.fields, (*self.transforms, transform), self.kind)


_AGGREGATE = _Origin((), (), "aggregate")
_COMPUTED = _Origin((), (), "computed")


@dataclass(frozen=True)
class _Column:
    """A column made by a command: its value origin, and its condition (with the columns
    it saw) when it was defined by one (`eval b = f in (...)`)."""

    origin: _Origin
    condition: Node | None = None
    scope: Mapping[str, _Column] = field(default_factory=dict)
    case: Call | None = None  # `eval x = case(...)`: its branches resolve tests on x


Scope = Mapping[str, _Column]
# After a `stats`, only its outputs exist: any other name read then is an aggregate.
_CLOSED = "\0closed"
_AGGREGATE_COLUMN = _Column(_AGGREGATE)


def _origin(node: Node, scope: Scope) -> _Origin | None:
    """What a value expression reads; None for a constant."""
    if isinstance(node, Field):
        column = scope.get(node.name) or scope.get(_CLOSED)
        return column.origin if column is not None else _Origin((node.name,))
    if isinstance(node, Call):
        if node.name in _AGGREGATES:
            return _AGGREGATE
        if (path := _source_path(node)) is not None:
            return _Origin((path,), ("json_extract",))
        return _combine(node.name, node.args, scope)
    if isinstance(node, Arith):
        return _combine(node.op, (node.left, node.right), scope)
    if isinstance(node, (Compare, BoolOp, Not, Group)):
        return _combine("condition", _children(node), scope)
    return None


def _combine(name: str, args: Iterable[Node], scope: Scope) -> _Origin | None:
    """Origin of `name(args)`: one field wrapped, or computed / aggregate."""
    origins = [origin for arg in args if (origin := _origin(arg, scope)) is not None]
    if not origins:
        return None
    if any(origin.kind == "aggregate" for origin in origins):
        return _AGGREGATE
    if name == "coalesce":
        return _coalesce(origins)
    if name in ("case", "condition"):
        return _COMPUTED
    if len({(origin.fields, origin.kind) for origin in origins}) == 1:
        return origins[0].wrap(name)  # one field, maybe read twice: length(f) - length(g(f))
    return _COMPUTED


def _coalesce(origins: list[_Origin]) -> _Origin:
    """`coalesce(a, b)` of fields reads each of them (with every wrapper any of them has)."""
    if any(origin.kind != "field" for origin in origins):
        return _COMPUTED
    fields = tuple(dict.fromkeys(name for origin in origins for name in origin.fields))
    wrappers = tuple(dict.fromkeys(name for origin in origins for name in origin.transforms))
    return _Origin(fields, wrappers).wrap("coalesce")


def _source_path(node: Call) -> str | None:
    """`json_extract(_source, "a.b")` reads the field `a.b` (a leading `$.` dropped)."""
    if node.name != "json_extract" or len(node.args) != 2:
        return None
    source, path = node.args
    if not (isinstance(source, Field) and source.name == "_source"):
        return None
    if not (isinstance(path, Literal) and path.kind == "string") or not path.value:
        return None
    return path.value.removeprefix("$.")


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Compare):
        return node.left, node.right
    if isinstance(node, (BoolOp)):
        return node.operands
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, Group):
        return node.items
    return ()


def _is_condition(node: Node, scope: Scope) -> bool:
    if isinstance(node, (Compare, BoolOp, Not)):
        return True
    if isinstance(node, Call):
        return node.name in _CONDITIONS
    if isinstance(node, Field):
        column = scope.get(node.name)
        return column is not None and column.condition is not None
    return False


class _Pipeline:
    """Runs the commands in order, keeping the columns each one makes."""

    def __init__(self) -> None:
        self.columns: dict[str, _Column] = {}
        self.predicates: list[Predicate] = []
        self.grouping: list[str] = []

    def run(self, command: Command) -> None:
        if isinstance(command, Where):
            self.predicates.extend(_condition(command.condition, False, self.columns))
        elif isinstance(command, Eval):
            for name, expr in command.assignments:
                if name is not None:
                    self.columns[name] = _define(name, expr, self.columns)
        elif isinstance(command, Stats):
            self._stats(command)
        elif isinstance(command, Rename):
            for old, new in command.pairs:
                column = self.columns.pop(old) if old in self.columns else None
                self.columns[new] = column or _Column(_Origin((old,)))
        else:
            self._extract(command)

    def _extract(self, command: Extract) -> None:
        """`grok` / `dissect` outputs: the source field with the transform `grok` / `dissect`;
        from a computed source, the output's own name with that transform."""
        source = _origin(command.source, self.columns)
        for name in command.names:
            if source is not None and source.kind != "computed":
                origin = source.wrap(command.kind)
            else:
                origin = _Origin((name,), (command.kind,), "computed")
            self.columns[name] = _Column(origin)

    def _stats(self, command: Stats) -> None:
        """Aggregates become aggregate columns; `by` keys keep (or define) their origin."""
        outputs = dict(self.columns) if command.inline else {_CLOSED: _AGGREGATE_COLUMN}
        for name, expr in command.aggregates:
            outputs[name or _render(expr)] = _AGGREGATE_COLUMN
        for name, expr in command.keys:
            if name is None and isinstance(expr, Field):
                name = expr.name
                column = self.columns.get(name) or _Column(_Origin((name,)))
            else:
                name = name or _render(expr)
                column = _define(name, expr, self.columns)
            outputs[name] = column
            if column.origin.kind != "aggregate":
                self.grouping.extend(column.origin.fields)
        self.columns = outputs


def _define(name: str, expr: Node, scope: Scope) -> _Column:
    """The column `eval name = expr` makes."""
    snapshot = dict(scope)
    if _is_condition(expr, snapshot):
        return _Column(_Origin((name,), ("eval",), "computed"), expr, snapshot)
    origin = _origin(expr, snapshot) or _COMPUTED
    case = expr if isinstance(expr, Call) and expr.name == "case" else None
    return _Column(_named(origin, name), scope=snapshot if case else {}, case=case)


def _named(origin: _Origin, name: str) -> _Origin:
    """A computed origin without a name takes the alias name and the transform `eval`."""
    if origin.kind == "computed" and not origin.fields:
        return _Origin((name,), ("eval", *origin.transforms), "computed")
    return origin


def _condition(node: Node, negated: bool, scope: Scope) -> Iterator[Predicate]:
    if isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _condition(operand, negated, scope)
    elif isinstance(node, Not):
        yield from _condition(node.operand, not negated, scope)
    elif isinstance(node, Compare):
        yield from _comparison(node, not negated if node.negated else negated, scope)
    elif isinstance(node, Call) and node.name in _CONDITIONS:
        yield from _function(node, negated, scope)
    elif isinstance(node, Field) and (column := scope.get(node.name)) and column.condition:
        yield from _condition(column.condition, negated, column.scope)
    elif (resolved := _case_test(node, "==", Literal("bool", "true"), scope)) is not None:
        yield from _condition(resolved[0], negated, resolved[1])
    elif isinstance(node, Literal) and node.kind in ("bool", "null"):
        return
    else:
        origin = _origin(node, scope)
        if origin is None:
            raise QueryParseError(f"not a condition: {_render(node)}")
        if origin.kind != "aggregate":
            yield from _make(_subject(origin, node), "eq", "true", negated, False)


def _subject(origin: _Origin, node: Node) -> _Origin:
    """The origin to name in a predicate; an unnamed computation is named by its text."""
    if origin.fields:
        return origin
    return _Origin((_render(node),), ("eval", *origin.transforms), origin.kind)


def _make(
    origin: _Origin,
    operator: Operator,
    value: str,
    negated: bool,
    case_sensitive: bool,
    transforms: Iterable[str] = (),
) -> list[Predicate]:
    """One predicate per field the origin reads."""
    return [
        Predicate(
            vendor_field=name,
            operator=operator,
            value=value,
            polarity="exclude" if negated else "detect",
            transforms=[*origin.transforms, *transforms],
            case_sensitive=case_sensitive and not _CASE_FOLDING & set(origin.transforms),
        )
        for name in origin.fields
    ]


def _comparison(node: Compare, negated: bool, scope: Scope) -> Iterator[Predicate]:
    if (condition := _boolean_test(node, scope)) is not None:
        yield from _condition(condition, negated, scope)
        return
    if (resolved := _case_test(node.left, node.op, node.right, scope)) is not None:
        yield from _condition(resolved[0], negated, resolved[1])
        return
    left, op, right = node.left, node.op, node.right
    if _origin(left, scope) is None and _origin(right, scope) is not None and op in _SWAPPED:
        left, op, right = right, _SWAPPED[op], left
    origin = _origin(left, scope)
    if origin is None:
        if _origin(right, scope) is None:
            return  # constant against constant: tests no field
        raise QueryParseError(f"cannot read {_render(node)}")
    if origin.kind == "aggregate":
        return  # a threshold on aggregated values, not a test of an event
    subject = _subject(origin, left)
    for value in right.items if isinstance(right, Group) else (right,):
        yield from _compared(subject, op, value, negated, scope)


def _boolean_test(node: Compare, scope: Scope) -> Node | None:
    """`cond == true`, `cond != false`, `true in (cond, cond)`: the condition(s) themselves
    (`or` of the list; `false` or `!=` negates)."""
    left, right = node.left, node.right
    if not (isinstance(left, Literal) and left.kind == "bool"):
        left, right = right, left
    if not (isinstance(left, Literal) and left.kind == "bool") or node.op not in ("==", "!=", "in"):
        return None
    items = right.items if isinstance(right, Group) else (right,)
    if not all(_is_condition(item, scope) for item in items):
        return None
    condition: Node = items[0] if len(items) == 1 else BoolOp("or", items)
    if (left.value == "false") != (node.op == "!="):
        condition = Not(condition)
    return condition


def _case_test(left: Node, op: str, right: Node, scope: Scope) -> tuple[Node, Scope] | None:
    """A test on a `case(...)` alias as the branch conditions it accepts, or None.

    `eval v = case(c1, "a", c2, "b", "other")` then `where v != "other"` is `c1 or c2`:
    the `or` of the conditions whose value passes the test, when the default value (null
    if absent) fails it and every branch value is a constant. First-match order is not
    kept: a later branch is read as if the earlier ones had failed.
    """
    column = scope.get(left.name) if isinstance(left, Field) else None
    if column is None or column.case is None:
        return None
    args = column.case.args
    pairs = list(zip(args[0:-1:2], args[1::2]))
    default = args[-1] if len(args) % 2 else Literal("null", "null")
    if _accepts(op, right, default) is not False:
        return None
    chosen: list[Node] = []
    for condition, value in pairs:
        accepted = _accepts(op, right, value)
        if accepted is None:
            return None
        if accepted:
            chosen.append(condition)
    if not chosen:
        return None
    return (chosen[0] if len(chosen) == 1 else BoolOp("or", tuple(chosen))), column.scope


def _accepts(op: str, right: Node, value: Node) -> bool | None:
    """Whether the constant `value` passes `value op right`; None when unknown."""
    if not isinstance(value, Literal) or value.kind not in ("string", "number", "bool", "null"):
        return None
    items = right.items if isinstance(right, Group) else (right,)
    if not all(isinstance(item, Literal) for item in items):
        return None
    if value.kind == "null":
        return op == "==" and _is_null(right)
    if op == "in":
        return value.value in {item.value for item in items if isinstance(item, Literal)}
    if op not in ("==", "!=") or not isinstance(right, Literal):
        return None
    if right.kind == "null":
        return op == "!="
    return (value.value == right.value) == (op == "==")


def _is_null(node: Node) -> bool:
    return isinstance(node, Literal) and node.kind == "null"


def _compared(
    subject: _Origin, op: str, value: Node, negated: bool, scope: Scope
) -> list[Predicate]:
    """The predicates of `subject op value`; none against an aggregate."""
    if op == "!=" and not (isinstance(value, Literal) and value.kind == "null"):
        negated = not negated
    other = _origin(value, scope)
    if other is not None:
        if other.kind == "aggregate":
            return []
        refs = [f"ref:{name}" for name in other.transforms]
        extra = [*([_ORDER[op]] if op in _ORDER else []), *refs]
        names = _subject(other, value).fields
        sensitive = op not in _ORDER and op != ":"
        return [p for n in names for p in _make(subject, "fieldref", n, negated, sensitive, extra)]
    text = value.value if isinstance(value, Literal) else _render(value)
    kind = value.kind if isinstance(value, Literal) else "expression"
    if kind == "null":
        if op not in ("==", "!=", "in"):
            raise QueryParseError(f"cannot compare {', '.join(subject.fields)} {op} null")
        return _make(subject, "exists", "true" if op == "!=" else "false", negated, False)
    operator, text = _operator(op, kind, text)
    sensitive = kind == "string" and op != ":" and operator != "exists"
    return _make(subject, operator, text, negated, sensitive)


def _operator(op: str, kind: str, text: str) -> tuple[Operator, str]:
    if op in _ORDER:
        return _ORDER[op], text
    if op == ":":
        return "match", text
    if kind != "string":
        return "eq", text
    if op == "rlike":
        return "regex_match", text
    if op == "like":
        if text == "*":
            return "exists", "true"
        pattern, wildcard = unescape(text, {}, "*?", keep_unknown=False)
        return ("wildcard" if wildcard else "eq"), pattern
    return "eq", text


def _function(node: Call, negated: bool, scope: Scope) -> Iterator[Predicate]:
    """`starts_with`, `ends_with`, `cidr_match`, `match` and `kql` used as conditions."""
    if node.name == "kql":
        yield from _kql(node, negated)
        return
    origin = _origin(node.args[0], scope) if node.args else None
    if origin is None or len(node.args) < 2:
        raise QueryParseError(f"cannot read {_render(node)}")
    if origin.kind == "aggregate":
        return
    subject = _subject(origin, node.args[0])
    for arg in node.args[1:]:
        if isinstance(arg, Literal) and arg.kind == "map":
            continue  # match() options
        if not (isinstance(arg, Literal) and arg.kind == "string"):
            raise QueryParseError(f"cannot read the argument {_render(arg)} of {node.name}")
        yield from _pattern(node.name, subject, arg.value, negated)


def _pattern(function: str, subject: _Origin, text: str, negated: bool) -> list[Predicate]:
    if function == "cidr_match":
        return _make(subject, "cidr", text, negated, False)
    if function == "match":
        return _make(subject, "match", text, negated, False)
    value = _PATTERNS[function].format(text)
    operator: Operator = "wildcard" if "*" in value or "?" in value else "eq"
    return _make(subject, operator, value, negated, True)


def _kql(node: Call, negated: bool) -> Iterator[Predicate]:
    """`kql("...")`: the KQL parser's predicates, with the negations above the call."""
    if len(node.args) != 1 or not (
        isinstance(node.args[0], Literal) and node.args[0].kind == "string"
    ):
        raise QueryParseError(f"kql() takes one string, not {_render(node)}")
    from .kql import parse_kql  # imported here: KQL is only needed by rules that call it

    try:
        parsed = parse_kql(node.args[0].value)
    except QueryParseError as error:
        raise QueryParseError(f"in kql(): {error.reason}") from None
    except Exception as error:  # the KQL parser's own fault must not escape parse_esql
        raise QueryParseError(f"in kql(): the KQL parser failed ({error!r})") from None
    for predicate in parsed.predicates:
        if negated:
            flipped = "detect" if predicate.polarity == "exclude" else "exclude"
            predicate = predicate.model_copy(update={"polarity": flipped})
        yield predicate


def _render(node: Node) -> str:
    """ES|QL-like text of an expression, for values and error reasons."""
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Literal):
        return f'"{node.value}"' if node.kind == "string" else node.value
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_render(arg) for arg in node.args)})"
    if isinstance(node, Arith):
        symbol = {name: symbol for symbol, name in _ARITHMETIC.items()}[node.op]
        return f"{_render(node.left)} {symbol} {_render(node.right)}"
    if isinstance(node, Group):
        return f"({', '.join(_render(item) for item in node.items)})"
    if isinstance(node, Compare):
        return f"{_render(node.left)} {node.op} {_render(node.right)}"
    if isinstance(node, Not):
        return f"not {_render(node.operand)}"
    return f" {node.op} ".join(_render(operand) for operand in node.operands)
