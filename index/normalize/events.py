"""Event catalog: the log events rules rely on, as (provider, event id, title).

Decisions:

* Providers and titles are data (`events.yaml`). Which Sigma logsource means which event
  is derived at load time from pySigma: `sysmon_generic_logsource_eventid_mapping`
  (category -> Sysmon ids), `generic_logsource_to_windows_audit_event_mapping`
  (category -> Security ids), `windows_generic_category_channel_mapping` (`ps_script` ->
  PowerShell 4104, ...), and `windows_logsource_mapping` (service -> channel; a provider
  owns channels, so service -> provider).
* Only `product: windows` logsources map to these events. Linux `process_creation` is not
  Sysmon 1: Sysmon for Linux, auditd and EDRs all feed it, so claiming one would mislead.
* A service logsource (`security`, `system`, ...) relies on the EventID values the rule
  looks for: `detect` predicates testing `EventID` / `EventCode` / `event.code` with `eq`
  (origin `predicate`). A category rule that also tests EventID keeps only the matching
  logsource events when any match (`registry_event` + `EventID: 13` -> Sysmon 13).
* Services whose channel has no provider here (e.g. `application`, whose ids mean nothing
  without the provider) yield no events; `provider_for_service` returns None for them.
* An event outside the catalog is still returned (`title` is None for it); the tests keep
  the catalog complete for the real corpora.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, cast

from . import load_table
from ..models import EventRef, LogSource, Predicate

EVENT_ID_FIELDS = frozenset({"eventid", "eventcode", "event.code", "winlog.event_id"})
_DATA_SOURCE = re.compile(
    r"^(?P<label>.*?)\s*(?:event\s*id|eventcode|event\s+code)?\s*"
    r"(?P<ids>\d+(?:\s*,\s*\d+)*)\s*$",
    re.IGNORECASE,
)
_LABEL_PREFIXES = ("windows event log ", "windows ")


def _ids(value: Any) -> list[int]:
    """Event ids from a pySigma mapping value (an int, a list of ints, or None)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [int(v) for v in values if isinstance(v, int) or (isinstance(v, str) and v.isdigit())]


def detected_event_ids(predicates: Iterable[Predicate]) -> list[int]:
    """EventID values a rule looks for (detect, eq, an EventID-like field), in order."""
    found: dict[int, None] = {}
    for pred in predicates:
        names = {(pred.vendor_field or "").lower(), (pred.field or "").lower()}
        if pred.polarity != "detect" or pred.operator != "eq" or not names & EVENT_ID_FIELDS:
            continue
        text = pred.value.strip()
        if text.isdigit():
            found[int(text)] = None
    return list(found)


# Requirements one rule may have before `required_events` gives up on telling them apart.
MAX_CLAUSES = 16


def required_events(options: Sequence[Sequence[Sequence[EventRef]]]) -> list[EventRef]:
    """The events a rule relies on, each with the requirements (`clauses`) it can meet.

    `options` are a rule's alternatives, any one of which will do (a Splunk detection's data
    sources); each is a list of parts that must all be collected (a data source's `A AND B`,
    an EQL sequence's steps); each part a list of events any one of which will do (Sysmon 1
    or Security 4688). Written as requirements that must each be met (one part of every
    option, the smallest such sets), bit c of an event's `clauses` says it meets requirement
    c. More than `MAX_CLAUSES` requirements (none on the real corpora) become one that any
    event meets: optimistic, as every rule was before requirements were recorded.
    """
    kept = [[list(part) for part in option if part] for option in options]
    kept = [option for option in kept if option]
    refs: dict[tuple[str, int], EventRef] = {}
    for option in kept:
        for part in option:
            for ref in part:
                refs.setdefault((ref.provider, ref.event_id), ref)
    if math.prod(len(option) for option in kept) > MAX_CLAUSES:
        clauses = [frozenset(refs)]
    else:
        found = list(dict.fromkeys(
            frozenset((r.provider, r.event_id) for part in combo for r in part)
            for combo in itertools.product(*kept)))
        clauses = [c for c in found if not any(other < c for other in found)]
    return [ref.model_copy(update={"clauses": sum(1 << n for n, clause in enumerate(clauses)
                                                  if key in clause)})
            for key, ref in refs.items()]


