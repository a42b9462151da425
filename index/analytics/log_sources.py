"""ATT&CK analytics' log sources as rulecat events: what MITRE says to collect per technique.

An analytic names log sources as `(name, channel)`: `WinEventLog:Sysmon` / `EventCode=1`,
`WinEventLog:Security` / `EventCode=4663, 4670, 4656`, `auditd:SYSCALL` / `execve`. Decisions:

* Only the analytic's own `x_mitre_log_source_references` count as recommended: they are
  what that analytic reads. A data component's `x_mitre_log_sources` is the union over every
  analytic and platform (Process Creation lists auditd, osquery, ESXi ...), too broad to
  recommend for one technique.
* `WinEventLog:<label>` with `EventCode=<ids>` becomes one event per id when `<label>` is a
  provider's label in the event catalog (`Sysmon`, `Security`, `PowerShell`, ...) or a
  Windows channel pySigma maps to a Sigma service with a provider
  (`Microsoft-Windows-Windows Firewall With Advanced Security/Firewall`).
  `EventCode=4778, EventCode=4779` and `EventCode=5005 (WLAN), EventCode=302 (Bluetooth)`
  give every id.
* An id the named provider does not define, but exactly one other Windows channel provider
  does, is that provider's: v18.1 names `WinEventLog:PowerShell` `EventCode=400, 403`, the
  engine events of the classic `Windows PowerShell` log (rules read them there), and
  `WinEventLog:Security` `EventCode=4103`, a PowerShell module-logging event. Any other id
  is kept as MITRE states it even when the event catalog has no title for it: comparing
  with rules is by `(provider, event_id)`, and the answer says the title is unknown.
* Everything else stays a named data source, `(name, channel)`: other systems
  (`auditd:SYSCALL`, `macos:unifiedlog`, `AWS:CloudTrail`), free-text channels, ETW
  providers, and `linux:Sysmon` (Sysmon for Linux is not the Windows Sysmon provider, as
  for Sigma's Linux logsources).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache

from ..attack.stix import Attack, LogSourceRef
from ..normalize.events import EventCatalog

_WINEVENTLOG = "wineventlog:"
_EVENT_CODES = re.compile(r"EventCode\s*=\s*(\d+(?:\s*,\s*\d+)*)", re.IGNORECASE)

# (technique, strategy, analytic, platforms JSON, data component, log source, channel,
#  provider, event_id): one row of the catalog's `attack_telemetry` table.
TelemetryRow = tuple[str, str, str, str, str, str, str | None, str | None, int | None]


def event_ids(channel: str | None) -> list[int]:
    """Event ids a channel states: `EventCode=4663, 4670, 4656` -> [4663, 4670, 4656]."""
    ids: dict[int, None] = {}
    for group in _EVENT_CODES.findall(channel or ""):
        ids.update((int(i), None) for i in group.split(","))
    return list(ids)


@cache
def _channel_services() -> dict[str, str]:
    """Windows event channel (lower-case) -> Sigma service, from pySigma's mapping."""
    from sigma.pipelines.common import windows_logsource_mapping

    found: dict[str, str] = {}
    for service, channels in windows_logsource_mapping.items():
        for channel in [channels] if isinstance(channels, str) else channels:
            found.setdefault(str(channel).lower(), service)
    return found


def provider_for(name: str, events: EventCatalog) -> str | None:
    """The event catalog's provider for a log-source name, e.g. `WinEventLog:Sysmon`."""
    if not name.lower().startswith(_WINEVENTLOG):
        return None
    label = name[len(_WINEVENTLOG):].strip()
    # A provider label (`Sysmon`, `Security`): let the catalog's data-source parser say.
    refs = events.events_for_data_source(f"{label} 1")
    if refs:
        return refs[0].provider
    service = _channel_services().get(label.lower())
    return events.provider_for_service(service) if service else None


def recommended_events(ref: LogSourceRef, events: EventCatalog) -> list[tuple[str, int]]:
    """`(provider, event_id)` pairs a log-source reference names; [] for a data source."""
    provider = provider_for(ref.name, events)
    return [(_owner(provider, i, events), i) for i in event_ids(ref.channel)] if provider else []


def _owner(provider: str, event_id: int, events: EventCatalog) -> str:
    """`provider` when it defines `event_id`, else the one Windows provider that does."""
    if (provider, event_id) in events:
        return provider
    owners = [p for p in events.channel_providers() if (p, event_id) in events]
    return owners[0] if len(owners) == 1 else provider


def telemetry_rows(attack: Attack, events: EventCatalog) -> Iterator[TelemetryRow]:
    """Every (technique, analytic, log source) MITRE recommends, events resolved."""
    data = attack.detection
    for strategy in sorted(data.strategies.values(), key=lambda s: s.id):
        for analytic_id in strategy.analytics:
            analytic = data.analytics[analytic_id]
            platforms = json.dumps(analytic.platforms)
            for ref in analytic.log_sources:
                component = data.data_components[ref.data_component].name
                pairs: list[tuple[str | None, int | None]] = list(
                    recommended_events(ref, events)) or [(None, None)]
                for technique in strategy.techniques:
                    for provider, event_id in pairs:
                        yield (technique, strategy.id, analytic.id, platforms, component,
                               ref.name, _channel(ref.channel), provider, event_id)


def _channel(channel: str | None) -> str | None:
    """MITRE writes a missing channel as the string 'None'."""
    return None if channel in (None, "", "None") else channel
