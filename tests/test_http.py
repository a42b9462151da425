"""`rulecat serve --http`: a real server process on 127.0.0.1, real MCP clients.

One server (a free loopback port, a bearer token from RULECAT_TOKEN) serves every test of
this module: every listed tool answers; a missing or wrong token, a foreign Host or Origin
and an oversized body are refused; 16 concurrent clients make 2,000 calls with no error.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from rulecat.server import http_server
from rulecat.server.cli import app

from conftest import SAMPLE_ARGS

pytestmark = pytest.mark.anyio

TOKEN = "test-token-7f3a"
BENCH_LOAD = Path(__file__).resolve().parents[1] / "bench" / "load.py"
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
JSON_HEADERS = {"content-type": "application/json",
                "accept": "application/json, text/event-stream"}


def _bench_load() -> Any:
    """`bench/load.py` as a module: the server runner and load generator the bench uses."""
    spec = importlib.util.spec_from_file_location("rulecat_bench_load", BENCH_LOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


load = _bench_load()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def url(catalog_path: Path) -> Iterator[str]:
    with load.http_server(catalog_path, TOKEN) as served:
        yield served


def _post(url: str, headers: dict[str, str], body: bytes | None = None) -> httpx2.Response:
    import json

    content = body if body is not None else json.dumps(LIST_TOOLS).encode()
    return httpx2.post(url, content=content, headers={**JSON_HEADERS, **headers}, timeout=30)


# --------------------------------------------------------------------------- tools


async def test_every_listed_tool_answers_over_http_with_structured_content(url: str) -> None:
    async with load.connect(url, TOKEN) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) >= 5
        for tool in tools:
            required = tool.input_schema.get("required", [])
            unknown = [p for p in required if p not in SAMPLE_ARGS]
            assert not unknown, f"add a sample for {tool.name}({', '.join(unknown)})"
            result = await client.call_tool(tool.name, {p: SAMPLE_ARGS[p] for p in required})
            assert not result.is_error, (tool.name, result.content)
            assert result.structured_content, tool.name


async def test_a_bad_argument_over_http_is_an_error_result_the_model_reads(url: str) -> None:
    async with load.connect(url, TOKEN) as client:
        result = await client.call_tool("get_technique_coverage",
                                        {"technique_id": "T1559.001", "offset": -1})
    assert result.is_error and "offset" in result.content[0].text


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
def test_a_missing_or_wrong_token_gets_401(url: str, header: str | None) -> None:
    response = _post(url, {"authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_right_token_gets_the_tool_list(url: str) -> None:
    response = _post(url, {"authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert "get_technique_coverage" in response.text


async def test_a_client_with_the_wrong_token_cannot_call_a_tool(url: str) -> None:
    # The SDK reports the refused handshake as an error response (the 401 is checked above).
    with pytest.raises(Exception, match="error"):
        async with load.connect(url, "wrong-token") as client:
            await client.call_tool("catalog_info", {})


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1:1"])
def test_a_foreign_host_header_is_refused(url: str, host: str) -> None:
    response = _post(url, {"authorization": f"Bearer {TOKEN}", "host": host})
    assert response.status_code == 421


def test_a_foreign_origin_is_refused(url: str) -> None:
    response = _post(url, {"authorization": f"Bearer {TOKEN}", "origin": "http://evil.example"})
    assert response.status_code == 403


def test_a_body_over_the_cap_gets_413(url: str) -> None:
    body = b'{"jsonrpc": "2.0", "pad": "' + b"a" * http_server.MAX_REQUEST_BYTES + b'"}'
    response = _post(url, {"authorization": f"Bearer {TOKEN}"}, body)
    assert response.status_code == 413


# --------------------------------------------------------------------------- load


async def test_sixteen_clients_make_two_thousand_calls_without_an_error(url: str) -> None:
    # ~15 s on 2 idle cores (server and clients share them); the limit leaves room for CI.
    result = await load.run_load(url, TOKEN, clients=16, calls=2000, time_limit=50.0)
    figures = result.figures()
    print(f"\nHTTP load: {figures}")
    assert figures["errors"] == 0, figures["first_errors"]
    assert not figures["timed_out"] and figures["calls"] == 2000


# --------------------------------------------------------------------------- settings


def test_loopback_binds_allow_the_loopback_names_on_the_served_port() -> None:
    hosts = http_server.allowed_hosts(http_server.HttpSettings(port=8123))
    assert hosts == ["127.0.0.1:8123", "localhost:8123", "[::1]:8123"]
    v6 = http_server.allowed_hosts(http_server.HttpSettings(host="::1", port=8123))
    assert "[::1]:8123" in v6


def test_other_binds_allow_their_own_address_and_the_names_given() -> None:
    settings = http_server.HttpSettings(host="192.0.2.5", port=80,
                                        allowed_hosts=("rules.internal",))
    assert http_server.allowed_hosts(settings) == ["192.0.2.5:80", "rules.internal:80"]
    wildcard = http_server.allowed_hosts(http_server.HttpSettings(host="0.0.0.0", port=80))
    assert wildcard == ["127.0.0.1:80", "localhost:80", "[::1]:80"]


def test_a_non_loopback_bind_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    http_server._warn_if_exposed(http_server.HttpSettings(host="0.0.0.0"))
    err = capsys.readouterr().err
    assert "WARNING" in err and "--token" in err and "--allowed-host" in err
    http_server._warn_if_exposed(http_server.HttpSettings(host="127.0.0.1"))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, http_server.HttpSettings()),
        (["--token", "t1", "--port", "9001"], {}, http_server.HttpSettings(port=9001, token="t1")),
        ([], {"RULECAT_TOKEN": "t2"}, http_server.HttpSettings(token="t2")),
        (["--host", "0.0.0.0", "--allowed-host", "a.b"], {},
         http_server.HttpSettings(host="0.0.0.0", allowed_hosts=("a.b",))),
    ],
)
def test_serve_http_options_reach_the_server_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], env: dict[str, str],
    expected: http_server.HttpSettings,
) -> None:
    seen: list[http_server.HttpSettings] = []
    monkeypatch.setattr(http_server, "serve_http", lambda _path, s: seen.append(s))
    monkeypatch.delenv("RULECAT_TOKEN", raising=False)
    result = CliRunner().invoke(
        app, ["serve", "--http", "--catalog", str(tmp_path / "c.sqlite"), *args], env=env)
    assert result.exit_code == 0, result.output
    assert seen == [expected]
