"""What to collect: events ranked by how many more techniques they make detectable.

The method, stated in every answer (`METHOD`):

* A rule is usable once ANY one of its events is collected. A rule's several events are
  alternatives for the same telemetry (a Sigma `process_creation` rule reads Sysmon 1 or
  Security 4688; an Elastic rule reads Elastic Defend 1 or Sysmon 1), not parts that must
  all arrive. The catalog does not record which rules need two events together (a Splunk
  data source "Sysmon EventID 1 AND Sysmon EventID 11", about 30 detections; an EQL
  sequence whose steps read different events, a process start then an image load); they
  count the same way, so the table is optimistic for them.
  TODO: record each event's part of the rule (a step, a data source's AND) so a rule is
  usable only when every part has a collected event; greedy picks then need pairs.
* A technique is detectable once one of its rules is usable; its rules are counted as in
  `coverage_gaps` (a parent's include its sub-techniques' rules unless
  `include_subtechniques=false`). Techniques are those of the loaded ATT&CK version in scope
  (tactics, platforms), the same denominator as `coverage_gaps`.
* Greedy marginal gain: repeatedly pick the event that makes the most techniques newly
  detectable, given `collected` and the events picked above it; ties go to the event more
  rules rely on, then by provider and id. The list ends when no event adds a technique.
  Greedy is the standard approximation for this max-coverage problem (within 1 - 1/e of
  the best choice of the same number of events).
* Rules with no known event (cloud audit logs, SaaS, many Linux rules) never become usable
  through an event; techniques only they cover are reported as `covered_without_events`.
* `providers` (e.g. Sysmon and Security, the sensors a SOC runs) limits the candidates to
  those providers' events; techniques and rules stay as they are, so `reachable` is how far
  those providers go and `outside_providers` counts the techniques only other providers'
  events reach. `collected` events are taken as collected whatever their provider (what
  you have is a fact, not a choice): they start the count but are never picked.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..answers import EventRow, Filters
from ..api import Catalog, _check_page, check_list, shown
from ..errors import InvalidArgument
from .events import MAX_EVENT_ID, resolve_provider
from .models import CollectPick, EventsToCollect
from .scope import (
    Event, RuleInfo, check_filters, filter_args, pct, resolve_scope, rule_events, scope_args,
    subtechnique_args, technique_rules,
)

METHOD = (
    "A rule is usable once ANY one of its events is collected (its events are alternatives "
    "for the same telemetry, e.g. Sysmon 1 or Security 4688); a technique is detectable "
    "once one of its rules is usable. Each pick is the event adding the most techniques "
    "given the events above it (greedy marginal gain)."
)
_EVENT = re.compile(r"^\s*(?P<provider>.+?)\s*[:\s]\s*(?P<id>\d+)\s*$")


@dataclass
class _Universe:
    """Per event, the in-scope techniques its rules cover, with rule counts."""

    techniques: dict[Event, set[str]] = field(default_factory=lambda: defaultdict(set))
    weight: dict[Event, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    rules: Counter[Event] = field(default_factory=Counter)


def parse_event(cat: Catalog, text: str) -> Event:
    """`Sysmon:1`, `Sysmon 1` or `Elastic Defend:1` -> (provider, id)."""
    match = _EVENT.match(text or "")
    if not match or int(match["id"]) > MAX_EVENT_ID:
        raise InvalidArgument(f"Cannot read event {shown(text)}; write 'Provider:ID', e.g. "
                              "'Sysmon:1' or 'Security:4688'.")
    return resolve_provider(cat, match["provider"]), int(match["id"])


def _universe(events_of: dict[int, set[Event]], in_scope: set[str],
              rules_of: dict[str, dict[int, RuleInfo]]) -> _Universe:
    by_rule: dict[int, list[str]] = defaultdict(list)
    for tech, rules in rules_of.items():
        if tech in in_scope:
            for rowid in rules:
                by_rule[rowid].append(tech)
    found = _Universe()
    for rowid, events in events_of.items():
        for event in events:
            found.rules[event] += 1
            for tech in by_rule.get(rowid, ()):
                found.techniques[event].add(tech)
                found.weight[event][tech] += 1
    return found


def _greedy(
    u: _Universe, start: set[str], only: list[str] | None = None,
) -> list[tuple[Event, list[str]]]:
    """Picks in order, each with the techniques it adds; candidates are the events of
    `only`'s providers, or every event."""
    remaining = {e: techs - start for e, techs in u.techniques.items()
                 if not only or e[0] in only}
    picks: list[tuple[Event, list[str]]] = []
    while remaining:
        best = min(remaining, key=lambda e: (-len(remaining[e]), -u.rules[e], e))
        gained = remaining.pop(best)
        if not gained:
            break
        picks.append((best, sorted(gained, key=lambda t: (-u.weight[best][t], t))))
        for e in remaining:
            remaining[e] -= gained
    return picks


