"""What a set of rules tests: fields filtered most, top indicators, top exclusions.

One implementation serves both paths: the build precomputes it per technique for the
default request (every source, deprecated rules left out, sub-techniques rolled up), and the
read API computes it live for any other filters. Both feed it `PredicateTuple`s.

A predicate that tests a derived measure of its field (`length(f) > 1000`, a ratio; see
`measures.py`) is no indicator: its value is a threshold on a computed quantity, which two
rules may compute differently (`replace`'s arguments are not kept). It counts in "fields
filtered most" (the rule does filter on the field), with its operator labelled by the
measure in `how` (`length gt`) and its threshold kept out of `samples`; it is left out of
`indicators` and `exclusions`, and adds to no indicator's corpus reach (the writer's
`compute_reach` skips it, so the stored answers and the live ones agree).

The stored answers (`technique_aggregates`) are written from the catalog being built: all of
them by a full build; by an incremental one, those of the techniques whose rules changed,
and, in the others, the reach of indicators whose reach changed (`patch_reach`).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pydantic import BaseModel

from .answers import FieldRow, IndicatorRow
from .measures import stored_measure
from .store.writer import SAME_INDICATOR


class PredicateTuple(NamedTuple):
    rule: int
    vendor: str
    polarity: str
    family: str | None
    field: str | None
    operator: str
    vendor_field: str | None
    value: str
    ind_field: str | None
    ind_operator: str
    ind_value: str
    transforms: str = "[]"  # as stored: a JSON list

    @property
    def measure(self) -> str | None:
        """The derived measure this predicate tests (`length`, ...), None for the value."""
        return stored_measure(self.transforms)


PREDICATE_COLUMNS = ("rule", "vendor", "polarity", "family", "field", "operator",
                     "vendor_field", "value", "ind_field", "ind_operator", "ind_value",
                     "transforms")

# The build stores this many rows of each list per technique; longer requests are live.
PRECOMPUTED_LIMIT = 50

IndicatorKey = tuple[str | None, str, str]
# (corpus reach, exclusion reach) of an indicator over the whole catalog.
Reach = Callable[[IndicatorKey], tuple[int, int]]


class Aggregates(NamedTuple):
    fields: list[FieldRow]
    indicators: list[IndicatorRow]
    exclusions: list[IndicatorRow]


def aggregate(preds: Iterable[PredicateTuple], reach: Reach, limit: int) -> Aggregates:
    """The top `limit` rows of each list, counting distinct rules."""
    detect: list[PredicateTuple] = []
    exclude: list[PredicateTuple] = []
    for p in preds:
        (detect if p.polarity == "detect" else exclude).append(p)
    return Aggregates(
        fields=field_rows(detect, limit),
        indicators=indicator_rows(detect, reach, limit, excluding=False),
        exclusions=indicator_rows(exclude, reach, limit, excluding=True),
    )


def field_rows(detect: list[PredicateTuple], limit: int) -> list[FieldRow]:
    """Families (path + name of one object) with the most rules testing them; a measure's
    test is labelled with it in `how` (`length gt`) and its threshold is no sample."""
    rules: dict[str, set[int]] = defaultdict(set)
    how: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    samples: dict[str, Counter[str]] = defaultdict(Counter)
    merged: dict[str, set[str]] = defaultdict(set)
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for p in detect:
        if p.family is None:
            continue
        rules[p.family].add(p.rule)
        measure = p.measure
        how[p.family][f"{measure} {p.operator}" if measure else p.operator].add(p.rule)
        if measure is None:
            samples[p.family][p.ind_value] += 1
        merged[p.family].add(p.field or p.family)
        spellings[p.family][f"{p.vendor}:{p.vendor_field}"] += 1
    top = sorted(rules, key=lambda f: (-len(rules[f]), f))[:limit]
    return [
        FieldRow(
            field=f, merged=sorted(merged[f]), rules=len(rules[f]),
            how={op: len(r) for op, r in sorted(how[f].items(), key=lambda kv: (-len(kv[1]),
                                                                                kv[0]))},
            samples=[v for v, _ in _most_common(samples[f], 5)],
            vendor_fields=[v for v, _ in _most_common(spellings[f])],
        )
        for f in top
    ]


def indicator_rows(
    preds: list[PredicateTuple], reach: Reach, limit: int, excluding: bool
) -> list[IndicatorRow]:
    """The most common (field, operator, value) tests, with corpus reach; tests of a
    derived measure are no indicators."""
    rules: dict[IndicatorKey, set[int]] = defaultdict(set)
    spellings: dict[IndicatorKey, Counter[str]] = defaultdict(Counter)
    for p in preds:
        if p.measure is not None:
            continue
        key = (p.ind_field, p.ind_operator, p.ind_value)
        rules[key].add(p.rule)
        spellings[key][f"{p.vendor}:{p.vendor_field or '(keyword)'} {p.operator} {p.value}"] += 1
    top = sorted(rules, key=lambda k: (-len(rules[k]), k[0] or "", k[1], k[2]))[:limit]
    rows = []
    for key in top:
        row = IndicatorRow(
            field=key[0], operator=key[1], value=key[2], rules=len(rules[key]), corpus_reach=0,
            specific_to_technique=False,
            spellings=[s for s, _ in _most_common(spellings[key], 5)],
        )
        rows.append(with_reach(row, reach(key), excluding))
    return rows


def with_reach(row: IndicatorRow, reach: tuple[int, int], excluding: bool) -> IndicatorRow:
    """`row` with the indicator's (corpus reach, exclusion reach) and what follows from them."""
    detected, excluded = reach
    row.corpus_reach = detected
    row.exclusion_reach = excluded if excluding else None
    row.specific_to_technique = (excluded if excluding else detected) == row.rules
    return row


