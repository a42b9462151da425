"""CLI twins of the analytics tools: `event`, `events`, `gaps`, `collect`, `telemetry`,
`telemetry-gaps` and `layer`. Each prints a table, or with `--json` exactly the tool's
answer; none imports the MCP SDK."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional, cast

import typer

from rulecat.index.analytics.layer import LayerPage
from rulecat.index.analytics.models import (
    CoverageGaps, EventCoverage, EventList, EventsToCollect, TechniqueTelemetry, TelemetryGaps,
)

from . import render
from .cli import (
    CatalogOpt, DeprecatedOpt, JsonOpt, LimitOpt, OffsetOpt, SourcesOpt, VendorsOpt, _emit,
    _filters, _open,
)
from .render import Table, console

TacticsOpt = Annotated[Optional[list[str]], typer.Option(
    "--tactic", help="Only this tactic, e.g. execution or TA0002 (repeatable).")]
PlatformsOpt = Annotated[Optional[list[str]], typer.Option(
    "--platform", help="Only this platform, e.g. Windows (repeatable).")]
NoSubsOpt = Annotated[bool, typer.Option(
    "--no-subtechniques", help="Count a parent by its own tags only (no roll-up).")]


def register(app: typer.Typer) -> None:
    """Add the analytics commands to the CLI."""
    app.command("event")(event)
    app.command("events")(events)
    app.command("gaps")(gaps)
    app.command("collect")(collect)
    app.command("telemetry")(telemetry)
    app.command("telemetry-gaps")(telemetry_gaps)
    app.command("layer")(layer)


def event(
    provider: Annotated[str, typer.Argument(help="Event provider, e.g. Sysmon.")],
    event_id: Annotated[int, typer.Argument(help="Event ID, e.g. 10.")],
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 20, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rules and techniques relying on one log event, per vendor and source."""
    from rulecat.index.analytics.events import get_event_coverage

    answer = get_event_coverage(_open(catalog), provider, event_id,
                                _filters(sources, vendors, include_deprecated), limit, offset)
    _emit(answer, as_json, show_event)


