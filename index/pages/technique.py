"""The technique page: one self-contained HTML document about one ATT&CK technique.

What it holds, top to bottom: the technique (name, tactics, ATT&CK version, flags,
sub-techniques), rule counts per vendor with the `via` breakdown, the events the rules rely
on (per vendor, marked when ATT&CK recommends them), the events ATT&CK's analytics recommend
(each marked covered by a rule here or not), the authoring guide (fields filtered most, the
most common tests with their corpus reach, the most common exclusions), then every rule
grouped by vendor with its detection tests and exclusions.

Decisions:
- Everything comes from the read API (`Catalog.get_technique_coverage`, `top_indicators`,
  `get_rule`) and the analytics' `technique_telemetry`, so the page says exactly what the
  MCP tools say, under the same filters. A catalog built before ATT&CK's analytics were
  stored gets a note in that section instead of an error.
- Every rule is listed (all pages of the coverage answer are fetched); a rule's tests are
  cut at `MAX_PREDICATES` rows per list, with a note naming the command that shows all.
- No script, and every colour is printed (`print-color-adjust: exact`); rule cards do not
  break across printed pages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import log10

from ..answers import (
    EventRow, FieldRow, Filters, IndicatorRow, PredicateRow, RuleDetail, TechniqueCoverage,
    TopIndicators,
)
from ..analytics.models import RecommendedEvent, TechniqueTelemetry
from ..analytics.telemetry import technique_telemetry
from ..api import MAX_LIMIT, Catalog
from ..errors import RulecatError
from ..measures import measure
from ..models import VENDORS
from .html import esc, link, page, plural, table, tag

MAX_PREDICATES = 150
INDICATOR_ROWS = 15


@dataclass
class TechniqueReport:
    """Everything the page shows, gathered from the read API before any HTML is made."""

    coverage: TechniqueCoverage
    indicators: TopIndicators
    rules: list[RuleDetail]
    build: dict[str, str] = field(default_factory=dict)
    telemetry: TechniqueTelemetry | None = None


def gather(catalog: Catalog, technique_id: str, filters: Filters | None = None,
           include_subtechniques: bool = True) -> TechniqueReport:
    """Ask the read API for the coverage (every page), the indicators and each rule."""
    coverage = _all_pages(catalog, technique_id, include_subtechniques, filters)
    indicators = catalog.top_indicators(technique_id, INDICATOR_ROWS, include_subtechniques,
                                        filters)
    rows = [r for group in coverage.rules.values() for r in group]
    details = []
    for row in rows:
        detail = catalog.get_rule(row.id)
        detail.rule.via = row.via
        details.append(detail)
    build = {k: catalog.meta.get(k, "") for k in ("build_id", "built_at")}
    telemetry = _telemetry(catalog, technique_id, filters, include_subtechniques)
    return TechniqueReport(coverage, indicators, details, build, telemetry)


def _telemetry(catalog: Catalog, technique_id: str, filters: Filters | None,
               include_subtechniques: bool) -> TechniqueTelemetry | None:
    """ATT&CK's recommended events for the technique, or None when the catalog predates them
    (the page then says so instead of failing)."""
    try:
        return technique_telemetry(catalog, technique_id, None, filters, include_subtechniques)
    except RulecatError:
        return None


def _all_pages(catalog: Catalog, technique_id: str, include_subtechniques: bool,
               filters: Filters | None) -> TechniqueCoverage:
    """The coverage answer with every rule in it, pages merged in order."""
    answer = catalog.get_technique_coverage(technique_id, include_subtechniques, filters,
                                            MAX_LIMIT, 0)
    while answer.next is not None:
        more = catalog.get_technique_coverage(
            technique_id, include_subtechniques, filters, MAX_LIMIT, answer.next["offset"])
        for vendor, rows in more.rules.items():
            answer.rules.setdefault(vendor, []).extend(rows)
        answer.returned += more.returned
        answer.next = more.next
    return answer


def render(report: TechniqueReport) -> str:
    """The whole HTML document for `report`."""
    tech = report.coverage.technique
    body = "".join((
        _header(report),
        _summary(report),
        _events(report),
        _recommended(report.telemetry),
        _authoring_guide(report.indicators),
        _rules(report),
        _footer(),
    ))
    return page(f"{tech.id} {tech.name or ''} — rulecat coverage", f"<main>{body}</main>")


def technique_page(catalog: Catalog, technique_id: str, filters: Filters | None = None,
                   include_subtechniques: bool = True) -> str:
    """`gather` then `render`: the page for one technique."""
    return render(gather(catalog, technique_id, filters, include_subtechniques))


# -- header and summary ------------------------------------------------------------------


def _header(report: TechniqueReport) -> str:
    tech = report.coverage.technique
    facts = [f"ATT&CK {tech.attack_version}"]
    facts += [t.replace("-", " ").title() for t in tech.tactics]
    if tech.parent:
        facts.append(f"sub-technique of {tech.parent}")
    badges = "".join(tag("span", f, "badge flag") for f in tech.flags)
    return (
        f"<header><p class=\"kicker\">rulecat · technique coverage</p>"
        f"<h1>{tag('span', tech.id, 'tid')} {link(tech.name or '(unnamed)', tech.url)}</h1>"
        f"<p class=\"facts\">{' · '.join(esc(f) for f in facts)} {badges}</p>"
        f"{_subtechniques(report.coverage)}"
        f"<p class=\"description\">{esc(tech.description)}</p>"
        f"<p class=\"muted\">{esc(filters_text(report.coverage.filters))} · catalog "
        f"{esc(report.build.get('build_id', ''))}, built {esc(report.build.get('built_at', ''))}"
        f"</p></header>"
    )


def _subtechniques(coverage: TechniqueCoverage) -> str:
    subs = coverage.technique.subtechniques
    if not subs:
        return ""
    rolled = " (their rules are counted below)" if coverage.include_subtechniques else ""
    return f'<p class="muted">Sub-techniques: {esc(", ".join(subs))}{rolled}</p>'


def filters_text(filters: Filters) -> str:
    parts = [f"sources: {', '.join(filters.sources)}" if filters.sources else "all sources"]
    if filters.vendors:
        parts.append(f"vendors: {', '.join(filters.vendors)}")
    parts.append("deprecated rules included" if filters.include_deprecated
                 else "deprecated rules left out")
    return "; ".join(parts)


def _summary(report: TechniqueReport) -> str:
    cov = report.coverage
    cards = []
    for vendor in _vendor_order(cov.counts):
        count = cov.counts[vendor]
        via = ", ".join(f"{k} {v}" for k, v in count.via.items())
        cards.append(f'<a class="card" href="#rules-{esc(vendor)}"><span class="n">'
                     f"{count.rules}</span> {esc(vendor)}<br><small>{esc(via)}</small></a>")
    notes = "".join(tag("p", n, "note") for n in cov.notes)
    if not cards:
        cards.append('<p class="note">No rule covers this technique under these filters.</p>')
    return (f"<section><h2>{esc(plural(cov.total, 'rule'))} cover it</h2>"
            f"<div class=\"cards\">{''.join(cards)}</div>{notes}</section>")


def _vendor_order(vendors: object) -> list[str]:
    names = list(vendors)  # type: ignore[call-overload]
    return sorted(names, key=lambda v: (VENDORS.index(v) if v in VENDORS else 99, v))


# -- events ------------------------------------------------------------------------------


def _events(report: TechniqueReport) -> str:
    events = report.coverage.events
    if not events:
        return ("<section><h2>Events covered</h2><p class=\"note\">The rules rely on no "
                "mapped log event.</p></section>")
    per_vendor = _events_per_vendor(report.rules)
    vendors = _vendor_order(report.coverage.counts)
    recommended = {(e.provider, e.event_id) for e in
                   (report.telemetry.recommended_events if report.telemetry else [])}
    rows = [[*_event_row(e, per_vendor, vendors),
             '<span class="badge yes">recommended</span>'
             if (e.provider, e.event_id) in recommended else ""] for e in events]
    headers = ["provider", "event", "title", "rules", *vendors, "ATT&CK"]
    return (f"<section id=\"events\"><h2>Events covered</h2><p class=\"muted\">Log events "
            "the rules rely on, most used first; ATT&amp;CK marks those its analytics "
            f"recommend.</p>{table(headers, rows, 'events')}</section>")


def _events_per_vendor(rules: list[RuleDetail]) -> Counter[tuple[str, int, str]]:
    counts: Counter[tuple[str, int, str]] = Counter()
    for rule in rules:
        for event in {(e.provider, e.event_id) for e in rule.events}:
            counts[(*event, rule.rule.vendor)] += 1
    return counts


def _event_row(event: EventRow, per_vendor: Counter[tuple[str, int, str]],
               vendors: list[str]) -> list[str]:
    cells = [esc(event.provider), tag("b", event.event_id), esc(event.title),
             tag("b", event.rules)]
    for vendor in vendors:
        n = per_vendor[(event.provider, event.event_id, vendor)]
        cells.append(esc(n) if n else '<span class="muted">–</span>')
    return cells


def _recommended(telemetry: TechniqueTelemetry | None) -> str:
    """MITRE's recommended events beside the rules' own, each marked covered or not."""
    head = "<section id=\"attack-telemetry\"><h2>What ATT&amp;CK recommends collecting</h2>"
    if telemetry is None:
        return (f"{head}<p class=\"note\">This catalog holds no ATT&amp;CK analytics; rebuild "
                "it with <code>rulecat build</code> to compare them with the rules.</p></section>")
    if not telemetry.recommended_events:
        return f"{head}<p class=\"muted\">ATT&amp;CK's analytics name no Windows event for " \
               "this technique.</p>" + _data_sources(telemetry) + "</section>"
    rows = [_recommended_row(e) for e in telemetry.recommended_events]
    headers = ["provider", "event", "title", "data components", "rules here", "in catalog",
               "covered"]
    return (f"{head}<p class=\"muted\">Events named by ATT&amp;CK's analytics "
            f"({esc(', '.join(a.id for a in telemetry.analytics))}): "
            f"{telemetry.covered} of {len(telemetry.recommended_events)} relied on by a rule "
            f"above.</p>{table(headers, rows, 'events')}{_data_sources(telemetry)}</section>")


def _recommended_row(e: RecommendedEvent) -> list[str]:
    covered = ('<span class="badge yes">covered</span>' if e.covered
               else '<span class="badge flag">no rule here</span>')
    return [esc(e.provider), tag("b", e.event_id), esc(e.title or "–"),
            esc(", ".join(e.data_components)), tag("b", e.rules), esc(e.catalog_rules), covered]


def _data_sources(telemetry: TechniqueTelemetry) -> str:
    if not telemetry.data_sources:
        return ""
    names = ", ".join(sorted({d.log_source for d in telemetry.data_sources}))
    return (f"<p class=\"muted\">Other log sources ATT&amp;CK names (not Windows events; "
            f"not compared): {esc(names)}.</p>")


# -- authoring guide ---------------------------------------------------------------------


def _authoring_guide(ind: TopIndicators) -> str:
    if not ind.rules_considered:
        return ""
    fields = table(["field", "rules", "operators", "sample values", "vendor spellings"],
                   [_field_row(f) for f in ind.fields], "guide")
    tests = table(["field", "op", "value", "rules", "corpus reach", "specific"],
                  [_indicator_row(i, i.corpus_reach) for i in ind.indicators], "guide")
    excl = table(["field", "op", "value", "rules", "excluded by", "specific"],
                 [_indicator_row(i, i.exclusion_reach or 0) for i in ind.exclusions], "guide")
    n = ind.rules_considered
    who = "the rule tests" if n == 1 else f"the {n} rules test"
    return (
        "<section id=\"guide\"><h2>Authoring guide</h2><p class=\"muted\">What "
        f"{who} (detect tests only; exclusions "
        "apart). Corpus reach: rules in the whole catalog that detect on the same test; "
        "specific: no rule outside this technique has it. A test of a derived measure "
        "(<code>length gt</code>, arithmetic) counts for its field but is no indicator.</p>"
        f"<h3>Fields filtered most</h3>{fields}<h3>Most common tests</h3>{tests}"
        f"<h3>Most common exclusions</h3>{excl if ind.exclusions else _none('exclusions')}"
        "</section>"
    )


def _none(what: str) -> str:
    return f'<p class="muted">No {esc(what)}.</p>'


def _field_row(f: FieldRow) -> list[str]:
    how = ", ".join(f"{op} {n}" for op, n in f.how.items())
    samples = "".join(f"<li>{tag('code', s)}</li>" for s in f.samples)
    spellings = ", ".join(f.vendor_fields)
    return [tag("code", f.field), tag("b", f.rules), esc(how),
            f'<ul class="plain">{samples}</ul>', tag("span", spellings, "muted")]


def _indicator_row(i: IndicatorRow, reach: int) -> list[str]:
    field_cell = tag("code", i.field) if i.field else '<span class="muted">(keyword)</span>'
    specific = '<span class="badge yes">yes</span>' if i.specific_to_technique else ""
    return [field_cell, esc(i.operator), tag("code", i.value, "value"), tag("b", i.rules),
            _reach_bar(reach), specific]


def _reach_bar(reach: int) -> str:
    """The number, with a bar whose length grows with log10(reach) (1 → 8%, 10,000 → full)."""
    width = 0 if reach <= 0 else min(100, round(8 + 23 * log10(reach)))
    return (f'<span class="reach"><span class="bar" style="width:{width}%"></span>'
            f"{esc(reach)}</span>")


# -- rules -------------------------------------------------------------------------------


def _rules(report: TechniqueReport) -> str:
    groups: dict[str, list[RuleDetail]] = {}
    for rule in report.rules:
        groups.setdefault(rule.rule.vendor, []).append(rule)
    parts = []
    number = 0
    for vendor in _vendor_order(groups):
        cards = []
        for rule in groups[vendor]:
            number += 1
            cards.append(_rule_card(rule, number))
        parts.append(f"<section id=\"rules-{esc(vendor)}\" class=\"vendor\"><h2>{esc(vendor)}"
                     f" · {esc(plural(len(groups[vendor]), 'rule'))}</h2>{''.join(cards)}"
                     "</section>")
    return "".join(parts)


def _rule_card(rule: RuleDetail, number: int) -> str:
    r = rule.rule
    level = r.level or "no level"
    badges = tag("span", level, f"badge level-{_css_word(level)}")
    if r.deprecated:
        badges += tag("span", "deprecated", "badge flag")
    if r.via and r.via != "exact":
        badges += tag("span", f"via {r.via}", "badge flag")
    return (
        f"<article class=\"rule\" id=\"rule-{number}\"><h3>{badges} "
        f"<span class=\"rule-title\">{link(r.title, r.url)}</span></h3>"
        f"{_rule_facts(rule)}<p class=\"description\">{esc(rule.description)}</p>"
        f"{_predicates('Detection', rule.detection, rule)}"
        f"{_predicates('Exclusions', rule.exclusions, rule)}{_unparsed(rule)}</article>"
    )


def _css_word(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _rule_facts(rule: RuleDetail) -> str:
    r = rule.rule
    events = ", ".join(f"{e.provider} {e.event_id}" for e in rule.events) or "none mapped"
    techniques = ", ".join(t.id for t in rule.techniques) or "none"
    language = " / ".join(x for x in (rule.language, rule.rule_type) if x)
    facts = [("id", tag("code", r.id)), ("status", esc(r.status or "–")),
             ("language", esc(language or "–")), ("techniques", esc(techniques)),
             ("events", esc(events)), ("file", tag("code", rule.path))]
    if rule.logsource:
        facts.append(("logsource", esc(", ".join(f"{k}: {v}" for k, v in rule.logsource.items()))))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _predicates(title: str, preds: list[PredicateRow], rule: RuleDetail) -> str:
    if not preds:
        return "" if title == "Exclusions" else f"<h4>{esc(title)}</h4>{_none('detection tests')}"
    shown = preds[:MAX_PREDICATES]
    reach_header = "excluded by" if title == "Exclusions" else "reach"
    rows = [_predicate_row(p) for p in shown]
    more = ""
    if len(preds) > len(shown):
        more = (f'<p class="note">{len(preds) - len(shown)} more not shown; '
                f"<code>rulecat rule {esc(rule.rule.id)}</code> lists all.</p>")
    headers = ["selection", "field", "op", "value", reach_header]
    return (f"<h4>{esc(title)} <small>({len(preds)})</small></h4>"
            f"{table(headers, rows, 'preds ' + _css_word(title))}{more}")


def _predicate_row(p: PredicateRow) -> list[str]:
    """One test; one of a derived measure (`length`, arithmetic) says so in the op column and
    has no reach, as it is no indicator."""
    field_cell = tag("code", p.field or p.vendor_field or "(keyword)")
    if p.vendor_field and p.vendor_field != p.field:
        field_cell += f'<br><span class="muted">as {esc(p.vendor_field)}</span>'
    value = tag("code", p.value, "value")
    notes = [*p.transforms, *(["case-sensitive"] if p.case_sensitive else [])]
    if notes:
        value += f' <span class="muted">{esc(", ".join(notes))}</span>'
    measured = measure(p.transforms)
    if p.indicator and not measured:
        value += f'<br><span class="muted">counted as {esc(p.indicator)}</span>'
    op = f"{measured} {p.operator}" if measured else p.operator
    reach = p.exclusion_reach if p.polarity == "exclude" else p.corpus_reach
    shown = "—" if measured else esc(reach or 0)
    return [esc(p.selection or ""), field_cell, esc(op), value, shown]


def _unparsed(rule: RuleDetail) -> str:
    if rule.parsed:
        return ""
    return (f'<p class="note">Not parsed whole: {esc(rule.unparsed_reason or "unknown reason")}'
            "; the tests above may be partial.</p>")


def _footer() -> str:
    return ('<footer class="muted">Made by rulecat from the catalog named above. Reach counts '
            "non-deprecated rules in the whole catalog, whatever the filters; "
            "<code>rulecat rule ID</code> shows one rule in full.</footer>")