def _unique(refs: Iterable[EventRef]) -> list[EventRef]:
    seen: dict[tuple[str, int], EventRef] = {}
    for ref in refs:
        seen.setdefault((ref.provider, ref.event_id), ref)
    return list(seen.values())


class EventCatalog:
    """Known events and the mapping from rules to them; build with `EventCatalog.load()`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._titles: dict[tuple[str, int], str] = {}
        self._by_channel: dict[str, str] = {}
        self._by_label: dict[str, str] = {}
        for name, spec in (data.get("providers") or {}).items():
            for event_id, title in (spec.get("events") or {}).items():
                self._titles[(name, int(event_id))] = " ".join(str(title).split())
            self._by_channel.update((c.lower(), name) for c in spec.get("channels") or [])
            labels = [name, *(spec.get("labels") or [])]
            self._by_label.update((label.lower(), name) for label in labels)
        self._services = self._derive_services()
        self._categories = self._derive_categories()
        self._elastic = ElasticEventMap(data.get("elastic") or {}, self._by_channel)

    @classmethod
    def load(cls) -> EventCatalog:
        """The catalog from `events.yaml` and pySigma's mappings (cached)."""
        return _load_catalog()

    # ----------------------------------------------------------------- derivation

    def _derive_services(self) -> dict[str, str]:
        """Sigma Windows service -> provider, through pySigma's service -> channel map."""
        from sigma.pipelines.common import windows_logsource_mapping

        services: dict[str, str] = {}
        for service, channels in windows_logsource_mapping.items():
            names = channels if isinstance(channels, list) else [channels]
            providers = {p for c in names if (p := self._by_channel.get(str(c).lower()))}
            if len(providers) == 1:
                services[service.lower()] = providers.pop()
        return services

    def _derive_categories(self) -> dict[str, list[tuple[str, int]]]:
        """Sigma Windows category -> [(provider, id)] from pySigma's Sysmon/Windows maps."""
        from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
        from sigma.pipelines.windows.windows import (
            generic_logsource_to_windows_audit_event_mapping as audit_mapping,
            windows_generic_category_channel_mapping,
        )

        events: dict[str, list[tuple[str, int]]] = defaultdict(list)
        sources = [
            ("sysmon", dict(sysmon_generic_logsource_eventid_mapping)),
            ("security", {c: dict(spec).get("EventID") for c, spec
                          in cast(dict[str, Any], audit_mapping).items()}),
        ]
        for service, by_category in sources:
            provider = self._services.get(service)
            for category, ids in by_category.items():
                events[category].extend((provider, i) for i in _ids(ids) if provider)
        for category, spec in windows_generic_category_channel_mapping.items():
            if provider := self._services.get(str(spec.get("service", "")).lower()):
                events[category].extend((provider, i) for i in _ids(spec.get("EventID")))
        return dict(events)

    # ----------------------------------------------------------------- lookups

    def title(self, provider: str, event_id: int) -> str | None:
        return self._titles.get((provider, int(event_id)))

    def __contains__(self, key: object) -> bool:
        return key in self._titles

    def __len__(self) -> int:
        return len(self._titles)

    def providers(self) -> list[str]:
        return sorted({provider for provider, _ in self._titles})

    def channel_providers(self) -> list[str]:
        """Providers read from Windows event log channels (Security, Sysmon, ...), sorted."""
        return sorted(set(self._by_channel.values()))

    def events(self, provider: str | None = None) -> list[tuple[str, int, str]]:
        """(provider, id, title) rows, sorted; all providers unless one is named."""
        return sorted(
            (p, i, t) for (p, i), t in self._titles.items() if provider in (None, p)
        )

    def provider_for_service(self, service: str) -> str | None:
        """The provider of a Sigma Windows service (`security` -> `Security`), if known."""
        return self._services.get(service.lower())

    def category_events(self, category: str) -> list[tuple[str, int]]:
        """(provider, id) pySigma maps a Windows category to."""
        return list(self._categories.get(category.lower(), []))

    def events_for_sigma(
        self, logsource: LogSource | None, predicates: Iterable[Predicate] = ()
    ) -> list[EventRef]:
        """Events a Sigma rule relies on, from its logsource and its EventID tests."""
        if logsource is None or (logsource.product or "").lower() != "windows":
            return []
        refs = [
            EventRef(provider=p, event_id=i)
            for p, i in self._categories.get((logsource.category or "").lower(), [])
        ]
        ids = detected_event_ids(predicates)
        provider = self.provider_for_service(logsource.service) if logsource.service else None
        if refs and provider:
            refs = [r for r in refs if r.provider == provider]
        elif provider:
            refs = [EventRef(provider=provider, event_id=i, origin="predicate") for i in ids]
        if refs and ids:
            refs = [r for r in refs if r.event_id in ids] or refs
        return _unique(refs)

    def events_for_elastic(
        self,
        indices: Iterable[str],
        predicates: Iterable[Predicate] = (),
        categories: Iterable[str] = (),
    ) -> list[EventRef]:
        """Events an Elastic rule relies on (see `ElasticEventMap`); `categories` adds
        event categories the query names outside predicates (EQL `process where`)."""
        return self._elastic.events(self, list(indices), list(predicates), list(categories))

    def events_for_data_source(self, name: str, known_only: bool = False) -> list[EventRef]:
        """Events a data-source name states: `Sysmon EventID 1`, `Windows Event Log Security
        4688`, `NTLM Operational 8004,8005,8006`, parts joined with `AND`.

        Names without a known provider (`Sysmon for Linux EventID 1`, `CrowdStrike ...`)
        give nothing; `known_only` also drops ids the catalog lacks.
        """
        refs: list[EventRef] = []
        for part in re.split(r"\s+AND\s+", name.strip(), flags=re.IGNORECASE):
            match = _DATA_SOURCE.match(part)
            provider = self._provider_for_label(match["label"]) if match else None
            if match and provider:
                refs.extend(
                    EventRef(provider=provider, event_id=int(i), origin="data_source")
                    for i in match["ids"].split(",")
                )
        refs = _unique(refs)
        return [r for r in refs if (r.provider, r.event_id) in self] if known_only else refs

    def event_for_data_source(self, name: str) -> EventRef | None:
        """The first event a data-source name states, or None."""
        refs = self.events_for_data_source(name)
        return refs[0] if refs else None

    def _provider_for_label(self, label: str) -> str | None:
        key = " ".join(label.lower().split())
        if key in self._by_label:
            return self._by_label[key]
        for prefix in _LABEL_PREFIXES:
            if key.startswith(prefix) and key[len(prefix):] in self._by_label:
                return self._by_label[key[len(prefix):]]
        return None


