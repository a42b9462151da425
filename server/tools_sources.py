"""Source tools: compare two sources, e.g. the user's own rules against a public corpus."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from pydantic import Field

from rulecat.index.compare import SourceComparison

from .mcp_server import ToolContext
from .params import READ_ONLY, Limit, Offset

SourceA = Annotated[str, Field(description="Source name, e.g. 'acme'.")]
SourceB = Annotated[str, Field(description="Source to compare with, e.g. 'sigma'.")]


def register(server: MCPServer, context: ToolContext) -> None:
    """Add the source tools to `server`."""

    @server.tool(annotations=READ_ONLY)
    def compare_sources(a: SourceA, b: SourceB, limit: Limit = 20,
                        offset: Offset = 0) -> SourceComparison:
        """What a adds to b: techniques only a covers; per rule of a, which tests b has."""
        with context.catalog() as cat:
            return cat.compare_sources(a, b, limit, offset)
