"""Elastic rules to events: Elastic Defend as its own provider, Windows channels by code."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.normalize.events import EventCatalog
from rulecat.index.parsers.kql import parse_kql
from rulecat.index.readers.elastic import read_elastic_file

ALL_WINDOWS = ["logs-endpoint.events.process-*", "winlogbeat-*", "logs-windows.forwarded*",
               "logs-windows.sysmon_operational-*", "logs-system.security*", "endgame-*",
               "logs-crowdstrike.fdr*", "logs-sentinel_one_cloud_funnel.*"]


@pytest.fixture(scope="module")
def catalog() -> EventCatalog:
    return EventCatalog.load()


def events(catalog, indices, query="", categories=()):
    predicates = parse_kql(query).predicates
    return [(e.provider, e.event_id, e.origin)
            for e in catalog.events_for_elastic(indices, predicates, categories)]


def test_elastic_defend_is_a_provider_with_numbered_event_kinds(catalog):
    assert "Elastic Defend" in catalog.providers()
    assert catalog.title("Elastic Defend", 1) == "Process start (exec, fork)"
    assert catalog.title("Elastic Defend", 4) == "DNS lookup"
    assert [i for _, i, _ in catalog.events("Elastic Defend")] == list(range(1, 17))


def test_a_process_start_rule_relies_on_defend_sysmon_and_security_starts(catalog):
    assert events(catalog, ALL_WINDOWS, "event.category:process and event.type:start") == [
        ("Elastic Defend", 1, "index"), ("Sysmon", 1, "index"), ("Security", 4688, "index")]


def test_defend_events_are_not_sysmon_events(catalog):
    assert events(catalog, ["logs-endpoint.events.process-*"],
                  "event.category:process and event.type:start") == [
        ("Elastic Defend", 1, "index")]


def test_an_eql_category_counts_like_an_event_category_test(catalog):
    assert events(catalog, ["logs-endpoint.events.*"], "event.type : start",
                  categories=["process"]) == [("Elastic Defend", 1, "index")]


def test_without_a_narrowing_type_every_kind_of_the_category_counts(catalog):
    assert events(catalog, ["logs-endpoint.events.*"], "event.category : process") == [
        ("Elastic Defend", 1, "index"), ("Elastic Defend", 2, "index")]


def test_a_defend_data_stream_names_the_category_when_the_query_does_not(catalog):
    assert events(catalog, ["logs-endpoint.events.file-*"], 'event.type : "creation"') == [
        ("Elastic Defend", 5, "index")]


def test_an_excluded_type_does_not_narrow(catalog):
    assert events(catalog, ["logs-endpoint.events.*"],
                  "event.category : file and not event.type : deletion") == [
        ("Elastic Defend", n, "index") for n in (5, 6, 7, 8)]


@pytest.mark.parametrize(("query", "expected"), [
    ("event.category : network and dns.question.name : x", [("Elastic Defend", 4, "index"),
                                                             ("Sysmon", 22, "index")]),
    ("event.category : network and event.action : lookup_requested",
     [("Elastic Defend", 4, "index"), ("Sysmon", 22, "index")]),
    ("event.category : network", [("Elastic Defend", 3, "index"), ("Sysmon", 3, "index")]),
])
def test_dns_lookups_are_told_from_connections(catalog, query, expected):
    assert events(catalog, ["logs-endpoint.events.*", "winlogbeat-*"], query) == expected


def test_an_event_code_names_the_windows_event_and_replaces_the_kinds(catalog):
    assert events(catalog, ["winlogbeat-*", "logs-system.security*"],
                  'event.category : process and event.code : "4688"') == [
        ("Security", 4688, "predicate")]


def test_an_event_code_goes_to_the_provider_that_defines_it(catalog):
    assert events(catalog, ["winlogbeat-*"], "event.code : 10") == [("Sysmon", 10, "predicate")]
    assert events(catalog, ["winlogbeat-*"], "event.code : 7045") == [
        ("System", 7045, "predicate")]


def test_an_event_provider_test_picks_the_provider_of_a_code(catalog):
    assert events(catalog, ["winlogbeat-*"],
                  'event.code : 4104 and winlog.provider_name : "Microsoft-Windows-PowerShell"'
                  ) == [("PowerShell", 4104, "predicate")]


def test_a_script_block_field_means_powershell_4104(catalog):
    assert events(catalog, ["winlogbeat-*", "logs-windows.powershell*"],
                  "event.category : process and powershell.file.script_block_text : x") == [
        ("PowerShell", 4104, "predicate")]


def test_a_named_dataset_narrows_the_providers(catalog):
    assert events(catalog, ALL_WINDOWS,
                  "event.dataset : windows.sysmon_operational and event.category : process"
                  " and event.type : start") == [("Sysmon", 1, "index")]


def test_a_dataset_without_events_in_the_catalog_narrows_nothing(catalog):
    assert events(catalog, ["logs-endpoint.events.*"],
                  "event.category : network and (destination.port : 53 or "
                  "event.dataset : zeek.dns)") == [("Elastic Defend", 3, "index")]


def test_cloud_and_third_party_edr_data_map_to_no_events(catalog):
    assert events(catalog, ["logs-aws.cloudtrail-*"], "event.action : CreateKeyPair") == []
    assert events(catalog, ["endgame-*", "logs-crowdstrike.fdr*"],
                  "event.category : process") == []


def test_endpoint_alerts_are_the_defend_alert_event(catalog):
    assert events(catalog, ["logs-endpoint.alerts-*"], "event.kind : alert") == [
        ("Elastic Defend", 15, "index")]


# --- real rules ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def elastic_root(corpora: Path) -> Path:
    return corpora / "elastic"


def rule_events(root: Path, rel: str) -> list[tuple[str, int, str]]:
    (rule,), _ = read_elastic_file("elastic", root, root / rel)
    return [(e.provider, e.event_id, e.origin) for e in rule.events]


def test_a_real_security_rule_relies_on_its_event_code(elastic_root):
    assert rule_events(elastic_root, "rules/windows/privilege_escalation_credroaming_ldap.toml"
                       ) == [("Security", 5136, "predicate")]


def test_a_real_eql_sequence_relies_on_each_steps_events(elastic_root):
    assert rule_events(elastic_root, "rules/windows/command_and_control_iexplore_via_com.toml"
                       ) == [("Elastic Defend", 11, "index"), ("Elastic Defend", 1, "index"),
                             ("Elastic Defend", 4, "index")]  # in step order


def test_a_step_naming_its_event_code_does_not_hide_the_other_steps_events(elastic_root):
    # [process where event.type == "start" and process.name : "rundll32.exe"]
    # [process where event.code == "7" and ...]: a Sysmon process start, then image load.
    assert rule_events(elastic_root, "rules/windows/credential_access_suspicious_comsvcs_imageload.toml") == [
        ("Sysmon", 1, "index"), ("Security", 4688, "index"), ("Sysmon", 7, "predicate")]


def test_each_step_is_a_requirement_of_its_own(elastic_root):
    rel = "rules/windows/credential_access_suspicious_comsvcs_imageload.toml"
    (rule,), _ = read_elastic_file("elastic", elastic_root, elastic_root / rel)
    # The start needs Sysmon 1 or Security 4688; the image load needs Sysmon 7.
    assert [(e.provider, e.event_id, e.clauses) for e in rule.events] == [
        ("Sysmon", 1, 0b01), ("Security", 4688, 0b01), ("Sysmon", 7, 0b10)]


def test_each_step_narrows_its_own_kinds(elastic_root):
    # compiler start, linker file creation, exec, then uid_change: the file step is a
    # creation (not the process steps' `change`), the last step a process change.
    assert rule_events(elastic_root, "rules/linux/privilege_escalation_uid_change_post_compilation.toml") == [
        ("Elastic Defend", 1, "index"), ("Elastic Defend", 5, "index"),
        ("Elastic Defend", 16, "index")]


def test_a_real_image_load_rule_reads_sysmon_7_through_winlogbeat(elastic_root):
    rel = "rules/windows/persistence_suspicious_image_load_scheduled_task_ms_office.toml"
    assert rule_events(elastic_root, rel) == [
        ("Elastic Defend", 12, "index"), ("Sysmon", 6, "index"),
        ("Elastic Defend", 11, "index"), ("Sysmon", 7, "index")]


def test_every_event_an_elastic_rule_relies_on_is_in_the_catalog(elastic_root, catalog):
    from rulecat.index.readers.elastic import elastic_rule_files

    missing = set()
    for path in elastic_rule_files(elastic_root):
        (rule,), _ = read_elastic_file("elastic", elastic_root, path)
        missing |= {(e.provider, e.event_id) for e in rule.events} - set(
            (p, i) for p, i, _ in catalog.events())
    assert missing == set()
