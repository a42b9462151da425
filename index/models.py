"""Records that cross stage boundaries: what readers produce and the build stores.

A reader turns one file into `RuleRecord`s (metadata, raw text, `Predicate`s as the
vendor wrote them); normalization fills each predicate's canonical `field` and its
indicator key; the store writes them. Answer models for tools live in `rulecat.index.api`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Vendor = Literal["sigma", "elastic", "splunk"]
VENDORS: tuple[str, ...] = ("sigma", "elastic", "splunk")

Operator = Literal[
    "eq", "wildcard", "regex_match", "match", "cidr", "gt", "gte", "lt", "lte", "exists", "fieldref"
]
OPERATORS: tuple[str, ...] = (
    "eq", "wildcard", "regex_match", "match", "cidr", "gt", "gte", "lt", "lte", "exists", "fieldref"
)

Polarity = Literal["detect", "exclude"]


class Predicate(BaseModel):
    """One test inside a rule's logic, one row per tested value.

    `vendor_field` and `value` are exactly as the rule wrote them (Sigma wildcards rendered
    with `*` and `?`). `field` is the canonical (ECS) name, filled by normalization; a
    field-less keyword (`match`) has neither. The indicator key (`ind_field`, `ind_operator`,
    `ind_value`) is the comparable form used for counting and corpus reach: values
    case-folded when the vendor compares case-insensitively, and a path test that pins a
    file name (`Image|endswith: '\\regsvr32.exe'`) folded into the name field
    (`process.name eq regsvr32.exe`).
    """

    vendor_field: str | None
    operator: Operator
    value: str
    polarity: Polarity = "detect"
    selection: str | None = None  # Sigma selection, EQL sequence step, SPL stage, ...
    transforms: list[str] = Field(default_factory=list)
    case_sensitive: bool = False
    # Filled by normalization.
    field: str | None = None
    ind_field: str | None = None
    ind_operator: Operator | None = None
    ind_value: str | None = None


class LogSource(BaseModel):
    product: str | None = None
    category: str | None = None
    service: str | None = None


class EventRef(BaseModel):
    """A log event a rule relies on, and why rulecat thinks so."""

    provider: str
    event_id: int
    origin: Literal["logsource", "predicate", "data_source", "index"] = "logsource"
    title: str | None = None  # for an event the event catalog lacks (e.g. a Splunk data source)
    # The requirements this event can meet, one bit each (`normalize.events.required_events`):
    # a rule is usable once every bit of its events' `clauses` is met by a collected event.
    # One requirement (1) unless the rule needs events together (an EQL sequence's steps).
    clauses: int = 1


class RuleRecord(BaseModel):
    """One detection as its author wrote it, plus what rulecat extracted from it."""

    source: str
    vendor: Vendor
    native_id: str
    title: str
    description: str = ""
    status: str | None = None
    level: str | None = None
    deprecated: bool = False
    author: str | None = None
    license: str | None = None
    date: str | None = None
    modified: str | None = None
    references: list[str] = Field(default_factory=list)
    falsepositives: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)  # upper-case IDs as tagged
    tactics: list[str] = Field(default_factory=list)  # ATT&CK tactic short names
    logsource: LogSource | None = None
    language: str | None = None  # query language, e.g. "sigma", "kuery", "eql", "spl"
    rule_type: str | None = None  # e.g. "detection", "correlation", "eql", "threshold"
    path: str  # relative to the source root, with forward slashes
    url: str | None = None
    raw: str = ""
    predicates: list[Predicate] = Field(default_factory=list)
    parsed: bool = True  # the logic was read whole into predicates
    unparsed_reason: str | None = None
    related_rules: list[str] = Field(default_factory=list)  # native ids a correlation names
    grouping_fields: list[str] = Field(default_factory=list)  # threshold/new_terms/by keys
    indices: list[str] = Field(default_factory=list)  # index patterns / datamodels searched
    data_sources: list[str] = Field(default_factory=list)  # as the rule names them
    extra: dict[str, Any] = Field(default_factory=dict)  # vendor metadata (risk score, ...)
    events: list[EventRef] = Field(default_factory=list)
    malformed_tags: list[str] = Field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.source}:{self.native_id}"


class Rejection(BaseModel):
    """A file (or document in it) the build could not read, and why."""

    source: str
    path: str
    line: int | None = None
    reason: str
