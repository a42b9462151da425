"""What a set of rules tests: fields filtered most, top indicators, top exclusions.

One implementation serves both paths: the build precomputes it per technique for the
default request (every source, deprecated rules left out, sub-techniques rolled up), and the
read API computes it live for any other filters. Both feed it `PredicateTuple`s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .answers import FieldRow, IndicatorRow


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


PREDICATE_COLUMNS = ("rule", "vendor", "polarity", "family", "field", "operator",
                     "vendor_field", "value", "ind_field", "ind_operator", "ind_value")

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
    """Families (path + name of one object) with the most rules testing them."""
    rules: dict[str, set[int]] = defaultdict(set)
    how: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    samples: dict[str, Counter[str]] = defaultdict(Counter)
    merged: dict[str, set[str]] = defaultdict(set)
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for p in detect:
        if p.family is None:
            continue
        rules[p.family].add(p.rule)
        how[p.family][p.operator].add(p.rule)
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
    """The most common (field, operator, value) tests, with corpus reach."""
    rules: dict[IndicatorKey, set[int]] = defaultdict(set)
    spellings: dict[IndicatorKey, Counter[str]] = defaultdict(Counter)
    for p in preds:
        key = (p.ind_field, p.ind_operator, p.ind_value)
        rules[key].add(p.rule)
        spellings[key][f"{p.vendor}:{p.vendor_field or '(keyword)'} {p.operator} {p.value}"] += 1
    top = sorted(rules, key=lambda k: (-len(rules[k]), k[0] or "", k[1], k[2]))[:limit]
    rows = []
    for key in top:
        detected, excluded = reach(key)
        n = len(rules[key])
        rows.append(IndicatorRow(
            field=key[0], operator=key[1], value=key[2], rules=n, corpus_reach=detected,
            exclusion_reach=excluded if excluding else None,
            specific_to_technique=(excluded if excluding else detected) == n,
            spellings=[s for s, _ in _most_common(spellings[key], 5)],
        ))
    return rows


def _most_common(counter: Counter[str], n: int | None = None) -> list[tuple[str, int]]:
    """Counter.most_common with ties broken by the key, so answers are stable."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:n] if n is not None else ranked
