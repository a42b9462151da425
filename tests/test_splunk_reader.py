"""The Splunk reader on a small hand-written repository, and end to end on the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.models import RuleRecord
from rulecat.index.normalize.events import EventCatalog
from rulecat.index.readers import reader_for, splunk
from rulecat.index.readers.splunk import (
    ALL_EVENTS,
    OTHER_PROVIDER,
    DataSourceCatalog,
    stable_event_id,
)

FIXTURE = Path(__file__).parent / "files" / "splunk"


def read_fixture(rel: str, source: str = "acme") -> RuleRecord:
    rules, rejections = splunk.read_file(source, FIXTURE, FIXTURE / rel)
    assert rejections == []
    return rules[0]


def test_splunk_is_a_registered_reader():
    assert reader_for("splunk") is splunk


def test_rule_files_are_the_detections_only():
    names = [p.relative_to(FIXTURE).as_posix() for p in splunk.rule_files(FIXTURE)]
    assert names == [
        "detections/cloud/duplicate_key.yml",
        "detections/cloud/unparsable.yml",
        "detections/deprecated/old_detection.yml",
        "detections/endpoint/certutil_with_macros.yml",
        "detections/endpoint/missing_macro.yml",
    ]


def test_macros_with_arguments_expand_before_parsing():
    rule = read_fixture("detections/endpoint/certutil_with_macros.yml")
    assert [(p.vendor_field, p.operator, p.value, p.polarity, p.case_sensitive)
            for p in rule.predicates] == [
        ("Processes.process_name", "eq", "certutil.exe", "detect", False),
        ("Processes.original_file_name", "eq", "certutil.exe", "detect", False),
        ("Processes.process", "wildcard", "*decode*", "detect", False),
        ("Processes.process", "wildcard", "*-f*", "exclude", True),
    ]
    assert rule.extra["macros"] == ["security_content_summariesonly", "process_is(1)",
                                    "drop_dm_object_name(1)"]
    assert rule.extra["unresolved_macros"] == []  # the `_filter` macro is not missing
    assert rule.extra["expanded_search"].endswith('where NOT like(process, "%-f%") | ')


def test_metadata_stories_and_tags():
    rule = read_fixture("detections/endpoint/certutil_with_macros.yml")
    assert (rule.id, rule.title, rule.rule_type, rule.status, rule.author) == (
        "acme:11111111-1111-4111-8111-111111111111", "Certutil With Macros", "TTP",
        "production", "Fixture Author")
    assert (rule.date, rule.modified, rule.level, rule.url) == (
        "2024-01-02", "2024-01-02", None, None)
    assert (rule.language, rule.falsepositives, rule.references) == (
        "spl", ["Administrators."], ["https://example.com/certutil"])
    assert rule.techniques == ["T1140"]
    assert rule.malformed_tags == ["mitre_attack_id:not-a-technique"]
    assert rule.extra["stories"] == [
        {"name": "Fixture Story",
         "description": "Every detection of the fixture repository belongs to this story."},
        {"name": "Story Nobody Wrote"},
    ]
    assert rule.extra["risk_score"] == 42
    assert rule.extra["how_to_implement"] == "Ingest process events."
    assert "analytic_story:Fixture Story" in rule.tags
    assert rule.indices == ["Endpoint.Processes"]
    assert rule.grouping_fields == ["Processes.dest", "Processes.process"]


def test_compound_and_other_products_data_sources_become_events():
    rule = read_fixture("detections/endpoint/certutil_with_macros.yml")
    assert [(e.provider, e.event_id, e.title, e.origin) for e in rule.events] == [
        ("Sysmon", 1, None, "data_source"),
        ("Acme EDR", stable_event_id("Acme EDR", "ProcessStart"), "ProcessStart",
         "data_source"),
        (OTHER_PROVIDER, stable_event_id(OTHER_PROVIDER, "Unknown Product Log"),
         "Unknown Product Log", "data_source"),
    ]


def test_a_missing_macro_and_a_macro_cycle_are_reported_and_the_rest_is_read():
    rule = read_fixture("detections/endpoint/missing_macro.yml")
    assert rule.extra["unresolved_macros"] == ["not_defined_anywhere",
                                              "loop_a (nested deeper than 12)"]
    assert rule.parsed is False
    assert rule.unparsed_reason == ("unresolved macro(s): not_defined_anywhere, "
                                    "loop_a (nested deeper than 12)")
    assert rule.predicates[:2] == [p for p in rule.predicates[:2]
                                   if p.vendor_field in ("EventCode", "Image")]
    assert [(p.vendor_field, p.value) for p in rule.predicates[:3]] == [
        ("EventCode", "1"), ("Image", r"*\cmd.exe"), ("x", "1")]


def test_deprecated_folder_flags_the_detection_and_eventcode_names_its_event():
    rule = read_fixture("detections/deprecated/old_detection.yml")
    assert rule.deprecated is True and rule.parsed is True
    assert [(e.provider, e.event_id, e.origin) for e in rule.events] == [
        ("Sysmon", 11, "predicate")]


def test_an_unknown_command_keeps_the_rule_unparsed_with_its_raw_text():
    rule = read_fixture("detections/cloud/unparsable.yml")
    assert (rule.parsed, rule.unparsed_reason) == (False, "unsupported command `frobnicate`")
    assert rule.predicates == [] and "frobnicate" in rule.raw


def test_a_duplicate_key_is_a_rejection_with_its_line():
    rules, rejections = splunk.read_file("acme", FIXTURE,
                                         FIXTURE / "detections/cloud/duplicate_key.yml")
    assert rules == []
    assert [(r.path, r.line, r.reason) for r in rejections] == [
        ("detections/cloud/duplicate_key.yml", 4,
         "duplicate key 'search' on line 4 (first on line 3)")]


def test_non_detection_yaml_is_rejected_not_raised(tmp_path):
    (tmp_path / "detections").mkdir()
    for name, text in {"list.yml": "- a\n", "bad.yml": "a: [\n", "nosearch.yml": "name: x\n",
                       "binary.yml": "\udcff"}.items():
        (tmp_path / "detections" / name).write_text(text, errors="surrogateescape")
    reasons = {}
    for path in splunk.rule_files(tmp_path):
        rules, rejections = splunk.read_file("acme", tmp_path, path)
        assert rules == [] and len(rejections) == 1
        reasons[path.name] = rejections[0].reason.split(":")[0]
    assert reasons == {"binary.yml": "not UTF-8 text", "bad.yml": "malformed YAML",
                       "list.yml": "not one YAML mapping", "nosearch.yml": "no search"}


def test_source_summary_counts_parse_rates_and_unresolved_macros():
    rules = [r for p in splunk.rule_files(FIXTURE)
             for r in splunk.read_file("acme", FIXTURE, p)[0]]
    summary = splunk.source_summary(FIXTURE, rules).as_dict()
    assert (summary["rules"], summary["parsed"]) == (4, 2)
    assert (summary["not_deprecated"], summary["not_deprecated_parsed"]) == (3, 1)
    assert summary["unresolved_macros"] == {"not_defined_anywhere": 1,
                                            "loop_a (nested deeper than 12)": 1}


# --------------------------------------------------------------------------- data sources


def test_data_source_names_map_to_providers_and_stable_ids():
    catalog = DataSourceCatalog([
        {"name": "AWS CloudTrail", "sourcetype": "aws:cloudtrail", "separator": "eventName"},
        {"name": "AWS CloudTrail ConsoleLogin", "sourcetype": "aws:cloudtrail",
         "separator": "eventName"},
        {"name": "Okta", "sourcetype": "OktaIM2:log"},
    ], EventCatalog.load())

    def events(name: str) -> list[tuple[str, int, str | None]]:
        return [(e.provider, e.event_id, e.title) for e in catalog.events_for(name)]

    assert events("Windows Event Log Security 4688") == [("Security", 4688, None)]
    assert events("Sysmon for Linux EventID 1") == [
        ("Sysmon for Linux", 1, "Sysmon for Linux EventID 1")]
    assert events("AWS CloudTrail ConsoleLogin") == [
        ("AWS CloudTrail", stable_event_id("AWS CloudTrail", "ConsoleLogin"), "ConsoleLogin")]
    assert events("AWS CloudTrail GetObject")[0][:1] == ("AWS CloudTrail",)
    assert events("AWS CloudTrail")[0][2] == ALL_EVENTS
    assert events("Okta")[0][::2] == ("Okta", ALL_EVENTS)
    assert events("Something Else")[0][::2] == (OTHER_PROVIDER, "Something Else")
    assert stable_event_id("AWS CloudTrail", "ConsoleLogin") == 1913659513


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def catalog_api(catalog_path: Path):
    from rulecat.index.api import Catalog

    cat = Catalog(catalog_path)
    yield cat
    cat.close()


def test_t1559_001_has_one_splunk_detection_relying_on_sysmon_1_and_11(catalog_api):
    from rulecat.index.answers import Filters

    answer = catalog_api.get_technique_coverage(
        "T1559.001", filters=Filters(vendors=["splunk"]), limit=50)
    assert answer.counts["splunk"].rules == 1
    [row] = answer.rules["splunk"]
    assert (row.id, row.title) == ("splunk:b0a078e4-2601-11ec-9aec-acde48001122",
                                   "Process Writing DynamicWrapperX")
    assert [(e.provider, e.event_id, e.title) for e in answer.events] == [
        ("Sysmon", 1, "Process creation"), ("Sysmon", 11, "FileCreate")]


def test_get_rule_of_a_splunk_detection_shows_its_predicates(catalog_api):
    detail = catalog_api.get_rule("splunk:b0a078e4-2601-11ec-9aec-acde48001122")
    assert [(p.vendor_field, p.field, p.operator, p.value) for p in detail.detection] == [
        ("Filesystem.file_name", "file.name", "eq", "dynwrapx.dll")]
    assert [(e.provider, e.event_id) for e in detail.events] == [("Sysmon", 1), ("Sysmon", 11)]


def test_top_indicators_merge_splunk_process_name_with_sigma_and_elastic(catalog_api):
    answer = catalog_api.top_indicators("T1218.010", limit=15)
    row = next(f for f in answer.fields if f.field == "process.name")
    assert {"splunk:Processes.process_name", "sigma:Image", "elastic:process.name"} <= set(
        row.vendor_fields)
    assert any((i.field, i.operator, i.value) == ("process.name", "eq", "regsvr32.exe")
               for i in answer.indicators)


def test_splunk_process_name_shares_the_sigma_and_elastic_indicator(catalog_path):
    import sqlite3

    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    vendors = dict(conn.execute(
        "SELECT r.vendor, COUNT(DISTINCT r.rowid) FROM predicates p JOIN rules r "
        "ON r.rowid = p.rule WHERE p.ind_field = 'process.name' AND p.ind_operator = 'eq' "
        "AND p.ind_value = 'regsvr32.exe' AND p.polarity = 'detect' GROUP BY r.vendor"))
    splunk_spelling = conn.execute(
        "SELECT DISTINCT p.vendor_field, p.value FROM predicates p JOIN rules r "
        "ON r.rowid = p.rule WHERE r.vendor = 'splunk' AND p.ind_value = 'regsvr32.exe' "
        "AND p.ind_field = 'process.name'").fetchall()
    conn.close()
    assert set(vendors) == {"sigma", "elastic", "splunk"}
    assert ("Processes.process_name", "regsvr32.exe") in splunk_spelling


def test_build_report_counts_splunk_files_and_parse_rate(catalog_path):
    import json
    import sqlite3

    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    report = json.loads(conn.execute("SELECT value FROM meta WHERE key='report'").fetchone()[0])
    conn.close()
    [src] = [s for s in report["sources"] if s["name"] == "splunk"]
    assert (src["files_read"], src["rules_indexed"], src["rules_unparsed"]) == (1711, 1711, 2)
    assert src["files_seen"] == src["files_read"] + src["files_skipped"]
    assert src["languages"]["spl"] == {"rules": 1711, "parsed": 1709, "active": 1613,
                                       "active_parsed": 1613}
    assert src["details"]["unresolved_macros"] == {}
