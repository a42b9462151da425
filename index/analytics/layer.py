"""An ATT&CK Navigator layer (file format 4.5) scored by rule count.

Decisions:

* `score` is the technique's rule count under the shared filters, counted as in
  `coverage_gaps` (a parent's count includes its sub-techniques' rules unless
  `include_subtechniques=false`). Only techniques with at least `min_score` rules are
  listed; the rest stay unscored (white).
* Only ATT&CK technique IDs of the loaded version, neither revoked nor deprecated
  (`T####` / `T####.###`): never group, software or v19-only IDs.
* One entry per (technique, tactic): a technique in several tactics gets one entry under
  each, with its `tactic` shortname, so each cell is placed and scored on its own.
  Sub-techniques carry their own tactics (a sub-technique's tactics are its parent's in
  ATT&CK). A parent with a scored sub-technique sets `showSubtechniques`.
* The gradient runs from 1 rule to the 95th percentile of scores (at least 2), so a few
  techniques with hundreds of rules do not wash out the rest; higher scores take the top
  colour. `legendItems` say so.
* `comment` gives per-vendor counts; `metadata` the same as name/value pairs, plus the
  build; `links` (when asked: they triple the size) up to three of the technique's rules,
  highest level first, then vendor and catalog order.
* Entries are ordered by score (highest first), then ID, then tactic order. The whole layer
  is ~700 entries (~100 KB without links), so the MCP tool pages them (`LayerPage`); each
  page is a valid layer by itself, and the CLI's `rulecat layer --out FILE` writes all.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from ..answers import Filters
from ..api import MAX_OFFSET, Catalog, shown
from ..errors import InvalidArgument
from .scope import (
    RuleInfo, Scope, TechniqueEntry, check_filters, filter_args, resolve_scope,
    subtechnique_args, subtechnique_handling, technique_rules,
)

NAVIGATOR_VERSION = "5.1.0"
LAYER_VERSION = "4.5"
COLORS = ["#e8f1fb", "#7fb2e5", "#08519c"]
LINKS_PER_TECHNIQUE = 3
MAX_ENTRIES = 1000


class LayerVersions(BaseModel):
    attack: str
    navigator: str = NAVIGATOR_VERSION
    layer: str = LAYER_VERSION


class LayerMetadata(BaseModel):
    name: str
    value: str


class LayerLink(BaseModel):
    label: str
    url: str


class LayerTechnique(BaseModel):
    techniqueID: str = Field(description="T#### or T####.###.")  # noqa: N815 - the format's
    tactic: str = Field(description="Tactic shortname, e.g. execution.")
    score: int = Field(description="Rules under the filters.")
    color: str = ""
    comment: str
    enabled: bool = True
    metadata: list[LayerMetadata]
    links: list[LayerLink]
    showSubtechniques: bool = False  # noqa: N815


class LayerGradient(BaseModel):
    colors: list[str]
    minValue: int  # noqa: N815
    maxValue: int  # noqa: N815


class LegendItem(BaseModel):
    label: str
    color: str


class NavigatorLayer(BaseModel):
    """An ATT&CK Navigator layer, format 4.5; load it in the Navigator as is."""

    name: str
    versions: LayerVersions
    domain: str = "enterprise-attack"
    description: str
    filters: dict[str, list[str]] = Field(default_factory=dict)
    sorting: int = 3
    layout: dict[str, Any] = Field(default_factory=lambda: {
        "layout": "side", "showID": True, "showName": True, "showAggregateScores": False,
        "countUnscored": False, "aggregateFunction": "max",
        "expandedSubtechniques": "annotated"})
    hideDisabled: bool = False  # noqa: N815
    techniques: list[LayerTechnique]
    gradient: LayerGradient
    legendItems: list[LegendItem]  # noqa: N815
    showTacticRowBackground: bool = False  # noqa: N815
    tacticRowBackground: str = "#dddddd"  # noqa: N815
    selectTechniquesAcrossTactics: bool = True  # noqa: N815
    selectSubtechniquesWithParent: bool = False  # noqa: N815
    selectVisibleTechniques: bool = False  # noqa: N815
    metadata: list[LayerMetadata]
    links: list[LayerLink] = Field(default_factory=list)


class LayerPage(BaseModel):
    """One page of a layer's technique entries; `layer` is a valid layer by itself."""

    layer: NavigatorLayer
    total: int = Field(description="Technique entries in the whole layer.")
    returned: int
    next: dict[str, Any] | None = Field(
        None, description="Arguments for the next page; append its `layer.techniques`.")


