"""Compare two sources: what A covers that B does not, and where A's rules repeat B's tests.

Both halves count non-deprecated rules only. A technique is covered by a source when one of
its rules is tagged with it (directly, or through a revoked or renamed ID; sub-techniques do
not roll up into their parent here). A rule's indicators are its distinct detect tests in
normalized form (field, operator, value), the same keys `top_indicators` counts.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel, Field

Key = tuple[str | None, str, str]
MAX_SHARED_WITH = 3


class TechniqueGap(BaseModel):
    id: str
    name: str | None
    rules: int = Field(description="Rules of source A tagged with the technique.")


class SharedWith(BaseModel):
    id: str = Field(description="A rule of source B; pass it to get_rule.")
    title: str
    shared: int = Field(description="Indicators it has in common with the rule of A.")
    indicators: int = Field(description="The B rule's own distinct detect indicators.")


class RuleOverlap(BaseModel):
    id: str
    title: str
    indicators: int = Field(description="The rule's distinct detect indicators.")
    in_b: int = Field(description="How many of them some rule of source B also tests.")
    shared_with: list[SharedWith] = Field(description=(
        "B's closest rules: most indicators shared, then the most alike (Jaccard), first."))


class SourceComparison(BaseModel):
    a: str
    b: str
    techniques_a: int = Field(description="Techniques source A covers.")
    techniques_b: int
    techniques_only_in_a: int
    only_in_a: list[TechniqueGap] = Field(description="This page: covered by A, not by B.")
    rules_a: int = Field(description="Non-deprecated rules of source A.")
    rules_fully_in_b: int = Field(description="Rules of A all of whose indicators B tests.")
    rules_partly_in_b: int
    rules_new: int = Field(description="Rules of A none of whose indicators B tests.")
    overlap: list[RuleOverlap] = Field(description="This page: rules of A, most overlap first.")
    limit: int
    offset: int
    next: dict[str, Any] | None = Field(None, description="Arguments for the next page.")


def compare(db: sqlite3.Connection, a: str, b: str, limit: int, offset: int) -> SourceComparison:
    """Both halves share `limit` and `offset`; `next` pages whichever list is longer."""
    cov_a, cov_b = _coverage(db, a), _coverage(db, b)
    gaps = sorted((t for t in cov_a if t not in cov_b), key=lambda t: (-cov_a[t], t))
    overlap = _overlap(db, a, b)
    longest = max(len(gaps), len(overlap))
    nxt = {"a": a, "b": b, "limit": limit, "offset": offset + limit} \
        if offset + limit < longest else None
    return SourceComparison(
        a=a, b=b, techniques_a=len(cov_a), techniques_b=len(cov_b),
        techniques_only_in_a=len(gaps),
        only_in_a=_gap_rows(db, gaps[offset:offset + limit], cov_a),
        rules_a=len(overlap),
        rules_fully_in_b=sum(o.indicators > 0 and o.in_b == o.indicators for o in overlap),
        rules_partly_in_b=sum(0 < o.in_b < o.indicators for o in overlap),
        rules_new=sum(o.in_b == 0 for o in overlap),
        overlap=overlap[offset:offset + limit], limit=limit, offset=offset, next=nxt,
    )


def _coverage(db: sqlite3.Connection, source: str) -> Counter[str]:
    sql = """SELECT tr.technique, COUNT(DISTINCT tr.rule) FROM technique_rules tr
             JOIN rules r ON r.rowid = tr.rule
             WHERE r.source = ? AND r.deprecated = 0 AND tr.rollup = 0
             GROUP BY tr.technique"""
    return Counter(dict(db.execute(sql, (source,)).fetchall()))


def _gap_rows(db: sqlite3.Connection, ids: list[str], counts: Counter[str]) -> list[TechniqueGap]:
    names = {}
    for tid in ids:
        row = db.execute("SELECT name FROM techniques WHERE id = ?", (tid,)).fetchone()
        names[tid] = row[0] if row and row[0] else None
    return [TechniqueGap(id=t, name=names[t], rules=counts[t]) for t in ids]


def _indicators(db: sqlite3.Connection, source: str) -> dict[int, set[Key]]:
    sql = """SELECT p.rule, p.ind_field, p.ind_operator, p.ind_value FROM predicates p
             JOIN rules r ON r.rowid = p.rule
             WHERE r.source = ? AND r.deprecated = 0 AND p.polarity = 'detect'"""
    keys: dict[int, set[Key]] = defaultdict(set)
    for rule, field, op, value in db.execute(sql, (source,)):
        keys[rule].add((field, op, value))
    return keys


def _overlap(db: sqlite3.Connection, a: str, b: str) -> list[RuleOverlap]:
    keys_a = _indicators(db, a)
    wanted = set().union(*keys_a.values()) if keys_a else set()
    holders: dict[Key, list[int]] = defaultdict(list)
    keys_b = _indicators(db, b)
    for rule, keys in keys_b.items():
        for key in keys & wanted:
            holders[key].append(rule)
    rows = db.execute("SELECT rowid, id, title FROM rules WHERE source = ? AND deprecated = 0",
                      (a,)).fetchall()
    titles = _titles(db, {r for ks in holders.values() for r in ks})
    sizes = {rule: len(keys) for rule, keys in keys_b.items()}
    result = [_rule_overlap(r[1], r[2], keys_a.get(r[0], set()), holders, titles, sizes)
              for r in rows]
    return sorted(result, key=lambda o: (-o.in_b, o.indicators - o.in_b, o.title, o.id))


def _rule_overlap(
    rule_id: str, title: str, keys: set[Key], holders: dict[Key, list[int]],
    titles: dict[int, tuple[str, str]], sizes: dict[int, int],
) -> RuleOverlap:
    """One rule of A against B. Among B's rules sharing as many indicators, the closest is
    the one with the fewest others (Jaccard): an edited copy finds its original before a
    long rule that happens to test the same process name."""
    per_b: Counter[int] = Counter(r for k in keys for r in holders.get(k, ()))

    def closeness(item: tuple[int, int]) -> tuple[int, float, str]:
        rule, shared = item
        return -shared, -shared / (len(keys) + sizes[rule] - shared), titles[rule][1]

    best = sorted(per_b.items(), key=closeness)[:MAX_SHARED_WITH]
    return RuleOverlap(
        id=rule_id, title=title, indicators=len(keys),
        in_b=sum(1 for k in keys if k in holders),
        shared_with=[SharedWith(id=titles[r][0], title=titles[r][1], shared=n,
                                indicators=sizes[r]) for r, n in best],
    )


def _titles(db: sqlite3.Connection, rowids: set[int]) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    ids = sorted(rowids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        sql = f"SELECT rowid, id, title FROM rules WHERE rowid IN ({','.join('?' * len(chunk))})"
        out.update({r[0]: (r[1], r[2]) for r in db.execute(sql, chunk)})
    return out
