"""Full-text search on small, hand-made inputs: the analyzer, query escaping (property tests),
query-text extraction, snippets, engine choice, and the Whoosh build beside the catalog.

The same queries on both engines over the real corpora are in test_search_contract.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.api import Catalog
from rulecat.index.build import BuildInputs, SourceSpec, build_catalog
from rulecat.index.errors import InvalidArgument
from rulecat.index.search import TextIndexUnavailable, whoosh_folder
from rulecat.index.search.analyzer import MAX_TERMS, Term, fts5_match, parse_query, words
from rulecat.index.search.document import RuleDocument, query_text
from rulecat.index.search.snippets import Explainer

FILES = Path(__file__).parent / "files"


def whoosh_or_fail() -> None:
    """The Whoosh extra: missing, a test fails when CI is set and skips otherwise."""
    if importlib.util.find_spec("whoosh") is None:
        message = "Whoosh is not installed: pip install '.[whoosh]' (the dev extra has it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def small_inputs(engine: str = "fts5") -> BuildInputs:
    """The hand-written rule files of every vendor, with the mini ATT&CK bundle."""
    return BuildInputs(
        sources=[SourceSpec(name=v, vendor=v, root=FILES / v)
                 for v in ("sigma", "elastic", "splunk")],
        attack=FILES / "attack" / "mini-bundle.json", text_engine=engine)


@pytest.fixture(scope="module")
def small_whoosh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    whoosh_or_fail()
    path = tmp_path_factory.mktemp("small") / "catalog.sqlite"
    build_catalog(small_inputs("whoosh"), path)
    return path


# -- the analyzer and the query ---------------------------------------------------------


def test_identifiers_are_read_as_the_phrase_of_their_words():
    terms = parse_query(r'powershell.exe process.command_line \\regsvr32.exe -EncodedCommand '
                        'T1059.001')
    assert [str(t) for t in terms] == [
        '"powershell exe"', '"process command line"', '"regsvr32 exe"', "encodedcommand",
        '"t1059 001"']


def test_quotes_make_a_phrase_and_repeated_terms_count_once():
    terms = parse_query('"lateral movement" dcom DCOM "unbalanced')
    assert [str(t) for t in terms] == ['"lateral movement"', "dcom", "unbalanced"]


def test_the_analyzer_splits_words_at_underscores_and_lowers_case():
    assert words("Process.Command_Line='C:\\Windows\\x.EXE'") == [
        "process", "command", "line", "c", "windows", "x", "exe"]


def test_a_word_finds_the_identifiers_it_is_joined_into(catalog):
    # Regression: `mimikatz` missed Image|endswith '\mimikatz_windows.exe' (impacket tools).
    hits = catalog.search_rules("mimikatz", limit=200)
    assert "HackTool - Impacket Tools Execution" in {h.title for h in hits.results}


def test_a_query_without_words_asks_for_words_instead_of_failing(small_whoosh: Path):
    answer = Catalog(small_whoosh).search_rules('"*" -- \\\\ ()')
    assert answer.total == 0 and answer.terms == []
    assert "no letters or digits" in answer.notes[0]


def test_an_overlong_query_or_too_many_terms_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="keep it under"):
        parse_query("x" * 100_000)
    with pytest.raises(InvalidArgument, match=f"at most {MAX_TERMS}"):
        parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))


def test_fts5_strings_double_any_quote():
    assert fts5_match([Term(('a"b',))], require_all=True) == '"a""b"'
    assert fts5_match([Term(("a",)), Term(("b", "c"))], require_all=False) == '"a" OR "b c"'


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_no_text_breaks_the_fts5_query_syntax(text: str):
    """Whatever a person types becomes a valid FTS5 expression (on an in-memory table)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize = \"unicode61 tokenchars '_'\")")
    db.execute("INSERT INTO t VALUES ('powershell.exe -EncodedCommand process.command_line')")
    terms = parse_query(text)
    if terms:
        for require_all in (True, False):
            db.execute("SELECT rowid FROM t WHERE t MATCH ?",
                       (fts5_match(terms, require_all),)).fetchall()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200), engine=st.sampled_from(["fts5", "whoosh"]))
def test_arbitrary_text_never_raises_and_answers_quickly_on_either_engine(
    small_whoosh: Path, text: str, engine: str
):
    catalog = _small_catalog(small_whoosh)
    started = time.perf_counter()
    answer = catalog.search_rules(text, engine=engine, limit=5)
    assert time.perf_counter() - started < 5
    assert answer.returned <= 5 and answer.engine == engine


_CATALOGS: dict[Path, Catalog] = {}


def _small_catalog(path: Path) -> Catalog:
    """One open catalog per path across hypothesis examples (fixtures are not re-run)."""
    return _CATALOGS.setdefault(path, Catalog(path))


# -- documents and snippets -------------------------------------------------------------


def test_the_query_text_is_the_rules_query_not_its_whole_file():
    sigma = ("title: x\ndetection:\n    sel:\n        Image: a.exe\n    condition: sel\n"
             "level: high\n")
    assert "a.exe" in query_text("sigma", sigma) and "level" not in query_text("sigma", sigma)
    elastic = ('[transform]\n[[transform.osquery]]\nquery = "SELECT 1"\n\n[rule]\nname = "x"\n'
               "note = '''\n[a link](https://x)\n'''\nquery = '''\nsequence\n"
               "[process where true]\n'''\n\n[[rule.threat]]\n")
    assert query_text("elastic", elastic) == "\nsequence\n[process where true]\n"
    splunk = "name: x\nsearch: '| tstats count\n  from datamodel=Endpoint'\nhow_to_implement: y\n"
    assert "datamodel=Endpoint" in query_text("splunk", splunk)
    assert "how_to" not in query_text("splunk", splunk)


