r"""KQL (Kibana Query Language, Elastic's `kuery`) to predicates, with rulecat's own grammar.

The grammar (`lark`, LALR) follows Kibana's description of the language:

* `field : value`, `field : "quoted phrase"`, `field : *` (the field exists),
  `field : (a or b and not c)` (a boolean expression of values, any depth),
  `field >= 10` (`<`, `<=`, `>`, `>=`), `field : { nested query }`, bare values (no field);
* `or` < `and` < `not` in precedence, keywords in any case, parentheses;
* an unquoted value may hold inner whitespace (`foo bar` is one value) but ends before a
  keyword, a special character or the end; `*` is its only wildcard (KQL has no `?`);
* field names may hold `*` (`file.hash.*`) or be quoted.

Decisions:

* One predicate per value; polarity counts the `not`s above a value, in the query and in
  the value expression (`not f : (a or not b)`: `a` excluded, `b` detected).
* `f : *` is `exists` `true`; a quoted `"*"` or `"a*"` is an exact value, as in Kibana
  (quotes make a phrase; wildcards apply to unquoted values only).
* Nested `parent : { child : v }` tests `parent.child`.
* Escapes, unquoted: `\` before a special character (`\():<>"*{}` and whitespace) or a
  keyword (`\and`) gives it literally; in quotes: `\"` and `\\`. `\uXXXX` is decoded in
  both. Kibana also reads `\t`, `\r`, `\n` as whitespace; rulecat keeps them as written,
  with any other unknown escape, because in Elastic's rules they are Windows paths
  (`"C:\...\Agent\tmp"`, `"\...\explorer\runmru"`) whose authors meant a backslash.
* Values compare case-insensitively (`case_sensitive=False`, DESIGN.md: KQL on keywords),
  so KQL indicators meet Sigma's and EQL's.
* Range values are kept as written (numbers, dates, date math such as `now-30d/d`).
* A network (`10.0.0.0/8`) on an IP field (`source.ip`, `*.ip`) is `cidr`, as
  Elasticsearch matches it; on other fields it is plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from ..models import Predicate
from . import ParsedQuery, QueryParseError, lalr_parser
from .values import (
    comparison_predicate,
    exists_predicate,
    is_cidr,
    is_ip_field,
    operator_predicate,
    value_predicate,
)

# Characters that end an unquoted value unless escaped (whitespace ends it only before a
# keyword or a special character).
_LIT = r'(?:\\.|[^\s\\():<>"{}])'
_KEYWORD_AHEAD = r'(?:or|and|not)(?=[\s()"]|$)'

KQL_GRAMMAR = rf"""
start: or_query?

?or_query: and_query
         | and_query (_OR and_query)+       -> or_
?and_query: not_query
          | not_query (_AND not_query)+     -> and_
?not_query: _NOT not_query                  -> not_
          | sub_query
?sub_query: "(" or_query ")"
          | field ":" "{{" or_query "}}"    -> nested
          | field ":" values                -> field_value
          | field RANGE_OP term             -> field_range
          | term                            -> bare

?values: "(" or_values ")"
       | term
?or_values: and_values
          | and_values (_OR and_values)+    -> or_
?and_values: not_values
           | not_values (_AND not_values)+  -> and_
?not_values: _NOT not_values                -> not_
           | values

field: QUOTED | LITERAL
term: QUOTED | LITERAL

