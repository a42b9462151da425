"""The read API on the real Sigma corpus: values checked by hand against the rule files.

These use `sigma_catalog` (Sigma alone) so that pinned counts and corpus reach do not move
when other vendors are added to the full catalog.
"""

from __future__ import annotations

import pytest

from rulecat.index.answers import Filters
from rulecat.index.errors import InvalidArgument

CMSTP = "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"  # CMSTP Execution Process Access


def test_coverage_of_t1559_001_lists_the_four_sigma_rules_and_their_events(sigma_catalog):
    answer = sigma_catalog.get_technique_coverage("T1559.001")
    assert answer.technique.name == "Component Object Model"
    assert answer.technique.tactics == ["execution"]
    assert answer.counts["sigma"].rules == 4 and answer.counts["sigma"].via == {"exact": 4}
    assert [(r.title, r.level) for r in answer.rules["sigma"]] == [
        ("CMSTP Execution Process Access", "high"),
        ("DNS Query Request By Regsvr32.EXE", "medium"),
        ("Dllhost.EXE Initiated Network Connection To Non-Local IP Address", "medium"),
        ("Network Connection Initiated By Regsvr32.EXE", "medium"),
    ]
    assert [(e.provider, e.event_id, e.rules) for e in answer.events] == [
        ("Sysmon", 3, 2), ("Sysmon", 10, 1), ("Sysmon", 22, 1)]
    assert answer.events[0].title == "Network connection"


def test_threat_hunting_rule_is_listed_with_its_url(sigma_catalog):
    rows = sigma_catalog.get_technique_coverage("T1559.001").rules["sigma"]
    dllhost = next(r for r in rows if r.title.startswith("Dllhost.EXE"))
    assert dllhost.url == ("https://github.com/SigmaHQ/sigma/blob/master/rules-threat-hunting/"
                           "windows/network_connection/net_connection_win_dllhost_non_local_ip.yml")


def test_parent_technique_rolls_up_subtechnique_rules_unless_asked_not_to(sigma_catalog):
    rolled = sigma_catalog.get_technique_coverage("T1559")
    # Trickbot is tagged T1559 itself; DDE is tagged T1559.002; the four T1559.001 rules.
    assert rolled.counts["sigma"].via == {"exact": 1, "subtechnique": 5}
    assert rolled.rules["sigma"][0].title == "Trickbot Malware Activity"
    direct = sigma_catalog.get_technique_coverage("T1559", include_subtechniques=False)
    assert direct.counts["sigma"].rules == 1


def test_a_rule_tagged_only_with_the_parent_is_not_in_a_subtechnique_answer(sigma_catalog):
    titles = {r.title for r in sigma_catalog.get_technique_coverage("T1559.001").rules["sigma"]}
    assert "Trickbot Malware Activity" not in titles


def test_v18_id_lists_the_rules_tagged_with_its_v19_id_via_renamed(sigma_catalog):
    old = sigma_catalog.get_technique_coverage("T1070.001", limit=50)
    assert old.technique.flags == ["renamed_in_v19:T1685.005"]
    # 8 Sigma files carry attack.t1685.005 and none carries attack.t1070.001 (grep).
    assert old.counts["sigma"].rules == 8 and old.counts["sigma"].via == {"renamed": 8}
    assert "Security Eventlog Cleared" in {r.title for r in old.rules["sigma"]}


def test_v19_id_unknown_to_attack_18_1_is_kept_and_flagged(sigma_catalog):
    new = sigma_catalog.get_technique_coverage("T1685.005")
    assert new.technique.name == "Clear Windows Event Logs"
    assert new.technique.flags == ["unknown_to_loaded_attack", "renamed_from:T1070.001"]
    assert new.counts["sigma"].via == {"exact": 8}


