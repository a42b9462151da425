"""The SPL parser: each construct detections use, and properties over any input."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.parsers import ParsedQuery, QueryParseError
from rulecat.index.parsers.spl import parse_spl, split_pipeline, tokenize_search


def preds(search: str) -> list[tuple[str | None, str, str, str]]:
    """(vendor field, operator, value, polarity) of each predicate, in order."""
    return [(p.vendor_field, p.operator, p.value, p.polarity)
            for p in parse_spl(search).predicates]


# --------------------------------------------------------------------------- search terms


def test_field_equals_value_is_eq_and_case_insensitive():
    [pred] = parse_spl("process_name=regsvr32.exe").predicates
    assert (pred.vendor_field, pred.operator, pred.value) == ("process_name", "eq",
                                                              "regsvr32.exe")
    assert pred.case_sensitive is False and pred.polarity == "detect"


def test_value_with_a_star_is_a_wildcard():
    assert preds('process="*scrobj*"') == [("process", "wildcard", "*scrobj*", "detect")]


def test_not_equal_is_an_exclusion():
    assert preds("process!=unknown") == [("process", "eq", "unknown", "exclude")]


def test_not_before_not_equal_is_a_detection_again():
    assert preds("NOT process!=unknown") == [("process", "eq", "unknown", "detect")]


def test_in_list_gives_one_predicate_per_value():
    assert preds('name IN ("a.exe", b.exe, "c*")') == [
        ("name", "eq", "a.exe", "detect"),
        ("name", "eq", "b.exe", "detect"),
        ("name", "wildcard", "c*", "detect"),
    ]


def test_in_list_tolerates_stray_commas():
    assert preds('name IN (,"a",, "b",)') == [
        ("name", "eq", "a", "detect"), ("name", "eq", "b", "detect")]


def test_not_in_list_excludes_every_value():
    assert preds('NOT (Image IN ("*\\\\system32\\\\*", "*sql*"))') == [
        ("Image", "wildcard", "*\\system32\\*", "exclude"),
        ("Image", "wildcard", "*sql*", "exclude"),
    ]


def test_and_or_and_implicit_and_keep_every_term():
    assert preds("a=1 OR (b=2 AND c=3) d=4") == [
        ("a", "eq", "1", "detect"), ("b", "eq", "2", "detect"),
        ("c", "eq", "3", "detect"), ("d", "eq", "4", "detect")]


def test_double_backslash_in_values_is_one_backslash():
    assert preds(r"Image=*\\lsass.exe") == [("Image", "wildcard", r"*\lsass.exe", "detect")]
    assert preds(r'Image="*\\Temp\x"') == [("Image", "wildcard", r"*\Temp\x", "detect")]


def test_value_keeps_attached_parentheses():
    assert preds("ScriptBlockText=*GetCurrent()* x=1") == [
        ("ScriptBlockText", "wildcard", "*GetCurrent()*", "detect"),
        ("x", "eq", "1", "detect")]


def test_spaces_around_the_operator_are_allowed():
    assert preds('query = www* AND status >= 400') == [
        ("query", "wildcard", "www*", "detect"), ("status", "gte", "400", "detect")]


def test_star_value_means_the_field_exists():
    assert preds("process_name=*") == [("process_name", "exists", "true", "detect")]


def test_ip_network_value_is_a_cidr_test():
    assert preds("NOT dest_ip=10.0.0.0/8") == [("dest_ip", "cidr", "10.0.0.0/8", "exclude")]


def test_bare_terms_are_keywords_and_a_lone_star_adds_nothing():
    assert preds('* "A shell was spawned" TERM(sudoedit)') == [
        (None, "match", "A shell was spawned", "detect"),
        (None, "match", "sudoedit", "detect")]


def test_data_selection_and_time_bounds_are_not_predicates():
    parsed = parse_spl("index=main sourcetype=xmlwineventlog earliest=-1h EventCode=1")
    assert [(p.vendor_field, p.value) for p in parsed.predicates] == [("EventCode", "1")]
    assert parsed.indices == ["index=main", "sourcetype=xmlwineventlog"]


# --------------------------------------------------------------------------- stages


def test_tstats_reads_datamodel_where_and_by():
    parsed = parse_spl(
        "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes "
        "where Processes.process_name=cmd.exe by _time span=1h Processes.dest")
    assert parsed.indices == ["Endpoint.Processes"]
    assert parsed.grouping_fields == ["Processes.dest"]
    assert [(p.vendor_field, p.value, p.selection) for p in parsed.predicates] == [
        ("Processes.process_name", "cmd.exe", "tstats")]


def test_dataset_prefix_is_followed_through_a_wildcard_rename():
    search = ("| tstats count from datamodel=Endpoint.Processes by Processes.process "
              "| rename Processes.* AS * | where like(process, \"%-enc%\")")
    assert preds(search) == [("Processes.process", "wildcard", "*-enc*", "detect")]


def test_rename_and_eval_aliases_are_followed_into_later_clauses():
    search = ("index=x | rename CommandLine as cmd | eval c2=cmd, low=lower(cmd) "
              "| search c2=*whoami* | where low=\"net\"")
    parsed = parse_spl(search)
    assert [(p.vendor_field, p.operator, p.value, p.transforms, p.case_sensitive)
            for p in parsed.predicates] == [
        ("CommandLine", "wildcard", "*whoami*", [], False),
        ("CommandLine", "eq", "net", ["lower"], False),
    ]


def test_eval_of_a_computed_value_ends_an_alias():
    assert preds("x=1 | eval y=a | eval y=a+1 | where y>2") == [
        ("x", "eq", "1", "detect"), ("y", "gt", "2", "detect")]


def test_stats_values_as_keeps_the_field_it_aggregates():
    assert preds("x=1 | stats values(Image) as img by host | search img=*cmd*") == [
        ("x", "eq", "1", "detect"), ("Image", "wildcard", "*cmd*", "detect")]


def test_where_like_is_a_case_sensitive_wildcard():
    [pred] = parse_spl('x=1 | where like(process, "%\\\\temp\\\\_%")').predicates[1:]
    assert (pred.operator, pred.value, pred.case_sensitive) == ("wildcard", r"*\temp\?*",
                                                                True)


def test_like_without_wildcards_is_eq_and_like_operator_works_too():
    assert preds('x=1 | where name LIKE "cmd.exe" AND NOT like(p, "a%")')[1:] == [
        ("name", "eq", "cmd.exe", "detect"), ("p", "wildcard", "a*", "exclude")]


def test_where_match_is_a_case_sensitive_regex():
    [pred] = parse_spl('x=1 | where match(process, "(?i)-enc\\\\s")').predicates[1:]
    assert (pred.operator, pred.value, pred.case_sensitive) == ("regex_match",
                                                                r"(?i)-enc\s", True)


def test_lower_makes_a_test_case_insensitive_and_is_a_transform():
    [pred] = parse_spl('x=1 | where match(lower(process), "enc")').predicates[1:]
    assert (pred.transforms, pred.case_sensitive) == (["lower"], False)


def test_where_equality_is_exact_and_inequality_excludes():
    assert [(p.operator, p.value, p.polarity, p.case_sensitive)
            for p in parse_spl('x=1 | where a=="Yes" AND b!="No" AND 5<c').predicates[1:]] \
        == [("eq", "Yes", "detect", True), ("eq", "No", "exclude", True),
            ("gt", "5", "detect", False)]


def test_isnull_isnotnull_cidrmatch_and_in():
    search = ('x=1 | where isnull(a) AND NOT isnotnull(b) AND cidrmatch("10.0.0.0/8", ip) '
              'AND c IN ("1", "2") AND in(d, "z")')
    assert preds(search)[1:] == [
        ("a", "exists", "false", "detect"), ("b", "exists", "true", "exclude"),
        ("ip", "cidr", "10.0.0.0/8", "detect"), ("c", "eq", "1", "detect"),
        ("c", "eq", "2", "detect"), ("d", "eq", "z", "detect")]


def test_field_to_field_equality_is_a_fieldref():
    assert preds("x=1 | where src != dest")[1:] == [("src", "fieldref", "dest", "exclude")]


def test_tests_of_computed_values_add_nothing():
    assert preds("x=1 | where a+b > 3 AND mvcount(c) == 1") == [("x", "eq", "1", "detect")]


def test_regex_stage_with_and_without_a_field():
    assert preds('x=1 | regex process="\\\\x{202E}" | regex cmd!="^a" | regex "b"')[1:] == [
        ("process", "regex_match", r"\x{202E}", "detect"),
        ("cmd", "regex_match", "^a", "exclude"),
        ("_raw", "regex_match", "b", "detect")]


def test_join_subsearch_predicates_are_labelled_with_the_subsearch():
    parsed = parse_spl("x=1 | join guid [| tstats count from datamodel=E.F "
                       "where F.name=\"a.dll\" by F.guid]")
    assert [(p.vendor_field, p.selection) for p in parsed.predicates] == [
        ("x", "search"), ("F.name", "join/tstats")]
    assert parsed.indices == ["E.F"]


def test_negated_subsearch_flips_its_predicates():
    assert preds("x=1 NOT [search y=2 | fields y]") == [
        ("x", "eq", "1", "detect"), ("y", "eq", "2", "exclude")]


def test_passive_stages_add_nothing_and_empty_stages_are_skipped():
    search = "x=1 | stats count by a | table a | lookup l k as a | | fillnull | sort - a"
    assert preds(search) == [("x", "eq", "1", "detect")]


def test_pipes_inside_quotes_and_subsearches_do_not_split_stages():
    assert split_pipeline('a="x|y" [search b | c] | d') == ['a="x|y" [search b | c] ', " d"]


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("search, reason", [
    ("x=1 | frobnicate a", "unsupported command `frobnicate`"),
    ('x="unclosed', "unclosed double quote"),
    ("x=1 ]", "unbalanced ']'"),
    ("x=", "missing value"),
    ("x=1 | where like(a,", "eval grammar"),
    ("(" * 150 + "x=1" + ")" * 150, "nested deeper"),
])
def test_searches_the_grammar_cannot_read_whole_raise_with_a_reason(search, reason):
    with pytest.raises(QueryParseError) as info:
        parse_spl(search)
    assert reason in info.value.reason


def test_a_very_long_search_is_refused():
    with pytest.raises(QueryParseError, match="longer than"):
        parse_spl("x=1 " * 30_000)


def test_tokens_know_the_value_position():
    types = [t.type for t in tokenize_search('a IN (x(1), "y") NOT b!=c(d)')]
    assert types == ["WORD", "_IN", "_LPAR", "WORD", "_COMMA", "STRING", "_RPAR", "_NOT",
                     "WORD", "CMP", "WORD"]


# --------------------------------------------------------------------------- properties

SPL_PIECES = st.sampled_from([
    "a", "b=1", "c!=*x*", " ", "(", ")", "[", "]", "|", '"', "'", "`", ",", "=", "!=", "<",
    "NOT ", " AND ", " OR ", " IN (", "where ", "| where ", "| search ", "| eval ",
    "| rename ", " as ", "| tstats count from datamodel=A.B where ", " by ", "like(",
    "match(", "lower(", "isnull(", "| regex ", "*", "\\", "%", "TERM(", "[| tstats ",
    "| join x [", "| stats values(", ")", "1", ".", "-", "{}", "\n",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SPL_PIECES, max_size=40).map("".join) | st.text(max_size=200))
def test_any_input_gives_predicates_or_a_parse_error_quickly(search):
    started = time.perf_counter()
    try:
        result = parse_spl(search)
    except QueryParseError as exc:
        assert exc.reason
    else:
        assert isinstance(result, ParsedQuery)
    assert time.perf_counter() - started < 1.0


@st.composite
def search_trees(draw, depth=0):
    """(SPL text, [(field, value, negations)]) for a random boolean tree of `f=v` terms."""
    if depth >= 4 or draw(st.booleans()):
        name = draw(st.sampled_from(["a", "Processes.b", "c{}.d"]))
        value = draw(st.from_regex(r"[A-Za-z0-9_.*\\]{1,8}", fullmatch=True))
        negated = draw(st.booleans())
        op = "!=" if negated else "="
        return f'{name}{op}"{value.replace(chr(92), chr(92) * 2)}"', [(name, value, negated)]
    left_text, left = draw(search_trees(depth=depth + 1))
    right_text, right = draw(search_trees(depth=depth + 1))
    joiner = draw(st.sampled_from([" AND ", " OR ", " "]))
    if draw(st.booleans()):
        return (f"NOT ({left_text}{joiner}{right_text})",
                [(f, v, not n) for f, v, n in left + right])
    return f"({left_text}{joiner}{right_text})", left + right


@settings(max_examples=300, deadline=None)
@given(search_trees())
def test_polarity_is_the_parity_of_negations_above_each_term(tree):
    text, leaves = tree
    got = [(p.vendor_field, p.value, p.polarity) for p in parse_spl(text).predicates]
    assert got == [(f, "true" if v == "*" else v, "exclude" if n else "detect")
                   for f, v, n in leaves]


@pytest.mark.parametrize("search", [
    "a IN " * 20_000,
    "| tstats count " + '"by" ' * 15_000,
    "x=1 | where " + "NOT " * 20_000 + "a=1",
    "x=1 " + "[" * 5_000 + "]" * 5_000,
    "x=(" * 20_000,
    '"' * 60_001,
    "x=1 | eval " + "a=b, " * 15_000 + "c=d",
])
def test_long_adversarial_searches_stay_fast(search):
    started = time.perf_counter()
    try:
        parse_spl(search)
    except QueryParseError:
        pass
    assert time.perf_counter() - started < 3.0
