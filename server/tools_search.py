"""The full-text search tool, a few lines over `Catalog.search_rules` (`rulecat.index.search`).

The engine is the one the catalog was built with (or `$RULECAT_TEXT_ENGINE`); the model
never has to choose it.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from pydantic import Field

from rulecat.index.answers import Filters
from rulecat.index.search.answers import SearchResults

from .mcp_server import ToolContext
from .params import READ_ONLY, IncludeDeprecated, Limit, Offset, Sources, Vendors

Query = Annotated[str, Field(description=(
    "Words as typed, e.g. 'dcom lateral', 'regsvr32.exe'. All must match; \"quotes\" "
    "make a phrase; no operators."))]
Techniques = Annotated[list[str] | None, Field(
    description="Technique IDs, e.g. ['T1021.003'].")]
Tactics = Annotated[list[str] | None, Field(
    description="e.g. ['lateral-movement'], ['TA0008'].")]
Levels = Annotated[list[str] | None, Field(
    description="critical|high|medium|low|informational")]


def register(server: MCPServer, context: ToolContext) -> None:
    """Add the search tool to `server`."""

    @server.tool(annotations=READ_ONLY)
    def search_rules(
        query: Query,
        techniques: Techniques = None,
        tactics: Tactics = None,
        levels: Levels = None,
        sources: Sources = None,
        vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> SearchResults:
        """Ranked full-text search of rules (titles, tags, fields, values, queries) with
        snippets; near words suggested when nothing matches."""
        with context.catalog() as cat:
            return cat.search_rules(
                query, techniques, tactics, levels,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated),
                limit, offset)
