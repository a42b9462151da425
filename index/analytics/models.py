"""Answer models of the coverage analytics (tools return them; `--json` prints them).

Lists are paged like every rulecat answer: `total`, `returned`, `next` (the exact arguments
for the next page, or null). Field descriptions are written for the model reading them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..answers import EventRow, EventUse, Filters, RuleRow, TechniqueInfo

# -- events --------------------------------------------------------------------------------


class EventTechnique(BaseModel):
    id: str
    name: str | None
    rules: int = Field(description="Rules relying on the event that cover this technique.")


class EventCoverage(BaseModel):
    event: EventRow
    filters: Filters
    vendors: dict[str, int] = Field(description="Rules relying on the event, per vendor.")
    sources: dict[str, int] = Field(description="Rules relying on the event, per source.")
    techniques: list[EventTechnique] = Field(
        description="Techniques those rules cover (tagged, revoked or renamed into; no "
        "roll-up), most rules first, at most 25.")
    techniques_total: int
    rules: list[RuleRow] = Field(description="This page of the rules relying on the event.")
    total: int
    returned: int
    next: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)


class EventList(BaseModel):
    provider: str | None
    filters: Filters
    events: list[EventUse] = Field(description="Events rules rely on, most rules first.")
    total: int
    returned: int
    next: dict[str, Any] | None = None


# -- gaps ----------------------------------------------------------------------------------


class GapCounts(BaseModel):
    total: int = Field(description="Techniques counted (the real denominator).")
    no_rule: int
    one_rule: int = Field(description="Covered by exactly one rule (part of `covered`).")
    covered: int = Field(description="At least one rule.")
    no_rule_pct: float
    one_rule_pct: float
    covered_pct: float


class SourceGap(BaseModel):
    covered: int = Field(description="Techniques this source alone covers.")
    covered_pct: float


class TacticGaps(BaseModel):
    tactic: str = Field(description="Shortname, e.g. execution.")
    id: str
    name: str
    all: GapCounts = Field(description="Techniques and sub-techniques together.")
    techniques: GapCounts = Field(description="Techniques that are not sub-techniques.")
    subtechniques: GapCounts
    sources: dict[str, SourceGap] = Field(description="Per source, over `all`.")


class GapTechnique(BaseModel):
    id: str
    name: str
    tactics: list[str]
    rules: int


class CoverageGaps(BaseModel):
    attack_version: str
    filters: Filters
    platforms: list[str]
    include_subtechniques: bool
    subtechnique_handling: str = Field(description="How parents and sub-techniques count.")
    overall: GapCounts = Field(description="Every technique in scope once, whatever its "
                               "number of tactics.")
    tactics: list[TacticGaps] = Field(description="A technique counts in each of its tactics.")
    show: Literal["no_rule", "one_rule"]
    techniques: list[GapTechnique] = Field(description="This page of the `show` bucket.")
    total: int
    returned: int
    next: dict[str, Any] | None = None


# -- events to collect ---------------------------------------------------------------------


class CollectPick(BaseModel):
    rank: int
    provider: str
    event_id: int
    title: str
    new_techniques: int = Field(description="Techniques this event makes detectable that the "
                                "events above it did not.")
    total_techniques: int = Field(description="Running total of detectable techniques.")
    total_pct: float = Field(description="Running total over the techniques in scope.")
    rules: int = Field(description="Rules relying on the event (under the filters).")
    examples: list[str] = Field(description="Up to 5 of the new techniques.")


class EventsToCollect(BaseModel):
    filters: Filters
    platforms: list[str]
    tactics: list[str]
    include_subtechniques: bool
    method: str = Field(description="How a rule becomes usable and a technique detectable.")
    providers: list[str] = Field(description="Only these providers' events were candidates "
                                 "(empty: every provider's).")
    collected: list[EventRow] = Field(description="Events taken as already collected, "
                                      "whatever their provider.")
    in_scope: int = Field(description="Techniques in scope: the denominator.")
    detectable_at_start: int = Field(description="Detectable with `collected` alone.")
    reachable: int = Field(description="Detectable if every candidate event were collected.")
    outside_providers: int = Field(
        description="Techniques only events of providers outside `providers` reach (0 "
        "without `providers`).")
    covered_without_events: int = Field(
        description="Techniques only rules with no known event cover (cloud, SaaS, Linux...); "
        "no event choice changes them.")
    only_together: int = Field(
        0, description="Reachable techniques no further single event adds: their rules need "
        "two or more events not yet picked (an EQL sequence's steps, a Splunk data source "
        "'A AND B'). The picks end before them.")
    picks: list[CollectPick]
    total: int = Field(description="Picks until no event adds a technique.")
    returned: int
    next: dict[str, Any] | None = None


# -- ATT&CK's analytics --------------------------------------------------------------------


class AnalyticRef(BaseModel):
    id: str = Field(description="ATT&CK analytic, e.g. AN0628.")
    strategy: str = Field(description="Its detection strategy, e.g. DET0224.")
    platforms: list[str]


class RecommendedEvent(BaseModel):
    provider: str
    event_id: int
    title: str = Field(description="Empty when rulecat's event catalog lacks the id.")
    data_components: list[str] = Field(description="ATT&CK data components, e.g. Module Load.")
    analytics: list[str]
    rules: int = Field(description="Rules for this technique relying on the event.")
    covered: bool = Field(description="Some rule for this technique relies on the event.")
    catalog_rules: int = Field(description="Rules in the whole catalog relying on it "
                               "(under the filters).")


class DataSourceRow(BaseModel):
    log_source: str = Field(description="As ATT&CK names it, e.g. auditd:SYSCALL.")
    channel: str | None
    data_component: str
    analytics: list[str]


class TechniqueTelemetry(BaseModel):
    technique: TechniqueInfo
    filters: Filters
    include_subtechniques: bool
    analytics: list[AnalyticRef] = Field(description="ATT&CK analytics for the technique.")
    recommended_events: list[RecommendedEvent] = Field(
        description="Windows events MITRE's analytics name, each marked covered or not.")
    covered: int = Field(description="Recommended events some rule for it relies on.")
    rules: int = Field(description="Rules in the technique's answer.")
    rule_events: list[EventUse] = Field(
        description="Events the technique's rules rely on that MITRE's analytics do not name.")
    data_sources: list[DataSourceRow] = Field(
        description="Other log sources MITRE names (not Windows events), first 20.")
    data_sources_total: int
    notes: list[str] = Field(default_factory=list)


class TelemetryGapRow(BaseModel):
    id: str
    name: str
    tactics: list[str]
    rules: int = Field(description="Rules for the technique (none rely on a recommended event).")
    recommended: list[str] = Field(description="MITRE's events, as 'Provider id', first 8.")
    rule_events: list[str] = Field(description="Events its rules rely on instead, first 5.")


class UnusedEvent(BaseModel):
    provider: str
    event_id: int
    title: str
    techniques: int = Field(description="Techniques in scope whose analytics name it.")


class TelemetryGaps(BaseModel):
    attack_version: str
    filters: Filters
    platforms: list[str]
    tactics: list[str]
    in_scope: int = Field(description="Techniques in scope.")
    with_recommended_events: int = Field(
        description="Techniques whose ATT&CK analytics name at least one Windows event.")
    aligned: int = Field(description="Some rule for the technique relies on one of them.")
    rules_elsewhere: int = Field(description="Rules exist, but none relies on a recommended "
                                 "event.")
    no_rules: int = Field(description="No rule for the technique at all.")
    techniques: list[TelemetryGapRow] = Field(
        description="This page of techniques whose recommended events no rule for them "
        "relies on (rules_elsewhere first, most rules first, then no_rules).")
    unused_events: list[UnusedEvent] = Field(
        description="Recommended events no rule in the catalog relies on, first 15.")
    unused_events_total: int
    total: int
    returned: int
    next: dict[str, Any] | None = None
