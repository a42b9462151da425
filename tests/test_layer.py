"""ATT&CK Navigator layers (file format 4.5) from the real catalog: the format's fields, real
scores checked by hand, placement under tactics, paging, the CLI and the MCP tool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from mcp import Client

from rulecat.index.analytics.layer import build_layer, navigator_layer
from rulecat.index.answers import Filters
from rulecat.index.errors import InvalidArgument
from rulecat.server.mcp_server import create_server

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_HEX = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}
_DIVIDER = {"type": "object", "required": ["divider"], "properties": {"divider": _BOOL},
            "additionalProperties": False}
_METADATA = {"type": "array", "items": {"oneOf": [
    {"type": "object", "required": ["name", "value"], "additionalProperties": False,
     "properties": {"name": _STRING, "value": _STRING}}, _DIVIDER]}}
_LINKS = {"type": "array", "items": {"oneOf": [
    {"type": "object", "required": ["label", "url"], "additionalProperties": False,
     "properties": {"label": _STRING, "url": {"type": "string", "pattern": "^https?://"}}},
    _DIVIDER]}}

# The layer file format 4.5 (attack-navigator's layers/LAYERFORMATv4_5.md), as a JSON Schema:
# required fields, types, enumerations, and no property the format does not define.
LAYER_4_5 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "domain"],
    "additionalProperties": False,
    "properties": {
        "name": _STRING, "description": _STRING, "customDataURL": _STRING,
        "versions": {"type": "object", "required": ["navigator", "layer"],
                     "additionalProperties": False,
                     "properties": {"attack": _STRING, "navigator": _STRING,
                                    "layer": {"const": "4.5"}}},
        "domain": {"enum": ["enterprise-attack", "mobile-attack", "ics-attack"]},
        "filters": {"type": "object", "additionalProperties": False,
                    "properties": {"platforms": {"type": "array", "items": _STRING}}},
        "sorting": {"enum": [0, 1, 2, 3]},
        "layout": {"type": "object", "additionalProperties": False, "properties": {
            "layout": {"enum": ["side", "flat", "mini"]}, "showID": _BOOL, "showName": _BOOL,
            "showAggregateScores": _BOOL, "countUnscored": _BOOL,
            "aggregateFunction": {"enum": ["average", "min", "max", "sum"]},
            "expandedSubtechniques": {"enum": ["none", "all", "annotated"]}}},
        "hideDisabled": _BOOL,
        "techniques": {"type": "array", "items": {
            "type": "object", "required": ["techniqueID"], "additionalProperties": False,
            "properties": {
                "techniqueID": {"type": "string", "pattern": r"^T\d{4}(\.\d{3})?$"},
                "tactic": {"type": "string", "pattern": "^[a-z-]+$"}, "comment": _STRING,
                "enabled": _BOOL, "score": {"type": "number"}, "color": _STRING,
                "metadata": _METADATA, "links": _LINKS, "showSubtechniques": _BOOL}}},
        "gradient": {"type": "object", "required": ["colors", "minValue", "maxValue"],
                     "additionalProperties": False, "properties": {
                         "colors": {"type": "array", "minItems": 2, "items": _HEX},
                         "minValue": {"type": "number"}, "maxValue": {"type": "number"}}},
        "legendItems": {"type": "array", "items": {
            "type": "object", "required": ["label", "color"], "additionalProperties": False,
            "properties": {"label": _STRING, "color": _STRING}}},
        "showTacticRowBackground": _BOOL, "tacticRowBackground": _STRING,
        "selectTechniquesAcrossTactics": _BOOL, "selectSubtechniquesWithParent": _BOOL,
        "selectVisibleTechniques": _BOOL, "metadata": _METADATA, "links": _LINKS,
    },
}


@pytest.fixture(scope="module")
def layer(catalog) -> dict:
    return json.loads(build_layer(catalog).model_dump_json())


def _entries(layer: dict, technique: str) -> list[dict]:
    return [t for t in layer["techniques"] if t["techniqueID"] == technique]


def test_the_layer_follows_the_navigator_format_4_5(layer):
    jsonschema.validate(layer, LAYER_4_5)
    assert layer["versions"] == {"attack": "18", "navigator": "5.1.0", "layer": "4.5"}
    assert layer["domain"] == "enterprise-attack"
    assert layer["gradient"]["maxValue"] > layer["gradient"]["minValue"] == 1
    assert [i["color"] for i in layer["legendItems"]] == [
        layer["gradient"]["colors"][0], layer["gradient"]["colors"][-1]]


def test_t1559_001_scores_its_17_rules_under_execution(layer):
    # By hand: 4 Sigma rules tagged attack.t1559.001, 12 Elastic, 1 Splunk detection.
    (entry,) = _entries(layer, "T1559.001")
    assert (entry["tactic"], entry["score"]) == ("execution", 17)
    assert entry["metadata"] == [{"name": "elastic", "value": "12"},
                                 {"name": "sigma", "value": "4"},
                                 {"name": "splunk", "value": "1"}]
    assert entry["comment"] == "17 rules (elastic 12, sigma 4, splunk 1)"
    assert 1 <= len(entry["links"]) <= 3 and entry["showSubtechniques"] is False


def test_t1059_001_scores_its_373_rules_under_execution(layer):
    # By hand: 220 Sigma, 113 Elastic, 40 Splunk (non-deprecated) rules tagged T1059.001.
    (entry,) = _entries(layer, "T1059.001")
    assert (entry["tactic"], entry["score"]) == ("execution", 373)
    assert {m["name"]: m["value"] for m in entry["metadata"]} == {
        "sigma": "220", "elastic": "113", "splunk": "40"}
    (parent,) = _entries(layer, "T1059")
    assert parent["showSubtechniques"] is True and parent["score"] > entry["score"]


def test_a_technique_in_several_tactics_appears_once_per_tactic(layer, catalog):
    tactics = json.loads(catalog.db.execute(
        "SELECT tactics FROM techniques WHERE id = 'T1078'").fetchone()[0])
    entries = _entries(layer, "T1078")
    assert sorted(e["tactic"] for e in entries) == sorted(tactics) and len(tactics) == 4
    assert len({e["score"] for e in entries}) == 1
    cells = [(e["techniqueID"], e["tactic"]) for e in layer["techniques"]]
    assert len(cells) == len(set(cells))


def test_every_entry_is_an_active_technique_placed_under_its_own_tactics(layer, catalog):
    rows = {r[0]: json.loads(r[1]) for r in catalog.db.execute(
        "SELECT id, tactics FROM techniques WHERE known = 1 AND deprecated = 0 "
        "AND revoked_by IS NULL")}
    for entry in layer["techniques"]:
        assert entry["tactic"] in rows[entry["techniqueID"]]
    subs = [e for e in layer["techniques"] if "." in e["techniqueID"]]
    assert subs and {e["tactic"] for e in _entries(layer, "T1547.001")} == {
        "persistence", "privilege-escalation"}


def test_scores_equal_the_technique_coverage_totals(layer, catalog):
    for tid in ("T1003.001", "T1218", "T1547.001", "T1021.006"):
        (first, *_) = _entries(layer, tid)
        assert first["score"] == catalog.get_technique_coverage(tid).total


def test_shared_filters_change_the_scores(catalog):
    sigma = build_layer(catalog, filters=Filters(vendors=["sigma"]), include_links=False)
    (entry,) = [t for t in sigma.techniques if t.techniqueID == "T1559.001"]
    assert entry.score == 4 and sigma.name == "rulecat rule coverage (sigma)"
    with pytest.raises(InvalidArgument, match="min_score"):
        build_layer(catalog, min_score=0)


def test_pages_join_into_the_whole_layer(catalog, layer):
    entries, args = [], {"limit": 300}
    while args is not None:
        page = navigator_layer(catalog, **args)
        jsonschema.validate(json.loads(page.layer.model_dump_json()), LAYER_4_5)
        entries += [(t.techniqueID, t.tactic, t.score) for t in page.layer.techniques]
        args = page.next
    assert entries == [(t["techniqueID"], t["tactic"], t["score"]) for t in layer["techniques"]]
    assert navigator_layer(catalog).returned == 50


def test_cli_writes_the_whole_layer_without_the_mcp_sdk(catalog_path, tmp_path):
    out = tmp_path / "layer.json"
    code = ("import sys; from rulecat.server.cli import main; sys.argv = sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'mcp' not in sys.modules, 'the CLI imported the MCP SDK'")
    subprocess.run([sys.executable, "-c", code, "rulecat", "layer", "--out", str(out),
                    "--catalog", str(catalog_path)], check=True, capture_output=True)
    written = json.loads(out.read_text())
    jsonschema.validate(written, LAYER_4_5)
    assert _entries(written, "T1559.001")[0]["score"] == 17


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_layer_tool_returns_a_valid_page(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.call_tool("navigator_layer", {"limit": 5, "vendors": ["sigma"]})
    answer = result.structured_content
    assert not result.is_error and answer["returned"] == 5
    jsonschema.validate(answer["layer"], LAYER_4_5)
    assert answer["next"]["offset"] == 5 and answer["next"]["vendors"] == ["sigma"]
