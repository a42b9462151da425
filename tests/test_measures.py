"""Tests of a derived measure (`length(f) > n`, a ratio of lengths) are not tests of the value:
they count for their field in "fields filtered most" under a labelled operator, give no
sample, no indicator and no corpus reach, and the CLI shows their transforms."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from conftest import require
from rulecat.index.aggregates import PredicateTuple, aggregate
from rulecat.index.api import Catalog
from rulecat.index.build import BuildInputs, SourceSpec, build_catalog
from rulecat.index.measures import measure
from rulecat.server import render
from test_incremental import assert_same_content

OBFUSCATION = "elastic:6ddb6c33-00ce-4acd-832a-24b251512023"  # special character overuse
SCRIPT_BLOCK = "powershell.file.script_block_text"


# -- which transforms measure ------------------------------------------------------------------


@pytest.mark.parametrize(("transforms", "expected"), [
    (["length"], "length"),
    (["len"], "length"),
    (["to_string", "length"], "length"),
    (["replace", "length"], "length"),
    (["replace", "length", "subtract"], "length-subtract"),
    (["replace", "length", "subtract", "to_double", "divide"], "length-subtract-divide"),
    (["mv_count"], "count"),
    (["locate"], "position"),
    (["string", "indexOf"], "position"),
    (["subtract"], "subtract"),
])
def test_size_position_and_arithmetic_transforms_make_a_measure(
    transforms: list[str], expected: str
) -> None:
    assert measure(transforms) == expected


@pytest.mark.parametrize("transforms", [
    [], ["to_lower"], ["coalesce"], ["grok", "coalesce"], ["windash"], ["base64offset"],
    ["all"], ["re:i"], ["startsWith", "ref:substring"], ["endsWith"], ["to_double"],
    ["to_integer"], ["to_string"], ["to_ip"], ["eval", "replace"], ["url_decode", "to_lower"],
])
def test_value_keeping_transforms_make_no_measure(transforms: list[str]) -> None:
    assert measure(transforms) is None


# -- a small hand-written case -----------------------------------------------------------------


def _pred(rule: int, operator: str, value: str, transforms: str = "[]") -> PredicateTuple:
    field = "process.command_line"
    return PredicateTuple(rule, "elastic", "detect", field, field, operator, field, value,
                          field, operator, value, transforms)


def test_a_measure_counts_for_its_field_but_is_no_indicator() -> None:
    asked: list[object] = []

    def reach(key: object) -> tuple[int, int]:
        asked.append(key)
        return (7, 0)

    preds = [_pred(1, "wildcard", "*-enc*"), _pred(2, "gt", "1000", '["length"]'),
             _pred(3, "gte", "0.75", '["replace", "length", "subtract", "divide"]'),
             _pred(3, "wildcard", "*-enc*")]
    aggs = aggregate(preds, reach, limit=10)
    (row,) = aggs.fields
    assert (row.rules, row.samples) == (3, ["*-enc*"])
    assert row.how == {"wildcard": 2, "length gt": 1, "length-subtract-divide gte": 1}
    assert [(i.operator, i.value, i.rules) for i in aggs.indicators] == [("wildcard", "*-enc*", 2)]
    assert asked == [("process.command_line", "wildcard", "*-enc*")]


def _elastic_rule(rule_id: str, name: str, query: str) -> str:
    return f'''[metadata]
creation_date = "2025/01/01"
maturity = "production"
updated_date = "2025/01/01"

[rule]
author = ["test"]
description = "A test rule."
language = "esql"
license = "Elastic License v2"
name = "{name}"
risk_score = 21
rule_id = "{rule_id}"
severity = "low"
type = "esql"
query = \'\'\'
{query}
\'\'\'

[[rule.threat]]
framework = "MITRE ATT&CK"
[[rule.threat.technique]]
id = "T1059"
name = "Command and Scripting Interpreter"
reference = "https://attack.mitre.org/techniques/T1059/"
[[rule.threat.technique.subtechnique]]
id = "T1059.001"
name = "PowerShell"
reference = "https://attack.mitre.org/techniques/T1059/001/"

[rule.threat.tactic]
id = "TA0002"
name = "Execution"
reference = "https://attack.mitre.org/tactics/TA0002/"
'''


LONG = "00000000-0000-4000-8000-00000000107e"
VALUE = "00000000-0000-4000-8000-0000000010a1"


def _write_rules(root: Path, threshold: int) -> None:
    rules = root / "rules" / "windows"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "long_command_line.toml").write_text(_elastic_rule(
        LONG, "Long command line",
        'from logs-* | where process.name == "powershell.exe" and '
        f"length(process.command_line) > {threshold}"))
    (rules / "command_line_value.toml").write_text(_elastic_rule(
        VALUE, "Command line compared as a value",
        'from logs-* | where process.name == "powershell.exe" and process.command_line > 1000'))


@pytest.fixture(scope="module")
def small(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildInputs, Path]:
    attack = require(corpora / "attack", "ATT&CK data") / "enterprise-attack.json"
    root = tmp_path_factory.mktemp("measures") / "elastic"
    _write_rules(root, 1000)
    inputs = BuildInputs(sources=[SourceSpec(name="elastic", vendor="elastic", root=root)],
                         attack=attack)
    return inputs, root


def test_a_measure_adds_nothing_to_the_value_test_that_shares_its_key(
    small: tuple[BuildInputs, Path], tmp_path: Path
) -> None:
    inputs, _ = small
    build_catalog(inputs, tmp_path / "c.sqlite")
    cat = Catalog(tmp_path / "c.sqlite")
    try:
        for limit in (50, 60):  # the stored answer, then the live one
            answer = cat.top_indicators("T1059.001", limit=limit)
            row = next(f for f in answer.fields if f.field == "process.command_line")
            assert (row.rules, row.how, row.samples) == (2, {"gt": 1, "length gt": 1}, ["1000"])
            tests = [(i.field, i.operator, i.value, i.rules, i.corpus_reach)
                     for i in answer.indicators if i.field == "process.command_line"]
            assert tests == [("process.command_line", "gt", "1000", 1, 1)]
        long = cat.get_rule(f"elastic:{LONG}").detection
        assert [(p.transforms, p.corpus_reach) for p in long if p.field == "process.command_line"
                ] == [(["length"], None)]
    finally:
        cat.close()


def test_an_incremental_rebuild_of_a_measure_equals_a_full_build(
    small: tuple[BuildInputs, Path], tmp_path: Path
) -> None:
    inputs, root = small
    catalog, full = tmp_path / "inc.sqlite", tmp_path / "full.sqlite"
    build_catalog(inputs, catalog)
    _write_rules(root, 2000)
    try:
        assert build_catalog(inputs, catalog, incremental=True).mode == "incremental"
        build_catalog(inputs, full)
        assert_same_content(catalog, full)
    finally:
        _write_rules(root, 1000)


# -- the real catalog ------------------------------------------------------------------------


def test_t1059_001_script_block_text_counts_measures_apart(catalog: Catalog) -> None:
    """Before: how {..., gte 11, gt 9}, samples `*new-object* | 1 | 500 | ...`, and the
    indicators `script_block_text gt 500` and `gte 1` (6 rules each, reach 6) though no rule
    compares the script's text with 500 or 1: they were lengths and counts of characters."""
    stored = catalog.top_indicators("T1059.001", limit=50)
    live = catalog.top_indicators("T1059.001", limit=60)
    for answer in (stored, live):
        row = next(f for f in answer.fields if f.field == SCRIPT_BLOCK)
        assert row.rules == 132
        assert row.how == {"wildcard": 77, "eq": 32, "regex_match": 15,
                           "length-subtract gte": 10, "length gt": 9,
                           "length-subtract-divide gt": 2, "length-subtract-divide gte": 1}
        assert row.samples == ["*new-object*", "*&&*", "*hidden*", "*iex*", "*shell32.dll*"]
        numeric = [i for i in answer.indicators + answer.exclusions
                   if i.field == SCRIPT_BLOCK and i.operator in ("gt", "gte")]
        assert numeric == []
    assert [r.model_dump() for r in live.fields[:50]] == [r.model_dump() for r in stored.fields]
    assert live.indicators[:50] == stored.indicators


