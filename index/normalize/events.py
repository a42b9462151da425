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

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

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
            providers = {self._by_channel.get(c.lower()) for c in names} - {None}
            if len(providers) == 1:
                services[service.lower()] = providers.pop()
        return services

    def _derive_categories(self) -> dict[str, list[tuple[str, int]]]:
        """Sigma Windows category -> [(provider, id)] from pySigma's Sysmon/Windows maps."""
        from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
        from sigma.pipelines.windows.windows import (
            generic_logsource_to_windows_audit_event_mapping,
            windows_generic_category_channel_mapping,
        )

        events: dict[str, list[tuple[str, int]]] = defaultdict(list)
        sources = [
            ("sysmon", dict(sysmon_generic_logsource_eventid_mapping)),
            ("security", {c: spec.get("EventID") for c, spec
                          in generic_logsource_to_windows_audit_event_mapping.items()}),
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


def _load_yaml(filename: str) -> dict[str, Any]:
    import yaml

    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@cache
def _load_catalog() -> EventCatalog:
    return EventCatalog(_load_yaml("events.yaml"))
