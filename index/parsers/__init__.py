"""One parser per query language: query text in, `ParsedQuery` (predicates) out.

A parser raises `QueryParseError` when it cannot read the query *whole*; the reader then
keeps the rule with its raw text, `parsed=False` and the error's reason (a partial parse
counts as unparsed). Parsers never raise anything else for bad query text.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from typing import Any

from lark import Lark
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


def lalr_parser(grammar: str, **options: Any) -> Lark:
    """An LALR parser for `grammar`, its tables kept on disk with lark's own cache.

    Building the tables takes 0.05-0.15 s for EQL's and ES|QL's grammars, in every process
    (a CLI build, each worker of a big one), loading them a few ms. The file is
    `<cache>/grammars/<grammar sha256>.lark` (`$RULECAT_CACHE`, else the user cache
    directory); lark checks the grammar, options and versions it was saved with and builds
    afresh on any difference. It is written under a unique name and renamed into place, so
    processes starting together never read half a file; a cache that cannot be written
    costs only the time.
    """
    from ..sync.config import cache_dir

    folder = cache_dir() / "grammars"
    path = folder / f"{hashlib.sha256(grammar.encode()).hexdigest()[:32]}.lark"
    if path.is_file():
        return Lark(grammar, parser="lalr", cache=str(path), **options)
    partial = folder / f".{path.name}.{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Lark(grammar, parser="lalr", **options)
    parser = Lark(grammar, parser="lalr", cache=str(partial), **options)
    try:
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
    return parser
