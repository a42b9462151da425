"""The search contract: the same queries on both engines over the real corpora.

Both engines must find the same rules for exact tokens and under every filter, rank a title
hit above a raw-query hit, page with `next`, and suggest the same near words. When `CI` is
set and the Whoosh extra is missing, these tests fail instead of skipping.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.answers import Filters
from rulecat.index.search import whoosh_folder
from test_search import whoosh_or_fail

ENGINES = ("fts5", "whoosh")
# Sigma, Elastic and Splunk rules about DCOM lateral movement, found by hand.
DCOM_LATERAL = {
    "sigma:68050b10-e477-4377-a99b-3721b422d6ef",  # Remote DCOM/WMI Lateral Movement
    "sigma:551d9c1f-816c-445b-a7a6-7a3864720d60",  # Excel.EXE DCOM Lateral Movement
    "elastic:51ce96fb-9e52-4dad-b0ba-99b54440fc9a",  # Incoming DCOM Lateral Movement, MMC
    "elastic:622ecb68-fa81-4601-90b5-f8cd661e4520",  # ... via MSHTA
    "elastic:8f919d4b-a5af-47ca-a594-6be59cd924a4",  # ... with ShellBrowserWindow
}
DCOM_SPLUNK = {
    "splunk:d4f42098-4680-11ec-ad07-3e22fbd008af",  # Remote Process Instantiation via DCOM
    "splunk:fa1c3040-4680-11ec-a618-3e22fbd008af",  # ... and PowerShell Script Block
}


@pytest.fixture(scope="session")
def whoosh_index(catalog_path: Path) -> Path:
    """A Whoosh index beside the session's catalog, from the same documents as its FTS5."""
    whoosh_or_fail()
    from rulecat.index.search.document import load_documents
    from rulecat.index.search.whoosh_engine import write_whoosh

    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    build_id = conn.execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()[0]
    folder = whoosh_folder(catalog_path, build_id)
    if not folder.exists():
        write_whoosh(folder, load_documents(conn))
    conn.close()
    return folder


@pytest.fixture
def both(catalog, whoosh_index):  # -> the session catalog, with both engines ready
    return catalog


def every_id(catalog, query: str, engine: str, **kwargs: Any) -> list[str]:
    """Every rule id the query finds, in rank order, paging with `next`."""
    ids: list[str] = []
    args: dict[str, Any] = {"limit": 200, **kwargs}
    while True:
        answer = catalog.search_rules(query, engine=engine, **args)
        ids += [r.id for r in answer.results]
        if answer.next is None:
            return ids
        args = {k: v for k, v in answer.next.items() if k != "query"}
        args["filters"] = Filters(**{k: args.pop(k) for k in list(args)
                                     if k in Filters.model_fields})


def same_on_both(catalog, query: str, **kwargs: Any) -> set[str]:
    fts5, whoosh = (every_id(catalog, query, e, **kwargs) for e in ENGINES)
    assert sorted(fts5) == sorted(whoosh), query
    return set(fts5)


def _rules_where(catalog, sql: str, *args: Any) -> set[str]:
    return {r[0] for r in catalog.db.execute(sql, args)}


# -- exact tokens -----------------------------------------------------------------------


@pytest.mark.parametrize("token", ["regsvr32.exe", "-EncodedCommand", "\\\\mshta.exe"])
def test_a_value_as_typed_finds_every_rule_testing_it_on_both_engines(both, token):
    found = same_on_both(both, token)
    bare = token.lstrip("\\")
    pattern = re.compile(rf"(?<!\w){re.escape(bare)}(?!\w)", re.IGNORECASE)
    testing = {rid for rid, value in both.db.execute(
        "SELECT r.id, p.value FROM predicates p JOIN rules r ON r.rowid = p.rule "
        "WHERE r.deprecated = 0 AND instr(lower(p.value), lower(?)) > 0", (bare,))
        if pattern.search(value)}
    assert testing and testing <= found