_OR.3: /or(?=[\s()"]|$)/i
_AND.3: /and(?=[\s()"]|$)/i
_NOT.3: /not(?=[\s()"]|$)/i
RANGE_OP: /<=|>=|<|>/
QUOTED: /"(?:\\.|[^"\\])*"/s
LITERAL: /{_LIT}+(?:\s+(?!{_KEYWORD_AHEAD}){_LIT}+)*/i

%import common.WS
%ignore WS
"""

Node = Tree[Token] | Token
_SPECIALS = set('\\():<>"*{}')
_UNQUOTED_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|(?i:or|and|not)(?![A-Za-z])|[\s\S])")
_QUOTED_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\s\S])")


@cache
def _parser() -> Lark:
    return lalr_parser(KQL_GRAMMAR, lexer="basic", maybe_placeholders=False)


@dataclass(frozen=True)
class Value:
    """One value as the query wrote it, escapes resolved."""

    text: str
    wildcard: bool  # holds an unescaped `*` (unquoted values only)
    quoted: bool

    @property
    def is_star(self) -> bool:
        """The bare `*`: any value (the field exists)."""
        return self.wildcard and not self.quoted and self.text == "*"


def parse_kql(text: str) -> ParsedQuery:
    """Predicates of a KQL query; `QueryParseError` when it cannot be read whole."""
    if not isinstance(text, str):
        raise QueryParseError(f"KQL query is not text: {type(text).__name__}")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise QueryParseError(_syntax_message(text, exc)) from None
    except (LarkError, RecursionError) as exc:
        raise QueryParseError(f"KQL: {type(exc).__name__}: {exc}") from None
    try:
        return ParsedQuery(predicates=list(_Walker().query(tree)))
    except RecursionError:
        raise QueryParseError("KQL: query nested too deeply") from None


def _syntax_message(text: str, exc: UnexpectedInput) -> str:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    where = f"line {line}, column {column}" if line and line > 0 else "end of query"
    pos = getattr(exc, "pos_in_stream", None)
    near = text[pos: pos + 20].splitlines()[0] if isinstance(pos, int) and pos >= 0 else ""
    found = f" near {near!r}" if near else ""
    return f"KQL syntax error at {where}{found}"


class _Walker:
    """Walks the parse tree, counting negations and prefixing nested fields."""

    def query(self, tree: Tree[Token]) -> list[Predicate]:
        out: list[Predicate] = []
        for child in tree.children:
            self._query(child, 0, "", out)
        return out

    def _query(self, node: Node, negations: int, prefix: str, out: list[Predicate]) -> None:
        assert isinstance(node, Tree)  # rules only: tokens sit under `field` / `term`
        kind = node.data
        if kind in ("or_", "and_"):
            for child in node.children:
                self._query(child, negations, prefix, out)
        elif kind == "not_":
            self._query(node.children[0], negations + 1, prefix, out)
        elif kind == "nested":
            field, body = node.children
            self._query(body, negations, prefix + _field(field) + ".", out)
        elif kind == "field_value":
            field, values = node.children
            self._values(prefix + _field(field), values, negations, out)
        elif kind == "field_range":
            field, op, term = node.children
            bound = _term(term).text
            out.append(comparison_predicate(prefix + _field(field), str(op), bound, negations))
        elif kind == "bare":
            value = _term(node.children[0])
            out.append(value_predicate(None, value.text, negations, wildcard=value.wildcard))
        else:  # pragma: no cover - the grammar has no other rule
            raise QueryParseError(f"KQL: unexpected node {kind!r}")

    def _values(self, field: str, node: Node, negations: int, out: list[Predicate]) -> None:
        assert isinstance(node, Tree)
        kind = node.data
        if kind in ("or_", "and_"):
            for child in node.children:
                self._values(field, child, negations, out)
        elif kind == "not_":
            self._values(field, node.children[0], negations + 1, out)
        else:
            out.append(_value_predicate(field, _term(node), negations))


def _value_predicate(field: str, value: Value, negations: int) -> Predicate:
    if value.is_star:
        return exists_predicate(field, True, negations)
    if not value.wildcard and is_ip_field(field) and is_cidr(value.text):
        return operator_predicate(field, "cidr", value.text, negations)
    return value_predicate(field, value.text, negations, wildcard=value.wildcard)


def _field(node: Node) -> str:
    return _term(node).text


def _term(node: Node) -> Value:
    assert isinstance(node, Tree)
    token = node.children[0]
    assert isinstance(token, Token)  # `field` and `term` hold one token each
    return _token_value(token)


def _token_value(token: Token) -> Value:
    raw = str(token)
    if token.type == "QUOTED":
        return Value(_unescape_quoted(raw[1:-1]), wildcard=False, quoted=True)
    return _unescape_unquoted(raw)


def _decode(escape: str) -> str | None:
    """A `\\uXXXX` escape's character."""
    return chr(int(escape[1:], 16)) if len(escape) == 5 and escape[0] == "u" else None


def _unescape_quoted(body: str) -> str:
    def replace(m: re.Match[str]) -> str:
        escape = m.group(1)
        if (char := _decode(escape)) is not None:
            return char
        return escape if escape in ('"', "\\") else m.group(0)

    return _QUOTED_ESCAPE.sub(replace, body)


def _unescape_unquoted(raw: str) -> Value:
    """Resolve escapes in an unquoted value and find its unescaped `*`."""
    parts: list[str] = []
    wildcard = False
    pos = 0
    for m in _UNQUOTED_ESCAPE.finditer(raw):
        plain = raw[pos: m.start()]
        wildcard = wildcard or "*" in plain
        parts.append(plain)
        escape = m.group(1)
        if (char := _decode(escape)) is not None:
            parts.append(char)
        elif escape in _SPECIALS or escape.isspace() or len(escape) > 1:
            parts.append(escape)
        else:
            parts.append(m.group(0))
        pos = m.end()
    tail = raw[pos:]
    wildcard = wildcard or "*" in tail
    parts.append(tail)
    return Value("".join(parts), wildcard=wildcard, quoted=False)
