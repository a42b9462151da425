"""Coverage gaps: per tactic, the techniques with no rule, with one rule, and covered.

Decisions:

* The denominator is the loaded ATT&CK version's techniques and sub-techniques in scope,
  revoked and deprecated ones left out (see `scope`), never the techniques rules happen to
  name. A technique in several tactics counts once in each tactic's row, and once in
  `overall`.
* `covered` is at least one rule under the shared filters; `one_rule` is the thin part of
  it (exactly one rule, one regression from blind); `no_rule` + `covered` = `total`.
* Parents and sub-techniques are counted as `scope.subtechnique_handling` states; each
  tactic row also splits techniques from sub-techniques.
* Per source: how many of the tactic's techniques that source's rules alone cover.
* The listed techniques (`show`: no_rule or one_rule) are paged, in matrix order of their
  first asked tactic, then by ID.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ..answers import Filters
from ..api import Catalog, _check_page, shown
from ..errors import InvalidArgument
from .models import CoverageGaps, GapCounts, GapTechnique, SourceGap, TacticGaps
from .scope import (
    RuleInfo, Scope, TacticEntry, TechniqueEntry, check_filters, filter_args, pct, resolve_scope,
    scope_args, subtechnique_args, subtechnique_handling, technique_rules,
)

Show = Literal["no_rule", "one_rule"]


def gap_counts(rule_counts: Iterable[int]) -> GapCounts:
    """Counts and percentages over a list of per-technique rule counts."""
    counts = list(rule_counts)
    total, none = len(counts), sum(1 for n in counts if n == 0)
    one = sum(1 for n in counts if n == 1)
    return GapCounts(total=total, no_rule=none, one_rule=one, covered=total - none,
                     no_rule_pct=pct(none, total), one_rule_pct=pct(one, total),
                     covered_pct=pct(total - none, total))


def coverage_gaps(
    cat: Catalog, tactics: list[str] | None = None, platforms: list[str] | None = None,
    filters: Filters | None = None, include_subtechniques: bool = True,
    show: Show = "no_rule", limit: int = 20, offset: int = 0,
) -> CoverageGaps:
    """Per tactic, techniques without rules, with one rule, and covered (see module doc)."""
    filters = check_filters(cat, filters)
    limit, offset = _check_page(limit, offset)
    if show not in ("no_rule", "one_rule"):
        raise InvalidArgument(f"Unknown show {shown(show)}. Valid: no_rule, one_rule.")
    scope = resolve_scope(cat, tactics, platforms)
    rules = technique_rules(cat, filters, include_subtechniques)
    sources = filters.sources or list(cat.source_names)
    rows = [_tactic_row(scope, t, rules, sources) for t in scope.tactics]
    listed = _listed(scope, rules, 0 if show == "no_rule" else 1)
    page = listed[offset:offset + limit]
    nxt = None
    if offset + limit < len(listed):
        nxt = {**scope_args(scope, bool(tactics)), **filter_args(filters),
               **({} if show == "no_rule" else {"show": show}),
               **subtechnique_args(include_subtechniques),
               "limit": limit, "offset": offset + limit}
    return CoverageGaps(
        attack_version=cat.attack_version, filters=filters, platforms=scope.platforms,
        include_subtechniques=include_subtechniques,
        subtechnique_handling=subtechnique_handling(include_subtechniques),
        overall=gap_counts(len(rules.get(t, {})) for t in scope.techniques),
        tactics=rows, show=show, techniques=page, total=len(listed), returned=len(page),
        next=nxt,
    )


def _tactic_row(
    scope: Scope, tactic: TacticEntry, rules: dict[str, dict[int, RuleInfo]], sources: list[str],
) -> TacticGaps:
    members = scope.in_tactic(tactic.shortname)

    def counts(techs: list[TechniqueEntry]) -> GapCounts:
        return gap_counts(len(rules.get(t.id, {})) for t in techs)

    per_source = {}
    for source in sources:
        n = sum(1 for t in members
                if any(r.source == source for r in rules.get(t.id, {}).values()))
        per_source[source] = SourceGap(covered=n, covered_pct=pct(n, len(members)))
    return TacticGaps(
        tactic=tactic.shortname, id=tactic.id, name=tactic.name, all=counts(members),
        techniques=counts([t for t in members if not t.is_subtechnique]),
        subtechniques=counts([t for t in members if t.is_subtechnique]),
        sources=per_source,
    )


def _listed(scope: Scope, rules: dict[str, dict[int, RuleInfo]], n: int) -> list[GapTechnique]:
    """Techniques with exactly `n` rules, by their first asked tactic's order, then ID."""
    order = {t.shortname: i for i, t in enumerate(scope.tactics)}
    found = []
    for tech in scope.techniques.values():
        if len(rules.get(tech.id, {})) != n:
            continue
        asked = [t for t in tech.tactics if t in order]
        found.append((order[asked[0]], tech.id, GapTechnique(
            id=tech.id, name=tech.name, tactics=list(tech.tactics), rules=n)))
    return [row for *_, row in sorted(found, key=lambda x: (x[0], x[1]))]