def test_a_field_name_as_typed_finds_every_rule_testing_that_field_on_both_engines(both):
    found = same_on_both(both, "process.command_line")
    testing = _rules_where(both, "SELECT DISTINCT r.id FROM predicates p JOIN rules r "
                           "ON r.rowid = p.rule WHERE r.deprecated = 0 AND "
                           "(p.field = 'process.command_line' OR "
                           "p.vendor_field = 'process.command_line')")
    assert len(testing) > 100 and testing <= found


def test_a_technique_id_finds_every_rule_tagged_with_it_on_both_engines(both):
    found = same_on_both(both, "T1059.001")
    tagged = _rules_where(both, "SELECT r.id FROM rule_techniques t JOIN rules r "
                          "ON r.rowid = t.rule WHERE t.technique = 'T1059.001' "
                          "AND r.deprecated = 0")
    assert len(tagged) > 100 and tagged <= found


def test_a_path_separator_or_dash_typed_before_a_token_changes_nothing(both):
    assert same_on_both(both, "\\\\mshta.exe") == same_on_both(both, "mshta.exe")
    assert same_on_both(both, "-EncodedCommand") == same_on_both(both, "encodedcommand")


# -- ranking ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("word", ["mshta", "certutil", "bitsadmin", "cmstp", "mimikatz"])
def test_a_title_hit_ranks_above_a_raw_query_hit(both, engine, word):
    answer = both.search_rules(word, engine=engine, limit=200)
    ranks = [set(r.matched_in) for r in answer.results]
    titles = [i for i, m in enumerate(ranks) if "title" in m]
    raw_only = [i for i, m in enumerate(ranks) if m and m <= {"query", "field_values"}]
    assert titles and raw_only and max(titles) < min(raw_only)


@pytest.mark.parametrize("engine", ENGINES)
def test_dcom_lateral_movement_ranks_the_dcom_lateral_movement_rules_first(both, engine):
    top = [r.id for r in both.search_rules("dcom lateral movement", engine=engine,
                                           limit=10).results]
    assert len(DCOM_LATERAL & set(top[:5])) >= 4, top
    assert DCOM_SPLUNK & set(top[:10]), top


@pytest.mark.parametrize("engine", ENGINES)
def test_rulecat_search_answers_dcom_lateral_movement_with_the_same_rules(
    both, catalog_path, engine
):
    out = subprocess.run(
        [sys.executable, "-c", "from rulecat.server.cli import main; main()", "search",
         "dcom lateral movement", "--limit", "5", "--json", "--text-engine", engine,
         "--catalog", str(catalog_path)], capture_output=True, text=True, check=True)
    answer = json.loads(out.stdout)
    assert answer["engine"] == engine
    assert len(DCOM_LATERAL & {r["id"] for r in answer["results"]}) >= 4


def test_splunk_detections_are_found_by_analytic_story_name(both):
    story = "Active Directory Lateral Movement"
    found = same_on_both(both, f'"{story}"', filters=Filters(vendors=["splunk"]))
    in_story = {rid for rid, doc in both.db.execute(
        "SELECT id, doc FROM rules WHERE vendor = 'splunk' AND deprecated = 0")
        if story in [s["name"] for s in json.loads(doc)["extra"].get("stories", [])]}
    assert in_story and in_story <= found


# -- filters, paging, suggestions --------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"filters": Filters(vendors=["elastic"])},
    {"filters": Filters(sources=["sigma"], include_deprecated=True)},
    {"levels": ["high", "critical"]},
    {"techniques": ["T1021"]},
    {"tactics": ["Lateral Movement"]},
])
def test_filters_narrow_both_engines_to_the_same_rules(both, kwargs):
    everything = same_on_both(both, "dcom", filters=Filters(include_deprecated=True))
    found = same_on_both(both, "dcom", **kwargs)
    assert found and found <= everything
    rows = {r["id"]: r for r in both.db.execute(
        "SELECT id, vendor, source, level, deprecated FROM rules")}
    if "filters" in kwargs and kwargs["filters"].vendors:
        assert {rows[i]["vendor"] for i in found} == {"elastic"}
    if "levels" in kwargs:
        assert {rows[i]["level"] for i in found} <= {"high", "critical"}
    if "techniques" in kwargs:
        assert found <= _rules_where(both, "SELECT r.id FROM technique_rules t JOIN rules r "
                                     "ON r.rowid = t.rule WHERE t.technique = 'T1021'")


