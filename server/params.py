"""Tool parameters shared by every MCP tool, described for the model reading them."""

from __future__ import annotations

from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

# Read-only and closed-world: the protocol gives destructive and idempotent hints meaning
# only for tools that write, so they are left out of every `tools/list` entry.
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

TechniqueId = Annotated[str, Field(description="ATT&CK technique ID, e.g. 'T1059.001'.")]
Sources = Annotated[list[str] | None, Field(description="Source names, e.g. ['sigma'].")]
Vendors = Annotated[list[str] | None, Field(description="sigma|elastic|splunk")]
IncludeDeprecated = Annotated[bool, Field(description="Count deprecated rules.")]
Limit = Annotated[int, Field(description="Page size, 1-200.")]
Offset = Annotated[int, Field(description="Rows to skip (see `next`).")]
Subtechniques = Annotated[bool, Field(description="Count sub-techniques' rules in a parent.")]


