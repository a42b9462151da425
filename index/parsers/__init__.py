"""One parser per query language: query text in, `ParsedQuery` (predicates) out.

A parser raises `QueryParseError` when it cannot read the query *whole*; the reader then
keeps the rule with its raw text, `parsed=False` and the error's reason (a partial parse
counts as unparsed). Parsers never raise anything else for bad query text.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from ..errors import RulecatError
from ..models import Predicate


class QueryParseError(RulecatError):
    """A query the grammar cannot read whole; `reason` says where and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ParsedQuery(BaseModel):
    """What a parser extracted from one query."""

    predicates: list[Predicate] = Field(default_factory=list)
    grouping_fields: list[str] = Field(default_factory=list)  # EQL `by`, SPL `by`, ...
    indices: list[str] = Field(default_factory=list)  # ES|QL `from`, SPL datamodel, ...


def dedupe(predicates: Iterable[Predicate]) -> list[Predicate]:
    """Each predicate once, in order (a value tested twice in one selection counts once)."""
    seen: set[tuple[object, ...]] = set()
    kept: list[Predicate] = []
    for p in predicates:
        key = (p.selection, p.vendor_field, p.operator, p.value, p.polarity,
               tuple(p.transforms), p.case_sensitive)
        if key not in seen:
            seen.add(key)
            kept.append(p)
    return kept
