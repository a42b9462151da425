"""HTTP load test: concurrent MCP clients against `rulecat serve --http` on loopback.

    python bench/load.py [--catalog FILE | --corpora DIR] [--clients 16] [--calls 3200]
                         [--time-limit 60] [--out FILE]

Starts `rulecat serve --http` on 127.0.0.1 (a free port, a random bearer token) in a child
process, then runs `--clients` real MCP clients (`mcp.Client` over streamable HTTP), each
on its own connection, calling a fixed mix of read-only tools until `--calls` calls are
done or `--time-limit` seconds have passed. Prints p50/p99 latency (ms, per call, as a
client sees it), calls per second and the error count as JSON; exits 1 on any error or
when the time limit cut the run short.

Decisions: the clients share one process and event loop (16 tasks), as an agent platform
multiplexing many conversations would; the server is a separate process, so on 2 cores
each side gets one. An error is a transport failure, an exception, or an `is_error`
answer: every call in the mix is valid, so any of them counts. Loopback only: the server
binds 127.0.0.1 and clients send the token and the Host header it expects.
`tests/test_http_load.py` runs `run_load` with a smaller budget.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"
READY_TIMEOUT_S = 30.0

# The calls each client cycles through (valid on the real corpora).
MIX: list[tuple[str, dict[str, Any]]] = [
    ("get_technique_coverage", {"technique_id": "T1059.001", "limit": 10}),
    ("get_technique_coverage", {"technique_id": "T1559.001"}),
    ("top_indicators", {"technique_id": "T1059.001"}),
    ("top_indicators", {"technique_id": "T1218.010", "limit": 5}),
    ("find_rules_by_field", {"field": "Image", "value": "regsvr32", "limit": 5}),
    ("find_rules_by_field", {"field": "TargetObject", "value": "\\Run", "limit": 5}),
    ("get_rule", {"rule_id": "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"}),
    ("catalog_info", {}),
]


@dataclass
class LoadResult:
    """What a load run measured."""

    clients: int
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    per_tool_ms: dict[str, list[float]] = field(default_factory=dict, repr=False)
    first_errors: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """The summary printed and written by the bench."""
        return {
            "clients": self.clients, "calls": self.calls, "errors": self.errors,
            "seconds": round(self.seconds, 2), "timed_out": self.timed_out,
            "calls_per_s": round(self.calls / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": round(max(self.latencies_ms, default=0.0), 2),
            "per_tool_p50_ms": {t: percentile(v, 50) for t, v in sorted(self.per_tool_ms.items())},
            "first_errors": self.first_errors,
        }


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), rounded to 0.01 ms; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return round(ordered[int(rank) - 1], 2)


@asynccontextmanager
async def connect(url: str, token: str | None = None) -> AsyncIterator[Any]:
    """A real MCP client over streamable HTTP, sending the bearer token when given."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30.0) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


async def run_load(url: str, token: str | None, clients: int = 16, calls: int = 3200,
                   time_limit: float = 60.0) -> LoadResult:
    """`calls` tool calls spread over `clients` concurrent clients, within `time_limit` s."""
    import anyio

    result = LoadResult(clients=clients)
    deadline = time.perf_counter() + time_limit
    started = time.perf_counter()
    with anyio.move_on_after(time_limit) as scope:
        async with anyio.create_task_group() as group:
            for n in range(clients):
                share = calls // clients + (1 if n < calls % clients else 0)
                group.start_soon(_client_loop, url, token, n, share, deadline, result)
    result.seconds = time.perf_counter() - started
    result.timed_out = scope.cancelled_caught
    return result


async def _client_loop(url: str, token: str | None, n: int, share: int, deadline: float,
                       result: LoadResult) -> None:
    """One client: connect, then its share of calls, cycling through `MIX`."""
    try:
        async with connect(url, token) as client:
            for i in range(share):
                if time.perf_counter() > deadline:
                    return
                tool, args = MIX[(n + i) % len(MIX)]
                await _timed_call(client, tool, args, result)
    except Exception as exc:  # a failed connection counts once per client
        _error(result, f"client {n}: {type(exc).__name__}: {exc}")


async def _timed_call(client: Any, tool: str, args: dict[str, Any], result: LoadResult) -> None:
    t0 = time.perf_counter()
    try:
        answer = await client.call_tool(tool, args)
    except Exception as exc:
        _error(result, f"{tool}: {type(exc).__name__}: {exc}")
        return
    ms = (time.perf_counter() - t0) * 1000
    result.calls += 1
    result.latencies_ms.append(ms)
    result.per_tool_ms.setdefault(tool, []).append(ms)
    if answer.is_error or answer.structured_content is None:
        text = answer.content[0].text if answer.content else ""
        _error(result, f"{tool}: is_error: {text[:200]}")


def _error(result: LoadResult, message: str) -> None:
    result.errors += 1
    if len(result.first_errors) < 5:
        result.first_errors.append(message)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(catalog: Path, token: str | None, port: int | None = None,
                extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """`rulecat serve --http` on 127.0.0.1 in a child process; yields its URL."""
    port = port or free_port()
    env = {**os.environ, "RULECAT_TOKEN": token or ""}
    cmd = [sys.executable, "-m", "rulecat.server.cli", "serve", "--http", "--host", "127.0.0.1",
           "--port", str(port), "--catalog", str(catalog), *extra_args]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_until_listening(proc, port, stderr)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, stderr: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr.seek(0)
            raise RuntimeError(f"server exited {proc.returncode}: {stderr.read().decode()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on port {port} after {READY_TIMEOUT_S} s")


# --------------------------------------------------------------------------- the bench


def main() -> None:
    import anyio

    args = _parse_args()
    with _catalog(args) as catalog:
        token = secrets.token_urlsafe(24)
        with http_server(catalog, token) as url:
            result = anyio.run(run_load, url, token, args.clients, args.calls, args.time_limit)
    figures = result.figures()
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if result.errors or result.timed_out:
        raise SystemExit(1)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, help="a built catalog (else built from --corpora)")
    parser.add_argument("--corpora", type=Path,
                        default=Path(os.environ.get("RULECAT_CORPORA") or DEFAULT_CORPORA))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--calls", type=int, default=3200, help="tool calls in all")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds")
    parser.add_argument("--out", type=Path, help="also write the figures here")
    return parser.parse_args()


@contextmanager
def _catalog(args: argparse.Namespace) -> Iterator[Path]:
    if args.catalog:
        yield args.catalog
        return
    from rulecat.index.build import build_catalog, inputs_from_corpora

    with tempfile.TemporaryDirectory(prefix="rulecat-load-") as work:
        path = Path(work) / "catalog.sqlite"
        build_catalog(inputs_from_corpora(args.corpora), path)
        yield path


if __name__ == "__main__":
    main()