def navigator_layer(
    cat: Catalog, tactics: list[str] | None = None, platforms: list[str] | None = None,
    filters: Filters | None = None, include_subtechniques: bool = True,
    min_score: int = 1, include_links: bool = False, limit: int = 50, offset: int = 0,
) -> LayerPage:
    """A page of the layer's entries, highest score first (the whole layer is ~100 KB)."""
    if not 1 <= limit <= MAX_ENTRIES or not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"limit must be between 1 and {MAX_ENTRIES} and offset between 0 "
                              f"and {MAX_OFFSET:,} (got {shown(limit)}, {shown(offset)}); page "
                              "with the answer's `next`.")
    filters = check_filters(cat, filters)
    layer, total = _layer(cat, tactics, platforms, filters, include_subtechniques, min_score,
                          include_links, None, slice(offset, offset + limit))
    nxt = None
    if offset + limit < total:
        nxt = {**({"tactics": tactics} if tactics else {}),
               **({"platforms": platforms} if platforms else {}),
               **filter_args(filters), **subtechnique_args(include_subtechniques),
               **({} if min_score == 1 else {"min_score": min_score}),
               **({"include_links": True} if include_links else {}),
               "limit": limit, "offset": offset + limit}
    return LayerPage(layer=layer, total=total, returned=len(layer.techniques), next=nxt)


def build_layer(
    cat: Catalog, tactics: list[str] | None = None, platforms: list[str] | None = None,
    filters: Filters | None = None, include_subtechniques: bool = True,
    min_score: int = 1, include_links: bool = True, name: str | None = None,
) -> NavigatorLayer:
    """The whole layer (see the module docstring), entries highest score first."""
    return _layer(cat, tactics, platforms, check_filters(cat, filters), include_subtechniques,
                  min_score, include_links, name, slice(None))[0]


def _layer(
    cat: Catalog, tactics: list[str] | None, platforms: list[str] | None, filters: Filters,
    include_subtechniques: bool, min_score: int, include_links: bool, name: str | None,
    window: slice,
) -> tuple[NavigatorLayer, int]:
    """The layer with the entries in `window` only, and the number of entries in all."""
    if min_score < 1:
        raise InvalidArgument(f"min_score must be 1 or more (got {min_score}); techniques "
                              "without rules are left unscored.")
    scope = resolve_scope(cat, tactics, platforms)
    rules = technique_rules(cat, filters, include_subtechniques)
    scored = {t: rules[t] for t in scope.techniques if len(rules.get(t, {})) >= min_score}
    parents = {scope.techniques[t].parent for t in scored if scope.techniques[t].parent}
    order = {t.shortname: i for i, t in enumerate(scope.tactics)}
    cells = sorted(((tid, tactic) for tid in scored for tactic in scope.techniques[tid].tactics
                    if tactic in order),
                   key=lambda c: (-len(scored[c[0]]), c[0], order[c[1]]))
    shown = cells[window]
    links = _links(cat, {tid: scored[tid] for tid, _ in shown}) if include_links else {}
    entries = [_entry(scope.techniques[tid], tactic, scored[tid], tid in parents,
                      links.get(tid, [])) for tid, tactic in shown]
    top = _gradient_top([len(r) for r in scored.values()])
    return NavigatorLayer(
        name=name or _name(filters), versions=LayerVersions(attack=_major(cat.attack_version)),
        description=_description(cat, filters, scope, include_subtechniques, min_score),
        filters={"platforms": scope.platforms} if scope.platforms else {},
        techniques=entries,
        gradient=LayerGradient(colors=COLORS, minValue=1, maxValue=top),
        legendItems=[LegendItem(label="1 rule", color=COLORS[0]),
                     LegendItem(label=f"{top} or more rules", color=COLORS[-1])],
        metadata=[LayerMetadata(name="rulecat build", value=cat.meta.get("build_id", "")),
                  LayerMetadata(name="ATT&CK", value=cat.attack_version),
                  LayerMetadata(name="techniques scored", value=str(len(scored)))],
    ), len(cells)