def test_coverage_of_t1059_001_stays_under_16_kb_and_pages(sigma_catalog):
    first = sigma_catalog.get_technique_coverage("T1059.001")
    assert len(first.model_dump_json()) < 16_000
    assert first.total == first.counts["sigma"].rules > 200 and first.returned == 10
    assert first.next == {"technique_id": "T1059.001", "include_subtechniques": True,
                          "limit": 10, "offset": 10}
    second = sigma_catalog.get_technique_coverage(**first.next)
    ids = [r.id for r in first.rules["sigma"]] + [r.id for r in second.rules["sigma"]]
    assert len(set(ids)) == 20


def test_deprecated_filter_and_vendor_filter_are_checked(sigma_catalog):
    with pytest.raises(InvalidArgument, match="Valid vendors: sigma, elastic, splunk"):
        sigma_catalog.get_technique_coverage("T1059.001", filters=Filters(vendors=["qradar"]))
    with pytest.raises(InvalidArgument, match="Valid sources: sigma"):
        sigma_catalog.get_technique_coverage("T1059.001", filters=Filters(sources=["acme"]))


@pytest.mark.parametrize(("asked", "expected"), [
    ("T1559.009", "Nearest IDs: T1559, T1559.001, T1559.002, T1559.003"),
    ("T1059.1", "Nearest IDs: T1059"),
    ("powershell", "T1059.001 (PowerShell)"),
    ("", "expected T#### or T####.###"),
])
def test_a_bad_technique_id_names_the_nearest_ids(sigma_catalog, asked, expected):
    with pytest.raises(InvalidArgument, match=expected.replace(".", r"\.").replace("(", r"\(")
                       .replace(")", r"\)").replace("*", r"\*")):
        sigma_catalog.get_technique_coverage(asked)


def test_top_indicators_fold_image_endswith_into_process_name(sigma_catalog):
    answer = sigma_catalog.top_indicators("T1559.001")
    assert answer.rules_considered == 4
    fields = {f.field: f for f in answer.fields}
    assert fields["process.name"].rules == 3
    assert fields["process.name"].merged == ["process.executable"]
    assert fields["process.name"].vendor_fields == ["sigma:Image"]
    regsvr32 = next(i for i in answer.indicators if i.value == "regsvr32.exe")
    # 64 rules test Image|endswith '\regsvr32.exe' outside filters (checked with a YAML walk),
    # plus one SourceImage|endswith in create_remote_thread_win_susp_relevant_source_image.
    assert (regsvr32.field, regsvr32.operator, regsvr32.rules, regsvr32.corpus_reach) == \
        ("process.name", "eq", 2, 65)
    assert regsvr32.spellings == ["sigma:Image wildcard *\\regsvr32.exe"]
    assert not regsvr32.specific_to_technique


def test_exclusions_are_counted_apart_from_detections(sigma_catalog):
    answer = sigma_catalog.top_indicators("T1559.001", limit=50)
    excluded = {(i.field, i.operator, i.value) for i in answer.exclusions}
    # The dllhost hunting rule filters private ranges with |cidr.
    assert ("destination.ip", "cidr", "10.0.0.0/8") in excluded
    assert all(i.operator != "cidr" for i in answer.indicators)
    ten = next(i for i in answer.exclusions if i.value == "10.0.0.0/8")
    assert ten.exclusion_reach is not None and ten.exclusion_reach >= 1


def test_rules_by_field_accepts_every_vendors_spelling(sigma_catalog):
    for spelling in ("Image", "process.executable", "process.name", "process_name",
                     "Processes.process_path"):
        answer = sigma_catalog.find_rules_by_field(spelling, "regsvr32", limit=5)
        assert answer.fields_matched == ["process.executable", "process.name"], spelling
        assert answer.total >= 65


def test_rules_by_field_labels_each_predicate_and_filters_by_polarity(sigma_catalog):
    both = sigma_catalog.find_rules_by_field("Image", "\\rundll32.exe", limit=200)
    excluded = sigma_catalog.find_rules_by_field("Image", "\\rundll32.exe", polarity="exclude",
                                                 limit=200)
    assert {p.polarity for r in both.rules for p in r.predicates} == {"detect", "exclude"}
    assert {p.polarity for r in excluded.rules for p in r.predicates} == {"exclude"}
    assert excluded.total < both.total


