"""The MCP server over the real-corpus catalog: in memory per tool, and one real stdio run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from rulecat.server.mcp_server import create_server

pytestmark = pytest.mark.anyio

T1559_001_SIGMA_TITLES = {
    "CMSTP Execution Process Access",
    "DNS Query Request By Regsvr32.EXE",
    "Network Connection Initiated By Regsvr32.EXE",
    "Dllhost.EXE Initiated Network Connection To Non-Local IP Address",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_every_tool_is_listed_read_only_with_an_output_schema(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert {"get_technique_coverage", "top_indicators", "find_rules_by_field", "get_rule",
            "catalog_info"} <= names
    for tool in tools:
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


async def test_coverage_tool_returns_the_four_t1559_001_sigma_rules(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.call_tool("get_technique_coverage", {"technique_id": "T1559.001"})
    answer = result.structured_content
    assert answer is not None and not result.is_error
    assert answer["counts"]["sigma"]["rules"] == 4
    assert {r["title"] for r in answer["rules"]["sigma"]} == T1559_001_SIGMA_TITLES


async def test_indicators_tool_reports_corpus_reach(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.call_tool(
            "top_indicators", {"technique_id": "T1559.001", "vendors": ["sigma"]})
    indicators = result.structured_content["indicators"]
    regsvr32 = [i for i in indicators
                if (i["field"], i["operator"], i["value"]) == ("process.name", "eq", "regsvr32.exe")]
    assert regsvr32 and regsvr32[0]["rules"] == 2
    assert regsvr32[0]["corpus_reach"] >= 65  # the Sigma catalog alone has 65


async def test_rules_by_field_tool_takes_a_vendor_spelling(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.call_tool(
            "find_rules_by_field", {"field": "Image", "value": "regsvr32", "limit": 5})
    answer = result.structured_content
    assert answer["field"] == "process.executable"
    assert answer["total"] > 5 and answer["returned"] == 5 and answer["next"]["offset"] == 5


async def test_get_rule_and_catalog_info_tools_answer(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        rule = await client.call_tool(
            "get_rule", {"rule_id": "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"})
        info = await client.call_tool("catalog_info", {})
    assert rule.structured_content["rule"]["title"] == "CMSTP Execution Process Access"
    assert rule.structured_content["raw"] is None
    assert info.structured_content["attack_version"] == "18.1"


async def test_the_text_block_is_the_structured_answer_as_compact_json(
    catalog_path: Path,
) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        answer = await client.call_tool("get_technique_coverage", {"technique_id": "T1559.001"})
    (block,) = answer.content
    assert json.loads(block.text) == answer.structured_content
    assert block.text == json.dumps(answer.structured_content, ensure_ascii=False,
                                    separators=(",", ":"))
    assert {r["title"] for r in answer.structured_content["rules"]["sigma"]} == \
        T1559_001_SIGMA_TITLES


async def test_a_bad_technique_id_is_an_error_the_model_can_act_on(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path)) as client:
        result = await client.call_tool("get_technique_coverage", {"technique_id": "T1559.009"})
    assert result.is_error
    text = result.content[0].text
    assert "T1559.001" in text and "Nearest" in text


async def test_stdio_serve_answers_t1559_001_as_structured_content(catalog_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rulecat.server.cli", "serve", "--catalog", str(catalog_path)],
        env={**os.environ},
    )
    async with Client(params) as client:
        result = await client.call_tool("get_technique_coverage", {"technique_id": "T1559.001"})
    assert {r["title"] for r in result.structured_content["rules"]["sigma"]} == \
        T1559_001_SIGMA_TITLES


@pytest.mark.parametrize(
    ("command", "tool", "args"),
    [
        (["coverage", "T1559.001"], "get_technique_coverage", {"technique_id": "T1559.001"}),
        (["indicators", "T1559.001"], "top_indicators", {"technique_id": "T1559.001"}),
        (["rules-by-field", "Image", "regsvr32"], "find_rules_by_field",
         {"field": "Image", "value": "regsvr32"}),
        (["rule", "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"], "get_rule",
         {"rule_id": "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"}),
        (["info"], "catalog_info", {}),
    ],
)
async def test_cli_json_equals_the_tools_structured_content(
    catalog_path: Path, command: list[str], tool: str, args: dict[str, object]
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rulecat.server.cli", *command, "--json", "--catalog",
         str(catalog_path)], check=True, capture_output=True, text=True)
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.call_tool(tool, args)
    assert json.loads(out.stdout) == result.structured_content


def test_query_commands_do_not_import_the_mcp_sdk(catalog_path: Path) -> None:
    code = ("import sys; from rulecat.server.cli import app; "
            "sys.argv=['rulecat','coverage','T1559.001','--json','--catalog',sys.argv[1]]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "assert 'mcp' not in sys.modules, 'mcp imported'")
    subprocess.run([sys.executable, "-c", code, str(catalog_path)], check=True,
                   capture_output=True)