def _links(cat: Catalog, scored: dict[str, dict[int, RuleInfo]]) -> dict[str, list[LayerLink]]:
    """Up to three rules per technique, highest level first, as Navigator links."""
    picked = {tid: sorted(rules, key=lambda r: (rules[r].level_rank, rules[r].vendor, r))
              [:LINKS_PER_TECHNIQUE] for tid, rules in scored.items()}
    cat._pick([r for rowids in picked.values() for r in rowids])
    found = {r[0]: (r[1], r[2]) for r in cat.db.execute(
        "SELECT r.rowid, r.title, r.url FROM rules r JOIN temp.picked p ON p.rule = r.rowid")}
    return {tid: [LayerLink.model_construct(label=found[r][0][:80], url=found[r][1])
                  for r in rowids if found[r][1]] for tid, rowids in picked.items()}


def _entry(
    tech: TechniqueEntry, tactic: str, rules: dict[int, RuleInfo], has_scored_subs: bool,
    links: list[LayerLink],
) -> LayerTechnique:
    vendors = sorted(Counter(r.vendor for r in rules.values()).items(),
                     key=lambda kv: (-kv[1], kv[0]))
    counts = ", ".join(f"{v} {n}" for v, n in vendors)
    # Built from the catalog's own values: skip validation (~700 entries).
    return LayerTechnique.model_construct(
        techniqueID=tech.id, tactic=tactic, score=len(rules), color="",
        comment=f"{len(rules)} rules ({counts})", enabled=True,
        metadata=[LayerMetadata.model_construct(name=v, value=str(n)) for v, n in vendors],
        links=links, showSubtechniques=has_scored_subs,
    )


def _gradient_top(scores: list[int]) -> int:
    """The 95th percentile of the scores, at least 2 (maxValue must exceed minValue)."""
    if not scores:
        return 2
    ranked = sorted(scores)
    return max(2, ranked[min(len(ranked) - 1, int(0.95 * len(ranked)))])


def _major(version: str) -> str:
    """The Navigator names ATT&CK versions by their major number: 18.1 -> 18."""
    return version.split(".")[0] if version[:1].isdigit() else version


def _name(filters: Filters) -> str:
    which = ", ".join(filters.sources or filters.vendors or []) or "all sources"
    return f"rulecat rule coverage ({which})"


def _description(
    cat: Catalog, filters: Filters, scope: Scope, include_subtechniques: bool, min_score: int,
) -> str:
    asked = [f"sources {', '.join(filters.sources)}" if filters.sources else "",
             f"vendors {', '.join(filters.vendors)}" if filters.vendors else "",
             "deprecated rules included" if filters.include_deprecated else ""]
    scope_text = "; ".join(a for a in asked if a) or "all sources, no deprecated rules"
    return (f"Score: rules covering the technique ({scope_text}); techniques with fewer than "
            f"{min_score} rule(s) unscored. {subtechnique_handling(include_subtechniques)} "
            f"rulecat catalog {cat.meta.get('build_id', '')}, ATT&CK {cat.attack_version}.")