def test_a_measure_has_no_corpus_reach(catalog: Catalog, catalog_path: Path) -> None:
    conn = sqlite3.connect(catalog_path)
    try:
        reach = conn.execute("SELECT reach FROM indicators WHERE ind_field = ? AND "
                             "ind_operator = 'gt' AND ind_value = '500'", (SCRIPT_BLOCK,))
        assert reach.fetchone() == (0,)  # six rules test length > 500, none the text
    finally:
        conn.close()
    rows = catalog.get_rule(OBFUSCATION).detection
    assert [(p.operator, p.value, p.corpus_reach) for p in rows if p.field == SCRIPT_BLOCK] == [
        ("gt", "1000", None), ("gte", "0.75", None)]


def test_the_cli_shows_a_measure_with_its_transforms(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=out, width=200, soft_wrap=False))
    render.show_rule(catalog.get_rule(OBFUSCATION))
    lines = [" ".join(line.split()) for line in out.getvalue().splitlines()]
    assert f"length(replace({SCRIPT_BLOCK})) gt 1000 -" in lines
    assert f"{SCRIPT_BLOCK} gte 0.75 [replace,length,subtract,to_double,divide] -" in lines
    assert "event.code eq 4104 116" in lines


def test_predicate_text_is_compact() -> None:
    assert render.predicate_text("process.command_line", "gt", "1000", ["length"]) == (
        "length(process.command_line) gt 1000")
    assert render.predicate_text("Image", "wildcard", "*\\cmd.exe", []) == (
        "Image wildcard *\\cmd.exe")
    assert render.predicate_text("CommandLine", "wildcard", "*-enc*", ["windash"]) == (
        "CommandLine wildcard *-enc* [windash]")
