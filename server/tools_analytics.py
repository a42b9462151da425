"""Coverage analytics tools: events view, gaps, events to collect, ATT&CK's analytics,
Navigator layers. Each is a few lines over `rulecat.index.analytics`."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server import MCPServer
from pydantic import Field

from rulecat.index.analytics.collect import events_to_collect as _collect
from rulecat.index.analytics.events import get_event_coverage as _event_coverage
from rulecat.index.analytics.events import list_events as _list_events
from rulecat.index.analytics.gaps import coverage_gaps as _gaps
from rulecat.index.analytics.layer import LayerPage
from rulecat.index.analytics.layer import navigator_layer as _layer
from rulecat.index.analytics.models import (
    CoverageGaps, EventCoverage, EventList, EventsToCollect, TechniqueTelemetry, TelemetryGaps,
)
from rulecat.index.analytics.telemetry import technique_telemetry as _telemetry
from rulecat.index.analytics.telemetry import telemetry_gaps as _telemetry_gaps
from rulecat.index.answers import Filters

from .mcp_server import ToolContext
from .params import (
    READ_ONLY, IncludeDeprecated, Limit, Offset, Sources, TechniqueId, Vendors,
)

# Kept terse: every byte here is in each tools/list a model reads. Roll-up of sub-techniques
# (the answers' default) and the layer's links and min_score are CLI/API options only.
Provider = Annotated[str, Field(description="e.g. 'Sysmon'.")]
Tactics = Annotated[list[str], Field(description="e.g. ['execution'].")]
Platforms = Annotated[list[str], Field(description="e.g. ['Windows'].")]
LayerLimit = Annotated[int, Field(description="Entries per page, 1-1000.")]


def _filters(sources: list[str] | None, vendors: list[str] | None, deprecated: bool) -> Filters:
    return Filters(sources=sources, vendors=vendors, include_deprecated=deprecated)


def register(server: MCPServer, context: ToolContext) -> None:
    """Add the analytics tools to `server`."""
    _register_events(server, context)
    _register_coverage(server, context)
    _register_attack(server, context)


def _register_events(server: MCPServer, context: ToolContext) -> None:
    @server.tool(annotations=READ_ONLY)
    def get_event_coverage(
        provider: Provider,
        event_id: Annotated[int, Field(description="e.g. 10.")],
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: Limit = 20, offset: Offset = 0,
    ) -> EventCoverage:
        """Rules and techniques relying on one log event, per vendor."""
        with context.catalog() as cat:
            return _event_coverage(cat, provider, event_id,
                                   _filters(sources, vendors, include_deprecated), limit, offset)

    @server.tool(annotations=READ_ONLY)
    def list_events(
        provider: Annotated[str | None, Field(description="e.g. 'Sysmon'.")] = None,
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: Limit = 50, offset: Offset = 0,
    ) -> EventList:
        """Log events with how many rules rely on each, per vendor."""
        with context.catalog() as cat:
            return _list_events(cat, provider, _filters(sources, vendors, include_deprecated),
                                limit, offset)


def _register_coverage(server: MCPServer, context: ToolContext) -> None:
    @server.tool(annotations=READ_ONLY)
    def coverage_gaps(
        tactics: Tactics = [], platforms: Platforms = [],
        show: Annotated[Literal["no_rule", "one_rule"], Field(
            description="Techniques to list.")] = "no_rule",
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: Limit = 20, offset: Offset = 0,
    ) -> CoverageGaps:
        """Per tactic: techniques with no rule, one rule, or covered (counts, %, per source),
        and a page of the uncovered."""
        with context.catalog() as cat:
            return _gaps(cat, tactics, platforms, _filters(sources, vendors, include_deprecated),
                         True, show, limit, offset)

    @server.tool(annotations=READ_ONLY)
    def events_to_collect(
        tactics: Tactics = [], platforms: Platforms = [],
        collected: Annotated[list[str], Field(description="Have already, e.g. ['Sysmon:1'].")]
        = [],
        providers: Annotated[list[str], Field(description="Pick only their events, e.g. "
                                              "['Sysmon'].")] = [],
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: Limit = 10, offset: Offset = 0,
    ) -> EventsToCollect:
        """Log events to collect first: each adds the most newly detectable techniques,
        with the running total."""
        with context.catalog() as cat:
            return _collect(cat, tactics, platforms, collected,
                            _filters(sources, vendors, include_deprecated), True, limit, offset,
                            providers=providers)

    @server.tool(annotations=READ_ONLY)
    def navigator_layer(
        tactics: Tactics = [], platforms: Platforms = [],
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: LayerLimit = 50,
        offset: Offset = 0,
    ) -> LayerPage:
        """ATT&CK Navigator layer (format 4.5) scored by rule count; join the pages'
        `layer.techniques`."""
        with context.catalog() as cat:
            return _layer(cat, tactics, platforms, _filters(sources, vendors, include_deprecated),
                          True, 1, False, limit, offset)


def _register_attack(server: MCPServer, context: ToolContext) -> None:
    @server.tool(annotations=READ_ONLY)
    def technique_telemetry(
        technique_id: TechniqueId, platforms: Platforms = [],
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False,
    ) -> TechniqueTelemetry:
        """Events ATT&CK's analytics recommend for a technique, each marked covered by its
        rules or not, beside the events its rules use."""
        with context.catalog() as cat:
            return _telemetry(cat, technique_id, platforms,
                              _filters(sources, vendors, include_deprecated), True)

    @server.tool(annotations=READ_ONLY)
    def telemetry_gaps(
        tactics: Tactics = [], platforms: Platforms = [],
        sources: Sources = None, vendors: Vendors = None,
        include_deprecated: IncludeDeprecated = False, limit: Limit = 20, offset: Offset = 0,
    ) -> TelemetryGaps:
        """Techniques whose ATT&CK-recommended events none of their rules uses, and
        recommended events no rule uses."""
        with context.catalog() as cat:
            return _telemetry_gaps(cat, tactics, platforms,
                                   _filters(sources, vendors, include_deprecated), True,
                                   limit, offset)