def test_rules_by_field_exact_value_and_technique_filter(sigma_catalog):
    exact = sigma_catalog.find_rules_by_field("Image", "*\\regsvr32.exe", exact=True,
                                              technique="T1559.001")
    assert {r.title for r in exact.rules} == {"DNS Query Request By Regsvr32.EXE",
                                              "Network Connection Initiated By Regsvr32.EXE"}


def test_an_unknown_field_names_the_closest_fields(sigma_catalog):
    with pytest.raises(InvalidArgument, match="Closest fields: Image"):
        sigma_catalog.find_rules_by_field("Imgae")


def test_get_rule_splits_detection_from_exclusions(sigma_catalog):
    rule = sigma_catalog.get_rule(CMSTP)
    assert rule.rule.title == "CMSTP Execution Process Access"
    assert [t.id for t in rule.techniques] == ["T1218.003", "T1559.001"]
    assert [(e.provider, e.event_id) for e in rule.events] == [("Sysmon", 10)]
    assert [(p.vendor_field, p.operator, p.value) for p in rule.detection] == [
        ("CallTrace", "wildcard", "*cmlua.dll*")]
    assert rule.exclusions == [] and rule.raw is None
    assert "cmlua.dll" in (sigma_catalog.get_rule(CMSTP, include_raw=True).raw or "")


def test_get_rule_takes_a_bare_native_id_and_explains_a_miss(sigma_catalog):
    assert sigma_catalog.get_rule(CMSTP.split(":")[1]).rule.id == CMSTP
    with pytest.raises(InvalidArgument, match="Pass `<source>:<id>`"):
        sigma_catalog.get_rule("sigma:not-a-rule")


def test_catalog_info_reports_sources_counts_and_attack_version(sigma_catalog):
    info = sigma_catalog.catalog_info()
    assert info.attack_version == "18.1"
    assert [(s.name, s.files, s.rules) for s in info.sources] == [("sigma", 3780, 3780)]
    assert info.rules == 3780 and info.predicates == 46274
    assert info.report.files_seen == 3784 and info.report.files_skipped == 4
    assert info.report.adds_up
    assert "T1685.005 (8 rules)" in info.report.unknown_techniques


@pytest.mark.parametrize("limit", [0, -1, 201, 10**9])
def test_absurd_limits_are_refused_with_the_valid_range(sigma_catalog, limit):
    with pytest.raises(InvalidArgument, match="between 1 and 200"):
        sigma_catalog.get_technique_coverage("T1059.001", limit=limit)


def test_commandline_means_the_process_command_line_not_a_powershell_field(sigma_catalog):
    # Regression: several fields share the spelling; the registry's reading wins.
    answer = sigma_catalog.find_rules_by_field("CommandLine", "-EncodedCommand")
    assert answer.field == "process.command_line" and answer.total > 0
    assert "sigma:CommandLine" in answer.aliases


def test_rules_by_field_pages_in_rule_order_without_gaps(sigma_catalog):
    first = sigma_catalog.find_rules_by_field("Image", limit=50)
    second = sigma_catalog.find_rules_by_field(**{**first.next, "field": "Image"})
    ids = [r.id for r in first.rules + second.rules]
    assert len(set(ids)) == 100 and first.total > 1000
    assert [r.level for r in first.rules[:3]] == ["critical"] * 3


def test_vendor_names_are_accepted_in_any_case(sigma_catalog):
    answer = sigma_catalog.get_technique_coverage("T1559.001", filters=Filters(vendors=["Sigma"]))
    assert answer.counts["sigma"].rules == 4 and answer.filters.vendors == ["sigma"]


