"""The answers' shapes: pydantic models every MCP tool returns and every CLI `--json` prints.

Field descriptions are written for the model reading them. Lists are paged: `total`,
`returned`, and `next` (the exact arguments for the next page, or null).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Filters(BaseModel):
    """Filters named the same in every tool."""

    sources: list[str] | None = Field(None, description="Only these sources, e.g. ['sigma'].")
    vendors: list[str] | None = Field(None, description="Only these vendors: sigma, elastic, splunk.")
    include_deprecated: bool = Field(False, description="Also count deprecated rules.")


class RuleRow(BaseModel):
    id: str = Field(description="`<source>:<native id>`; pass it to get_rule.")
    source: str
    vendor: str
    title: str
    level: str | None = None
    status: str | None = None
    deprecated: bool = False
    via: str | None = Field(
        None, description="Why the rule is in a technique answer: exact, subtechnique, "
        "revoked (tagged with an ID revoked in favour of it) or renamed (version map).")
    url: str | None = None


class EventRow(BaseModel):
    provider: str = Field(description="e.g. Sysmon, Security, PowerShell.")
    event_id: int
    title: str
    rules: int = Field(description="How many rules in the answer rely on this event.")


class EventUse(EventRow):
    vendors: dict[str, int] = Field(description="Rules relying on the event, per vendor.")


class TechniqueInfo(BaseModel):
    id: str
    name: str | None
    tactics: list[str] = Field(default_factory=list)
    description: str = Field("", description="Excerpt of ATT&CK's description.")
    attack_version: str
    parent: str | None = None
    subtechniques: list[str] = Field(default_factory=list)
    flags: list[str] = Field(
        default_factory=list,
        description="unknown_to_loaded_attack (kept, never dropped); deprecated; revoked; "
        "revoked_by:<id>; renamed_in_v<N>:<id> / renamed_from:<id> (ATT&CK version map).")
    url: str | None = None


class VendorCount(BaseModel):
    rules: int
    via: dict[str, int] = Field(description="The same rules broken down by `via`.")
    sources: dict[str, int] = Field(
        default_factory=dict, description="The same rules by source (e.g. your own folder "
        "beside the public one), most first.")


class TechniqueCoverage(BaseModel):
    technique: TechniqueInfo
    filters: Filters
    include_subtechniques: bool
    counts: dict[str, VendorCount] = Field(description="Per vendor, every rule in the answer.")
    events: list[EventUse] = Field(description="Log events the answer's rules rely on.")
    rules: dict[str, list[RuleRow]] = Field(
        description="This page, by vendor: each vendor's rules from `offset`, up to `limit` "
        "of each (level, then title).")
    total: int = Field(description="Rules in the answer, all vendors.")
    returned: int
    next: dict[str, Any] | None = Field(
        None, description="Arguments for the next page, while some vendor has more rules.")
    notes: list[str] = Field(default_factory=list, description="Why an answer may be empty.")


class FieldRow(BaseModel):
    field: str = Field(description="Canonical field; path and name of one object collapse.")
    merged: list[str] = Field(description="Canonical fields counted in this row.")
    rules: int = Field(description="Rules with a detect test on this field.")
    how: dict[str, int] = Field(description="operator -> rules using it on this field; a "
                                "test of a derived measure is named with it: `length gt`.")
    samples: list[str] = Field(description="Most common values tested (as normalized; "
                                           "measure thresholds left out).")
    vendor_fields: list[str] = Field(description="Spellings seen, as `vendor:field`.")


class IndicatorRow(BaseModel):
    field: str | None = Field(description="Canonical field; null for field-less keywords.")
    operator: str
    value: str = Field(description="Normalized (case-folded where the vendor ignores case).")
    rules: int = Field(description="Rules under the technique with this test.")
    corpus_reach: int = Field(
        description="Non-deprecated rules in the whole catalog that detect on this test.")
    exclusion_reach: int | None = Field(
        None, description="In exclusions: non-deprecated rules in the catalog excluding it.")
    specific_to_technique: bool = Field(
        description="True when every rule in the catalog with this test (detect, or exclude "
        "in exclusions) is under the technique.")
    spellings: list[str] = Field(description="How rules wrote it, merged into this indicator.")


class TopIndicators(BaseModel):
    technique: TechniqueInfo
    filters: Filters
    include_subtechniques: bool
    rules_considered: int
    fields: list[FieldRow]
    indicators: list[IndicatorRow] = Field(description="Detect tests, most common first.")
    exclusions: list[IndicatorRow] = Field(description="Exclude tests (filters), separately.")
    limit: int


class PredicateRow(BaseModel):
    vendor_field: str | None
    field: str | None
    operator: str
    value: str
    polarity: str
    selection: str | None = None
    transforms: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    indicator: str | None = Field(
        None, description="`field operator value` used for counting, when it differs.")
    corpus_reach: int | None = Field(
        None, description="Non-deprecated rules in the catalog that detect on this indicator; "
        "null for a test of a derived measure (`length`, arithmetic), which is no indicator.")
    exclusion_reach: int | None = Field(
        None, description="For an exclusion: non-deprecated rules in the catalog excluding it.")


class FieldMatch(RuleRow):
    matched: int = Field(description="How many of the rule's tests matched.")
    predicates: list[PredicateRow] = Field(
        description="The first 5 matching tests; get_rule shows them all.")


class RulesByField(BaseModel):
    field: str = Field(description="The canonical field the input resolved to.")
    fields_matched: list[str] = Field(description="Canonical fields searched (path + name).")
    aliases: list[str] = Field(description="Vendor spellings matched, as `vendor:field`.")
    value: str | None
    operator: str | None
    polarity: str | None
    exact: bool
    technique: str | None
    filters: Filters
    rules: list[FieldMatch]
    counts: dict[str, int] = Field(default_factory=dict, description="Matching rules per vendor.")
    total: int
    returned: int
    next: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list, description="Why an answer may be empty.")


class TechniqueRef(BaseModel):
    id: str
    name: str | None
    known: bool = Field(description="In the loaded ATT&CK version.")


class RuleEvent(BaseModel):
    provider: str
    event_id: int
    title: str
    origin: str = Field(description="logsource, predicate or data_source.")


class RuleDetail(BaseModel):
    rule: RuleRow
    description: str
    author: str | None
    license: str | None
    date: str | None
    modified: str | None
    language: str | None
    rule_type: str | None
    path: str
    tags: list[str]
    techniques: list[TechniqueRef]
    tactics: list[str]
    logsource: dict[str, str] | None
    references: list[str]
    falsepositives: list[str]
    related_rules: list[str]
    grouping_fields: list[str] = Field(
        default_factory=list, description="Threshold, new_terms, EQL/SPL `by` keys.")
    indices: list[str] = Field(default_factory=list, description="Indices or datamodels read.")
    data_sources: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Vendor metadata, e.g. Splunk's expanded_search.")
    events: list[RuleEvent]
    events_needed: list[list[str]] = Field(
        default_factory=list,
        description="When the rule needs events together (an EQL sequence's steps, a Splunk "
                    "data source 'A AND B'): each list is one requirement, met by any of its "
                    "events ('Sysmon 1'). Empty: any one of `events` will do.")
    parsed: bool
    unparsed_reason: str | None
    detection: list[PredicateRow]
    exclusions: list[PredicateRow]
    raw: str | None = Field(None, description="The rule text, only when asked (include_raw).")


class SourceInfo(BaseModel):
    name: str
    vendor: str
    root: str
    files: int
    rules: int
    deprecated: int
    commit: str | None = Field(None, description="Commit of the folder: its git checkout's, "
                               "or the one the synced archive names.")
    branch: str | None = None
    checkout: str | None = Field(
        None, description="The git checkout holding the folder, when not the folder itself.")
    upstream: str | None = Field(None, description="Public repository, for the default names.")
    location: str | None = Field(None, description="URL or archive `rulecat sync` fetched.")
    sha256: str | None = Field(None, description="SHA-256 of the synced archive.")
    archive_date: str | None = Field(None, description="Newest file time in the synced archive.")
    fetched_at: str | None = Field(None, description="When `rulecat sync` fetched it (UTC).")


class ReportSummary(BaseModel):
    seconds: float
    files_seen: int
    files_skipped: int
    files_read: int
    files_rejected: int
    rejections: list[str] = Field(description="`path:line: reason`, first 20.")
    rejections_total: int
    unparsed_rules: int
    parsed: list[str] = Field(
        default_factory=list,
        description="Per source and query language: rules read whole into predicates of all "
                    "its rules, e.g. `elastic/eql 1081/1081`.")
    unknown_techniques: list[str]
    unmapped_fields: list[str] = Field(description="Most used unmapped `vendor:field`, top 10.")
    unmapped_fields_total: int
    aliases_derived: int
    aliases_hand_added: int
    adds_up: bool


class CatalogInfo(BaseModel):
    catalog: str
    build_id: str
    built_at: str
    attack_version: str
    attack_bundle: str | None = Field(None, description="The ATT&CK STIX bundle the build read.")
    sources: list[SourceInfo]
    rules: int
    predicates: int
    indicators: int
    techniques_covered: int
    events_used: int
    report: ReportSummary
