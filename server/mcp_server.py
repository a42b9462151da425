"""The MCP server: each tool is a few lines over the read API (`rulecat.index.api`).

Plain `def` tools run on the SDK's worker threads, so each thread opens its own read-only
connection to the catalog (`ToolContext.catalog()`). A built file never changes, but a new
build renames a new file into place: each call checks the path's identity first and reopens
when it changed, while a call already running keeps reading the old file through its open
handle. With no catalog yet, every tool answers with how to build one; the server never
waits for a build.
Features register their tools from their own modules (`tools_core.py`, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from rulecat.index.api import Catalog
from rulecat.index.errors import RulecatError

INSTRUCTIONS = """\
rulecat answers questions about detection rules (Sigma, Elastic, Splunk) and their MITRE
ATT&CK coverage from a prebuilt catalog. Start with get_technique_coverage for a technique
ID, top_indicators for what those rules test, find_rules_by_field for one field across
vendors, get_rule for one rule's logic, catalog_info for what the catalog holds. Lists are
paged: call again with the answer's `next` arguments."""


class ToolContext:
    """What tools share: the catalog path, and a read-only `Catalog` per worker thread."""

    def __init__(self, catalog_path: Path) -> None:
        self.catalog_path = catalog_path
        self._local = threading.local()

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        """The thread's catalog; rulecat's own errors become tool errors the model reads."""
        try:
            yield self._current()
        except RulecatError as exc:
            raise ToolError(str(exc)) from exc

    def _current(self) -> Catalog:
        """The thread's open catalog, reopened when a build replaced the file at the path.

        Closing the previous one is safe: no caller awaits or nests inside `catalog()`, so a
        thread (the event loop's included) holds at most one call's catalog at a time.
        """
        identity = _identity(self.catalog_path)
        cat: Catalog | None = getattr(self._local, "catalog", None)
        if cat is not None and identity == self._local.identity:
            return cat
        self._local.catalog = None
        if cat is not None:
            cat.close()  # this thread's previous call has finished with it
        cat = Catalog(self.catalog_path)  # no file: CatalogMissing says how to build one
        self._local.catalog, self._local.identity = cat, identity
        return cat


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when a build renames a new file into place (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def create_server(catalog_path: Path) -> MCPServer:
    """An MCP server answering from the catalog at `catalog_path`."""
    from . import resources, tools_analytics, tools_core, tools_search, tools_sources

    server = MCPServer("rulecat", version=_version(), instructions=INSTRUCTIONS)
    context = ToolContext(catalog_path)
    # Each feature registers its own tools; add new modules to this tuple.
    for module in (tools_core, resources, tools_analytics, tools_search, tools_sources):
        module.register(server, context)
    _drop_schema_titles(server)
    return server


def _drop_schema_titles(server: MCPServer) -> None:
    """Remove pydantic's generated `title` keys from tool input schemas, and fold the
    descriptions' whitespace.

    They repeat each parameter's name and cost ~2 KB of `tools/list`, which a model reads on
    every session. The SDK has no public hook for this, hence its tool manager.
    """
    manager = getattr(server, "_tool_manager", None)
    for tool in manager.list_tools() if manager is not None else []:
        tool.parameters = _without_titles(tool.parameters)
        # A docstring's line breaks and indentation are bytes, not meaning.
        tool.description = " ".join((tool.description or "").split())


def _without_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_titles(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_without_titles(v) for v in schema]
    return schema


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rulecat")
    except PackageNotFoundError:
        return "0"
