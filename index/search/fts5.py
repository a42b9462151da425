"""The default engine: SQLite FTS5, inside the catalog file (`rule_text` in schema.sql).

Decisions: the table keeps its text (about 12 MB on the real corpora), so a page of hits is
explained from one look-up (`stored_documents`), for both engines, instead of re-assembling
documents from predicates at query time. Ranking is BM25 with the column weights of
`document.FIELDS`. Words are FTS5's `unicode61` tokens (letters and digits; `_` separates), which is
the analyzer of `analyzer.WORD`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from .analyzer import Term, fts5_match
from .base import AllowedRules, Hit, RuleFilter, rank_page
from .document import FIELDS, RuleDocument

TABLE = "rule_text"
_WEIGHTS = ", ".join(str(w) for w in FIELDS.values())
_LAST = "\U0010ffff"


def write_fts5(conn: sqlite3.Connection, documents: Iterable[RuleDocument]) -> None:
    """Fill the (empty) `rule_text` table of a catalog being built, merge its b-trees, and
    list its words in `rule_text_words`."""
    columns = ", ".join(FIELDS)
    marks = ", ".join("?" * (len(FIELDS) + 1))
    conn.executemany(
        f"INSERT INTO {TABLE}(rowid, {columns}) VALUES ({marks})",
        ((d.rowid, *d.texts().values()) for d in documents))
    conn.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")
    conn.execute(f"CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, {TABLE}, row)")
    conn.execute(f"INSERT INTO {TABLE}_words SELECT term, doc FROM temp.vocabulary")
    conn.execute("DROP TABLE temp.vocabulary")


def stored_documents(db: sqlite3.Connection, rowids: list[int]) -> dict[int, RuleDocument]:
    """The indexed documents of these rules, as the build wrote them."""
    marks = ",".join("?" * len(rowids))
    rows = db.execute(f"SELECT rowid, {', '.join(FIELDS)} FROM {TABLE} WHERE rowid IN ({marks})",
                      rowids)
    return {r[0]: RuleDocument(r[0], *r[1:]) for r in rows}


class Fts5Index:
    """Searches `rule_text` through the catalog's own read-only connection."""

    engine = "fts5"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.notes: list[str] = []
        self._allowed = AllowedRules(db)

    def search(
        self, terms: list[Term], require_all: bool, rules: RuleFilter, limit: int, offset: int
    ) -> tuple[int, list[Hit]]:
        """Unfiltered: the page and the count in SQL. Filtered: every hit's score, kept when
        its rule is allowed (a join into `rules` per hit costs more), then one page."""
        match = fts5_match(terms, require_all)
        select = f"SELECT rowid, -bm25({TABLE}, {_WEIGHTS}) AS score FROM {TABLE} " \
                 f"WHERE {TABLE} MATCH ?"
        allowed = self._allowed(rules)
        if allowed is None:
            rows = self.db.execute(f"{select} ORDER BY score DESC, rowid LIMIT ? OFFSET ?",
                                   (match, limit, offset)).fetchall()
            total = self.db.execute(f"SELECT count(*) FROM {TABLE} WHERE {TABLE} MATCH ?",
                                    (match,)).fetchone()[0]
            return int(total), [Hit(int(r[0]), float(r[1])) for r in rows]
        hits = [Hit(r, s) for r, s in self.db.execute(select, (match,)) if r in allowed]
        return len(hits), rank_page(hits, limit, offset)

    def vocabulary(self, prefix: str, lengths: tuple[int, int] = (1, 10**6)) -> Iterator[str]:
        rows = self.db.execute(
            f"SELECT word FROM {TABLE}_words WHERE word >= ? AND word < ? "
            "AND length(word) BETWEEN ? AND ?", (prefix, prefix + _LAST, *lengths))
        return (str(r[0]) for r in rows)

    def rules_with(self, word: str) -> int:
        row = self.db.execute(f"SELECT rules FROM {TABLE}_words WHERE word = ?",
                              (word,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """The connection belongs to the catalog, which closes it."""
