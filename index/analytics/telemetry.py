"""ATT&CK's analytics next to the rules: what MITRE says to collect, what rules rely on.

ATT&CK v18 links a technique to detection strategies, each to analytics, each to log
sources (`log_sources` turns them into events at build time). Decisions:

* A recommended event is covered when some rule in the technique's answer (the same rules
  as `get_technique_coverage`, under the shared filters) relies on that `(provider,
  event_id)`. Events are compared as the build mapped them; an id MITRE states that the
  event catalog lacks keeps an empty title but is compared all the same.
* `platforms` keeps only the analytics written for those platforms (an analytic names its
  platforms; T1059's has Windows, Linux, macOS, ... analytics).
* Log sources that are not Windows events (`auditd:SYSCALL`, `AWS:CloudTrail`) are listed
  as data sources, never marked covered: rulecat cannot tell which rules read them.
* Catalog-wide (`telemetry_gaps`): a technique whose analytics name Windows events is
  `aligned` when some rule for it relies on one of them, `rules_elsewhere` when it has rules
  but none relies on one, `no_rules` when it has none. `unused_events` are recommended events
  no rule in the catalog (under the filters) relies on at all.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..answers import EventRow, Filters
from ..api import Catalog, _check_page, _filter_sql
from .models import (
    AnalyticRef, DataSourceRow, RecommendedEvent, TechniqueTelemetry, TelemetryGapRow,
    TelemetryGaps, UnusedEvent,
)
from .scope import (
    Event, RuleInfo, Scope, check_filters, filter_args, require_table, resolve_scope,
    rule_events, scope_args, subtechnique_args, technique_rules,
)
DATA_SOURCE_ROWS = 20
UNUSED_ROWS = 15
_COLUMNS = ("strategy, analytic, platforms, data_component, log_source, channel, provider, "
            "event_id")


@dataclass(frozen=True)
class _Row:
    """One log source an analytic names for the technique (an `attack_telemetry` row)."""

    strategy: str
    analytic: str
    platforms: list[str]
    data_component: str
    log_source: str
    channel: str | None
    provider: str | None
    event_id: int | None


def _telemetry_rows(cat: Catalog, technique: str, platforms: list[str]) -> list[_Row]:
    """A technique's attack_telemetry rows, cut to the analytics for `platforms`."""
    require_table(cat, "attack_telemetry")
    rows = [_Row(r[0], r[1], json.loads(r[2]), *r[3:]) for r in cat.db.execute(
        f"SELECT DISTINCT {_COLUMNS} FROM attack_telemetry WHERE technique = ? ORDER BY rowid",
        (technique,))]
    wanted = set(platforms)
    return [r for r in rows if not wanted or wanted & set(r.platforms)]


def _rule_counts(cat: Catalog, events: Iterable[Event], filters: Filters) -> Counter[Event]:
    """Rules in the whole catalog (under the filters) relying on each event."""
    where, args = _filter_sql(filters)
    wanted = set(events)
    sql = f"""SELECT e.provider, e.event_id, COUNT(DISTINCT e.rule) FROM rule_events e
              JOIN rules r ON r.rowid = e.rule WHERE 1 {where}
              GROUP BY e.provider, e.event_id"""
    return Counter({(p, i): n for p, i, n in cat.db.execute(sql, args) if (p, i) in wanted})


def technique_telemetry(
    cat: Catalog, technique_id: str, platforms: list[str] | None = None,
    filters: Filters | None = None, include_subtechniques: bool = True,
) -> TechniqueTelemetry:
    """MITRE's recommended events for a technique, each marked covered by its rules or not."""
    filters = check_filters(cat, filters)
    info = cat._technique_info(technique_id)
    asked = resolve_scope(cat, None, platforms).platforms
    rows = _telemetry_rows(cat, info.id, asked)
    rules = cat._technique_rules(info.id, include_subtechniques, filters)
    used = {(e.provider, e.event_id): e for e in cat._events_of([r["rowid"] for r in rules])}
    recommended = _recommended(cat, rows, used, filters)
    data_sources = _data_sources(rows)
    return TechniqueTelemetry(
        technique=info, filters=filters, include_subtechniques=include_subtechniques,
        analytics=_analytics(rows), recommended_events=recommended,
        covered=sum(1 for e in recommended if e.covered), rules=len(rules),
        rule_events=[e for k, e in used.items()
                     if k not in {(r.provider, r.event_id) for r in recommended}],
        data_sources=data_sources[:DATA_SOURCE_ROWS], data_sources_total=len(data_sources),
        notes=_notes(cat, info.id, info.flags, rows, asked),
    )


def _recommended(
    cat: Catalog, rows: list[_Row], used: Mapping[Event, EventRow], filters: Filters,
) -> list[RecommendedEvent]:
    grouped: dict[Event, list[_Row]] = defaultdict(list)
    for row in rows:
        if row.provider is not None and row.event_id is not None:
            grouped[(row.provider, row.event_id)].append(row)
    titles = {(p, i): t for p, i, t in cat.db.execute("SELECT * FROM events")}
    anywhere = _rule_counts(cat, grouped, filters)
    return [RecommendedEvent(
        provider=event[0], event_id=event[1], title=titles.get(event, ""),
        data_components=_unique(r.data_component for r in group),
        analytics=_unique(r.analytic for r in group),
        rules=used[event].rules if event in used else 0, covered=event in used,
        catalog_rules=anywhere[event],
    ) for event, group in grouped.items()]


