"""Serve the MCP tools over streamable HTTP, safe by default: `rulecat serve --http`.

Decisions:

* **Loopback unless told otherwise.** The default host is 127.0.0.1. Any other address is
  served only when `--host` names it, with a warning on stderr (more so without a token).
* **Bearer token.** When a token is set (`--token`, or the `RULECAT_TOKEN` environment
  variable, which keeps it out of `ps`), every HTTP request must carry
  `Authorization: Bearer <token>`; anything else gets 401 before the MCP layer sees it.
  Tokens are compared in constant time.
* **DNS-rebinding protection.** The SDK's `TransportSecuritySettings`, always on: the
  `Host` header must name the bind address and the served port (`127.0.0.1:8000`; for
  loopback also `localhost:8000` and `[::1]:8000`), and an `Origin`, when sent, must be
  `http://` one of those. A wildcard bind (`0.0.0.0`, `::`) allows the loopback names plus
  each `--allowed-host`; other hosts get 421, other origins 403.
* **Request size.** Bodies are capped at `MAX_REQUEST_BYTES` (1 MiB; 413 beyond), below the
  SDK's 4 MiB default: rulecat's largest honest request is a few kilobytes. Headers are
  capped by uvicorn's h11 parser (16 KiB); at most `MAX_CONNECTIONS` requests at once
  (503 beyond), so a flood queues in the kernel rather than in memory.
* **Stateless, JSON answers.** Every request stands alone (no MCP session table to fill,
  no server-sent-event stream held open), so any number of server processes can sit
  behind a load balancer (DESIGN.md, "Scale"); every request only reads the catalog.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MCP_PATH = "/mcp"
TOKEN_ENV = "RULECAT_TOKEN"
MAX_REQUEST_BYTES = 1024 * 1024
MAX_CONNECTIONS = 256
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class HttpSettings:
    """Where and how to serve: bind address, port, token and extra allowed Host names."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        return f"http://{_host_header_name(self.host)}:{self.port}{MCP_PATH}"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: HttpSettings) -> list[str]:
    """`Host` header values the server answers (name:port); see the module docstring."""
    port = str(settings.port) if settings.port else "*"
    names: list[str] = []
    if is_loopback(settings.host) or settings.host in WILDCARD_HOSTS:
        names += LOOPBACK_NAMES
    if settings.host not in WILDCARD_HOSTS:
        names.append(_host_header_name(settings.host))
    names += settings.allowed_hosts
    return list(dict.fromkeys(f"{n}:{port}" for n in names))


def build_app(catalog_path: Path, settings: HttpSettings) -> ASGIApp:
    """The ASGI app: bearer check, then the SDK's streamable HTTP app over rulecat's tools."""
    from mcp.server.transport_security import TransportSecuritySettings

    from .mcp_server import create_server

    hosts = allowed_hosts(settings)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts],
    )
    app = create_server(catalog_path).streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
        max_request_body_size=MAX_REQUEST_BYTES, transport_security=security,
        host=settings.host)
    return BearerTokenMiddleware(app, settings.token) if settings.token else app


def serve_http(catalog_path: Path, settings: HttpSettings) -> None:
    """Run the HTTP server until interrupted (blocking)."""
    import uvicorn

    _warn_if_exposed(settings)
    auth = "a bearer token is required" if settings.token else "no token"
    sys.stderr.write(f"rulecat: MCP over streamable HTTP at {settings.url} ({auth})\n")
    config = uvicorn.Config(
        build_app(catalog_path, settings), host=settings.host, port=settings.port,
        log_level="warning", access_log=False, server_header=False,
        limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5)
    uvicorn.Server(config).run()


class BearerTokenMiddleware:
    """Refuse every HTTP request without `Authorization: Bearer <token>` (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await _send_unauthorized(send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = [v for k, v in scope.get("headers", []) if k == b"authorization"]
        # One header, equal in constant time; the scheme name is case-insensitive.
        if len(given) != 1 or given[0][:7].lower() != b"bearer ":
            return False
        return hmac.compare_digest(b"Bearer " + given[0][7:], self._expected)


async def _send_unauthorized(send: Send) -> None:
    body = b"Unauthorized: send the header 'Authorization: Bearer <token>'.\n"
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="rulecat"'),
    ]})
    await send({"type": "http.response.body", "body": body})


def _warn_if_exposed(settings: HttpSettings) -> None:
    if is_loopback(settings.host):
        return
    hint = "" if settings.token else (
        f" and anyone who can reach it can query the catalog: set --token or ${TOKEN_ENV}")
    sys.stderr.write(f"rulecat: WARNING: serving on {settings.host}, which is not loopback; "
                     f"it is reachable from other machines{hint}.\n")
    if settings.host in WILDCARD_HOSTS and not settings.allowed_hosts:
        sys.stderr.write("rulecat: only loopback Host names are allowed; add the names "
                         "clients use with --allowed-host NAME.\n")


def _host_header_name(host: str) -> str:
    """How a bind address appears in a `Host` header (IPv6 in brackets)."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
