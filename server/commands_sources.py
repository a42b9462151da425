"""`rulecat compare A B`: what source A adds to source B (the twin of `compare_sources`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from rulecat.index.compare import SourceComparison

from . import render
from .cli import CatalogOpt, JsonOpt, LimitOpt, OffsetOpt, _emit, _open


def register(app: typer.Typer) -> None:
    """Add `compare` to the CLI."""
    app.command()(compare)


def compare(
    a: Annotated[str, typer.Argument(help="Source to look at, e.g. acme.")],
    b: Annotated[str, typer.Argument(help="Source to compare with, e.g. sigma.")],
    limit: LimitOpt = 20, offset: OffsetOpt = 0, catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Techniques A covers and B does not; A's rules whose indicators B already tests."""
    _emit(_open(catalog).compare_sources(a, b, limit, offset), as_json, show_comparison)


def show_comparison(c: SourceComparison) -> None:
    console = render.console
    console.print(f"[bold]{c.a}[/] vs [bold]{c.b}[/]: {c.a} covers "
                  f"{render.plural(c.techniques_a, 'technique')}, {c.b} {c.techniques_b}; "
                  f"{c.techniques_only_in_a} only in {c.a}")
    if c.only_in_a:
        table = render.Table("technique", "name", f"{c.a} rules")
        for t in c.only_in_a:
            table.add_row(t.id, t.name or "", str(t.rules))
        console.print(table)
    console.print(f"{render.plural(c.rules_a, 'rule')} in {c.a}: {c.rules_fully_in_b} with every indicator in "
                  f"{c.b}, {c.rules_partly_in_b} with some, {c.rules_new} with none")
    # Title over id in one cell, so the two ids never squeeze the titles to a letter a line.
    table = render.Table(f"{c.a} rule", f"indicators in {c.b}", f"closest {c.b} rule")
    for o in c.overlap:
        best = o.shared_with[0] if o.shared_with else None
        closest = (_titled(best.title, best.id) + f"\n({best.shared} of its {best.indicators} "
                   "indicators)") if best else Text("")
        table.add_row(_titled(o.title, o.id), f"{o.in_b} of {o.indicators}", closest)
    for column, ids in ((table.columns[0], [o.id for o in c.overlap]),
                        (table.columns[2], [o.shared_with[0].id for o in c.overlap
                                            if o.shared_with])):
        column.min_width = max(map(len, ids), default=None)
    console.print(table)
    if c.next:
        console.print(f"[dim]next page: --offset {c.next['offset']}[/]")


def _titled(title: str, rule_id: str) -> Text:
    return Text(title) + Text(f"\n{rule_id}", style="dim")