def _data_sources(rows: list[_Row]) -> list[DataSourceRow]:
    grouped: dict[tuple[str, str | None, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.provider is None:
            grouped[(row.log_source, row.channel, row.data_component)].append(row.analytic)
    return [DataSourceRow(log_source=k[0], channel=k[1], data_component=k[2],
                          analytics=_unique(v))
            for k, v in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


def _analytics(rows: list[_Row]) -> list[AnalyticRef]:
    seen: dict[str, AnalyticRef] = {}
    for row in rows:
        seen.setdefault(row.analytic, AnalyticRef(
            id=row.analytic, strategy=row.strategy, platforms=row.platforms))
    return list(seen.values())


def _notes(
    cat: Catalog, tid: str, flags: list[str], rows: list[_Row], asked: list[str]
) -> list[str]:
    if rows:
        return []
    if asked and cat.db.execute("SELECT 1 FROM attack_telemetry WHERE technique = ?",
                                (tid,)).fetchone():
        return [f"No ATT&CK analytic for {tid} covers {', '.join(asked)}; drop platforms."]
    why = "; ".join(flags) or "no detection strategy detects it"
    return [f"ATT&CK {cat.attack_version} names no analytics for {tid} ({why})."]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def telemetry_gaps(
    cat: Catalog, tactics: list[str] | None = None, platforms: list[str] | None = None,
    filters: Filters | None = None, include_subtechniques: bool = True,
    limit: int = 20, offset: int = 0,
) -> TelemetryGaps:
    """Techniques whose recommended events no rule for them relies on (see module doc)."""
    filters = check_filters(cat, filters)
    limit, offset = _check_page(limit, offset)
    scope = resolve_scope(cat, tactics, platforms)
    recommended = _recommended_by_technique(cat, scope)
    events_of = rule_events(cat, filters)
    status = _classify(scope, recommended, technique_rules(cat, filters, include_subtechniques),
                       events_of)
    listed = sorted(status["elsewhere"], key=lambda r: (-r.rules, r.id)) + status["none"]
    page = listed[offset:offset + limit]
    unused = _unused(cat, recommended, set().union(*events_of.values()))
    nxt = None
    if offset + limit < len(listed):
        nxt = {**scope_args(scope, bool(tactics)), **filter_args(filters),
               **subtechnique_args(include_subtechniques),
               "limit": limit, "offset": offset + limit}
    return TelemetryGaps(
        attack_version=cat.attack_version, filters=filters, platforms=scope.platforms,
        tactics=[t.shortname for t in scope.tactics] if tactics else [],
        in_scope=len(scope.techniques), with_recommended_events=len(recommended),
        aligned=len(status["aligned"]), rules_elsewhere=len(status["elsewhere"]),
        no_rules=len(status["none"]), techniques=page, unused_events=unused[:UNUSED_ROWS],
        unused_events_total=len(unused), total=len(listed), returned=len(page), next=nxt,
    )


def _classify(
    scope: Scope, recommended: dict[str, set[Event]], rules_of: dict[str, dict[int, RuleInfo]],
    events_of: dict[int, dict[Event, int]],
) -> dict[str, list[TelemetryGapRow]]:
    """aligned / elsewhere / none, per technique with recommended events."""
    status: dict[str, list[TelemetryGapRow]] = {"aligned": [], "elsewhere": [], "none": []}
    for tid, wanted in sorted(recommended.items()):
        rules = rules_of.get(tid, {})
        used = Counter(e for r in rules for e in events_of.get(r, ()))
        kind = "none" if not rules else "aligned" if wanted & set(used) else "elsewhere"
        status[kind].append(_gap_row(scope, tid, len(rules), wanted, used))
    return status


def _recommended_by_technique(cat: Catalog, scope: Scope) -> dict[str, set[Event]]:
    """technique -> events its analytics (for the asked platforms) name, in scope only."""
    require_table(cat, "attack_telemetry")
    wanted = set(scope.platforms)
    found: dict[str, set[Event]] = defaultdict(set)
    for tid, platforms, provider, event_id in cat.db.execute(
            "SELECT DISTINCT technique, platforms, provider, event_id FROM attack_telemetry "
            "WHERE provider IS NOT NULL"):
        if tid in scope.techniques and (not wanted or wanted & set(json.loads(platforms))):
            found[tid].add((provider, event_id))
    return found


def _gap_row(
    scope: Scope, tid: str, rules: int, wanted: set[Event], used: Counter[Event]
) -> TelemetryGapRow:
    tech = scope.techniques[tid]
    return TelemetryGapRow(
        id=tid, name=tech.name, tactics=list(tech.tactics), rules=rules,
        recommended=[f"{p} {i}" for p, i in sorted(wanted)][:8],
        rule_events=[f"{p} {i}" for (p, i), _ in sorted(
            used.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
    )


def _unused(
    cat: Catalog, recommended: dict[str, set[Event]], used: set[Event]
) -> list[UnusedEvent]:
    counts = Counter(e for events in recommended.values() for e in events if e not in used)
    titles = {(p, i): t for p, i, t in cat.db.execute("SELECT * FROM events")}
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [UnusedEvent(provider=p, event_id=i, title=titles.get((p, i), ""), techniques=n)
            for (p, i), n in ranked]
