"""Resources, prompts and completions from a real client: in memory, and once over stdio.

Also the size of `tools/list`: what a client puts in the model's context for every turn.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import PromptReference, ResourceTemplateReference

from rulecat.server.mcp_server import create_server

pytestmark = pytest.mark.anyio

CMSTP = "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"
# Name, description and input schema of every tool: what a model reads to pick one.
TOOLS_LIST_LIMIT = 12 * 1024
CALL = re.compile(r"\b([a-z]+(?:_[a-z]+)+)\(")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _json(result) -> dict:  # type: ignore[no-untyped-def]
    content = result.contents[0]
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def test_resource_templates_are_listed_with_the_catalog_resource(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        templates = (await client.list_resource_templates()).resource_templates
        resources = (await client.list_resources()).resources
    assert {t.uri_template for t in templates} == {
        "rulecat://rule/{id}", "rulecat://technique/{id}", "rulecat://event/{provider}/{event_id}",
        "rulecat://schema/{tool}"}
    assert all(t.description and t.mime_type == "application/json" for t in templates)
    assert [str(r.uri) for r in resources] == ["rulecat://catalog"]


async def test_rule_resource_is_the_whole_rule_with_its_text(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        rule = _json(await client.read_resource(f"rulecat://rule/{CMSTP}"))
    assert rule["rule"]["title"] == "CMSTP Execution Process Access"
    assert rule["detection"][0]["vendor_field"] == "CallTrace"
    assert "cmlua.dll" in rule["raw"]


async def test_technique_resource_holds_coverage_and_indicators(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        answer = _json(await client.read_resource("rulecat://technique/T1559.001"))
    counts = {v: c["rules"] for v, c in answer["coverage"]["counts"].items()}
    assert counts == {"sigma": 4, "elastic": 12, "splunk": 1}
    events = {(e["provider"], e["event_id"]) for e in answer["coverage"]["events"]}
    assert {("Sysmon", 3), ("Sysmon", 10), ("Sysmon", 22)} <= events
    assert answer["indicators"]["fields"][0]["field"] == "process.name"


async def test_event_resource_answers_as_the_events_view(catalog_path: Path, catalog) -> None:
    from rulecat.index.analytics.events import get_event_coverage

    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        sysmon = _json(await client.read_resource("rulecat://event/Sysmon/10"))
        defend = _json(await client.read_resource("rulecat://event/Elastic%20Defend/1"))
    assert sysmon["event"]["title"] == "ProcessAccess"
    assert sysmon["total"] == get_event_coverage(catalog, "Sysmon", 10).total > 0
    assert "T1003.001" in {t["id"] for t in sysmon["techniques"]}  # LSASS access
    assert defend["event"]["provider"] == "Elastic Defend" and defend["total"] > 100


@pytest.mark.parametrize(("uri", "says"), [
    ("rulecat://rule/sigma:nope", "No rule"),
    ("rulecat://technique/T1559.009", "T1559.001"),
    ("rulecat://event/Sysmn/10", "Did you mean Sysmon"),
    ("rulecat://event/Sysmon/ten", "must be a number"),
])
async def test_a_bad_resource_uri_is_an_error_saying_what_to_try(
    catalog_path: Path, uri: str, says: str
) -> None:
    async with Client(create_server(catalog_path)) as client:
        with pytest.raises(MCPError, match=re.escape(says)):
            await client.read_resource(uri)


async def test_prompts_are_listed_with_described_arguments(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        prompts = (await client.list_prompts()).prompts
    by_name = {p.name: p for p in prompts}
    assert set(by_name) == {"technique_coverage_review", "tactic_gap_analysis", "explain_rule",
                            "field_across_vendors"}
    for prompt in prompts:
        assert prompt.description and prompt.arguments
        assert all(a.description for a in prompt.arguments)
    required = {a.name for a in by_name["explain_rule"].arguments if a.required}
    assert required == {"rule_id"}


async def _prompt_text(client: Client, name: str, args: dict[str, str]) -> str:
    result = await client.get_prompt(name, args)
    assert len(result.messages) == 1 and result.messages[0].role == "user"
    return result.messages[0].content.text  # type: ignore[union-attr]


async def test_prompts_name_their_subject_and_only_listed_tools(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        review = await _prompt_text(client, "technique_coverage_review",
                                    {"technique_id": "t1559.001"})
        gaps = await _prompt_text(client, "tactic_gap_analysis",
                                  {"tactic": "Execution", "vendors": "splunk"})
        explain = await _prompt_text(client, "explain_rule", {"rule_id": CMSTP})
        field = await _prompt_text(client, "field_across_vendors",
                                   {"field": "Image", "value": "regsvr32"})
    assert "T1559.001 (Component Object Model)" in review
    assert 'get_technique_coverage(technique_id="T1559.001"' in review
    assert "tactic Execution" in gaps and "17 techniques" in gaps
    assert "CMSTP Execution Process Access" in explain and f"rulecat://rule/{CMSTP}" in explain
    assert 'find_rules_by_field(field="Image", value="regsvr32"' in field
    for text in (review, gaps, explain, field):
        named = set(CALL.findall(text))
        assert named and named <= tools, named - tools


@pytest.mark.parametrize(("name", "args", "says"), [
    ("technique_coverage_review", {"technique_id": "T1559.009"}, "Nearest IDs"),
    ("tactic_gap_analysis", {"tactic": "Exfil"}, "Valid tactics"),
    ("explain_rule", {"rule_id": "sigma:nope"}, "No rule"),
    ("technique_coverage_review", {"technique_id": "T1059", "vendors": "acme"}, "Valid"),
])
async def test_a_prompt_with_a_bad_argument_is_an_error_naming_valid_ones(
    catalog_path: Path, name: str, args: dict[str, str], says: str
) -> None:
    async with Client(create_server(catalog_path)) as client:
        with pytest.raises(MCPError, match=says):
            await client.get_prompt(name, args)


async def _complete(client: Client, ref, name: str, value: str,  # type: ignore[no-untyped-def]
                    known: dict[str, str] | None = None) -> list[str]:
    result = await client.complete(ref=ref, argument={"name": name, "value": value},
                                   context_arguments=known)
    return result.completion.values


async def test_completions_offer_techniques_fields_and_providers(catalog_path: Path) -> None:
    review = PromptReference(name="technique_coverage_review")
    event = ResourceTemplateReference(uri="rulecat://event/{provider}/{event_id}")
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        assert await _complete(client, review, "technique_id", "T1559") == [
            "T1559", "T1559.001", "T1559.002", "T1559.003"]
        assert "T1559.001" in await _complete(client, review, "technique_id", "component obj")
        fields = await _complete(client, PromptReference(name="field_across_vendors"),
                                 "field", "proc")
        providers = await _complete(client, event, "provider", "sys")
        event_ids = await _complete(client, event, "event_id", "2", {"provider": "Sysmon"})
    assert fields[0] == "process.command_line" and "process.name" in fields[:5]
    assert providers[0] == "Sysmon" and "Sysmon for Linux" in providers
    assert "22" in event_ids and all(v.startswith("2") for v in event_ids)


async def test_completions_offer_rule_ids_and_tactics(catalog_path: Path) -> None:
    rule = ResourceTemplateReference(uri="rulecat://rule/{id}")
    technique = ResourceTemplateReference(uri="rulecat://technique/{id}")
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        assert CMSTP in await _complete(client, rule, "id", "sigma:3b4b")
        assert "T1003.001" in await _complete(client, technique, "id", "T1003.")
        tactics = await _complete(client, PromptReference(name="tactic_gap_analysis"),
                                  "tactic", "priv")
        nothing = await client.complete(ref=PromptReference(name="explain_rule"),
                                        argument={"name": "audience", "value": "a"})
    assert tactics == ["privilege-escalation"]
    assert nothing.completion.values == []


async def test_completion_answers_are_capped_at_100_with_a_total(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        result = await client.complete(ref=ResourceTemplateReference(uri="rulecat://rule/{id}"),
                                       argument={"name": "id", "value": "sigma:"})
    assert len(result.completion.values) == 100
    assert result.completion.total > 3000 and result.completion.has_more is True


async def test_stdio_server_serves_resources_prompts_and_completions(catalog_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rulecat.server.cli", "serve", "--catalog", str(catalog_path)],
        env={**os.environ},
    )
    async with Client(params) as client:
        rule = _json(await client.read_resource(f"rulecat://rule/{CMSTP}"))
        prompt = await _prompt_text(client, "technique_coverage_review",
                                    {"technique_id": "T1559.001"})
        done = await client.complete(ref=PromptReference(name="technique_coverage_review"),
                                     argument={"name": "technique_id", "value": "T1559.00"})
    assert rule["rule"]["id"] == CMSTP
    assert "Component Object Model" in prompt
    assert done.completion.values == ["T1559.001", "T1559.002", "T1559.003"]


def tools_list_bytes(tools: list) -> tuple[int, int]:  # type: ignore[type-arg]
    """(whole `tools/list` JSON, the part a model reads: name, description, input schema)."""
    full = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    read = [{k: t[k] for k in ("name", "description", "inputSchema") if k in t} for t in full]

    def size(value: object) -> int:
        return len(json.dumps(value, separators=(",", ":")).encode())

    return size(full), size(read)


async def test_tools_list_stays_under_12_kb_in_total(tmp_path: Path) -> None:
    async with Client(create_server(tmp_path / "none.sqlite")) as client:
        tools = (await client.list_tools()).tools
    whole, read = tools_list_bytes(tools)
    assert whole < TOOLS_LIST_LIMIT, f"tools/list is {whole} bytes; keep it terse"
    assert read < whole
    assert all(t.output_schema == {"type": "object"} for t in tools)
    # Optional parameters are published as their type, not anyOf [type, null].
    assert "anyOf" not in json.dumps([t.input_schema for t in tools])


async def test_each_answer_schema_is_a_resource_the_answers_validate_against(
    catalog_path: Path,
) -> None:
    from jsonschema import validate

    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        schema = _json(await client.read_resource("rulecat://schema/top_indicators"))
        answer = await client.call_tool("top_indicators", {"technique_id": "T1559.001"})
        tools = {t.name for t in (await client.list_tools()).tools}
        done = await client.complete(ref=ResourceTemplateReference(uri="rulecat://schema/{tool}"),
                                     argument={"name": "tool", "value": "get_"})
        with pytest.raises(MCPError, match="no such tool; try one of catalog_info"):
            await client.read_resource("rulecat://schema/coverage")
    assert schema["properties"]["indicators"]["description"]
    assert "reach" in json.dumps(schema)
    validate(answer.structured_content, schema)
    assert set(done.completion.values) == {t for t in tools if t.startswith("get_")} == {
        "get_technique_coverage", "get_rule", "get_event_coverage"}
