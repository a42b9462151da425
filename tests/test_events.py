"""Event catalog and rule -> event mapping (rulecat.index.normalize.events)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from rulecat.index.models import EventRef, LogSource, Predicate
from rulecat.index.normalize.events import EventCatalog

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C parser when built
T1559_001_RULES = {
    "rules/windows/process_access/proc_access_win_cmstp_execution_by_access.yml": [
        ("Sysmon", 10)
    ],
    "rules/windows/dns_query/dns_query_win_regsvr32_dns_query.yml": [("Sysmon", 22)],
    "rules/windows/network_connection/net_connection_win_regsvr32_network_activity.yml": [
        ("Sysmon", 3)
    ],
    "rules-threat-hunting/windows/network_connection/"
    "net_connection_win_dllhost_non_local_ip.yml": [("Sysmon", 3)],
}


@pytest.fixture(scope="module")
def catalog() -> EventCatalog:
    return EventCatalog.load()


def windows(category: str | None = None, service: str | None = None) -> LogSource:
    return LogSource(product="windows", category=category, service=service)


def event_id(value: str, polarity: str = "detect", field: str = "EventID") -> Predicate:
    return Predicate(vendor_field=field, operator="eq", value=value, polarity=polarity)


def pairs(refs: list[EventRef]) -> list[tuple[str, int]]:
    return [(r.provider, r.event_id) for r in refs]


# ----------------------------------------------------------------- catalog data


@pytest.mark.parametrize(
    ("provider", "event_id", "title"),
    [
        ("Sysmon", 1, "Process creation"),
        ("Sysmon", 3, "Network connection"),
        ("Sysmon", 10, "ProcessAccess"),
        ("Sysmon", 22, "DNSEvent (DNS query)"),
        ("Security", 4688, "A new process has been created"),
        ("Security", 4624, "An account successfully logged on"),
    ],
)
def test_the_catalog_titles_known_events(catalog, provider, event_id, title):
    assert catalog.title(provider, event_id) == title


def test_sysmon_has_every_event_type_from_1_to_29(catalog):
    assert all(("Sysmon", i) in catalog for i in range(1, 30))


def test_the_catalog_has_the_usual_windows_providers(catalog):
    for provider in ("Sysmon", "Security", "System", "PowerShell", "Windows PowerShell",
                     "Windows Defender", "TaskScheduler"):
        assert provider in catalog.providers()
    assert catalog.title("System", 7045).endswith("a service was installed in the system")
    assert catalog.title("PowerShell", 4104).startswith("Script block logging")
    assert catalog.title("Windows PowerShell", 800) == "Pipeline execution details"


def test_an_unknown_event_has_no_title(catalog):
    assert catalog.title("Security", 1) is None


def test_sigma_services_map_to_providers_through_pysigma_channels(catalog):
    assert catalog.provider_for_service("security") == "Security"
    assert catalog.provider_for_service("powershell") == "PowerShell"
    assert catalog.provider_for_service("powershell-classic") == "Windows PowerShell"
    assert catalog.provider_for_service("windefend") == "Windows Defender"
    assert catalog.provider_for_service("application") is None


# ----------------------------------------------------------------- Sigma logsources


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("process_creation", [("Sysmon", 1), ("Security", 4688)]),
        ("network_connection", [("Sysmon", 3)]),
        ("process_access", [("Sysmon", 10)]),
        ("dns_query", [("Sysmon", 22)]),
        ("registry_event", [("Sysmon", 12), ("Sysmon", 13), ("Sysmon", 14), ("Security", 4657)]),
        ("image_load", [("Sysmon", 7)]),
        ("ps_script", [("PowerShell", 4104)]),
        ("ps_module", [("PowerShell", 4103)]),
        ("ps_classic_start", [("Windows PowerShell", 400)]),
    ],
)
def test_a_windows_category_maps_to_its_events(catalog, category, expected):
    refs = catalog.events_for_sigma(windows(category))
    assert pairs(refs) == expected
    assert {r.origin for r in refs} == {"logsource"}


def test_a_security_rule_relies_on_the_event_ids_it_detects(catalog):
    refs = catalog.events_for_sigma(windows(service="security"), [event_id("4624")])
    assert refs == [EventRef(provider="Security", event_id=4624, origin="predicate")]


def test_excluded_event_ids_are_not_relied_on(catalog):
    preds = [event_id("4624"), event_id("4625", polarity="exclude")]
    assert pairs(catalog.events_for_sigma(windows(service="security"), preds)) == [
        ("Security", 4624)
    ]


def test_a_system_rule_with_event_code_spelling_maps_too(catalog):
    preds = [event_id("7045", field="EventCode")]
    refs = catalog.events_for_sigma(windows(service="system"), preds)
    assert pairs(refs) == [("System", 7045)]


def test_a_category_rule_testing_an_event_id_keeps_the_matching_events(catalog):
    refs = catalog.events_for_sigma(windows("registry_event"), [event_id("13")])
    assert pairs(refs) == [("Sysmon", 13)]


def test_a_linux_process_creation_rule_maps_to_no_sysmon_event(catalog):
    linux = LogSource(product="linux", category="process_creation")
    assert catalog.events_for_sigma(linux) == []


def test_a_service_without_a_provider_maps_to_nothing(catalog):
    assert catalog.events_for_sigma(windows(service="application"), [event_id("1000")]) == []


def test_the_t1559_001_sigma_rules_rely_on_sysmon_events(catalog, sigma_corpus):
    for rel, expected in T1559_001_RULES.items():
        doc = yaml.safe_load((sigma_corpus / rel).read_text(encoding="utf-8"))
        logsource = LogSource(**doc["logsource"])
        assert pairs(catalog.events_for_sigma(logsource)) == expected, rel


# ----------------------------------------------------------------- data sources


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sysmon EventID 1", [("Sysmon", 1)]),
        ("Windows Event Log Security 4688", [("Security", 4688)]),
        ("Windows Security 5136", [("Security", 5136)]),
        ("Powershell Script Block Logging 4104", [("PowerShell", 4104)]),
        ("Windows Event Log Defender 1121", [("Windows Defender", 1121)]),
        ("NTLM Operational 8004,8005,8006", [("NTLM", 8004), ("NTLM", 8005), ("NTLM", 8006)]),
        ("Sysmon EventID 1 AND Sysmon EventID 11", [("Sysmon", 1), ("Sysmon", 11)]),
        ("Sysmon for Linux EventID 1", []),
        ("CrowdStrike ProcessRollup2", []),
        ("AWS CloudTrail", []),
    ],
)
def test_data_source_names_parse_into_events(catalog, name, expected):
    refs = catalog.events_for_data_source(name)
    assert pairs(refs) == expected
    assert all(r.origin == "data_source" for r in refs)


def test_the_first_event_of_a_data_source_name(catalog):
    assert catalog.event_for_data_source("Sysmon EventID 13") == EventRef(
        provider="Sysmon", event_id=13, origin="data_source"
    )
    assert catalog.event_for_data_source("Okta") is None


def test_known_only_drops_events_the_catalog_lacks(catalog):
    assert catalog.events_for_data_source("Windows Event Log System 4720", known_only=True) == []


# ----------------------------------------------------------------- real corpora


def _sigma_rules(root: Path) -> list[tuple[str, LogSource, list[Predicate]]]:
    """(path, logsource, EventID predicates) per Sigma rule, read with PyYAML."""
    rules = []
    for path in sorted(root.glob("rules*/**/*.yml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER):
            if not isinstance(doc, dict) or "logsource" not in doc:
                continue
            ls = doc["logsource"] or {}
            logsource = LogSource(**{k: ls.get(k) for k in ("product", "category", "service")})
            preds = [event_id(str(v)) for v in _event_ids(doc.get("detection"))]
            rules.append((str(path.relative_to(root)), logsource, preds))
    return rules


def _event_ids(node: object) -> list[object]:
    if isinstance(node, list):
        return [v for item in node for v in _event_ids(item)]
    if not isinstance(node, dict):
        return []
    found: list[object] = []
    for key, value in node.items():
        if str(key).split("|")[0] in ("EventID", "EventCode"):
            found += value if isinstance(value, list) else [value]
        else:
            found += _event_ids(value)
    return found


def test_every_event_a_sigma_rule_maps_to_is_in_the_catalog(catalog, sigma_corpus):
    rules = _sigma_rules(sigma_corpus)
    unknown: Counter[tuple[str, int]] = Counter()
    with_events = 0
    for _, logsource, preds in rules:
        refs = catalog.events_for_sigma(logsource, preds)
        with_events += bool(refs)
        unknown.update((r.provider, r.event_id) for r in refs if (r.provider, r.event_id)
                       not in catalog)
    print(f"\n{with_events} of {len(rules)} Sigma rules map to at least one event")
    assert not unknown, unknown.most_common()
    assert with_events > 2500


def test_windows_data_sources_of_splunk_detections_are_mostly_known(catalog, corpora):
    names: Counter[str] = Counter()
    for path in sorted((corpora / "splunk" / "detections").rglob("*.yml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER) or {}
        names.update(str(n) for n in doc.get("data_source") or [])
    refs = [(ref, count) for name, count in names.items()
            for ref in catalog.events_for_data_source(name)]
    known = sum(c for r, c in refs if (r.provider, r.event_id) in catalog)
    total = sum(c for _, c in refs)
    assert total > 1000
    assert known / total > 0.98
