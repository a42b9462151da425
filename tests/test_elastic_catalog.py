"""Elastic rules in the catalog built from the real corpora: answers across vendors."""

from __future__ import annotations

import json

from rulecat.index.answers import Filters

# The 12 Elastic rules whose [[rule.threat]] lists sub-technique T1559.001 (found by hand:
# `grep -l T1559.001` in rules/, each checked under a `subtechnique` of T1559). All EQL,
# all production.
T1559_001_ELASTIC = {
    "elastic:1dee0500-4aeb-44ca-b24b-4a285d7b6ba1",  # collection_email_outlook_mailbox_via_com
    "elastic:acd611f3-2b93-47b3-a0a3-7723bcc46f6d",  # command_and_control_iexplore_via_com
    "elastic:1a6075b0-7479-450e-8fe7-b8b8438ac570",  # execution_com_object_xwizard
    "elastic:9a5b4e31-6cde-4295-9ff7-6be1b8567e1b",  # initial_access_via_explorer_suspicious_..
    "elastic:48f657ee-de4f-477c-aa99-ed88ee7af97a",  # initial_access_xsl_script_execution_via_com
    "elastic:622ecb68-fa81-4601-90b5-f8cd661e4520",  # lateral_movement_dcom_hta
    "elastic:51ce96fb-9e52-4dad-b0ba-99b54440fc9a",  # lateral_movement_dcom_mmc20
    "elastic:8f919d4b-a5af-47ca-a594-6be59cd924a4",  # lateral_movement_dcom_shellwindow_..
    "elastic:baa5d22c-5e1c-4f33-bfc9-efa73bb53022",  # persistence_suspicious_image_load_..
    "elastic:b90cdde7-7e0d-4359-8bf0-2c112ce2008a",  # privilege_escalation_uac_bypass_com_clipup
    "elastic:fc7c0fa4-8f03-4b3e-8336-c5feab0be022",  # privilege_escalation_uac_bypass_com_ieinstal
    "elastic:68d56fdc-7ffa-4419-8e95-81641bd6f845",  # .._uac_bypass_com_interface_icmluautil
}
LUCENE_RULE = "elastic:3a86e085-094c-412d-97ff-2439731e59cb"  # deprecated, T1548.001


def test_t1559_001_coverage_lists_the_12_elastic_rules_next_to_the_sigma_ones(catalog):
    answer = catalog.get_technique_coverage("T1559.001", limit=50)
    assert answer.counts["elastic"].rules == 12
    assert answer.counts["elastic"].via == {"exact": 12}
    assert {r.id for r in answer.rules["elastic"]} == T1559_001_ELASTIC
    assert all(r.status == "production" and not r.deprecated for r in answer.rules["elastic"])
    assert answer.counts["sigma"].rules == 4


def test_t1559_001_events_include_elastic_defend_process_starts(catalog):
    events = {(e.provider, e.event_id): e.rules
              for e in catalog.get_technique_coverage("T1559.001").events}
    # Every rule but the taskschd.dll image-load one watches a process start.
    assert events[("Elastic Defend", 1)] == 11
    assert events[("Elastic Defend", 11)] >= 1 and events[("Sysmon", 7)] >= 1
    assert ("Sysmon", 1) in events and ("Security", 4688) in events


def test_the_build_report_counts_parses_per_elastic_language(catalog):
    report = json.loads(catalog.meta["report"])
    (source,) = [s for s in report["sources"] if s["name"] == "elastic"]
    languages = {k: (v["rules"], v["parsed"]) for k, v in source["languages"].items()}
    assert languages["kuery"] == (792, 792)
    assert languages["lucene"] == (1, 1)
    assert languages["none"] == (106, 106)  # machine learning
    assert languages["eql"] == (1081, 1081) and languages["esql"] == (212, 212)
    assert source["languages"]["eql"]["active"] == 1024
    assert source["files_read"] == 2192 and source["rules_indexed"] == 2192
    assert source["rules_deprecated"] == 124


def test_a_deprecated_elastic_rule_is_left_out_of_counts_unless_asked(catalog):
    default = catalog.get_technique_coverage("T1548.001", limit=200)
    assert LUCENE_RULE not in {r.id for r in default.rules.get("elastic", [])}
    everything = catalog.get_technique_coverage(
        "T1548.001", filters=Filters(include_deprecated=True), limit=200)
    found = {r.id: r for r in everything.rules["elastic"]}
    assert found[LUCENE_RULE].deprecated
    assert everything.counts["elastic"].rules > default.counts["elastic"].rules


def test_a_machine_learning_rule_counts_for_its_technique(catalog):
    answer = catalog.get_technique_coverage(
        "T1071.004", filters=Filters(vendors=["elastic"]), limit=200)
    assert "elastic:91f02f01-969f-4167-8f66-07827ac3bdd9" in {
        r.id for r in answer.rules["elastic"]}


def test_image_process_name_and_process_name_reach_elastic_rules_alike(catalog):
    totals = {}
    for spelling in ("Image", "process.name", "process_name"):
        answer = catalog.find_rules_by_field(spelling, value="regsvr32.exe", limit=200)
        vendors = {r.vendor for r in answer.rules}
        assert vendors >= {"sigma", "elastic"}, spelling
        assert "process.name" in answer.fields_matched
        totals[spelling] = answer.total
    assert len(set(totals.values())) == 1


def test_rules_by_field_counts_each_vendor_and_says_where_the_others_begin(catalog):
    answer = catalog.find_rules_by_field("Image", value="regsvr32")
    # Checked in the catalog: 115 rules test the image for regsvr32, Sigma's first.
    assert answer.counts == {"sigma": 71, "elastic": 30, "splunk": 14} and answer.total == 115
    assert {r.vendor for r in answer.rules} == {"sigma"}
    assert answer.notes == ["More vendors on later pages: elastic from offset 71, splunk from "
                            "offset 101 (or pass vendors=[...] for one vendor's rules)."]
    last = catalog.find_rules_by_field("Image", value="regsvr32", offset=101)
    assert last.notes == [] and {r.vendor for r in last.rules} == {"splunk"}


def test_elastic_and_sigma_share_the_regsvr32_name_indicator(catalog):
    answer = catalog.find_rules_by_field("process.name", value="regsvr32.exe", exact=True,
                                         polarity="detect", limit=200)
    by_vendor: dict[str, set[str]] = {}
    for rule in answer.rules:
        for pred in rule.predicates:
            by_vendor.setdefault(rule.vendor, set()).add(pred.indicator or "")
    assert "process.name eq regsvr32.exe" in by_vendor["elastic"]
    assert "process.name eq regsvr32.exe" in by_vendor["sigma"]


def test_get_rule_shows_an_elastic_rules_tests_and_events(catalog):
    detail = catalog.get_rule("elastic:3a86e085-094c-412d-97ff-2439731e59cb")
    assert (detail.language, detail.rule_type, detail.parsed) == ("lucene", "query", True)
    assert [(p.field, p.operator, p.value) for p in detail.exclusions] == [
        ("user.name", "eq", "root")]
    assert ("process.args", "regex_match", "2[0-9]{3}") in {
        (p.field, p.operator, p.value) for p in detail.detection}
    assert ("Elastic Defend", 1) in {(e.provider, e.event_id) for e in detail.events}
