"""The build report: what a build saw, kept, rejected and could not map, with counts that add up.

For each source: `files_seen` comes from the build's own walk of the source folder;
`files_seen == files_skipped + files_read` (skipped: outside the rule folders or not a rule
file) and `files_read == files_indexed + files_rejected` (rejected: yielded no rule).
A file that yields rules and also rejections (a multi-document file with one bad document)
counts as indexed and has entries in `rejections`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .models import Rejection


class SkippedFile(BaseModel):
    path: str
    reason: str


class LanguageStats(BaseModel):
    rules: int = 0
    parsed: int = 0  # read whole into predicates
    active: int = 0  # not deprecated
    active_parsed: int = 0


class SourceReport(BaseModel):
    name: str
    vendor: str
    root: str
    files_seen: int = 0
    files_skipped: int = 0
    files_read: int = 0
    files_indexed: int = 0
    files_rejected: int = 0
    rules_indexed: int = 0
    rules_deprecated: int = 0
    rules_unparsed: int = 0
    predicates: int = 0
    languages: dict[str, LanguageStats] = Field(
        default_factory=dict, description="Per query language: rules, and those parsed whole.")
    skipped: list[SkippedFile] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # reader-specific summary

    def adds_up(self) -> bool:
        return (
            self.files_seen == self.files_skipped + self.files_read
            and self.files_read == self.files_indexed + self.files_rejected
        )


class UnparsedRule(BaseModel):
    rule_id: str
    path: str
    reason: str


class UnknownTechnique(BaseModel):
    technique_id: str
    rules: int
    name: str | None = None  # from the version map, when it knows the ID
    renamed_from: list[str] = Field(default_factory=list)  # loaded IDs the map sends here


class UnmappedField(BaseModel):
    vendor: str
    vendor_field: str
    rules: int
    predicates: int


class FieldStats(BaseModel):
    aliases_derived: int
    aliases_hand_added: int
    aliases_overridden_by_hand: int
    canonical_fields: int


class BuildReport(BaseModel):
    build_id: str
    started: str
    seconds: float
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    mode: Literal["full", "incremental", "unchanged"] = Field(
        "full", description="incremental: a copy of the previous catalog, updated from the "
        "files that changed since it was built; unchanged: no file changed, the catalog was "
        "kept as it was (this report is its build's, with this run's time).")
    full_reason: str | None = Field(
        None, description="Why a full build ran when an incremental one was asked for.")
    files_reread: list[str] = Field(
        default_factory=list, description="Incremental: `source:path` of rule files read "
        "again (changed, or holding an id whose duplicate moved).")
    files_added: list[str] = Field(default_factory=list)
    files_removed: list[str] = Field(default_factory=list)
    catalog: str
    attack_version: str
    attack_source: str
    sources: list[SourceReport] = Field(default_factory=list)
    rejections: list[Rejection] = Field(default_factory=list)
    unparsed: list[UnparsedRule] = Field(default_factory=list)
    duplicate_ids: list[str] = Field(default_factory=list)
    unknown_techniques: list[UnknownTechnique] = Field(default_factory=list)
    malformed_tags: list[str] = Field(default_factory=list)
    unmapped_fields: list[UnmappedField] = Field(default_factory=list)
    fields: FieldStats | None = None
    rules_indexed: int = 0
    predicates: int = 0

    def adds_up(self) -> bool:
        return all(s.adds_up() for s in self.sources) and self.rules_indexed == sum(
            s.rules_indexed for s in self.sources
        )