def events(
    provider: Annotated[Optional[str], typer.Option(help="Only this provider.")] = None,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 50, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Log events rules rely on, most rules first, per vendor."""
    from rulecat.index.analytics.events import list_events

    answer = list_events(_open(catalog), provider,
                         _filters(sources, vendors, include_deprecated), limit, offset)
    _emit(answer, as_json, show_events)


def gaps(
    tactics: TacticsOpt = None, platforms: PlatformsOpt = None,
    show: Annotated[str, typer.Option(help="List no_rule or one_rule techniques.")] = "no_rule",
    no_subtechniques: NoSubsOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 20, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Per tactic: techniques with no rule, one rule, covered; then the uncovered ones."""
    from rulecat.index.analytics.gaps import Show, coverage_gaps

    answer = coverage_gaps(_open(catalog), tactics, platforms,
                           _filters(sources, vendors, include_deprecated),
                           not no_subtechniques, cast(Show, show), limit, offset)
    _emit(answer, as_json, show_gaps)


def collect(
    tactics: TacticsOpt = None, platforms: PlatformsOpt = None,
    collected: Annotated[Optional[list[str]], typer.Option(
        "--collected", help="An event already collected, e.g. Sysmon:1 (repeatable).")] = None,
    providers: Annotated[Optional[list[str]], typer.Option(
        "--provider", help="Pick only this provider's events, e.g. Sysmon (repeatable).")]
    = None,
    no_subtechniques: NoSubsOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 10, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Which events to collect first: greedy marginal gain in detectable techniques."""
    from rulecat.index.analytics.collect import events_to_collect

    answer = events_to_collect(_open(catalog), tactics, platforms, collected,
                               _filters(sources, vendors, include_deprecated),
                               not no_subtechniques, limit, offset, providers=providers)
    _emit(answer, as_json, show_collect)


def telemetry(
    technique_id: Annotated[str, typer.Argument(help="ATT&CK technique ID, e.g. T1559.001.")],
    platforms: PlatformsOpt = None, no_subtechniques: NoSubsOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Events ATT&CK's analytics recommend for a technique, next to its rules' events."""
    from rulecat.index.analytics.telemetry import technique_telemetry

    answer = technique_telemetry(_open(catalog), technique_id, platforms,
                                 _filters(sources, vendors, include_deprecated),
                                 not no_subtechniques)
    _emit(answer, as_json, show_telemetry)


def telemetry_gaps(
    tactics: TacticsOpt = None, platforms: PlatformsOpt = None,
    no_subtechniques: NoSubsOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 20, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Techniques whose ATT&CK-recommended events no rule for them relies on."""
    from rulecat.index.analytics.telemetry import telemetry_gaps as answer_of

    answer = answer_of(_open(catalog), tactics, platforms,
                       _filters(sources, vendors, include_deprecated), not no_subtechniques,
                       limit, offset)
    _emit(answer, as_json, show_telemetry_gaps)


def layer(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write the whole layer to FILE ('-' for stdout).", metavar="FILE")] = None,
    tactics: TacticsOpt = None, platforms: PlatformsOpt = None,
    min_score: Annotated[int, typer.Option(help="Fewest rules to score a cell.")] = 1,
    no_links: Annotated[bool, typer.Option("--no-links", help="With --out: no rule links.")]
    = False,
    no_subtechniques: NoSubsOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: Annotated[int, typer.Option(
        help="Entries per page with --json (1-1000).")] = 50, offset: OffsetOpt = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """ATT&CK Navigator layer (format 4.5) scored by rule count; --out writes all of it."""
    from rulecat.index.analytics.layer import build_layer, navigator_layer

    cat, filters = _open(catalog), _filters(sources, vendors, include_deprecated)
    if out is not None:
        whole = build_layer(cat, tactics, platforms, filters, not no_subtechniques, min_score,
                            not no_links)
        _write(out, whole.model_dump_json(indent=1) + "\n", len(whole.techniques))
        return
    # Without --out: a page, as the MCP tool answers (no links: they triple the size).
    page = navigator_layer(cat, tactics, platforms, filters, not no_subtechniques, min_score,
                           False, limit, offset)
    _emit(page, as_json, show_layer)


def _write(out: Path, text: str, entries: int) -> None:
    render.write_output(out, text)
    sys.stderr.write(f"rulecat: wrote a Navigator layer with {entries} technique entries"
                     f"{'' if str(out) == '-' else f' to {out}'}\n")


# -- rendering -----------------------------------------------------------------------------


def show_event(a: EventCoverage) -> None:
    e = a.event
    per = ", ".join(f"{v} {n}" for v, n in a.vendors.items()) or "none"
    console.print(f"[bold]{e.provider} {e.event_id}[/] {e.title}: {e.rules} rules ({per})")
    shown = len(a.techniques)
    count = (f"{a.techniques_total}" if shown == a.techniques_total
             else f"the {shown} with most rules, of {a.techniques_total}")
    table = Table("technique", "name", "rules", title=f"techniques ({count})",
                  title_justify="left")
    for t in a.techniques:
        table.add_row(t.id, t.name or "", str(t.rules))
    console.print(table)
    rules = Table("vendor", "level", "title", "id", title="rules", title_justify="left")
    for r in a.rules:
        rules.add_row(r.vendor, r.level or "", r.title, r.id)
    console.print(rules)
    render._notes(a.notes)
    render._more(a.total, a.returned, a.next)


def show_events(a: EventList) -> None:
    table = Table("provider", "event", "title", "rules", "per vendor")
    for e in a.events:
        per = ", ".join(f"{v} {n}" for v, n in e.vendors.items())
        table.add_row(e.provider, str(e.event_id), e.title, str(e.rules), per)
    console.print(table)
    render._more(a.total, a.returned, a.next)


def show_gaps(a: CoverageGaps) -> None:
    o = a.overall
    console.print(f"ATT&CK {a.attack_version}: {o.total} techniques and sub-techniques, "
                  f"{o.covered} covered "
                  f"({o.covered_pct}%), {o.one_rule} with one rule, {o.no_rule} with none")
    sources = list(a.tactics[0].sources) if a.tactics else []
    table = Table("tactic", "total", "none", "one", "covered", "%", "subs none/total",
                  *sources)
    for t in a.tactics:
        table.add_row(t.tactic, str(t.all.total), str(t.all.no_rule), str(t.all.one_rule),
                      str(t.all.covered), f"{t.all.covered_pct}",
                      f"{t.subtechniques.no_rule}/{t.subtechniques.total}",
                      *(f"{s.covered} ({s.covered_pct}%)" for s in t.sources.values()))
    console.print(table)
    console.print(f"[dim]{a.subtechnique_handling}[/]")
    listed = Table("technique", "name", "tactics", "rules",
                   title=f"{a.show.replace('_', ' ')} ({a.total})", title_justify="left")
    for g in a.techniques:
        listed.add_row(g.id, g.name, ", ".join(g.tactics), str(g.rules))
    console.print(listed)
    render._more(a.total, a.returned, a.next)


def show_collect(a: EventsToCollect) -> None:
    start = ", ".join(f"{e.provider} {e.event_id}" for e in a.collected)
    events = f"{', '.join(a.providers)} events" if a.providers else "every event"
    outside = (f"; reachable only through other providers: {a.outside_providers}"
               if a.providers else "")
    console.print(f"{a.in_scope} techniques in scope; detectable at start: "
                  f"{a.detectable_at_start}{f' ({start})' if start else ''}; reachable with "
                  f"{events}: {a.reachable}{outside}; covered only by rules without events: "
                  f"{a.covered_without_events}")
    table = Table("#", "provider", "event", "title", "new", "total", "%", "rules", "examples")
    for p in a.picks:
        table.add_row(str(p.rank), p.provider, str(p.event_id), p.title, f"+{p.new_techniques}",
                      str(p.total_techniques), f"{p.total_pct}", str(p.rules),
                      ", ".join(p.examples[:3]))
    console.print(table)
    if a.only_together:
        console.print(f"{a.only_together} more reachable techniques need two or more of the "
                      "events left at once (sequences, 'A AND B' data sources).")
    console.print(f"[dim]{a.method}[/]")
    render._more(a.total, a.returned, a.next)


def show_telemetry(a: TechniqueTelemetry) -> None:
    t = a.technique
    analytics = ", ".join(f"{x.id} ({'/'.join(x.platforms)})" for x in a.analytics)
    console.print(f"[bold]{t.id}[/] {t.name or ''}: {a.rules} rules; ATT&CK analytics: "
                  f"{analytics or 'none'}")
    table = Table("provider", "event", "title", "data component", "rules", "covered",
                  "catalog rules", title=f"recommended by ATT&CK ({a.covered} of "
                  f"{len(a.recommended_events)} covered)", title_justify="left")
    for e in a.recommended_events:
        table.add_row(e.provider, str(e.event_id), e.title or "(unknown id)",
                      ", ".join(e.data_components), str(e.rules), "yes" if e.covered else "NO",
                      str(e.catalog_rules))
    console.print(table)
    other = Table("provider", "event", "title", "rules", title="other events the rules use",
                  title_justify="left")
    for used in a.rule_events:
        other.add_row(used.provider, str(used.event_id), used.title, str(used.rules))
    console.print(other)
    if a.data_sources:
        console.print(f"other log sources ATT&CK names ({a.data_sources_total}): " + "; ".join(
            f"{d.log_source} {d.channel or ''}".strip() for d in a.data_sources[:8]),
            markup=False, highlight=False)
    render._notes(a.notes)


def show_telemetry_gaps(a: TelemetryGaps) -> None:
    console.print(f"{a.with_recommended_events} of {a.in_scope} techniques have ATT&CK-"
                  f"recommended Windows events: aligned {a.aligned}, rules elsewhere "
                  f"{a.rules_elsewhere}, no rules {a.no_rules}")
    table = Table("technique", "name", "rules", "recommended", "rules rely on")
    for r in a.techniques:
        table.add_row(r.id, r.name, str(r.rules), ", ".join(r.recommended[:4]),
                      ", ".join(r.rule_events[:3]))
    console.print(table)
    render._more(a.total, a.returned, a.next)  # the paging is the techniques table's
    shown = len(a.unused_events)
    count = (f"{shown}" if shown == a.unused_events_total
             else f"the {shown} most recommended, of {a.unused_events_total}")
    unused = Table("provider", "event", "title", "techniques",
                   title=f"recommended events no rule uses ({count})", title_justify="left")
    for u in a.unused_events:
        unused.add_row(u.provider, str(u.event_id), u.title or "(unknown id)", str(u.techniques))
    console.print(unused)


def show_layer(a: LayerPage) -> None:
    console.print(f"{a.layer.name}: {a.total} technique entries; gradient 1-"
                  f"{a.layer.gradient.maxValue}. Write it all with --out FILE.")
    table = Table("technique", "tactic", "score", "comment")
    for e in a.layer.techniques[:20]:
        table.add_row(e.techniqueID, e.tactic, str(e.score), e.comment)
    console.print(table)
    render._more(a.total, a.returned, a.next)