@cache
def _load_catalog() -> EventCatalog:
    return EventCatalog(load_table("events.yaml"))


# --------------------------------------------------------------------------- Elastic

_CODE_FIELDS = ("event.code", "winlog.event_id")
_STEP = re.compile(r"step\d+")  # an EQL sequence or sample step (`parsers.eql`)
_DATASET_FIELDS = ("event.dataset", "data_stream.dataset")
_PROVIDER_FIELDS = ("event.provider", "winlog.provider_name")
_WINDOWS = "windows"  # events.yaml's name for "any Windows channel"
_DEFEND = "Elastic Defend"
_SUFFIXES = (".caseless", ".keyword", ".text", ".wildcard")


def _detected_values(predicates: Iterable[Predicate]) -> dict[str, set[str]]:
    """{field: values} of `detect` eq / wildcard predicates (fields and values lower-case)."""
    values: dict[str, set[str]] = defaultdict(set)
    for pred in predicates:
        if pred.polarity != "detect" or pred.operator not in ("eq", "wildcard"):
            continue
        values[_field_key(pred.vendor_field)].add(pred.value.strip().lower())
    return values


def _field_key(field: str | None) -> str:
    """A field as the tables name it: lower-case, no EQL `?`, no multi-field suffix."""
    key = (field or "").lower().lstrip("?")
    for suffix in _SUFFIXES:
        key = key.removesuffix(suffix)
    return key