def _most_common(counter: Counter[str], n: int | None = None) -> list[tuple[str, int]]:
    """Counter.most_common with ties broken by the key, so answers are stable."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:n] if n is not None else ranked


# -- the stored answers (technique_aggregates), written by every build ------------------------


def store_technique_aggregates(
    conn: sqlite3.Connection, techniques: Iterable[str] | None = None
) -> None:
    """top_indicators' default answer per technique, so the common request is a look-up.

    Every technique, or only `techniques` (their old rows replaced): the answer over the
    technique's non-deprecated rules, sub-techniques rolled up.
    """
    members = _aggregate_members(conn, techniques)
    predicates = stored_predicates(conn, {r for rules in members.values() for r in rules})
    reach = reach_lookup(conn, preload=techniques is None)
    rows = []
    for technique, rules in members.items():
        preds = (p for r in sorted(rules) for p in predicates.get(r, ()))
        aggs = aggregate(preds, reach, PRECOMPUTED_LIMIT)
        rows.append((technique, *(dump_rows(part) for part in aggs)))
    conn.executemany("INSERT OR REPLACE INTO technique_aggregates VALUES (?,?,?,?)", rows)


def _aggregate_members(
    conn: sqlite3.Connection, techniques: Iterable[str] | None
) -> dict[str, set[int]]:
    """technique -> its non-deprecated rules (all techniques, or these, old rows deleted)."""
    sql = ("SELECT tr.technique, tr.rule FROM technique_rules tr "
           "JOIN rules r ON r.rowid = tr.rule WHERE r.deprecated = 0")
    args: list[str] = []
    if techniques is not None:
        args = sorted(set(techniques))
        marks = ",".join("?" * len(args))
        conn.execute(f"DELETE FROM technique_aggregates WHERE technique IN ({marks})", args)
        sql += f" AND tr.technique IN ({marks})"
    members: dict[str, set[int]] = defaultdict(set)
    for technique, rule in conn.execute(sql, args):
        members[technique].add(rule)
    return members


def stored_predicates(
    conn: sqlite3.Connection, rules: set[int]
) -> dict[int, list[PredicateTuple]]:
    """These rules' predicates as the aggregates read them, by rule, in stored order."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS aggregated (rule INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.aggregated")
    conn.executemany("INSERT INTO temp.aggregated VALUES (?)", ((r,) for r in rules))
    out: dict[int, list[PredicateTuple]] = defaultdict(list)
    for row in conn.execute("""
        SELECT p.rule, r.vendor, p.polarity, p.family, p.field, p.operator, p.vendor_field,
               p.value, p.ind_field, p.ind_operator, p.ind_value, p.transforms
        FROM temp.aggregated a JOIN predicates p ON p.rule = a.rule
        JOIN rules r ON r.rowid = p.rule ORDER BY p.rule, p.seq"""):
        out[row[0]].append(PredicateTuple(*row))
    return out


def reach_lookup(
    conn: sqlite3.Connection, preload: bool = False
) -> Callable[[tuple[Any, str, str]], tuple[int, int]]:
    """(corpus reach, exclusion reach) of an indicator key, read from `indicators`; with
    `preload` all keys are read at once (for every technique's aggregates)."""
    if preload:
        known = {(f, op, v): (n, x) for f, op, v, n, x in conn.execute(
            "SELECT ind_field, ind_operator, ind_value, reach, exclude_reach FROM indicators")}
        return lambda key: known.get(key, (0, 0))

    def reach(key: tuple[Any, str, str]) -> tuple[int, int]:
        row = conn.execute("SELECT reach, exclude_reach FROM indicators WHERE ind_field IS ? "
                           "AND ind_operator = ? AND ind_value = ?", key).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
    return reach


def dump_rows(rows: Iterable[BaseModel]) -> str:
    """A stored aggregate list, as JSON (one form for every build)."""
    return json.dumps([m.model_dump() for m in rows])


def patch_reach(
    conn: sqlite3.Connection, reach: dict[IndicatorKey, tuple[int, int]], skip: set[str]
) -> int:
    """Put new corpus reach into the stored answers that show these indicators.

    `reach` is the new (reach, exclusion reach) of indicators whose reach changed; `skip`
    the techniques whose answers were just recomputed. Rows and their order depend on the
    technique's own rules only, so nothing else moves. Returns the answers rewritten.
    """
    if not reach:
        return 0
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS reach_changed "
                 "(ind_field TEXT, ind_operator TEXT, ind_value TEXT)")
    conn.execute("DELETE FROM temp.reach_changed")
    conn.executemany("INSERT INTO temp.reach_changed VALUES (?,?,?)", reach)
    showing = [t for (t,) in conn.execute(f"""
        SELECT DISTINCT tr.technique FROM temp.reach_changed k
        CROSS JOIN predicates p ON {SAME_INDICATOR.format(a="p", b="k")}
        JOIN technique_rules tr ON tr.rule = p.rule""") if t not in skip]
    patched = 0
    for technique in sorted(showing):
        row = conn.execute("SELECT indicators, exclusions FROM technique_aggregates "
                           "WHERE technique = ?", (technique,)).fetchone()
        if row is None:
            continue
        parts = [_patched(text, reach, excluding) for text, excluding in zip(row, (False, True))]
        if parts != list(row):
            conn.execute("UPDATE technique_aggregates SET indicators = ?, exclusions = ? "
                         "WHERE technique = ?", (*parts, technique))
            patched += 1
    return patched


def _patched(text: str, reach: dict[IndicatorKey, tuple[int, int]], excluding: bool) -> str:
    rows = [IndicatorRow(**r) for r in json.loads(text)]
    for row in rows:
        key = (row.field, row.operator, row.value)
        if key in reach:
            with_reach(row, reach[key], excluding)
    return dump_rows(rows)
