"""The README cannot drift from the server: its tool table names every tool and input."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from rulecat.server.mcp_server import create_server

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SHARED_FILTERS = {"sources", "vendors", "include_deprecated"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_readme_tool_table_lists_every_tool_and_its_inputs(tmp_path: Path) -> None:
    async with Client(create_server(tmp_path / "none.sqlite")) as client:
        tools = (await client.list_tools()).tools
    rows = {line.split("|")[1].strip(" `"): line for line in README.splitlines()
            if line.startswith("| `")}
    for tool in tools:
        assert tool.name in rows, f"README lacks tool {tool.name}"
        for name in set(tool.input_schema.get("properties", {})) - SHARED_FILTERS:
            assert f"`{name}`" in rows[tool.name], f"README lacks {tool.name}.{name}"


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = README[:2500]
    assert "rulecat build --corpora ../shared/corpora && rulecat coverage T1559.001" in first_screen
    assert "pip install '.[dev]' && python -m pytest -q" in first_screen
