"""The Elastic reader: TOML files to rules and rejections, one file at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.readers import elastic, reader_for
from rulecat.index.readers.elastic import elastic_rule_files, read_elastic_file

FILES = Path(__file__).parent / "files" / "elastic"


def read(rel: str, source: str = "acme"):
    return read_elastic_file(source, FILES, FILES / rel)


def only_rule(rel: str, source: str = "acme"):
    rules, rejections = read(rel, source)
    assert rejections == []
    (rule,) = rules
    return rule


# --- files ---------------------------------------------------------------------------------


def test_the_elastic_vendor_has_a_registered_reader():
    assert reader_for("elastic") is elastic


def test_rule_files_are_the_toml_files_under_the_two_rule_folders():
    found = [p.relative_to(FILES).as_posix() for p in elastic_rule_files(FILES)]
    assert "hunting/not_read.toml" not in found
    assert found == sorted(found)
    assert {f.split("/")[0] for f in found} == {"rules", "rules_building_block"}
    assert "rules_building_block/bb_eql.toml" in found
    assert "rules/_deprecated/old_by_folder.toml" in found


def test_a_folder_without_rule_folders_is_read_whole(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.toml").write_text("[rule]\n")
    (tmp_path / "notes.md").write_text("x")
    assert elastic_rule_files(tmp_path) == [tmp_path / "mine" / "a.toml"]


def test_a_missing_root_has_no_rule_files(tmp_path):
    assert elastic_rule_files(tmp_path / "absent") == []


# --- rejections ----------------------------------------------------------------------------


@pytest.mark.parametrize(("rel", "line", "reason"), [
    ("rules/windows/malformed.toml", 5, "malformed TOML: Illegal character"),
    ("rules/windows/not_a_rule.toml", None, "no [rule] table: not an Elastic rule"),
    ("rules/windows/no_rule_id.toml", None, "[rule] has no rule_id"),
    ("rules/windows/latin1.toml", 2, "not UTF-8 text: invalid byte 0xe9"),
])
def test_a_file_that_is_not_an_elastic_rule_is_rejected_with_where_and_why(rel, line, reason):
    rules, rejections = read(rel)
    assert rules == []
    (rejection,) = rejections
    assert (rejection.source, rejection.path, rejection.line) == ("acme", rel, line)
    assert rejection.reason.startswith(reason)


def test_a_binary_file_is_rejected(tmp_path):
    (tmp_path / "rules").mkdir()
    path = tmp_path / "rules" / "x.toml"
    path.write_bytes(b"[rule]\x00\x01")
    rules, (rejection,) = read_elastic_file("acme", tmp_path, path)
    assert rules == [] and "binary file" in rejection.reason


def test_wrong_shapes_inside_a_rule_are_rejected_not_raised(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[rule]\nrule_id = "r"\nname = "n"\ntype = "query"\nthreat = [1, 2]\n')
    rules, (rejection,) = read_elastic_file("acme", tmp_path, path)
    assert rules == [] and rejection.reason.startswith("unreadable rule metadata")


# --- records -------------------------------------------------------------------------------


def test_a_rule_record_has_the_rules_metadata():
    rule = only_rule("rules/windows/query_with_everything.toml")
    assert rule.id == "acme:00000000-0000-4000-8000-000000000001"
    assert (rule.vendor, rule.title, rule.level, rule.status) == (
        "elastic", "Regsvr32 Scriptlet Execution (test)", "medium", "production")
    assert rule.description.startswith("Hand-written rule exercising the reader")
    assert rule.author == "Elastic, Jane Doe"
    assert (rule.date, rule.modified) == ("2024-01-02", "2025-03-04")
    assert rule.references == ["https://example.com/a", "https://example.com/b"]
    assert rule.falsepositives == ["Admins running regsvr32 by hand."]
    assert rule.data_sources == ["Elastic Defend", "Sysmon"]
    assert rule.indices == ["logs-endpoint.events.process-*", "winlogbeat-*"]
    assert (rule.language, rule.rule_type) == ("kuery", "query")
    assert rule.extra == {"risk_score": 47, "building_block": False,
                          "integrations": ["endpoint", "windows"]}
    assert rule.raw.startswith("[metadata]\ncreation_date")


def test_a_url_is_given_only_for_the_public_elastic_source():
    assert only_rule("rules/windows/query_with_everything.toml").url is None
    assert only_rule("rules/windows/query_with_everything.toml", "elastic").url == (
        "https://github.com/elastic/detection-rules/blob/main/"
        "rules/windows/query_with_everything.toml")


def test_listed_sub_techniques_are_tagged_and_a_bare_technique_tags_itself():
    rule = only_rule("rules/windows/query_with_everything.toml")
    assert rule.techniques == ["T1218.010", "T1036"]


def test_tactics_become_attack_short_names_even_without_techniques():
    rule = only_rule("rules/windows/query_with_everything.toml")
    assert rule.tactics == ["defense-evasion", "command-and-control"]


def test_a_rule_under_deprecated_is_deprecated_whatever_its_maturity():
    rule = only_rule("rules/_deprecated/old_by_folder.toml")
    assert rule.deprecated and rule.status == "production"


def test_a_building_block_rule_is_flagged_in_extra():
    rule = only_rule("rules_building_block/bb_eql.toml")
    assert rule.extra["building_block"] is True
    assert rule.extra["building_block_type"] == "default"


def test_the_query_and_enabled_filters_become_predicates():
    rule = only_rule("rules/windows/query_with_everything.toml")
    assert [(p.vendor_field, p.operator, p.value, p.polarity, p.selection, p.case_sensitive)
            for p in rule.predicates] == [
        ("event.category", "eq", "process", "detect", None, False),
        ("event.type", "eq", "start", "detect", None, False),
        ("process.name", "eq", "regsvr32.exe", "detect", None, False),
        ("process.args", "wildcard", "*scrobj*", "detect", None, False),
        ("process.args", "eq", "/i:http*", "detect", None, False),
        ("process.parent.name", "eq", "msiexec.exe", "exclude", None, False),
        ("process.executable", "wildcard", "?:\\Program Files\\*", "exclude", "filters", False),
    ]


# --- rules kept unparsed -------------------------------------------------------------------


def test_a_query_that_does_not_parse_keeps_the_rule_unparsed_with_the_reason():
    rule = only_rule("rules/windows/bad_query.toml")
    assert not rule.parsed and rule.predicates == []
    assert rule.unparsed_reason.startswith("KQL syntax error at line 1")
    assert rule.techniques == ["T1059"] and rule.tactics == ["execution"]


def test_a_filter_rulecat_cannot_read_leaves_the_rule_unparsed():
    rule = only_rule("rules/windows/unknown_filter.toml")
    assert not rule.parsed and rule.unparsed_reason == "filter of type 'range' not read"


def test_a_query_language_without_a_parser_leaves_the_rule_unparsed():
    rule = only_rule("rules/windows/other_language.toml")
    assert not rule.parsed and rule.unparsed_reason == "no parser for query language 'sql'"


def test_a_missing_parser_module_leaves_the_rule_unparsed_as_not_available(monkeypatch):
    monkeypatch.setitem(elastic.PARSERS, "eql", ("no_such_parser", "parse_eql", "EQL"))
    rule = only_rule("rules_building_block/bb_eql.toml")
    assert not rule.parsed
    assert rule.unparsed_reason.startswith("EQL parser not available yet (ModuleNotFoundError")


def test_a_parser_that_crashes_costs_one_rule_not_the_build(monkeypatch):
    def broken(text: str):
        raise ValueError("boom")

    monkeypatch.setattr(elastic, "_parser", lambda language: (broken, None))
    rule = only_rule("rules_building_block/bb_eql.toml")
    assert rule.unparsed_reason == "eql parser failed: ValueError: boom"


def test_an_eql_rule_maps_to_events_from_its_category_even_unparsed(monkeypatch):
    monkeypatch.setitem(elastic.PARSERS, "eql", ("no_such_parser", "parse_eql", "EQL"))
    rule = only_rule("rules_building_block/bb_eql.toml")
    assert [(e.provider, e.event_id) for e in rule.events] == [
        ("Elastic Defend", 5), ("Elastic Defend", 6), ("Elastic Defend", 7),
        ("Elastic Defend", 8)]


@pytest.mark.parametrize("body", [
    "threat = [1, 2]",
    "filters = [{meta = [1]}]",
    "filters = [{query = {wildcard = {f = 3}}}, 1]",
    "index = 3\ntags = {a = 1}\nauthor = 5",
])
def test_odd_shapes_inside_a_rule_never_raise(tmp_path, body):
    path = tmp_path / "x.toml"
    path.write_text(f'[rule]\nrule_id = "r"\nname = "n"\ntype = "query"\nlanguage = "kuery"\n'
                    f'query = "a : b"\n{body}\n')
    rules, rejections = read_elastic_file("acme", tmp_path, path)
    assert len(rules) + len(rejections) == 1
