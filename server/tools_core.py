"""The core catalog tools: technique coverage, top indicators, rules by field, one rule,
catalog info. Each is a few lines over `rulecat.index.api.Catalog`."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from pydantic import Field

from rulecat.index.answers import (
    CatalogInfo, Filters, RuleDetail, RulesByField, TechniqueCoverage, TopIndicators,
)

from .mcp_server import ToolContext
from .params import (
    READ_ONLY, IncludeDeprecated, Limit, Offset, Sources, Subtechniques, TechniqueId, Vendors,
)


def register(server: MCPServer, context: ToolContext) -> None:
    """Add the core tools to `server`."""

    @server.tool(annotations=READ_ONLY)
    def get_technique_coverage(
        technique_id: TechniqueId,
        include_subtechniques: Subtechniques = True,
        sources: Sources = None,
        vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
        limit: Annotated[int, Field(description="Rules per vendor, 1-200.")] = 10,
        offset: Annotated[int, Field(description="Of each vendor's rules.")] = 0,
    ) -> TechniqueCoverage:
        """Start here for a technique: rules per vendor (`via` says why), their log events."""
        with context.catalog() as cat:
            return cat.get_technique_coverage(
                technique_id, include_subtechniques,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated),
                limit, offset)

    @server.tool(annotations=READ_ONLY)
    def top_indicators(
        technique_id: TechniqueId,
        limit: Annotated[int, Field(description="Rows per list, 1-200.")] = 15,
        include_subtechniques: Subtechniques = True,
        sources: Sources = None,
        vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
    ) -> TopIndicators:
        """What a technique's rules test: fields, tests with corpus reach, exclusions."""
        with context.catalog() as cat:
            return cat.top_indicators(
                technique_id, limit, include_subtechniques,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated))

    @server.tool(annotations=READ_ONLY)
    def find_rules_by_field(
        field: Annotated[str, Field(
            description="Any vendor's field name, e.g. 'Image', 'process.executable'.")],
        value: Annotated[str | None, Field(
            description="Value substring, any case, e.g. 'regsvr32'.")] = None,
        operator: Annotated[str | None, Field(description=(
            "eq|wildcard|regex_match|match|cidr|gt|gte|lt|lte|exists|fieldref"
        ))] = None,
        technique: Annotated[str | None, Field(description="Only rules for this technique.")] = None,
        polarity: Annotated[str | None, Field(
            description="detect|exclude; default both.")] = None,
        exact: Annotated[bool, Field(description="Match the value exactly.")] = False,
        sources: Sources = None,
        vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> RulesByField:
        """Rules testing a field (any vendor's spelling), optionally a value."""
        with context.catalog() as cat:
            return cat.find_rules_by_field(
                field, value, operator, technique, polarity, exact,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated),
                limit, offset)

    @server.tool(annotations=READ_ONLY)
    def get_rule(
        rule_id: Annotated[str, Field(
            description="'<source>:<id>' as tools return it, e.g. 'sigma:3b4b232a-...'.")],
        include_raw: Annotated[bool, Field(description="Also return the rule's text.")] = False,
    ) -> RuleDetail:
        """One rule in full: metadata, techniques, events, detection tests and exclusions."""
        with context.catalog() as cat:
            return cat.get_rule(rule_id, include_raw)

    @server.tool(annotations=READ_ONLY)
    def catalog_info() -> CatalogInfo:
        """What the catalog holds: sources, counts, ATT&CK version, build report summary."""
        with context.catalog() as cat:
            return cat.catalog_info()

