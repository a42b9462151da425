"""CLI twin of the search tool: `rulecat search "dcom lateral movement"`. It prints a
table, or with `--json` exactly the tool's answer; it does not import the MCP SDK."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer
from rich.markup import escape

from rulecat.index.search.answers import SearchResults

from . import render
from .cli import (
    CatalogOpt, DeprecatedOpt, JsonOpt, LimitOpt, OffsetOpt, SourcesOpt, VendorsOpt, _emit,
    _filters, _open,
)
from .render import Table, console

TextEngineOpt = Annotated[Optional[str], typer.Option(
    "--text-engine", envvar="RULECAT_TEXT_ENGINE",
    help="fts5 or whoosh (default: the engine the catalog was built with).")]


def register(app: typer.Typer) -> None:
    """Add the search command to the CLI."""
    app.command("search")(search)


def search(
    query: Annotated[str, typer.Argument(
        help="Words or identifiers, e.g. 'dcom lateral movement' or 'regsvr32.exe'.")],
    technique: Annotated[Optional[list[str]], typer.Option(
        "--technique", help="Only rules covering this technique (repeatable).")] = None,
    tactic: Annotated[Optional[list[str]], typer.Option(
        "--tactic", help="Only rules in this tactic, e.g. lateral-movement (repeatable).")] = None,
    level: Annotated[Optional[list[str]], typer.Option(
        "--level", help="Only this level, e.g. high (repeatable).")] = None,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, limit: LimitOpt = 20, offset: OffsetOpt = 0,
    text_engine: TextEngineOpt = None, catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rules ranked by full-text relevance, with why each matched."""
    answer = _open(catalog).search_rules(
        query, technique, tactic, level, _filters(sources, vendors, include_deprecated),
        limit, offset, engine=text_engine)
    _emit(answer, as_json, show_search)


def show_search(a: SearchResults) -> None:
    terms = " ".join(a.terms) or "(nothing to search for)"
    console.print(f"[bold]{escape(terms)}[/]: {render.plural(a.total, 'rule')} "
                  f"(match {a.match}, {a.engine})",
                  highlight=False)
    if a.results:
        table = Table("level", "title · why", "found in", "id", markup=True)
        for r in a.results:
            table.add_row(r.level or "", f"{escape(r.title)}\n[dim]{_bold(r.snippet)}[/]",
                          ", ".join(r.matched_in), r.id)
        console.print(table)
    for s in a.suggestions:
        console.print(f"did you mean [bold]{escape(s.term)}[/] ({render.plural(s.rules, 'rule')}) "
                      f"instead of {escape(s.instead_of)}?", highlight=False)
    if a.longer_words:
        listed = ", ".join(f"{escape(w.word)} ({render.plural(w.rules, 'rule')})"
                           for w in a.longer_words)
        console.print(f"[dim]words match whole; longer words to search too: {listed}[/]",
                      highlight=False)
    for note in a.notes:
        console.print(f"[yellow]note[/] {escape(render.cli_words(note))}", highlight=False)
    if a.next:
        console.print(f"[dim]{a.returned} of {a.total}; next page: --offset {a.next['offset']}[/]")


def _bold(snippet: str) -> str:
    """The snippet's **matches** in rich bold, the rest escaped."""
    parts = re.split(r"\*\*(.+?)\*\*", snippet)
    return "".join(f"[bold]{escape(p)}[/bold]" if i % 2 else escape(p)
                   for i, p in enumerate(parts))
