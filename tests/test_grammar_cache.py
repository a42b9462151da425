"""The grammars' parse tables are cached on disk (lark's cache): a parser loaded from the
cache reads queries exactly as one built afresh, and a missing, damaged or unwritable cache
only costs time."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from lark import Lark

from rulecat.index.parsers import eql, lalr_parser

DCOM_HTA = "rules/windows/lateral_movement_dcom_hta.toml"


def _query(elastic_corpus: Path) -> str:
    rule = tomllib.loads((elastic_corpus / DCOM_HTA).read_text(encoding="utf-8"))["rule"]
    return str(rule["query"])


def _fresh(**options: object) -> Lark:
    return Lark(eql._GRAMMAR, parser="lalr", maybe_placeholders=False,
                transformer=eql._ToSteps(), **options)


def _cached() -> Lark:
    return lalr_parser(eql._GRAMMAR, maybe_placeholders=False, transformer=eql._ToSteps())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RULECAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "grammars"


def test_the_first_parser_writes_one_whole_file_and_the_next_loads_it(cache, elastic_corpus):
    query = _query(elastic_corpus)
    built = _cached()
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 1 and files[0].endswith(".lark")  # no partial file left behind
    loaded = _cached()
    assert sorted(p.name for p in cache.iterdir()) == files
    expected = eql.read_tree(_fresh(), query)
    assert eql.read_tree(built, query) == expected
    assert eql.read_tree(loaded, query) == expected
    # The real rule's steps and `by` keys, through the loaded tables.
    steps, keys = eql.read_tree(loaded, query)
    assert [s.label for s in steps] == ["step1", "step2"] and {k.name for k in keys} == {"host.id", "process.entity_id"}


def test_a_damaged_cache_file_is_built_again(cache, elastic_corpus):
    query = _query(elastic_corpus)
    _cached()
    (path,) = cache.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    assert eql.read_tree(_cached(), query) == eql.read_tree(_fresh(), query)


def test_an_unwritable_cache_still_parses(tmp_path, monkeypatch, elastic_corpus):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RULECAT_CACHE", str(blocker))
    query = _query(elastic_corpus)
    assert eql.read_tree(_cached(), query) == eql.read_tree(_fresh(), query)


def test_another_grammar_gets_its_own_file(cache):
    _cached()
    lalr_parser('start: "a"+\n')
    assert len(list(cache.iterdir())) == 2
