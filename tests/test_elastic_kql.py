r"""KQL and Lucene parsers: every form on hand-written queries, and property tests.

Each predicate is written as `(vendor field, operator, value, polarity)`.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.parsers import ParsedQuery, QueryParseError
from rulecat.index.parsers.kql import parse_kql
from rulecat.index.parsers.lucene import parse_lucene

Row = tuple[str | None, str, str, str]


def kql(text: str) -> list[Row]:
    return [(p.vendor_field, p.operator, p.value, p.polarity) for p in parse_kql(text).predicates]


def lucene(text: str) -> list[Row]:
    return [(p.vendor_field, p.operator, p.value, p.polarity)
            for p in parse_lucene(text).predicates]


D, X = "detect", "exclude"


# --- KQL: field and value forms ----------------------------------------------------------


def test_a_field_and_an_unquoted_value_is_eq():
    assert kql("process.name : regsvr32.exe") == [("process.name", "eq", "regsvr32.exe", D)]


def test_a_quoted_phrase_is_one_eq_value_with_its_spaces():
    assert kql('message : "quick brown fox"') == [("message", "eq", "quick brown fox", D)]


def test_an_unquoted_value_keeps_inner_whitespace_as_kibana_does():
    assert kql("message : quick brown fox and a : b") == [
        ("message", "eq", "quick brown fox", D), ("a", "eq", "b", D)]


def test_an_unquoted_star_makes_a_wildcard():
    assert kql("process.args : *awsrunPowerShellScript*") == [
        ("process.args", "wildcard", "*awsrunPowerShellScript*", D)]


def test_a_star_inside_quotes_is_literal_as_in_kibana():
    assert kql('process.name : "python*"') == [("process.name", "eq", "python*", D)]


def test_a_question_mark_is_not_a_kql_wildcard():
    assert kql("file.name : a?c") == [("file.name", "eq", "a?c", D)]


def test_field_star_is_exists_true():
    assert kql("user.name : *") == [("user.name", "exists", "true", D)]


def test_not_field_star_is_exists_true_excluded():
    assert kql("not user.name:*") == [("user.name", "exists", "true", X)]


def test_a_quoted_star_is_a_literal_star_not_exists():
    assert kql('f : "*"') == [("f", "eq", "*", D)]


def test_a_field_name_may_hold_a_wildcard():
    assert kql("file.hash.*:*") == [("file.hash.*", "exists", "true", D)]


def test_a_field_name_may_be_quoted():
    assert kql('"my field" : x') == [("my field", "eq", "x", D)]


def test_a_value_list_gives_one_predicate_per_value():
    assert kql('event.type : (start or "process_started")') == [
        ("event.type", "eq", "start", D), ("event.type", "eq", "process_started", D)]


def test_a_value_list_may_mix_and_not_and_nested_groups():
    assert kql("f : (* and not (a or (b and not c)))") == [
        ("f", "exists", "true", D), ("f", "eq", "a", X), ("f", "eq", "b", X),
        ("f", "eq", "c", D)]


@pytest.mark.parametrize(("symbol", "operator"),
                         [(">", "gt"), (">=", "gte"), ("<", "lt"), ("<=", "lte")])
def test_ranges_become_comparisons(symbol, operator):
    assert kql(f"network.packets {symbol} 2") == [("network.packets", operator, "2", D)]


def test_a_range_value_may_be_quoted_date_math():
    assert kql('@timestamp >= "now-30d/d"') == [("@timestamp", "gte", "now-30d/d", D)]


def test_a_nested_query_prefixes_its_fields_with_the_parent():
    assert kql("a : { b : 1 and c : { d : 2 } } and e : 3") == [
        ("a.b", "eq", "1", D), ("a.c.d", "eq", "2", D), ("e", "eq", "3", D)]


def test_a_negated_nested_query_excludes_its_fields():
    assert kql("not a : { b : 1 or not c : 2 }") == [("a.b", "eq", "1", X), ("a.c", "eq", "2", D)]


def test_a_term_without_a_field_is_match():
    assert kql("mimikatz or not \"sekurlsa::logonpasswords\"") == [
        (None, "match", "mimikatz", D), (None, "match", "sekurlsa::logonpasswords", X)]


def test_a_network_on_an_ip_field_is_cidr():
    assert kql("source.ip : (10.0.0.0/8 or \"fe80::/10\" or 1.2.3.4)") == [
        ("source.ip", "cidr", "10.0.0.0/8", D), ("source.ip", "cidr", "fe80::/10", D),
        ("source.ip", "eq", "1.2.3.4", D)]


def test_a_network_on_a_keyword_field_stays_text():
    assert kql("aws.cidrIp : 0.0.0.0/0") == [("aws.cidrIp", "eq", "0.0.0.0/0", D)]


def test_the_empty_query_has_no_predicates():
    assert parse_kql("  \n ") == ParsedQuery()


def test_kql_values_compare_case_insensitively():
    (pred,) = parse_kql("process.name : CMD.EXE").predicates
    assert pred.case_sensitive is False and pred.selection is None


# --- KQL: boolean logic -------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "a:1 and b:2 or not c:3", "a:1 AND b:2 OR NOT c:3", "a:1 And b:2 Or Not c:3"])
def test_keywords_work_in_any_case(query):
    assert kql(query) == [("a", "eq", "1", D), ("b", "eq", "2", D), ("c", "eq", "3", X)]


def test_not_binds_tighter_than_and_and_and_tighter_than_or():
    tree = parse_kql("not a:1 and b:2 or c:3")
    assert [(p.vendor_field, p.polarity) for p in tree.predicates] == [
        ("a", X), ("b", D), ("c", D)]


def test_parentheses_carry_a_negation_to_every_predicate_inside():
    assert kql("not (a:1 or (b:2 and not c:3))") == [
        ("a", "eq", "1", X), ("b", "eq", "2", X), ("c", "eq", "3", D)]


def test_double_negation_detects():
    assert kql("not not a:1") == [("a", "eq", "1", D)]


def test_keywords_touching_parentheses_are_keywords():
    assert kql("not(a:1)and(b:2)or(c:3)") == [
        ("a", "eq", "1", X), ("b", "eq", "2", D), ("c", "eq", "3", D)]


def test_words_starting_with_a_keyword_are_values():
    assert kql("orders : android and notes : nothing") == [
        ("orders", "eq", "android", D), ("notes", "eq", "nothing", D)]


# --- KQL: escapes -------------------------------------------------------------------------


def test_unquoted_escapes_give_special_characters_literally():
    assert kql(r"f : C\:\\Windows\\\(x86\)\\a\*b\"c\{d\}\<e\>") == [
        ("f", "eq", 'C:\\Windows\\(x86)\\a*b"c{d}<e>', D)]


def test_an_escaped_star_next_to_a_wildcard_still_makes_a_wildcard():
    assert kql(r"f : *a\*b*") == [("f", "wildcard", "*a*b*", D)]


def test_an_escaped_keyword_is_a_value():
    assert kql(r"f : (\or or \and or \not)") == [
        ("f", "eq", "or", D), ("f", "eq", "and", D), ("f", "eq", "not", D)]


def test_an_escaped_space_joins_a_value():
    assert kql(r"f : a\ b") == [("f", "eq", "a b", D)]


def test_quoted_escapes_are_quote_and_backslash():
    assert kql(r'f : "say \"hi\" C:\\x"') == [("f", "eq", 'say "hi" C:\\x', D)]


def test_a_single_backslash_in_quotes_stays_as_written():
    assert kql(r'f : "C:\Windows\System32\cmd.exe"') == [
        ("f", "eq", "C:\\Windows\\System32\\cmd.exe", D)]


def test_backslash_t_r_n_in_quotes_stay_as_written_for_windows_paths():
    assert kql(r'f : "C:\Agent\tmp\runmru\new"') == [
        ("f", "eq", "C:\\Agent\\tmp\\runmru\\new", D)]


def test_a_unicode_escape_is_decoded():
    assert kql(r'f : "\u0041\u00e9" and g : \u0042') == [
        ("f", "eq", "Aé", D), ("g", "eq", "B", D)]


def test_a_backslash_u_without_four_hex_digits_stays():
    assert kql(r'f : "C:\Program Files\WinRAR\uninstall.exe"') == [
        ("f", "eq", "C:\\Program Files\\WinRAR\\uninstall.exe", D)]


# --- KQL: errors --------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "a :", "a : (b or", "a : b)", "(a : b", "a : b c : d", "a :: b", "and", "a : b and",
    'a : "open', "a : { b : 1", "a >= ", "a : {}", "not", "a : ()", "a\\",
])
def test_malformed_kql_raises_a_parse_error_with_a_reason(query):
    with pytest.raises(QueryParseError) as info:
        parse_kql(query)
    assert info.value.reason.startswith("KQL")


def test_a_parse_error_says_where():
    with pytest.raises(QueryParseError, match=r"line 1, column 10 near .\)."):
        parse_kql("a : b or )")


def test_a_deeply_nested_query_is_a_parse_error_not_a_crash():
    deep = "(" * 3000 + "a:1" + ")" * 3000
    try:
        assert kql(deep) == [("a", "eq", "1", D)]
    except QueryParseError:
        pass


# --- Lucene -------------------------------------------------------------------------------


def test_lucene_reads_elastics_one_lucene_rule():
    query = ("event.category:process AND event.type:(start or process_started) AND "
             "process.name:chmod AND process.args:(g+s OR /2[0-9]{3}/) AND NOT user.name:root")
    assert lucene(query) == [
        ("event.category", "eq", "process", D),
        ("event.type", "eq", "start", D),
        ("event.type", "eq", "process_started", D),
        ("process.name", "eq", "chmod", D),
        ("process.args", "eq", "g+s", D),
        ("process.args", "regex_match", "2[0-9]{3}", D),
        ("user.name", "eq", "root", X),
    ]


def test_lucene_wildcards_are_star_and_question_mark_unless_escaped():
    assert lucene(r"a:b?c* AND d:\*e\?") == [("a", "wildcard", "b?c*", D), ("d", "eq", "*e?", D)]


def test_lucene_ranges_give_both_bounds_and_skip_open_ends():
    assert lucene("a:[1 TO 5] AND b:{2 TO *]") == [
        ("a", "gte", "1", D), ("a", "lte", "5", D), ("b", "gt", "2", D)]


def test_lucene_prohibit_and_not_exclude_and_plus_detects():
    assert lucene("-a:1 +b:2 NOT c:3") == [("a", "eq", "1", X), ("b", "eq", "2", D),
                                           ("c", "eq", "3", X)]


def test_lucene_exists_phrase_bare_term_and_cidr():
    assert lucene(r'a:* AND b:"x \"y\"" AND free AND source.ip:10.0.0.0\/8') == [
        ("a", "exists", "true", D), ("b", "eq", 'x "y"', D), (None, "match", "free", D),
        ("source.ip", "cidr", "10.0.0.0/8", D)]


@pytest.mark.parametrize("query", ["a:foo~2", 'a:"x y"~3', "a:b && c:d", "x AND", "a:(b"])
def test_lucene_forms_rulecat_does_not_read_are_parse_errors(query):
    with pytest.raises(QueryParseError, match="Lucene"):
        parse_lucene(query)


# --- property tests -----------------------------------------------------------------------


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) when the body runs longer than `seconds`."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"parser ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


QUERYISH = st.text(alphabet=st.sampled_from(list('ab:*"\\() {}<>=!/?~^+-\n\tandortTO[]AND')),
                   max_size=60)
ANY_TEXT = st.one_of(st.text(max_size=200), QUERYISH)
FAST = settings(max_examples=300, deadline=1000,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ANY_TEXT)
def test_any_string_gives_kql_predicates_or_a_parse_error(text):
    with within(2.0):
        try:
            result = parse_kql(text)
        except QueryParseError as exc:
            assert exc.reason
        else:
            assert isinstance(result, ParsedQuery)


@FAST
@given(ANY_TEXT)
def test_any_string_gives_lucene_predicates_or_a_parse_error(text):
    with within(2.0):
        try:
            result = parse_lucene(text)
        except QueryParseError as exc:
            assert exc.reason
        else:
            assert isinstance(result, ParsedQuery)


# Generated well-formed KQL: an expression tree rendered to text, and the predicates it
# must give back.

KEYWORDS = {"or", "and", "not"}
SPECIALS = set('\\():<>"*{} ')


@dataclass(frozen=True)
class Gen:
    text: str
    rows: list[Row]


def _escape_unquoted(value: str) -> str:
    if value.lower() in KEYWORDS:
        return "\\" + value
    return "".join("\\" + c if c in SPECIALS else c for c in value)


def _escape_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


plain_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"))
value_text = st.text(alphabet=st.one_of(plain_chars, st.sampled_from(list('\\():<>"*{} '))),
                     min_size=1, max_size=12)
field_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6}){0,2}",
                            fullmatch=True).filter(
    lambda f: f not in KEYWORDS and f.split(".")[-1] != "ip")
keyword = st.sampled_from(["or", "OR", "Or"]), st.sampled_from(["and", "AND", "aNd"])


@st.composite
def a_value(draw: st.DrawFn) -> tuple[str, str, str]:
    """(rendered value, operator, expected value)."""
    text = draw(value_text)
    if draw(st.booleans()):
        return _escape_quoted(text), "eq", text
    if draw(st.booleans()) and text.strip("*"):
        return _escape_unquoted(text) + "*", "wildcard", text + "*"
    return _escape_unquoted(text), "eq", text


@st.composite
def value_expr(draw: st.DrawFn, depth: int = 0) -> tuple[str, list[tuple[str, str, int]]]:
    """(rendered value expression, [(operator, value, negations)])."""
    choice = draw(st.integers(0, 3 if depth < 3 else 0))
    if choice == 0:
        rendered, operator, value = draw(a_value())
        return rendered, [(operator, value, 0)]
    if choice == 3:
        inner, rows = draw(value_expr(depth + 1))
        return f"not ({inner})", [(o, v, n + 1) for o, v, n in rows]
    parts = draw(st.lists(value_expr(depth + 1), min_size=2, max_size=3))
    word = draw(keyword[choice - 1])
    return f" {word} ".join(f"({p})" for p, _ in parts), [r for _, rows in parts for r in rows]


@st.composite
def query_expr(draw: st.DrawFn, depth: int = 0) -> Gen:
    choice = draw(st.integers(0, 5 if depth < 3 else 1))
    field = draw(field_names)
    if choice == 0:
        rendered, rows = draw(value_expr())
        return Gen(f"{field} : ({rendered})",
                   [(field, o, v, X if n % 2 else D) for o, v, n in rows])
    if choice == 1:
        symbol, operator = draw(st.sampled_from([(">", "gt"), (">=", "gte"), ("<", "lt"),
                                                 ("<=", "lte")]))
        number = str(draw(st.integers(-1000, 10**6)))
        return Gen(f"{field} {symbol} {number}", [(field, operator, number, D)])
    if choice == 2:
        inner = draw(query_expr(depth + 1))
        return Gen(f"not ({inner.text})",
                   [(f, o, v, X if p == D else D) for f, o, v, p in inner.rows])
    if choice == 3:
        inner = draw(query_expr(depth + 1))
        return Gen(f"{field} : {{ {inner.text} }}",
                   [(f"{field}.{f}", o, v, p) for f, o, v, p in inner.rows])
    parts = draw(st.lists(query_expr(depth + 1), min_size=2, max_size=3))
    word = draw(keyword[choice - 4])
    return Gen(f" {word} ".join(f"({p.text})" for p in parts),
               [r for p in parts for r in p.rows])


@settings(max_examples=300, deadline=1000)
@given(query_expr())
def test_generated_kql_round_trips_to_its_predicates(gen):
    with within(2.0):
        assert kql(gen.text) == gen.rows
