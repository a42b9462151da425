"""The MCP server: each tool is a few lines over `rulecat.index.api.Catalog`.

Plain `def` tools run on the SDK's worker threads, so each thread opens its own read-only
connection to the catalog (`_catalog()`); the catalog file never changes once built.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from rulecat.index.answers import (
    CatalogInfo, Filters, RuleDetail, RulesByField, TechniqueCoverage, TopIndicators,
)
from rulecat.index.api import Catalog
from rulecat.index.errors import RulecatError

INSTRUCTIONS = """\
rulecat answers questions about detection rules (Sigma, Elastic, Splunk) and their MITRE
ATT&CK coverage from a prebuilt catalog. Start with get_technique_coverage for a technique
ID, top_indicators for what those rules test, find_rules_by_field for one field across
vendors, get_rule for one rule's logic, catalog_info for what the catalog holds. Lists are
paged: call again with the answer's `next` arguments."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)

TechniqueId = Annotated[str, Field(description="ATT&CK technique ID, e.g. 'T1059.001'.")]
Sources = Annotated[list[str] | None, Field(description="Only these sources, e.g. ['sigma'].")]
Vendors = Annotated[list[str] | None,
                    Field(description="Only these vendors: 'sigma', 'elastic', 'splunk'.")]
IncludeDeprecated = Annotated[bool, Field(description="Also count deprecated rules.")]
Limit = Annotated[int, Field(description="Rows per page, 1-200.")]
Offset = Annotated[int, Field(description="Rows to skip; use the answer's `next`.")]
Subtechniques = Annotated[bool, Field(
    description="Roll sub-techniques' rules into a parent technique's answer.")]


def create_server(catalog_path: Path) -> MCPServer:
    """An MCP server answering from the catalog at `catalog_path`."""
    server = MCPServer("rulecat", version=_version(), instructions=INSTRUCTIONS)
    local = threading.local()

    @contextmanager
    def catalog() -> Iterator[Catalog]:
        try:
            if getattr(local, "catalog", None) is None:
                local.catalog = Catalog(catalog_path)
            yield local.catalog
        except RulecatError as exc:
            raise ToolError(str(exc)) from exc

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
        with catalog() as cat:
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
        with catalog() as cat:
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
        with catalog() as cat:
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
        with catalog() as cat:
            return cat.get_rule(rule_id, include_raw)

    @server.tool(annotations=READ_ONLY)
    def catalog_info() -> CatalogInfo:
        """What the catalog holds: sources, counts, ATT&CK version, build time and the build
        report's summary (rejected files, unparsed rules, unknown technique IDs)."""
        with catalog() as cat:
            return cat.catalog_info()

    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rulecat")
    except PackageNotFoundError:
        return "0"
