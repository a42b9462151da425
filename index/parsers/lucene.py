r"""Lucene query syntax (Elastic rules with `language = "lucene"`) to predicates, via luqum.

luqum (Apache-2.0 / LGPL-3 dual licence, taken under Apache-2.0) parses the syntax; this
module walks its tree into DESIGN.md's predicates:

* `field:value` is `eq`, or `wildcard` when the value holds an unescaped `*` or `?`;
  `field:*` is `exists` `true`; `"phrase"` is exact; `/re/` is `regex_match`;
  `[a TO b]` / `{a TO b}` become `gte`/`gt` and `lte`/`lt` (an open `*` end adds nothing);
  a term without a field is `match`; a network (`10.0.0.0/8`) on an IP field is `cidr`;
* `NOT`, `-term` negate (polarity counts them); `+term`, groups and boosts (`^2`) don't;
* adjacent terms without an operator combine with Elasticsearch's default operator, OR.
  A bare lower-case `or` between them (`event.type:(start or process_started)`, as
  written in Elastic's one Lucene rule) is read as the operator its author meant; Lucene
  would add the word `or` as a third term, which tests nothing meaningful;
* fuzzy (`~`), proximity and `&&` / `||` / `!` are not read: the rule stays unparsed with
  that reason;
* values compare case-insensitively, as for KQL (rulecat reads both the same way).
"""

from __future__ import annotations

import re
from typing import Any

from ..models import Predicate
from . import ParsedQuery, QueryParseError
from .values import (
    comparison_predicate,
    exists_predicate,
    is_cidr,
    is_ip_field,
    operator_predicate,
    unescape,
    value_predicate,
)

_ANY_ESCAPE = {c: c for c in map(chr, range(32, 127))} | {"\\": "\\"}
_IMPLICIT_OR = re.compile(r"^or$", re.IGNORECASE)
_UNSUPPORTED_WORDS = {"&&", "||", "!"}


def parse_lucene(text: str) -> ParsedQuery:
    """Predicates of a Lucene query; `QueryParseError` when it cannot be read whole."""
    if not isinstance(text, str):
        raise QueryParseError(f"Lucene query is not text: {type(text).__name__}")
    if not text.strip():
        return ParsedQuery()
    try:
        from luqum.parser import parser
    except ImportError:  # pragma: no cover - luqum is a dependency
        raise QueryParseError("Lucene: luqum is not installed") from None
    try:
        tree = parser.parse(text)
    except RecursionError:
        raise QueryParseError("Lucene: query nested too deeply") from None
    except Exception as exc:  # luqum/ply raise several types for bad input
        raise QueryParseError(f"Lucene syntax error: {_first_line(exc)}") from None
    out: list[Predicate] = []
    try:
        _walk(tree, None, 0, out)
    except RecursionError:
        raise QueryParseError("Lucene: query nested too deeply") from None
    return ParsedQuery(predicates=out)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _walk(node: Any, field: str | None, negations: int, out: list[Predicate]) -> None:
    """Add the predicates under `node`; `field` is the enclosing `field:` if any."""
    kind = type(node).__name__
    if kind == "SearchField":
        _walk(node.expr, node.name, negations, out)
    elif kind in ("AndOperation", "OrOperation", "UnknownOperation"):
        for operand in node.operands:
            if kind == "UnknownOperation" and _is_word(operand, _IMPLICIT_OR):
                continue
            _walk(operand, field, negations, out)
    elif kind in ("Not", "Prohibit"):
        _walk(node.a, field, negations + 1, out)
    elif kind == "Plus":
        _walk(node.a, field, negations, out)
    elif kind in ("Group", "FieldGroup", "Boost"):
        _walk(node.expr, field, negations, out)
    else:
        out.extend(_leaf(node, kind, field, negations))


def _is_word(node: Any, pattern: re.Pattern[str]) -> bool:
    return type(node).__name__ == "Word" and bool(pattern.match(node.value))


def _leaf(node: Any, kind: str, field: str | None, negations: int) -> list[Predicate]:
    if kind == "Word":
        return [_word(node.value, field, negations)]
    if kind == "Phrase":
        text, _ = unescape(node.value[1:-1], {'"': '"', "\\": "\\"})
        return [value_predicate(field, text, negations, wildcard=False)]
    if kind == "Regex" and field:
        return [operator_predicate(field, "regex_match", node.value[1:-1], negations,
                                   case_sensitive=True)]
    if kind == "Range" and field:
        return _range(node, field, negations)
    raise QueryParseError(f"Lucene: {kind} is not supported ({node})")


def _word(raw: str, field: str | None, negations: int) -> Predicate:
    if raw in _UNSUPPORTED_WORDS:
        raise QueryParseError(f"Lucene: operator {raw!r} is not supported")
    text, wildcard = unescape(raw, _ANY_ESCAPE, wildcards="*?", keep_unknown=False)
    if field and wildcard and text == "*":
        return exists_predicate(field, True, negations)
    if field and not wildcard and is_ip_field(field) and is_cidr(text):
        return operator_predicate(field, "cidr", text, negations)
    return value_predicate(field, text, negations, wildcard=wildcard)


def _range(node: Any, field: str, negations: int) -> list[Predicate]:
    out: list[Predicate] = []
    bounds = ((node.low, ">=" if node.include_low else ">"),
              (node.high, "<=" if node.include_high else "<"))
    for bound, symbol in bounds:
        value = str(getattr(bound, "value", bound))
        if value != "*":
            text, _ = unescape(value.strip('"'), _ANY_ESCAPE, keep_unknown=False)
            out.append(comparison_predicate(field, symbol, text, negations))
    return out
