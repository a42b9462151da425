"""The events view: which rules and techniques rely on a log event, and events by rule count.

Decisions:

* A rule relies on an event as the build mapped it (`rule_events`: a Sigma logsource, an
  Elastic index and event category, a Splunk data source, or an EventID the rule tests).
* An event's techniques are those its rules are tagged with, or reach through a revoked
  or renamed ID, in the loaded ATT&CK version; no roll-up to parents, so a parent is listed
  only for rules tagged with it. A rule whose tags the loaded version lacks is counted in
  `rules` but lists no technique.
* Providers match case-insensitively (`sysmon` -> `Sysmon`). An event neither in the event
  catalog nor used by a rule is an error naming the provider's nearest event ids; a
  catalog event no rule relies on answers with zero rules.
"""

from __future__ import annotations

from collections import Counter
from difflib import get_close_matches

from ..answers import EventRow, Filters
from ..api import (
    RULE_COLUMNS, Catalog, _check_page, _filter_sql, _rule_row, _rule_sort_key, check_text,
    shown,
)
from ..errors import InvalidArgument
from .models import EventCoverage, EventList, EventTechnique, EventUse
from .scope import check_filters, filter_args

TECHNIQUE_ROWS = 25
PROVIDERS_SHOWN = 12
MAX_NAME_CHARS = 200
MAX_EVENT_ID = 2**32 - 1  # Windows ids are 16-bit; Splunk data sources' CRC-32 ids are 32
_ACTIVE = "t.known = 1 AND t.deprecated = 0 AND t.revoked_by IS NULL"


def providers(cat: Catalog) -> dict[str, int]:
    """Every provider the catalog knows, with how many rules rely on its events."""
    used = dict(cat.db.execute(
        "SELECT provider, COUNT(DISTINCT rule) FROM rule_events GROUP BY provider"))
    known = {r[0]: 0 for r in cat.db.execute("SELECT DISTINCT provider FROM events")}
    return dict(sorted({**known, **used}.items(), key=lambda kv: (-kv[1], kv[0])))


