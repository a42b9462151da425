"""`search_rules`: read the query, ask the engine, filter, rank, page, explain, suggest.

Decisions:
- Every term must match (`match: all`). When no rule holds them all and the query has
  several terms, the rules holding any of them are ranked instead (`match: any`, said in a
  note), so a long natural-language question still finds its best rules.
- Ranking is the engine's (BM25 / BM25F with `document.FIELDS` weights), ties broken by the
  rule's rowid, so pages are stable. Filters are one SQL condition on `rules` for both
  engines (`base.RuleFilter`); each engine keeps the hits whose rules it allows.
- `tactics` accepts a tactic's short name, name or ID; a rule is in a tactic when it is
  tagged with it or with a technique of it (Splunk rules name techniques only).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..answers import Filters
from ..errors import InvalidArgument
from .analyzer import Term, parse_query
from .answers import LongerWord, Match, SearchHit, SearchResults, TermSuggestion
from .base import Hit, RuleFilter, TextIndex
from .fts5 import stored_documents
from .snippets import Explainer
from .suggest import suggest, unknown_words

LEVELS = ("critical", "high", "medium", "low", "informational")
_ROW = "rowid, id, source, vendor, title, level, status, deprecated, url"


@dataclass
class SearchRequest:
    query: str
    filters: Filters
    techniques: list[str] = field(default_factory=list)  # validated IDs
    tactics: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    limit: int = 20
    offset: int = 0


def search_rules(db: sqlite3.Connection, index: TextIndex, request: SearchRequest) -> SearchResults:
    """The ranked, filtered, explained page of rules matching `request.query`."""
    terms = parse_query(request.query)
    request.tactics = _resolve_tactics(db, request.tactics)
    request.levels = _check_levels(request.levels)
    total, page, match = _ranked(db, index, terms, request) if terms else (0, [], "all")

    unknown = unknown_words(index, terms) if not total or match == "any" else []
    rules = _rule_filter(request)
    suggestions = [TermSuggestion(instead_of=typed, term=near, rules=n)
                   for typed, near, _ in suggest(index, unknown)
                   if (n := _count(index, near, rules))]
    longer = _longer_words(index, terms, rules)
    return SearchResults(
        query=request.query, terms=[str(t) for t in terms], match=match, engine=index.engine,
        techniques=request.techniques or None, tactics=request.tactics or None,
        levels=request.levels or None, filters=request.filters,
        results=_explained(db, page, terms), total=total, returned=len(page),
        next=_next(request, total), suggestions=suggestions, longer_words=longer,
        notes=[*index.notes, *_notes(request, terms, total, match, unknown)],
    )


def _count(index: TextIndex, word: str, rules: RuleFilter) -> int:
    """Rules a search for `word` finds under the request's filters: what a suggested or
    longer word is shown with (deprecated rules left out unless asked)."""
    return index.search([Term((word,))], True, rules, 1, 0)[0]


# Longer words: for queries of at most `LONGER_WORDS` words this long, at most this many
# per word, chosen among the most widely held `LONGER_POOL` words that begin with it,
# counting at most `LONGER_TRIES` of them under the filters (each a search: a long query
# stays cheap).
LONGER_MIN_CHARS = 4
LONGER_WORDS = 4
LONGER_PER_WORD = 3
LONGER_POOL = 100
LONGER_TRIES = 5


def _longer_words(index: TextIndex, terms: list[Term], rules: RuleFilter) -> list[LongerWord]:
    """Words the catalog holds that begin with a one-word query term (words match whole, so
    `kerberoast` does not find `Kerberoasting`), the most widely held first, each with what
    searching it finds under the same filters."""
    found: list[LongerWord] = []
    words = dict.fromkeys(t.words[0] for t in terms
                          if len(t.words) == 1 and len(t.words[0]) >= LONGER_MIN_CHARS)
    for word in words if len(words) <= LONGER_WORDS else ():
        pool = [w for w in islice(index.vocabulary(word), LONGER_POOL) if w != word]
        by_use = sorted(pool, key=lambda w: (-index.rules_with(w), w))
        counted = ((w, _count(index, w, rules)) for w in by_use[:LONGER_TRIES])
        found += [LongerWord(begins_with=word, word=w, rules=n)
                  for w, n in counted if n][:LONGER_PER_WORD]
    return found


def _rule_filter(request: SearchRequest) -> RuleFilter:
    sql, args = _filter_sql(request)
    return RuleFilter(sql, tuple(args))


def _ranked(
    db: sqlite3.Connection, index: TextIndex, terms: list[Term], request: SearchRequest
) -> tuple[int, list[Hit], Match]:
    """(total, page, match): all terms, else (several terms) any term."""
    rules = _rule_filter(request)
    for require_all in (True, False) if len(terms) > 1 else (True,):
        total, page = index.search(terms, require_all, rules, request.limit, request.offset)
        if total:
            return total, page, "all" if require_all else "any"
    return 0, [], "all"


def _filter_sql(request: SearchRequest) -> tuple[str, list[Any]]:
    f = request.filters
    sql, args = "", []
    for clause, values in (
        ("r.source IN ({})", f.sources), ("r.vendor IN ({})", f.vendors),
        ("r.level IN ({})", request.levels),
        ("r.rowid IN (SELECT rule FROM technique_rules WHERE technique IN ({}))",
         request.techniques),
    ):
        if values:
            sql += " AND " + clause.format(",".join("?" * len(values)))
            args.extend(values)
    if request.tactics:
        marks = ",".join("?" * len(request.tactics))
        sql += (f" AND (r.rowid IN (SELECT rt.rule FROM rule_techniques rt JOIN techniques t "
                f"ON t.id = rt.technique, json_each(t.tactics) j WHERE j.value IN ({marks})) "
                f"OR EXISTS (SELECT 1 FROM json_each(r.doc, '$.tactics') j "
                f"WHERE j.value IN ({marks})))")
        args.extend(request.tactics * 2)
    if not f.include_deprecated:
        sql += " AND r.deprecated = 0"
    return sql, args


def _explained(db: sqlite3.Connection, page: list[Hit], terms: list[Term]) -> list[SearchHit]:
    if not page:
        return []
    marks = ",".join("?" * len(page))
    ids = [h.rowid for h in page]
    rows = {r["rowid"]: r for r in db.execute(
        f"SELECT {_ROW} FROM rules WHERE rowid IN ({marks})", ids)}
    docs = stored_documents(db, ids)
    explainer = Explainer(terms)
    out = []
    for hit in page:
        r = rows[hit.rowid]
        matched_in, snippet = explainer.explain(docs[hit.rowid])
        out.append(SearchHit(
            id=r["id"], source=r["source"], vendor=r["vendor"], title=r["title"],
            level=r["level"], status=r["status"], deprecated=bool(r["deprecated"]),
            url=r["url"], score=round(hit.score, 4), matched_in=matched_in, snippet=snippet))
    return out


def _next(request: SearchRequest, total: int) -> dict[str, Any] | None:
    if request.offset + request.limit >= total:
        return None
    asked = {"query": request.query, "techniques": request.techniques,
             "tactics": request.tactics, "levels": request.levels}
    return {**{k: v for k, v in asked.items() if v},
            **request.filters.model_dump(exclude_defaults=True),
            "limit": request.limit, "offset": request.offset + request.limit}


def _notes(
    request: SearchRequest, terms: list[Term], total: int, match: Match, unknown: list[str]
) -> list[str]:
    if not terms:
        return ["The query has no letters or digits to search for. Try words such as "
                "'dcom lateral movement' or identifiers such as 'regsvr32.exe'."]
    notes = []
    if match == "any":
        notes.append("No rule holds every term; these rules hold some of them, best first.")
    if not total and not unknown:
        notes.append("Every word is in the catalog, but no rule matches the query with these "
                     "filters: drop a term, unquote a phrase, or widen the filters.")
    if request.levels and "splunk" in (request.filters.vendors or ["splunk"]):
        notes.append("Splunk rules carry no level, so a levels filter leaves them out.")
    if total and request.offset >= total:
        notes.append(f"offset {request.offset} is past the end ({total}); use offset 0.")
    return notes


def _resolve_tactics(db: sqlite3.Connection, asked: list[str]) -> list[str]:
    """Tactic short names for what was asked (short name, name or ID, any case)."""
    if not asked:
        return []
    known = {}
    for tid, short, name in db.execute("SELECT id, shortname, name FROM tactics ORDER BY ord"):
        known.update({tid.lower(): short, short.lower(): short, name.lower(): short})
    bad = [t for t in asked if t.strip().lower() not in known]
    if bad:
        valid = ", ".join(dict.fromkeys(known.values()))
        raise InvalidArgument(f"Unknown tactics: {_shown(bad)}. Valid: {valid} "
                              "(or their names or IDs, e.g. 'Lateral Movement', 'TA0008').")
    return list(dict.fromkeys(known[t.strip().lower()] for t in asked))


def _check_levels(asked: list[str]) -> list[str]:
    levels = [lv.strip().lower() for lv in asked]
    bad = [a for a, lv in zip(asked, levels) if lv not in LEVELS]
    if bad:
        raise InvalidArgument(f"Unknown levels: {_shown(bad)}. Valid: {', '.join(LEVELS)}.")
    return list(dict.fromkeys(levels))


def _shown(bad: list[str], most: int = 5, chars: int = 40) -> str:
    """Bad values for an error message: a few, each cut short (arguments may be huge)."""
    cut = [v if len(v) <= chars else f"{v[:chars]}..." for v in bad[:most]]
    more = f" and {len(bad) - most:,} more" if len(bad) > most else ""
    return ", ".join(cut) + more