def events_to_collect(
    cat: Catalog, tactics: list[str] | None = None, platforms: list[str] | None = None,
    collected: list[str] | None = None, filters: Filters | None = None,
    include_subtechniques: bool = True, limit: int = 10, offset: int = 0, *,
    providers: list[str] | None = None,
) -> EventsToCollect:
    """The marginal-gain table (see the module docstring)."""
    filters = check_filters(cat, filters)
    limit, offset = _check_page(limit, offset)
    scope = resolve_scope(cat, tactics, platforms)
    check_list("collected", collected)
    have = list(dict.fromkeys(parse_event(cat, c) for c in collected or []))
    only = resolve_providers(cat, providers)
    rules_of = technique_rules(cat, filters, include_subtechniques)
    u = _universe(rule_events(cat, filters), set(scope.techniques), rules_of)
    start, reachable, anywhere = _reach(u, have, only)
    covered = {t for t in scope.techniques if rules_of.get(t)}
    titles = _titles(cat)
    rows = _rows(_greedy(u, start, only), u, len(start), len(scope.techniques), titles)
    page = rows[offset:offset + limit]
    nxt = None
    if offset + limit < len(rows):
        nxt = {**scope_args(scope, bool(tactics)), **filter_args(filters),
               **_choice_args(have, only), **subtechnique_args(include_subtechniques),
               "limit": limit, "offset": offset + limit}
    return EventsToCollect(
        filters=filters, platforms=scope.platforms, tactics=[t.shortname for t in scope.tactics]
        if tactics else [], include_subtechniques=include_subtechniques, method=METHOD,
        providers=only, collected=[_event_row(e, u, titles) for e in have],
        in_scope=len(scope.techniques), detectable_at_start=len(start),
        reachable=len(reachable), outside_providers=len(anywhere - reachable),
        covered_without_events=len(covered - anywhere),
        picks=page, total=len(rows), returned=len(page), next=nxt,
    )


def _choice_args(have: list[Event], only: list[str]) -> dict[str, list[str]]:
    """`collected` and `providers` as a `next` page's arguments (left out when empty)."""
    args = {"collected": [f"{p}:{i}" for p, i in have]} if have else {}
    return {**args, "providers": only} if only else args


def _reach(u: _Universe, have: list[Event], only: list[str]) -> tuple[set[str], ...]:
    """Detectable with `have`; reachable through `only`'s events (all if empty); reachable
    through any event."""
    start: set[str] = set().union(*(u.techniques.get(e, set()) for e in have))
    reachable = set().union(start, *(t for e, t in u.techniques.items()
                                     if not only or e[0] in only))
    return start, reachable, set().union(start, *u.techniques.values())


def resolve_providers(cat: Catalog, providers: list[str] | None) -> list[str]:
    """The catalog's spelling of each provider, in order, once each; an unknown name is an
    error naming the likely ones (as `get_event_coverage`)."""
    check_list("providers", providers)
    return list(dict.fromkeys(resolve_provider(cat, p) for p in providers or []))


def _event_row(event: Event, u: _Universe, titles: dict[Event, str]) -> EventRow:
    return EventRow(provider=event[0], event_id=event[1], title=titles.get(event, ""),
                    rules=u.rules[event])


def _rows(
    picks: list[tuple[Event, list[str]]], u: _Universe, start: int, in_scope: int,
    titles: dict[Event, str],
) -> list[CollectPick]:
    """The picks with their running totals."""
    rows, running = [], start
    for rank, (event, gained) in enumerate(picks, 1):
        running += len(gained)
        rows.append(CollectPick(
            rank=rank, provider=event[0], event_id=event[1], title=titles.get(event, ""),
            new_techniques=len(gained), total_techniques=running,
            total_pct=pct(running, in_scope), rules=u.rules[event], examples=gained[:5]))
    return rows


def _titles(cat: Catalog) -> dict[Event, str]:
    return {(p, i): t for p, i, t in cat.db.execute("SELECT provider, event_id, title "
                                                    "FROM events")}
