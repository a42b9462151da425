"""The analytics tools over MCP (in memory) and their CLI twins (`--json` is the tool's
answer, the tables name what matters, and no query command imports the MCP SDK)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from rulecat.server.mcp_server import create_server

ANALYTICS_TOOLS = {"get_event_coverage", "list_events", "coverage_gaps", "events_to_collect",
                   "technique_telemetry", "telemetry_gaps", "navigator_layer"}

_RUN = ("import sys; from rulecat.server.cli import main; sys.argv = sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'mcp' not in sys.modules, 'the CLI imported the MCP SDK'")


def rulecat(catalog_path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", _RUN, "rulecat", *args, "--catalog",
                           str(catalog_path)], check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_analytics_tools_are_listed_read_only_and_described(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert ANALYTICS_TOOLS <= set(tools)
    for name in ANALYTICS_TOOLS:
        tool = tools[name]
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.description and len(tool.description) < 200
        for arg, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{name}.{arg} has no description"


@pytest.mark.anyio
async def test_tools_answer_from_the_real_catalog(catalog_path: Path) -> None:
    calls = {
        "get_event_coverage": ({"provider": "Sysmon", "event_id": 10}, ("total",), 48),
        "coverage_gaps": ({"tactics": ["execution"]}, ("overall", "no_rule"), 7),
        "events_to_collect": ({"limit": 1}, ("picks", 0, "new_techniques"), 316),
        "technique_telemetry": ({"technique_id": "T1559.001"}, ("covered",), 2),
        "list_events": ({"provider": "Sysmon", "limit": 1}, ("events", 0, "event_id"), 1),
    }
    async with Client(create_server(catalog_path), raise_exceptions=True) as client:
        for name, (args, path, expected) in calls.items():
            result = await client.call_tool(name, args)
            assert not result.is_error, name
            value = result.structured_content
            for key in path:
                value = value[key]
            assert value == expected, name


@pytest.mark.anyio
async def test_a_bad_provider_is_a_tool_error_naming_the_valid_ones(catalog_path: Path) -> None:
    async with Client(create_server(catalog_path)) as client:
        result = await client.call_tool("get_event_coverage", {"provider": "Sysmn", "event_id": 1})
    assert result.is_error
    assert "Did you mean Sysmon" in result.content[0].text


@pytest.mark.anyio
async def test_events_to_collect_takes_providers(catalog_path: Path) -> None:
    args = {"providers": ["Sysmon", "Security"], "limit": 2}
    async with Client(create_server(catalog_path)) as client:
        answer = (await client.call_tool("events_to_collect", args)).structured_content
        bad = await client.call_tool("events_to_collect", {"providers": ["Sysmn"]})
    assert answer["providers"] == ["Sysmon", "Security"]
    assert [(p["provider"], p["event_id"], p["new_techniques"]) for p in answer["picks"]] == [
        ("Sysmon", 1, 316), ("Sysmon", 13, 19)]
    assert (answer["reachable"], answer["outside_providers"]) == (387, 80)
    assert answer["next"] == {**args, "offset": 2}
    assert bad.is_error and "Unknown event provider 'Sysmn'" in bad.content[0].text
    assert "Did you mean Sysmon" in bad.content[0].text


@pytest.mark.parametrize("args", [
    ("event", "Sysmon", "10"),
    ("events", "--provider", "Sysmon", "--limit", "5"),
    ("gaps", "--tactic", "execution"),
    ("collect", "--limit", "3", "--collected", "Sysmon:1"),
    ("collect", "--limit", "3", "--provider", "Sysmon", "--provider", "Security"),
    ("telemetry", "T1559.001"),
    ("telemetry-gaps", "--limit", "3"),
    ("layer", "--limit", "3", "--vendor", "sigma"),
])
def test_cli_json_is_the_api_answer(catalog_path: Path, catalog, args: tuple[str, ...]) -> None:
    from rulecat.index.analytics import collect, events, gaps, layer, telemetry
    from rulecat.index.answers import Filters

    expected = {
        "event": lambda: events.get_event_coverage(catalog, "Sysmon", 10),
        "events": lambda: events.list_events(catalog, "Sysmon", limit=5),
        "gaps": lambda: gaps.coverage_gaps(catalog, ["execution"]),
        "collect": lambda: collect.events_to_collect(
            catalog, collected=_values(args, "--collected"), limit=3,
            providers=_values(args, "--provider")),
        "telemetry": lambda: telemetry.technique_telemetry(catalog, "T1559.001"),
        "telemetry-gaps": lambda: telemetry.telemetry_gaps(catalog, limit=3),
        "layer": lambda: layer.navigator_layer(catalog, filters=Filters(vendors=["sigma"]),
                                               limit=3),
    }[args[0]]()
    assert json.loads(rulecat(catalog_path, *args, "--json")) == json.loads(
        expected.model_dump_json())


def _values(args: tuple[str, ...], option: str) -> list[str]:
    return [v for k, v in zip(args, args[1:]) if k == option]


def test_cli_tables_show_the_figures(catalog_path: Path) -> None:
    event = rulecat(catalog_path, "event", "Sysmon", "10", "--limit", "3")
    assert "Sysmon 10 ProcessAccess: 48 rules (sigma 29, elastic 7, splunk 12)" in event
    collect = rulecat(catalog_path, "collect", "--limit", "2")
    assert "+316" in collect and "Elastic Defend" in collect
    mine = rulecat(catalog_path, "collect", "--provider", "Sysmon", "--provider", "security",
                   "--limit", "2")
    assert "reachable with Sysmon, Security events: 387; reachable only through other " \
        "providers: 80" in " ".join(mine.split())
    assert "+19" in mine and "Elastic Defend" not in mine
    telemetry = rulecat(catalog_path, "telemetry", "T1559.001")
    assert "recommended by ATT&CK (2 of 5 covered)" in telemetry and "NO" in telemetry
