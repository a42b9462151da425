"""The text-index interface both engines implement, and its errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ..errors import RulecatError
from .analyzer import Term

ENGINES: tuple[str, ...] = ("fts5", "whoosh")


class TextIndexUnavailable(RulecatError):
    """The text index asked for cannot be opened here; the message says what to do."""


class Hit(NamedTuple):
    rowid: int
    score: float  # higher is better; comparable within one engine's answer only


@dataclass(frozen=True)
class RuleFilter:
    """A request's filters as SQL over `rules r` (`AND ...` clauses; empty: every rule)."""

    sql: str = ""
    args: tuple[Any, ...] = ()


class AllowedRules:
    """The rowids each filter allows, read once per catalog connection and kept (the catalog
    never changes), so a filtered search costs a set look-up per hit, not a join into the
    large `rules` table. At most `KEEP` filters are kept."""

    KEEP = 8

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._sets: dict[RuleFilter, frozenset[int]] = {}

    def __call__(self, rules: RuleFilter) -> frozenset[int] | None:
        if not rules.sql:
            return None
        if rules not in self._sets:
            if len(self._sets) >= self.KEEP:
                self._sets.pop(next(iter(self._sets)))
            rows = self.db.execute(f"SELECT r.rowid FROM rules r WHERE 1 {rules.sql}", rules.args)
            self._sets[rules] = frozenset(r[0] for r in rows)
        return self._sets[rules]


class TextIndex(Protocol):
    """A full-text index over the catalog's rules (`document.RuleDocument`)."""

    engine: str
    notes: list[str]  # said in every answer, e.g. that the engine fell back

    def search(
        self, terms: list[Term], require_all: bool, rules: RuleFilter, limit: int, offset: int
    ) -> tuple[int, list[Hit]]:
        """(how many rules match, this page of them best first; ties by rowid)."""
        ...

    def vocabulary(self, prefix: str, lengths: tuple[int, int] = (1, 10**6)) -> Iterator[str]:
        """Indexed words starting with `prefix`, `lengths[0]` to `lengths[1]` characters long
        (lower-cased, like the index), sorted."""
        ...

    def rules_with(self, word: str) -> int:
        """How many rules hold `word` in any field."""
        ...

    def close(self) -> None: ...


def rank_page(hits: list[Hit], limit: int, offset: int) -> list[Hit]:
    """Best first, ties by rowid (as FTS5's ORDER BY), then one page."""
    hits.sort(key=lambda h: (-h.score, h.rowid))
    return hits[offset : offset + limit]
