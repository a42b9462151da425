"""The second engine: Whoosh 2.7.4 (`pip install 'rulecat[whoosh]'`), a folder of its own.

Decisions: the index is a folder beside the catalog named after the catalog's build id
(`engines.whoosh_folder`), written during `rulecat build --text-engine whoosh` before the
catalog is renamed into place, so a catalog never points at a half-written index. Fields and
boosts are `document.FIELDS`; the analyzer is `RegexTokenizer(analyzer.WORD) |
LowercaseFilter()`, the same words FTS5 indexes. Queries are built as query objects (`Term`,
`Phrase`, `And`, `Or`), never through Whoosh's query parser, so user text has no syntax to
break. Only the rule's rowid is stored; the docnum -> rowid map is read once when the index
is opened, and each open index holds one searcher (one per catalog and thread).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.analysis import LowercaseFilter, RegexTokenizer
from whoosh.fields import STORED, TEXT, Schema
from whoosh.query import And, Or, Phrase, Query
from whoosh.query import Term as WhooshTerm

from .analyzer import WORD, Term
from .base import AllowedRules, Hit, RuleFilter, TextIndexUnavailable, rank_page
from .document import FIELDS, RuleDocument


def _schema() -> Schema:
    analyzer = RegexTokenizer(WORD) | LowercaseFilter()
    return Schema(rowid=STORED(), **{name: TEXT(analyzer=analyzer) for name in FIELDS})


def write_whoosh(folder: Path, documents: Iterable[RuleDocument]) -> None:
    """Write a new index into `folder` (removed again if writing fails)."""
    folder.mkdir(parents=True, exist_ok=False)
    try:
        writer = whoosh_index.create_in(str(folder), _schema()).writer(limitmb=256)
        for d in documents:
            writer.add_document(rowid=d.rowid, **d.texts())
        writer.commit()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


class WhooshIndex:
    """An open Whoosh index: one searcher, held until `close` (one per catalog and thread)."""

    engine = "whoosh"

    def __init__(self, folder: Path, db: sqlite3.Connection) -> None:
        if not whoosh_index.exists_in(str(folder)):
            raise TextIndexUnavailable(
                f"No Whoosh index at {folder}. Build one with `rulecat build --text-engine "
                "whoosh`, or search with the fts5 engine (it is inside the catalog file).")
        self.notes: list[str] = []
        self._allowed = AllowedRules(db)
        self._searcher = whoosh_index.open_dir(str(folder)).searcher()
        self._rowids = {n: f["rowid"] for n, f in self._searcher.reader().iter_docs()}

    def search(
        self, terms: list[Term], require_all: bool, rules: RuleFilter, limit: int, offset: int
    ) -> tuple[int, list[Hit]]:
        """Every hit scored (BM25F), filtered by the allowed rowids, then one page."""
        parts = [_term_query(t) for t in terms]
        query = And(parts) if require_all else Or(parts)
        allowed = self._allowed(rules)
        hits = [Hit(self._rowids[docnum], float(score))
                for score, docnum in self._searcher.search(query, limit=None).top_n]
        if allowed is not None:
            hits = [h for h in hits if h.rowid in allowed]
        return len(hits), rank_page(hits, limit, offset)

    def vocabulary(self, prefix: str, lengths: tuple[int, int] = (1, 10**6)) -> Iterator[str]:
        reader = self._searcher.reader()
        found: set[str] = set()
        for name in FIELDS:
            found.update(_text(t) for t in reader.expand_prefix(name, prefix))
        return iter(sorted(t for t in found if lengths[0] <= len(t) <= lengths[1]))

    def rules_with(self, word: str) -> int:
        reader = self._searcher.reader()
        docs: set[int] = set()
        for name in FIELDS:
            if (name, word) in reader:
                docs.update(reader.postings(name, word).all_ids())
        return len(docs)

    def close(self) -> None:
        self._searcher.close()


def _term_query(term: Term) -> Query:
    """One term in any field, each field boosted by its weight."""
    words = list(term.words)
    return Or([
        WhooshTerm(name, words[0], boost=weight) if len(words) == 1
        else Phrase(name, words, boost=weight)
        for name, weight in FIELDS.items()
    ])


def _text(term: Any) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else str(term)
