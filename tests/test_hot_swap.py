"""Serving during builds: no catalog yet, a build in another process, then a rebuild.

The server is created before any catalog exists and never restarted: tools first say how
to build one, then answer from each new build once its file is renamed into place, while a
call already running when the rename happens finishes on the file it started with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import ResourceTemplateReference

from rulecat.index.api import Catalog
from rulecat.index.build import SourceSpec, build_catalog, inputs_from_corpora
from rulecat.server.mcp_server import ToolContext, create_server

FILES = Path(__file__).parent / "files"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _cli_build(corpora: Path, target: Path) -> str:
    """Build acme alone in another process, as a user would; return its build id."""
    done = subprocess.run(
        [sys.executable, "-m", "rulecat.server.cli", "build", "--json", "--catalog", str(target),
         "--attack", str(corpora / "attack" / "enterprise-attack.json"),
         "--source", f"acme=sigma:{FILES / 'acme'}"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["build_id"]


def _rebuild(corpora: Path, target: Path) -> str:
    """acme plus the small Sigma test folder: different content, a new build id."""
    inputs = inputs_from_corpora(corpora)
    inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "acme"),
                      SourceSpec(name="tests", vendor="sigma", root=FILES / "sigma")]
    return build_catalog(inputs, target).build_id


async def _info(client: Client) -> dict:
    result = await client.call_tool("catalog_info", {})
    assert not result.is_error, result.content
    return result.structured_content


async def test_a_server_started_before_any_catalog_answers_after_each_build(
    corpora: Path, tmp_path: Path,
) -> None:
    target = tmp_path / "catalog.sqlite"
    async with Client(create_server(target), raise_exceptions=True) as client:
        missing = await client.call_tool("get_technique_coverage", {"technique_id": "T1546.017"})
        assert missing.is_error
        assert f"No catalog at {target}" in missing.content[0].text
        assert "rulecat build" in missing.content[0].text

        first = await anyio.to_thread.run_sync(_cli_build, corpora, target)
        info = await _info(client)
        assert info["build_id"] == first and [s["name"] for s in info["sources"]] == ["acme"]
        coverage = await client.call_tool("get_technique_coverage", {"technique_id": "T1546.017"})
        assert coverage.structured_content["total"] == 1

        assert await _rule_ids(client, "tests:") == []

        second = await anyio.to_thread.run_sync(_rebuild, corpora, target)
        info = await _info(client)
        assert info["build_id"] == second != first
        assert [s["name"] for s in info["sources"]] == ["acme", "tests"]
        assert await _rule_ids(client, "tests:")  # cached completions were read again


async def _rule_ids(client: Client, typed: str) -> list[str]:
    rule = ResourceTemplateReference(uri="rulecat://rule/{id}")
    done = await client.complete(ref=rule, argument={"name": "id", "value": typed})
    return done.completion.values


async def test_a_call_in_flight_during_the_rename_finishes_on_the_old_catalog(
    corpora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "catalog.sqlite"
    first = _cli_build(corpora, target)
    started, renamed = threading.Event(), threading.Event()
    original = Catalog.catalog_info

    def slow_info(self: Catalog):  # -> CatalogInfo; blocks until the rebuild has renamed
        if not started.is_set():
            started.set()
            assert renamed.wait(120)
        return original(self)

    monkeypatch.setattr(Catalog, "catalog_info", slow_info)
    async with Client(create_server(target), raise_exceptions=True) as client:
        async with anyio.create_task_group() as tg:
            answers: list[dict] = []

            async def in_flight() -> None:
                answers.append(await _info(client))

            tg.start_soon(in_flight)
            await anyio.to_thread.run_sync(started.wait)
            second = await anyio.to_thread.run_sync(_rebuild, corpora, target)
            renamed.set()
        # The old file's build, read (sources table included) after the rename.
        assert answers[0]["build_id"] == first
        assert [s["name"] for s in answers[0]["sources"]] == ["acme"]
        after = await _info(client)
        assert after["build_id"] == second
        assert [s["name"] for s in after["sources"]] == ["acme", "tests"]


def test_a_thread_keeps_its_open_catalog_until_its_next_call(
    corpora: Path, tmp_path: Path,
) -> None:
    target = tmp_path / "catalog.sqlite"
    first = _rebuild(corpora, target)
    context = ToolContext(target)
    with context.catalog() as old:
        second = _rebuild(corpora, target)
        assert old.catalog_info().build_id == first  # still reading the renamed-over file
        assert old.get_technique_coverage("T1546.017").total == 1
    with context.catalog() as new:
        assert new is not old and new.catalog_info().build_id == second
    with context.catalog() as same:
        assert same is new  # no rebuild, no reopen