def test_a_snippet_comes_from_a_field_other_than_the_title_with_matches_in_bold():
    doc = RuleDocument(rowid=1, title="Regsvr32 Network", description="Detects regsvr32.exe "
                       "making network connections.", query="Image|endswith: '\\regsvr32.exe'")
    matched_in, snippet = Explainer(parse_query("regsvr32.exe")).explain(doc)
    assert matched_in == ["description", "query"]
    assert snippet == "Detects **regsvr32.exe** making network connections."


def test_a_word_inside_another_word_is_not_a_match():
    doc = RuleDocument(rowid=1, title="x", description="xregsvr32.exe and regsvr32.exex")
    assert Explainer(parse_query("regsvr32.exe")).explain(doc)[0] == []


# -- engines ----------------------------------------------------------------------------


def test_a_whoosh_build_records_its_engine_and_writes_a_folder_named_after_the_build(
    small_whoosh: Path,
):
    catalog = Catalog(small_whoosh)
    assert catalog.meta["text_engine"] == "whoosh"
    folder = whoosh_folder(small_whoosh, catalog.meta["build_id"])
    assert folder.is_dir() and catalog.meta["text_index"] == folder.name
    assert catalog.search_rules("regsvr32.exe").engine == "whoosh"
    assert catalog.search_rules("regsvr32.exe", engine="fts5").engine == "fts5"


def test_rebuilding_keeps_the_replaced_catalogs_whoosh_folder_and_drops_older_ones(
    tmp_path: Path,
):
    whoosh_or_fail()
    path = tmp_path / "catalog.sqlite"
    ids = []
    for _ in range(3):
        build_catalog(small_inputs("whoosh"), path)
        ids.append(Catalog(path).meta["build_id"])
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert left == sorted(whoosh_folder(path, i).name for i in ids[1:])


def test_a_catalog_built_for_whoosh_falls_back_to_fts5_with_a_note_when_its_folder_is_gone(
    tmp_path: Path,
):
    whoosh_or_fail()
    path = tmp_path / "catalog.sqlite"
    build_catalog(small_inputs("whoosh"), path)
    import shutil

    shutil.rmtree(whoosh_folder(path, Catalog(path).meta["build_id"]))
    answer = Catalog(path).search_rules("regsvr32.exe")
    assert answer.engine == "fts5" and answer.total == 2
    assert "Answered with fts5" in answer.notes[0]
    with pytest.raises(TextIndexUnavailable, match="rulecat build --text-engine whoosh"):
        Catalog(path).search_rules("regsvr32.exe", engine="whoosh")


def test_the_environment_chooses_the_engine_unless_a_call_does(
    small_whoosh: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RULECAT_TEXT_ENGINE", "fts5")
    assert Catalog(small_whoosh).search_rules("regsvr32").engine == "fts5"
    monkeypatch.setenv("RULECAT_TEXT_ENGINE", "lucene")
    with pytest.raises(InvalidArgument, match="Valid: fts5, whoosh"):
        Catalog(small_whoosh).search_rules("regsvr32")


def test_an_unknown_engine_fails_before_the_build_reads_anything(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="Unknown text engine 'lucene'"):
        build_catalog(small_inputs("lucene"), tmp_path / "c.sqlite")
    assert not list(tmp_path.iterdir())


def test_bad_filters_say_what_is_valid(small_whoosh: Path):
    catalog = Catalog(small_whoosh)
    with pytest.raises(InvalidArgument, match="Valid: critical, high"):
        catalog.search_rules("regsvr32", levels=["severe"])
    with pytest.raises(InvalidArgument, match="Unknown tactics: sideways"):
        catalog.search_rules("regsvr32", tactics=["sideways"])
    with pytest.raises(InvalidArgument, match="limit must be between"):
        catalog.search_rules("regsvr32", limit=10_000)


# -- the command line -------------------------------------------------------------------


def _rulecat(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from rulecat.server.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False)


def test_rulecat_search_json_prints_exactly_the_tools_answer(small_whoosh: Path):
    out = _rulecat("search", "regsvr32.exe", "--json", "--catalog", str(small_whoosh))
    assert out.returncode == 0, out.stderr
    expected = Catalog(small_whoosh).search_rules("regsvr32.exe")
    assert json.loads(out.stdout) == json.loads(expected.model_dump_json())


def test_rulecat_search_prints_a_table_and_suggestions(small_whoosh: Path):
    out = _rulecat("search", "regsvr32.exe", "--catalog", str(small_whoosh),
                   "--text-engine", "fts5")
    assert "Regsvr32 Scriptlet Execution" in out.stdout and "(match all, fts5)" in out.stdout
    out = _rulecat("search", "regsvr33", "--catalog", str(small_whoosh))
    assert "did you mean regsvr32" in out.stdout


def test_the_search_command_does_not_import_the_mcp_sdk():
    code = ("import sys\nfrom rulecat.server import cli, commands_search\n"
            "commands_search.register(cli.app)\n"
            "assert not [m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