@pytest.mark.parametrize("engine", ENGINES)
def test_pages_follow_next_without_gaps_or_repeats(both, engine):
    one = both.search_rules("powershell", engine=engine, limit=45)
    first = both.search_rules("powershell", engine=engine, limit=15)
    assert first.next == {"query": "powershell", "limit": 15, "offset": 15}
    second = both.search_rules(engine=engine, **first.next)
    third = both.search_rules(engine=engine, **second.next)
    paged = [r.id for a in (first, second, third) for r in a.results]
    assert paged == [r.id for r in one.results] and len(set(paged)) == 45
    last = both.search_rules("powershell", engine=engine, limit=15, offset=one.total - 3)
    assert last.returned == 3 and last.next is None


def test_no_hit_suggests_the_same_near_words_on_both_engines(both):
    fts5, whoosh = (both.search_rules("dcomm latral", engine=e) for e in ENGINES)
    assert fts5.total == whoosh.total == 0
    assert fts5.suggestions == whoosh.suggestions
    near = {(s.instead_of, s.term) for s in fts5.suggestions}
    assert {("dcomm", "dcom"), ("latral", "lateral")} <= near


@pytest.mark.parametrize("engine", ENGINES)
def test_a_suggestion_counts_what_searching_it_finds_under_the_same_filters(both, engine):
    for filters in (None, Filters(vendors=["elastic"]), Filters(include_deprecated=True)):
        answer = both.search_rules("dcomm", filters=filters, engine=engine)
        assert answer.suggestions
        for s in answer.suggestions:
            assert s.rules == both.search_rules(s.term, filters=filters, engine=engine).total > 0


def test_longer_words_beginning_with_a_query_word_are_offered_the_same_on_both_engines(both):
    fts5, whoosh = (both.search_rules("kerberoast", engine=e) for e in ENGINES)
    assert fts5.longer_words == whoosh.longer_words
    offered = {w.word: w.rules for w in fts5.longer_words}
    # Words match whole: "Kerberoasting" titles are not hits for kerberoast, but offered.
    assert offered["kerberoasting"] == both.search_rules("kerberoasting").total > fts5.total
    assert all(w.begins_with == "kerberoast" for w in fts5.longer_words)
    assert both.search_rules("regsvr32.exe").longer_words == []  # phrases: none


def test_when_no_rule_holds_every_term_rules_holding_any_are_ranked(both):
    fts5, whoosh = (both.search_rules("dcom mimikatzz", engine=e) for e in ENGINES)
    assert fts5.match == whoosh.match == "any" and fts5.total == whoosh.total > 0
    assert ("mimikatzz", "mimikatz") in {(s.instead_of, s.term) for s in fts5.suggestions}


# -- size, tool, hostile text -----------------------------------------------------------


@pytest.mark.parametrize("query", ["powershell", "dcom lateral movement", "process.command_line"])
def test_twenty_results_fit_in_twelve_kilobytes(both, query):
    assert len(both.search_rules(query, limit=20).model_dump_json()) <= 12_000


@pytest.mark.anyio
async def test_the_mcp_tool_answers_like_the_read_api(catalog_path, catalog):
    from mcp import Client

    from rulecat.server.mcp_server import create_server

    async with Client(create_server(catalog_path)) as client:
        result = await client.call_tool("search_rules", {"query": "regsvr32.exe", "limit": 5})
    expected = catalog.search_rules("regsvr32.exe", limit=5).model_dump(mode="json")
    assert result.structured_content == expected


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=120), engine=st.sampled_from(ENGINES))
def test_arbitrary_text_never_raises_on_the_real_catalog(both, text, engine):
    started = time.perf_counter()
    both.search_rules(text, engine=engine, limit=20)
    assert time.perf_counter() - started < 10
