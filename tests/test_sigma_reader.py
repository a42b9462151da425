"""The Sigma reader: files to rules and rejections, one file at a time."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from rulecat.index.errors import RuleFileError, RulecatError
from rulecat.index.readers import reader_for
from rulecat.index.readers.sigma import (
    SIGMA_RULE_FOLDERS,
    read_sigma_file,
    sigma_rule_files,
)
from rulecat.index.readers.yamlsafe import DuplicateKeyError, load_yaml_documents

FILES = Path(__file__).parent / "files"
GOOD = FILES / "sigma"
BAD = FILES / "sigma_bad"


def _read(root: Path, rel: str, source: str = "acme"):
    return read_sigma_file(source, root, root / rel)


# --- YAML loading -------------------------------------------------------------------------


def test_yaml_loader_rejects_a_duplicate_key_naming_it_and_its_line():
    with pytest.raises(DuplicateKeyError) as info:
        load_yaml_documents("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert info.value.key == "c"
    assert info.value.line == 4
    assert info.value.first_line == 3
    assert "duplicate key 'c'" in str(info.value)
    assert isinstance(info.value, yaml.YAMLError)


def test_yaml_loader_allows_merge_keys_to_be_overridden():
    assert load_yaml_documents("x: &a {p: 1, q: 2}\ny:\n  <<: *a\n  p: 3\n") == [
        {"x": {"p": 1, "q": 2}, "y": {"p": 3, "q": 2}}
    ]


def test_yaml_loader_returns_every_document():
    assert load_yaml_documents("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]


def test_yaml_loader_is_the_c_safe_loader():
    from rulecat.index.readers.yamlsafe import StrictSafeLoader

    assert issubclass(StrictSafeLoader, yaml.CSafeLoader)
    with pytest.raises(yaml.YAMLError):
        load_yaml_documents("a: !!python/object:os.system ls\n")


def test_rule_file_error_carries_path_line_and_reason():
    err = RuleFileError("rules/x.yml", "bad", line=3)
    assert isinstance(err, RulecatError)
    assert (err.path, err.line, err.reason) == ("rules/x.yml", 3, "bad")
    assert str(err) == "rules/x.yml:3: bad"


# --- which files are read -----------------------------------------------------------------


def test_rule_files_come_from_rules_folders_only_sorted():
    paths = sigma_rule_files(BAD)
    assert paths == sorted(paths)
    files = [p.relative_to(BAD).as_posix() for p in paths]
    assert "rules-extra/good_two.yaml" in files
    assert "rules/windows/good_one.yml" in files
    assert not any(f.startswith("tests/") for f in files)
    assert not any(f.endswith(".md") for f in files)
    assert len(files) == 10


def test_a_root_without_rules_folders_is_read_whole():
    files = sigma_rule_files(GOOD)
    assert len(files) == len(list(GOOD.glob("*.yml")))


def test_sigmahq_rule_folders_are_named():
    assert SIGMA_RULE_FOLDERS == (
        "rules",
        "rules-threat-hunting",
        "rules-emerging-threats",
        "rules-placeholder",
        "rules-compliance",
    )


def test_the_reader_registry_serves_this_module():
    reader = reader_for("sigma")
    assert reader.rule_files is sigma_rule_files
    assert reader.read_file is read_sigma_file


# --- bad input becomes rejections ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "line", "reason"),
    [
        ("rules/windows/malformed.yml", 8, "malformed YAML"),
        ("rules/windows/duplicate_key.yml", 8, "duplicate key 'selection' on line 8"),
        ("rules/windows/binary.yml", None, "binary file"),
        ("rules/windows/latin1.yml", 3, "not UTF-8"),
        ("rules/windows/no_detection.yml", 1, "no `detection` section"),
        ("rules/windows/top_level_list.yml", 1, "not a mapping (found a YAML list)"),
        ("rules/windows/unknown_modifier.yml", 6, "Unknown modifier 'endswithh'"),
        ("rules/windows/empty.yml", None, "empty file"),
    ],
)
def test_bad_file_becomes_one_rejection_with_path_line_and_reason(rel, line, reason):
    rules, rejections = _read(BAD, rel)
    assert rules == []
    assert len(rejections) == 1
    rejection = rejections[0]
    assert rejection.source == "acme"
    assert rejection.path == rel
    assert rejection.line == line
    assert reason in rejection.reason


def test_good_rules_beside_bad_ones_still_read():
    rules, rejections = [], []
    for path in sigma_rule_files(BAD):
        r, j = read_sigma_file("acme", BAD, path)
        rules += r
        rejections += j
    assert sorted(r.native_id for r in rules) == [
        "7c0d4a2e-9b61-4f0e-8d7a-000000000001",
        "7c0d4a2e-9b61-4f0e-8d7a-000000000002",
    ]
    assert len(rejections) == 8


def test_a_missing_file_is_a_rejection_not_an_exception(tmp_path):
    rules, rejections = read_sigma_file("acme", tmp_path, tmp_path / "rules" / "gone.yml")
    assert rules == []
    assert rejections[0].path == "rules/gone.yml"
    assert "cannot read file" in rejections[0].reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("action: global\ntitle: x\n---\naction: reset\n", "no rule in file"),
        ("action: bogus\ntitle: x\n", "unknown Sigma collection action 'bogus'"),
        ("title: f\nlogsource: {product: windows}\nfilter: {rules: [x]}\n", "meta filter"),
        ("title: x\nlogsource: {product: windows}\n"
         "detection: {sel: {A|cidr: '300.0.0.0/8'}, condition: sel}\n", "Invalid CIDR"),
    ],
)
def test_documents_that_are_not_rules_are_rejected(tmp_path, text, reason):
    (tmp_path / "x.yml").write_text(text)
    rules, rejections = read_sigma_file("acme", tmp_path, tmp_path / "x.yml")
    assert rules == []
    assert [r.path for r in rejections] == ["x.yml"]
    assert reason in rejections[0].reason


def test_a_pysigma_error_points_at_the_line_of_the_key_it_is_about(tmp_path):
    (tmp_path / "x.yml").write_text(
        "title: ok\nid: not-a-uuid\nlogsource: {product: windows}\n"
        "detection: {sel: {A: 1}, condition: sel}\n"
        "---\ntitle: two\nlogsource: {product: windows}\n"
        "detection: {sel: {A: 1}, condition: sel}\nlevel: severe\n"
    )
    rules, rejections = read_sigma_file("acme", tmp_path, tmp_path / "x.yml")
    assert rules == []
    assert [(r.line, r.reason.split(":")[0]) for r in rejections] == [
        (2, "document 1"), (9, "document 2")]
    assert "UUID" in rejections[0].reason and "level" in rejections[1].reason


def test_one_bad_document_in_a_multi_document_file_costs_only_that_document(tmp_path):
    (tmp_path / "x.yml").write_text(
        "title: ok\nlogsource: {product: windows}\ndetection: {sel: {A: 1}, condition: sel}\n"
        "---\n- a list\n"
    )
    rules, rejections = read_sigma_file("acme", tmp_path, tmp_path / "x.yml")
    assert [r.title for r in rules] == ["ok"]
    assert rules[0].raw == (
        "title: ok\nlogsource: {product: windows}\ndetection: {sel: {A: 1}, condition: sel}\n"
    )
    assert [(r.line, r.reason) for r in rejections] == [
        (5, "document 2: not a mapping (found a YAML list)")
    ]


def test_an_undefined_condition_identifier_keeps_the_rule_unparsed():
    rules, rejections = _read(GOOD, "unparsed_condition.yml")
    assert rejections == []
    (rule,) = rules
    assert rule.parsed is False
    assert rule.predicates == []
    assert "filter" in rule.unparsed_reason
    assert rule.raw.startswith("title: Condition names an undefined selection")


# --- metadata -----------------------------------------------------------------------------


def test_metadata_maps_to_the_rule_record():
    (rule,) = _read(GOOD, "metadata.yml")[0]
    assert rule.id == "acme:5b1a6d0e-1f0a-4d7a-9a51-000000000501"
    assert rule.vendor == "sigma"
    assert rule.language == "sigma"
    assert rule.rule_type == "detection"
    assert rule.title == "Full metadata"
    assert rule.description == "Several lines\nof description.\n"
    assert (rule.status, rule.level, rule.deprecated) == ("deprecated", "critical", True)
    assert rule.author == "Someone, Someone Else"
    assert rule.license == "MIT"
    assert (rule.date, rule.modified) == ("2023-01-31", "2024-02-29")
    assert rule.references == ["https://example.org/a"]
    assert rule.falsepositives == ["Admin scripts"]
    assert rule.logsource.model_dump() == {
        "product": "windows", "category": "process_creation", "service": None
    }
    assert rule.path == "metadata.yml"
    assert rule.url is None  # only the `sigma` source links to SigmaHQ
    assert rule.raw == (GOOD / "metadata.yml").read_text()


def test_tags_split_into_techniques_tactics_and_malformed_ones():
    (rule,) = _read(GOOD, "metadata.yml")[0]
    assert rule.tags[:4] == ["attack.defense-evasion", "attack.stealth", "attack.t1218.010",
                             "attack.T1059"]
    assert len(rule.tags) == 11
    assert rule.techniques == ["T1218.010", "T1059"]
    assert rule.tactics == ["defense-evasion", "stealth"]  # not g0032, s0154, ds0005
    assert rule.malformed_tags == ["attack.t1059.1", "attack.t105"]


def test_a_rule_without_id_gets_a_stable_path_id():
    first = _read(GOOD, "no_id.yml")[0][0]
    again = _read(GOOD, "no_id.yml")[0][0]
    assert first.native_id == again.native_id == "path:no_id.yml#1"
    assert first.id == "acme:path:no_id.yml#1"


def test_the_sigma_source_links_to_sigmahq(sigma_corpus):
    rel = "rules/windows/dns_query/dns_query_win_regsvr32_dns_query.yml"
    (rule,) = _read(sigma_corpus, rel, source="sigma")[0]
    assert rule.url == f"https://github.com/SigmaHQ/sigma/blob/master/{rel}"
    assert rule.path == rel
    assert rule.techniques == ["T1559.001", "T1218.010"]
    assert rule.native_id == "36e037c4-c228-4866-b6a3-48eb292b9955"
    assert (_read(sigma_corpus, rel, source="mirror")[0][0]).url is None


# --- multi-document files -----------------------------------------------------------------


def test_global_action_is_merged_into_every_following_document():
    rules, rejections = _read(GOOD, "collection_global.yml")
    assert rejections == []
    first, second = rules
    assert first.native_id == "5b1a6d0e-1f0a-4d7a-9a51-000000000101"
    assert first.title == "Mimikatz command line"
    assert first.level == "high"
    assert first.techniques == ["T1003.001"]
    assert first.logsource.category == "process_creation"
    assert [(p.vendor_field, p.value) for p in first.predicates] == [
        ("CommandLine", "*sekurlsa::*")
    ]
    assert second.title == "Mimikatz command line (Security 4688)"  # document wins
    assert (second.logsource.product, second.logsource.service) == ("windows", "security")
    assert sorted((p.vendor_field, p.value) for p in second.predicates) == [
        ("CommandLine", "*sekurlsa::*"),
        ("EventID", "4688"),
    ]
    # raw = the template's text, then the document's own text
    assert "action: global" in second.raw and "EventID: 4688" in second.raw
    assert "category: process_creation" not in second.raw


def test_reset_drops_the_template_and_repeat_reuses_the_previous_document():
    rules, rejections = _read(GOOD, "collection_reset_repeat.yml")
    assert rejections == []
    first, repeated, after_reset = rules
    assert [p.value for p in first.predicates] == ["*\\first.exe"]
    assert repeated.native_id == "5b1a6d0e-1f0a-4d7a-9a51-000000000202"
    assert repeated.title == "Template title"
    assert repeated.logsource.category == "process_creation"
    assert [p.value for p in repeated.predicates] == ["*\\second.exe"]
    assert after_reset.title == "After reset"
    assert after_reset.level is None  # the template's level is gone
    assert after_reset.logsource.product == "linux"


def test_documents_sharing_a_template_id_get_distinct_ids():
    rules, _ = _read(GOOD, "collection_shared_id.yml")
    assert [r.native_id for r in rules] == [
        "5b1a6d0e-1f0a-4d7a-9a51-000000000301",
        "5b1a6d0e-1f0a-4d7a-9a51-000000000301#3",
        "5b1a6d0e-1f0a-4d7a-9a51-000000000301#4",
    ]


def test_a_correlation_rule_names_its_base_rules_and_has_no_predicates():
    rules, rejections = _read(GOOD, "correlation.yml")
    assert rejections == []
    correlation, failed, failed_noid = rules
    assert correlation.rule_type == "correlation"
    assert correlation.predicates == []
    assert correlation.logsource is None
    assert correlation.techniques == ["T1110"]
    # a name defined in the same file resolves to that rule's id; others stay as written
    assert correlation.related_rules == [
        "5b1a6d0e-1f0a-4d7a-9a51-000000000402",
        "5b1a6d0e-1f0a-4d7a-9a51-00000000ffff",
    ]
    assert failed.rule_type == "detection"
    assert [(p.vendor_field, p.value) for p in failed.predicates] == [("EventID", "4625")]
    assert failed_noid.native_id == "path:correlation.yml#3"
    assert failed.raw.startswith("title: Failed logon\n")
    assert "correlation:" not in failed.raw


# --- the real corpus ----------------------------------------------------------------------

CORPUS_FILES = 3780
CORPUS_RULES = 3780
CORPUS_REJECTIONS: list[tuple[str, int | None, str]] = []  # every SigmaHQ file reads cleanly
CORPUS_UNPARSED = 0
CORPUS_PREDICATES = 46274


def test_every_sigmahq_rule_file_reads(sigma_corpus):
    files = sigma_rule_files(sigma_corpus)
    assert len(files) == CORPUS_FILES
    assert {p.relative_to(sigma_corpus).parts[0] for p in files} == set(SIGMA_RULE_FOLDERS)
    started = time.perf_counter()
    rules, rejections = [], []
    for path in files:
        r, j = read_sigma_file("sigma", sigma_corpus, path)
        rules += r
        rejections += j
    elapsed = time.perf_counter() - started
    assert [(j.path, j.line, j.reason) for j in rejections] == CORPUS_REJECTIONS
    assert len(rules) == CORPUS_RULES
    assert [r.path for r in rules if not r.parsed] == []
    assert sum(not r.parsed for r in rules) == CORPUS_UNPARSED
    assert sum(len(r.predicates) for r in rules) == CORPUS_PREDICATES
    assert all(r.predicates for r in rules)
    assert len({r.native_id for r in rules}) == len(rules)
    assert not any(r.native_id.startswith("path:") for r in rules)
    assert all(r.url and r.url.endswith(r.path) for r in rules)
    assert all(r.rule_type == "detection" and r.language == "sigma" for r in rules)
    assert Counter(r.deprecated for r in rules)[True] == 0  # deprecated/ is not in the snapshot
    assert elapsed < 60, f"reading the corpus took {elapsed:.1f} s"


# --- never raises -------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12),
    st.sampled_from(["selection", "condition", "not", "1 of sel*", "|re", "null"]),
)
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["title", "id", "detection", "logsource", "condition", "selection",
                         "A|contains", "B|re", "C|cidr", "D|all", "action", "correlation",
                         "tags", "status", "level", "date"]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=300).map(str.encode)))
def test_reading_arbitrary_bytes_never_raises(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "rules").mkdir()
    path = root / "rules" / "x.yml"
    path.write_bytes(data)
    rules, rejections = read_sigma_file("acme", root, path)
    assert all(r.path == "rules/x.yml" for r in rejections)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_yaml_values, min_size=1, max_size=3))
def test_reading_arbitrary_yaml_documents_never_raises(tmp_path_factory, documents):
    root = tmp_path_factory.mktemp("fuzz")
    path = root / "x.yml"
    path.write_text(yaml.safe_dump_all(documents))
    rules, rejections = read_sigma_file("acme", root, path)
    for rule in rules:
        assert rule.path == "x.yml"
