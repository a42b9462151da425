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
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> TechniqueCoverage:
        """Rules that cover an ATT&CK technique, per vendor, with the log events they rely on.

        Each rule says `via` why it is listed (exact tag, sub-technique roll-up, revoked or
        renamed ID)."""
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
        """What rules for a technique test: fields filtered most (with operators and sample
        values), the most common (field, operator, value) tests with their corpus reach (how
        many rules in the whole catalog test the same), and the most common exclusions."""
        with context.catalog() as cat:
            return cat.top_indicators(
                technique_id, limit, include_subtechniques,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated))

    @server.tool(annotations=READ_ONLY)
    def find_rules_by_field(
        field: Annotated[str, Field(description=(
            "Any vendor's field name: 'Image', 'process.executable', 'process_name', "
            "'TargetObject', 'CommandLine'. Path and name of one object are searched together."
        ))],
        value: Annotated[str | None, Field(
            description="Case-insensitive substring of the tested value, e.g. 'regsvr32'.")] = None,
        operator: Annotated[str | None, Field(description=(
            "eq, wildcard, regex_match, match, cidr, gt, gte, lt, lte, exists, fieldref."
        ))] = None,
        technique: Annotated[str | None, Field(description="Only rules for this technique.")] = None,
        polarity: Annotated[str | None, Field(
            description="'detect' or 'exclude'; both when omitted.")] = None,
        exact: Annotated[bool, Field(description="Match the value exactly.")] = False,
        sources: Sources = None,
        vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> RulesByField:
        """Rules that test a field (optionally a value), whatever the vendor calls the field,
        with each rule's matching tests labelled detect or exclude."""
        with context.catalog() as cat:
            return cat.find_rules_by_field(
                field, value, operator, technique, polarity, exact,
                Filters(sources=sources, vendors=vendors, include_deprecated=include_deprecated),
                limit, offset)

    @server.tool(annotations=READ_ONLY)
    def get_rule(
        rule_id: Annotated[str, Field(description=(
            "'<source>:<id>' as other tools return it, e.g. "
            "'sigma:3b4b232a-af90-427c-a22f-30b0c0837b95', or a bare id when one source has it."
        ))],
        include_raw: Annotated[bool, Field(description="Also return the rule's text.")] = False,
    ) -> RuleDetail:
        """One rule: metadata, techniques, events, and its tests split into detection and
        exclusions, each with its corpus reach."""
        with context.catalog() as cat:
            return cat.get_rule(rule_id, include_raw)

    @server.tool(annotations=READ_ONLY)
    def catalog_info() -> CatalogInfo:
        """What the catalog holds: sources, counts, ATT&CK version, build time and the build
        report's summary (rejected files, unparsed rules, unknown technique IDs)."""
        with context.catalog() as cat:
            return cat.catalog_info()

