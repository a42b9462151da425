"""The answer of `search_rules` (MCP tool and `rulecat search --json`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..answers import Filters, RuleRow

Match = Literal["all", "any"]


class SearchHit(RuleRow):
    via: str | None = Field(default=None, exclude=True)  # technique answers only; small pages
    score: float = Field(description="Relevance, higher is better; compare within one answer.")
    matched_in: list[str] = Field(description=(
        "Where the terms were found: title, tags (with technique IDs, names and tactics), "
        "description, field_names, field_values, query (the rule's query text)."))
    snippet: str = Field(description="A short excerpt showing the match, matches in **bold**.")


class TermSuggestion(BaseModel):
    instead_of: str = Field(description="A query word that no rule holds.")
    term: str = Field(description="A near word that the catalog holds.")
    rules: int = Field(description="Rules a search for it finds under the same filters.")


class LongerWord(BaseModel):
    begins_with: str = Field(description="A query word.")
    word: str = Field(description="A longer word the catalog holds (kerberoast -> "
                                  "kerberoasting, cobalt -> cobaltstrike).")
    rules: int = Field(description="Rules a search for it finds under the same filters.")


class SearchResults(BaseModel):
    query: str
    terms: list[str] = Field(description=(
        "How the query was read: words, and \"phrases\" (an identifier such as "
        "process.command_line is the phrase of its words)."))
    match: Match = Field(description=(
        "all: each rule holds every term; any: no rule held them all, so rules holding any "
        "term, ranked."))
    engine: str = Field(description="Text engine that answered: fts5 or whoosh.")
    techniques: list[str] | None = None
    tactics: list[str] | None = None
    levels: list[str] | None = None
    filters: Filters
    results: list[SearchHit] = Field(description="This page, best first.")
    total: int
    returned: int
    next: dict[str, Any] | None = Field(None, description="Arguments for the next page.")
    suggestions: list[TermSuggestion] = Field(
        default_factory=list, description="Near words for query words no rule holds.")
    longer_words: list[LongerWord] = Field(
        default_factory=list, description="Words match whole: these longer words that begin "
        "with a query word are not searched; search them too to widen the answer.")
    notes: list[str] = Field(default_factory=list, description="Why an answer may be empty.")