def test_every_vendor_is_on_the_first_page_and_pages_go_on_per_vendor(catalog):
    """T1003.001 (LSASS Memory): 79 Sigma, 23 Elastic and 10 Splunk rules; a page holds up
    to `limit` of each vendor's, from `offset` of each."""
    first = catalog.get_technique_coverage("T1003.001")
    counts = {vendor: c.rules for vendor, c in first.counts.items()}
    assert counts == {"sigma": 79, "elastic": 23, "splunk": 10} and first.total == 112
    assert {v: len(rows) for v, rows in first.rules.items()} == {
        "sigma": 10, "elastic": 10, "splunk": 10}
    assert first.returned == 30 and first.next is not None and first.next["offset"] == 10
    assert first.rules["splunk"][0].title == "Access LSASS Memory for Dump Creation"
    third = catalog.get_technique_coverage(**{**first.next, "offset": 20})
    assert {v: len(rows) for v, rows in third.rules.items()} == {"sigma": 10, "elastic": 3}
    last = catalog.get_technique_coverage("T1003.001", limit=20, offset=60)
    assert {v: len(rows) for v, rows in last.rules.items()} == {"sigma": 19}
    assert last.next is None
    past = catalog.get_technique_coverage("T1003.001", offset=80)
    assert past.returned == 0 and "offset 80 is past the end (79); use offset 0." in past.notes


def test_three_vendor_coverage_of_t1059_001_stays_under_16_kb(catalog):
    answer = catalog.get_technique_coverage("T1059.001")
    assert answer.returned == 30 and len(answer.model_dump_json()) < 16_000


def test_rules_by_field_tests_carry_the_reach_get_rule_gives(catalog):
    """Corpus reach is always an integer where a test is an indicator, in every answer."""
    answer = catalog.find_rules_by_field("Image", value="regsvr32", limit=5)
    for match in answer.rules:
        rule = catalog.get_rule(match.id)
        shown = {(p.selection, p.vendor_field, p.value): p
                 for p in rule.detection + rule.exclusions}
        for p in match.predicates:
            assert isinstance(p.corpus_reach, int)
            assert p.corpus_reach == shown[(p.selection, p.vendor_field, p.value)].corpus_reach
    excluded = catalog.find_rules_by_field("user.id", value="S-1-5-18", polarity="exclude",
                                           exact=True, limit=1)
    assert all(isinstance(p.exclusion_reach, int) and p.exclusion_reach > 0
               for m in excluded.rules for p in m.predicates)


def test_coverage_events_say_which_vendors_rules_rely_on_them(catalog):
    """T1559.001 across vendors: Sysmon 3 by the two Sigma network-connection rules and three
    Elastic DCOM ones; Sysmon 10 by Sigma's CMSTP rule; Sysmon 11 by Splunk's DynamicWrapperX
    detection; per-vendor counts add up to the event's."""
    events = {(e.provider, e.event_id): e
              for e in catalog.get_technique_coverage("T1559.001").events}
    assert events[("Sysmon", 3)].vendors == {"sigma": 2, "elastic": 3}
    assert events[("Sysmon", 10)].vendors == {"sigma": 1}
    assert events[("Sysmon", 11)].vendors == {"splunk": 1}
    assert events[("Sysmon", 1)].vendors == {"elastic": 8, "splunk": 1}
    assert all(sum(e.vendors.values()) == e.rules for e in events.values())


def test_a_bare_group_name_says_which_field_it_was_read_as(catalog):
    # Splunk CIM's `process` is the command line; in ECS `process` is a group of fields.
    answer = catalog.find_rules_by_field("process", limit=1)
    assert answer.field == "process.command_line"
    (note,) = [n for n in answer.notes if "was read as" in n]
    assert note.startswith("'process' was read as process.command_line")
    assert "process.name" in note or "process.executable" in note
    # A vendor's own name for one field gets no such note.
    assert not any("was read as" in n
                   for n in catalog.find_rules_by_field("Image", limit=1).notes)
