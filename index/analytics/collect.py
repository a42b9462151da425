"""What to collect: events ranked by how many more techniques they make detectable.

The method, stated in every answer (`METHOD`):

* A rule is usable once each of its requirements has a collected event. Most rules have
  one, which any of their events meets: the events are alternatives for the same
  telemetry (a Sigma `process_creation` rule reads Sysmon 1 or Security 4688; an Elastic
  rule reads Elastic Defend 1 or Sysmon 1). An EQL sequence has one per step (a process
  start, then an image load), a Splunk data source `Sysmon EventID 1 AND Sysmon EventID 11`
  one per part, and a Splunk detection with several data sources is usable through any one
  of them (`normalize.events.required_events`; about 130 Elastic and 30 Splunk rules).
* A technique is detectable once one of its rules is usable; its rules are counted as in
  `coverage_gaps` (a parent's include its sub-techniques' rules unless
  `include_subtechniques=false`). Techniques are those of the loaded ATT&CK version in scope
  (tactics, platforms), the same denominator as `coverage_gaps`.
* Greedy marginal gain: repeatedly pick the event that makes the most techniques newly
  detectable, given `collected` and the events picked above it; ties go to the event more
  rules rely on, then by provider and id. The list ends when no event adds a technique;
  techniques whose rules need two or more events not yet picked are counted in
  `only_together`.
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
from collections.abc import Iterable
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
    "A rule is usable once any one of its events is collected (alternatives for the same "
    "telemetry, e.g. Sysmon 1 or Security 4688), except that an EQL sequence needs an event "
    "for each step and a Splunk data source 'A AND B' both parts; a technique is detectable "
    "once one of its rules is usable. Each pick is the event adding the most techniques "
    "given the events above it (greedy marginal gain)."
)
_EVENT = re.compile(r"^\s*(?P<provider>.+?)\s*[:\s]\s*(?P<id>\d+)\s*$")


@dataclass
class _Universe:
    """The rules through which in-scope techniques can become detectable by events."""

    needs: dict[int, dict[Event, int]]  # rule -> event -> the requirements it meets
    full: dict[int, int]  # rule -> all its requirements' bits
    techniques: dict[int, list[str]]  # rule -> its in-scope techniques
    by_event: dict[Event, list[int]] = field(default_factory=lambda: defaultdict(list))
    rules: Counter[Event] = field(default_factory=Counter)  # rules relying on each event

    def met(self, events: set[Event]) -> dict[int, int]:
        """rule -> the requirements `events` meet."""
        found: dict[int, int] = defaultdict(int)
        for event in events:
            for rule in self.by_event.get(event, ()):
                found[rule] |= self.needs[rule][event]
        return found

    def detectable(self, met: dict[int, int]) -> set[str]:
        return {t for rule, bits in met.items() if bits == self.full[rule]
                for t in self.techniques[rule]}


def parse_event(cat: Catalog, text: str) -> Event:
    """`Sysmon:1`, `Sysmon 1` or `Elastic Defend:1` -> (provider, id)."""
    match = _EVENT.match(text or "")
    if not match or int(match["id"]) > MAX_EVENT_ID:
        raise InvalidArgument(f"Cannot read event {shown(text)}; write 'Provider:ID', e.g. "
                              "'Sysmon:1' or 'Security:4688'.")
    return resolve_provider(cat, match["provider"]), int(match["id"])


def _universe(events_of: dict[int, dict[Event, int]], in_scope: set[str],
              rules_of: dict[str, dict[int, RuleInfo]]) -> _Universe:
    by_rule: dict[int, list[str]] = defaultdict(list)
    for tech, rules in rules_of.items():
        if tech in in_scope:
            for rowid in rules:
                by_rule[rowid].append(tech)
    u = _Universe(needs={}, full={}, techniques={})
    for rowid, events in events_of.items():
        for event in events:
            u.rules[event] += 1
        if rowid in by_rule:
            u.needs[rowid] = events
            u.full[rowid] = _bits(events.values())
            u.techniques[rowid] = by_rule[rowid]
            for event in events:
                u.by_event[event].append(rowid)
    return u


def _bits(clauses: Iterable[int]) -> int:
    found = 0
    for bits in clauses:
        found |= bits
    return found


def _greedy(
    u: _Universe, have: set[Event], only: list[str] | None = None,
) -> list[tuple[Event, list[str]]]:
    """Picks in order, each with the techniques it adds (those most of its newly usable
    rules cover first); candidates are the events of `only`'s providers, or every event."""
    met = u.met(have)
    detectable = u.detectable(met)
    candidates = {e for e in u.by_event if e not in have and (not only or e[0] in only)}
    picks: list[tuple[Event, list[str]]] = []
    gains = {e: _gain(u, met, e) for e in candidates}
    while candidates:
        best = min(candidates, key=lambda e: (-len(gains[e].keys() - detectable), -u.rules[e], e))
        gained = {t: n for t, n in gains[best].items() if t not in detectable}
        if not gained:
            break
        picks.append((best, sorted(gained, key=lambda t: (-gained[t], t))))
        candidates.remove(best)
        detectable |= set(gained)
        changed = u.by_event[best]
        for rule in changed:
            met[rule] |= u.needs[rule][best]
        # Only the events of rules whose requirements just changed can gain differently.
        for event in {e for rule in changed for e in u.needs[rule]} & candidates:
            gains[event] = _gain(u, met, event)
    return picks


def _gain(u: _Universe, met: dict[int, int], event: Event) -> Counter[str]:
    """Techniques `event` would make detectable, with how many rules it would make usable."""
    found: Counter[str] = Counter()
    for rule in u.by_event[event]:
        full = u.full[rule]
        if met.get(rule, 0) != full and met.get(rule, 0) | u.needs[rule][event] == full:
            found.update(u.techniques[rule])
    return found


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
    start, reachable, anywhere = _reach(u, set(have), only)
    covered = {t for t in scope.techniques if rules_of.get(t)}
    titles = _titles(cat)
    picks = _greedy(u, set(have), only)
    rows = _rows(picks, u, len(start), len(scope.techniques), titles)
    picked = len(start) + sum(len(gained) for _, gained in picks)
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
        only_together=len(reachable) - picked,
        picks=page, total=len(rows), returned=len(page), next=nxt,
    )


def _choice_args(have: list[Event], only: list[str]) -> dict[str, list[str]]:
    """`collected` and `providers` as a `next` page's arguments (left out when empty)."""
    args = {"collected": [f"{p}:{i}" for p, i in have]} if have else {}
    return {**args, "providers": only} if only else args


def _reach(u: _Universe, have: set[Event], only: list[str]) -> tuple[set[str], ...]:
    """Detectable with `have`; with `have` and every event of `only`'s providers (all if
    empty); with every event."""
    start = u.detectable(u.met(have))
    through = {e for e in u.by_event if not only or e[0] in only}
    return (start, u.detectable(u.met(have | through)),
            u.detectable(u.met(have | set(u.by_event))))


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