def _longest_prefix(name: str, table: dict[str, Any]) -> list[str]:
    """The value of the longest key `name` starts with, as a list ([] if none)."""
    name = name.lower().rstrip("*")
    best = max((p for p in table if name.startswith(p)), key=len, default=None)
    found = table[best] if best is not None else []
    return found if isinstance(found, list) else [found]


def _index_dataset(index: str) -> str:
    """`logs-endpoint.events.process-*` -> `endpoint.events.process`."""
    name = index.lower().removeprefix("logs-")
    return name.rstrip("*").rstrip("-")


class ElasticEventMap:
    """Elastic rules to events, from `events.yaml`'s `elastic:` tables.

    * Providers: the ones the rule's `event.dataset` / `data_stream.dataset` values name,
      else those of its index patterns (a dataset rulecat has no events for, often one
      branch of an `or`, narrows nothing). `windows` (Winlogbeat, forwarded events) stands
      for the Windows channel providers.
    * Event kinds: the rule's `event.category` values (and an EQL query's categories),
      else the category its Elastic Defend data streams imply; narrowed by `event.type`
      / `event.action` values and by fields only one kind holds (`dns.question.name`).
      Each kind is an Elastic Defend event and, where one exists, the Sysmon or Security
      event Elastic's integrations read the same way (origin `index`).
    * `event.code` values, on Windows channel providers, name events directly (origin
      `predicate`) and replace the kinds for those providers, as a Sigma rule's EventID
      test narrows its logsource; `event.provider` / `winlog.channel` tests pick the
      provider, else the one provider that defines the id, else `windows_providers`' order.
    * Only `detect` predicates count: `not event.type : "end"` does not select an event.
    """

    def __init__(self, data: dict[str, Any], by_channel: dict[str, str]) -> None:
        lower = _lower_keys
        self._indices = lower(data.get("indices"))
        self._datasets = lower(data.get("datasets"))
        self._dataset_categories = lower(data.get("dataset_categories"))
        self._event_providers = lower(data.get("event_providers"))
        self._windows = list(data.get("windows_providers") or [])
        self._by_channel = by_channel
        self._categories = {
            name.lower(): (list(spec.get("kinds") or []), lower(spec.get("narrow")))
            for name, spec in (data.get("categories") or {}).items()
        }
        self._field_kinds = lower(data.get("field_kinds"))
        self._narrow_fields = [f.lower() for f in data.get("narrow_fields") or []]
        self._field_events = lower(data.get("field_events"))
        self._kinds: dict[str, dict[str, list[int]]] = data.get("kinds") or {}

    def events(
        self, catalog: EventCatalog, indices: list[str], predicates: list[Predicate],
        categories: list[str],
    ) -> list[EventRef]:
        """The events one rule relies on (see the class docstring). An EQL sequence's or
        sample's are those of its steps, each mapped on its own and each a requirement of
        its own (`required_events`): a step testing `event.code` names its event without
        hiding the others' (`until` and missing-event steps, which detect nothing, select
        none)."""
        steps: dict[str, list[Predicate]] = {}
        for pred in predicates:
            if pred.selection and _STEP.fullmatch(pred.selection):
                steps.setdefault(pred.selection, []).append(pred)
        if not steps:
            return self._events(catalog, indices, predicates, categories)
        return required_events([[self._events(catalog, indices, step, [])
                                 for step in steps.values()
                                 if any(p.polarity == "detect" for p in step)]])

    def _events(
        self, catalog: EventCatalog, indices: list[str], predicates: list[Predicate],
        categories: list[str],
    ) -> list[EventRef]:
        values = _detected_values(predicates)
        tested = {_field_key(p.vendor_field) for p in predicates if p.vendor_field}
        providers = self._providers(indices, values)
        codes = sorted({int(v) for f in _CODE_FIELDS for v in values.get(f, ()) if v.isdigit()})
        windows = [p for p in self._expand(providers) if p != _DEFEND]
        refs = self._code_events(catalog, windows, codes, values) if codes and windows else []
        for field in sorted(tested):
            provider, event_id = self._field_events.get(field) or (None, None)
            if provider in windows and event_id is not None:
                refs.append(EventRef(provider=provider, event_id=event_id, origin="predicate"))
        # Windows events the rule names directly replace the ones its kinds would give.
        by_kind = {_DEFEND} & providers if refs else set(self._expand(providers))
        for kind in self._event_kinds(indices, values, tested, categories):
            refs += [EventRef(provider=p, event_id=i, origin="index")
                     for p, ids in self._kinds.get(kind, {}).items() if p in by_kind
                     for i in ids]
        return _unique(refs)

    def _providers(self, indices: list[str], values: dict[str, set[str]]) -> set[str]:
        datasets = {v for f in _DATASET_FIELDS for v in values.get(f, ())}
        named = {p for d in datasets for p in _longest_prefix(d, self._datasets)}
        return named or {p for index in indices for p in _longest_prefix(index, self._indices)}

    def _expand(self, providers: set[str]) -> list[str]:
        """Providers with `windows` spelled out, in `windows_providers`' order."""
        names = {p for p in providers if p != _WINDOWS}
        if _WINDOWS in providers:
            names |= set(self._windows)
        order = {p: n for n, p in enumerate(self._windows)}
        return sorted(names, key=lambda p: (order.get(p, len(order)), p))

    def _event_kinds(
        self, indices: list[str], values: dict[str, set[str]], tested: set[str],
        categories: list[str],
    ) -> list[str]:
        named = {c.lower() for c in categories} | values.get("event.category", set())
        if not named:
            datasets = values.get("event.dataset", set()) | values.get(
                "data_stream.dataset", set()) | {_index_dataset(i) for i in indices}
            named = {c for d in datasets for c in _longest_prefix(d, self._dataset_categories)}
        chosen = {v for f in self._narrow_fields for v in values.get(f, ())}
        by_field = {kind for field in tested if (kind := self._field_kinds.get(field))}
        kinds: list[str] = sorted(by_field) if not named else []
        for name in sorted(named):
            default, narrow = self._categories.get(name, ([], {}))
            selected = {narrow[v] for v in chosen if v in narrow} | (by_field & set(
                narrow.values()))
            kinds += sorted(selected) or default
        return kinds

    def _code_events(
        self, catalog: EventCatalog, windows: list[str], codes: list[int],
        values: dict[str, set[str]],
    ) -> list[EventRef]:
        hinted = {self._event_providers.get(v) for f in _PROVIDER_FIELDS
                  for v in values.get(f, ())}
        hinted |= {self._by_channel.get(v) for v in values.get("winlog.channel", ())}
        candidates = [p for p in windows if p in hinted] or windows
        refs: list[EventRef] = []
        for code in codes:
            having = [p for p in candidates if (p, code) in catalog]
            provider = having[0] if having else candidates[0] if len(candidates) == 1 else None
            if provider:
                refs.append(EventRef(provider=provider, event_id=code, origin="predicate"))
        return refs


def _lower_keys(table: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (table or {}).items()}