def resolve_provider(cat: Catalog, provider: str) -> str:
    """The catalog's spelling of a provider, or an error naming the likely ones."""
    text = check_text("provider", provider or "", MAX_NAME_CHARS).strip()
    row = cat.db.execute(
        "SELECT provider FROM events WHERE provider = ?1 COLLATE NOCASE UNION "
        "SELECT provider FROM rule_events WHERE provider = ?1 COLLATE NOCASE LIMIT 1",
        (text,)).fetchone()
    if row:
        return str(row[0])
    known = list(providers(cat))
    close = get_close_matches(text, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    rest = f" and {len(known) - PROVIDERS_SHOWN} more" if len(known) > PROVIDERS_SHOWN else ""
    raise InvalidArgument(
        f"Unknown event provider {shown(provider)}.{hint} Providers with the most rules: "
        f"{', '.join(known[:PROVIDERS_SHOWN])}{rest}; list_events shows them all.")


def _title(cat: Catalog, provider: str, event_id: int) -> str | None:
    row = cat.db.execute("SELECT title FROM events WHERE provider = ? AND event_id = ?",
                         (provider, event_id)).fetchone()
    return row[0] if row else None


def _check_event(cat: Catalog, provider: str, event_id: int) -> str:
    """The event's title ('' if only rules know it), or an error naming nearby events."""
    title = _title(cat, provider, event_id)
    used = cat.db.execute("SELECT 1 FROM rule_events WHERE provider = ? AND event_id = ?",
                          (provider, event_id)).fetchone()
    if title is not None or used:
        return title or ""
    rows = cat.db.execute(
        "SELECT event_id, (SELECT title FROM events ev WHERE ev.provider = ? AND "
        "ev.event_id = x.event_id) FROM (SELECT event_id FROM events WHERE provider = ? "
        "UNION SELECT event_id FROM rule_events WHERE provider = ?) x",
        (provider, provider, provider)).fetchall()
    near = sorted(rows, key=lambda r: (abs(r[0] - event_id), r[0]))[:5]
    listed = ", ".join(f"{i} ({t or 'untitled'})" for i, t in near)
    raise InvalidArgument(f"{provider} has no event {event_id} in this catalog. Nearest "
                          f"{provider} events: {listed}. list_events shows them all.")


def get_event_coverage(
    cat: Catalog, provider: str, event_id: int, filters: Filters | None = None,
    limit: int = 20, offset: int = 0,
) -> EventCoverage:
    """Techniques and rules relying on one event, per vendor and source, rules paged."""
    filters = check_filters(cat, filters)
    limit, offset = _check_page(limit, offset)
    provider = resolve_provider(cat, provider)
    if not 0 <= event_id <= MAX_EVENT_ID:
        raise InvalidArgument(f"event_id must be between 0 and {MAX_EVENT_ID:,} (got "
                              f"{shown(event_id)}), e.g. 10 for Sysmon ProcessAccess.")
    title = _check_event(cat, provider, event_id)
    where, args = _filter_sql(filters)
    rows = cat.db.execute(
        f"SELECT {RULE_COLUMNS} FROM rule_events e JOIN rules r ON r.rowid = e.rule "
        f"WHERE e.provider = ? AND e.event_id = ? {where}", [provider, event_id, *args],
    ).fetchall()
    rows.sort(key=_rule_sort_key)
    techniques = _techniques_of(cat, [r["rowid"] for r in rows])
    nxt = None
    if offset + limit < len(rows):
        nxt = {"provider": provider, "event_id": event_id, **filter_args(filters),
               "limit": limit, "offset": offset + limit}
    return EventCoverage(
        event=EventRow(provider=provider, event_id=event_id, title=title, rules=len(rows)),
        filters=filters, vendors=dict(Counter(r["vendor"] for r in rows)),
        sources=dict(Counter(r["source"] for r in rows)),
        techniques=techniques[:TECHNIQUE_ROWS], techniques_total=len(techniques),
        rules=[_rule_row(r) for r in rows[offset:offset + limit]], total=len(rows),
        returned=len(rows[offset:offset + limit]), next=nxt,
        notes=cat._notes(filters, len(rows), offset),
    )


def _techniques_of(cat: Catalog, rowids: list[int]) -> list[EventTechnique]:
    if not rowids:
        return []
    cat._pick(rowids)
    sql = f"""
        SELECT t.id, t.name, COUNT(DISTINCT tr.rule) AS n FROM technique_rules tr
        JOIN temp.picked p ON p.rule = tr.rule JOIN techniques t ON t.id = tr.technique
        WHERE tr.rollup = 0 AND {_ACTIVE} GROUP BY t.id ORDER BY n DESC, t.id
    """
    return [EventTechnique(id=r[0], name=r[1] or None, rules=r[2]) for r in cat.db.execute(sql)]


def list_events(
    cat: Catalog, provider: str | None = None, filters: Filters | None = None,
    limit: int = 50, offset: int = 0,
) -> EventList:
    """Events rules rely on (under the filters), most rules first, with per-vendor counts."""
    filters = check_filters(cat, filters)
    limit, offset = _check_page(limit, offset)
    name = resolve_provider(cat, provider) if provider else None
    where, args = _filter_sql(filters)
    if name:
        where += " AND e.provider = ?"
        args.append(name)
    sql = f"""
        SELECT e.provider, e.event_id, r.vendor, COUNT(DISTINCT e.rule)
        FROM rule_events e JOIN rules r ON r.rowid = e.rule WHERE 1 {where}
        GROUP BY e.provider, e.event_id, r.vendor
    """
    by_event: dict[tuple[str, int], Counter[str]] = {}
    for prov, event_id, vendor, n in cat.db.execute(sql, args):
        by_event.setdefault((prov, event_id), Counter())[vendor] = n
    titles = {(p, i): t for p, i, t in cat.db.execute("SELECT * FROM events")}
    ranked = sorted(by_event.items(), key=lambda kv: (-kv[1].total(), kv[0]))
    page = ranked[offset:offset + limit]
    nxt = None
    if offset + limit < len(ranked):
        nxt = {**({"provider": name} if name else {}), **filter_args(filters),
               "limit": limit, "offset": offset + limit}
    return EventList(
        provider=name, filters=filters, total=len(ranked), returned=len(page), next=nxt,
        events=[EventUse(provider=p, event_id=i, title=titles.get((p, i), ""),
                         rules=c.total(), vendors=dict(c.most_common())) for (p, i), c in page],
    )
