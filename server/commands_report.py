"""`rulecat report` and `rulecat heatmap`: the catalog as HTML pages for people.

Both write one self-contained HTML file (`--html FILE`, or `--html -` for stdout) and say
on stderr what they wrote. They take the shared filters like every query command, and never
import the MCP SDK.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from . import render
from .cli import (
    CatalogOpt, DeprecatedOpt, SourcesOpt, VendorsOpt, _filters, _open,
)

HtmlOpt = Annotated[str, typer.Option(
    "--html", help="Write the page to this file ('-' for stdout).", metavar="FILE")]


def register(app: typer.Typer) -> None:
    """Add `report` and `heatmap` to the CLI."""
    app.command()(report)
    app.command()(heatmap)


def report(
    technique_id: Annotated[str, typer.Argument(help="ATT&CK technique ID, e.g. T1559.001.")],
    html: HtmlOpt,
    no_subtechniques: Annotated[bool, typer.Option(
        "--no-subtechniques", help="Do not roll sub-techniques into a parent.")] = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, catalog: CatalogOpt = None,
) -> None:
    """A technique's page: events, authoring guide, every rule's tests and exclusions."""
    from rulecat.index.pages import technique_page

    started = time.perf_counter()
    text = technique_page(_open(catalog), technique_id,
                          _filters(sources, vendors, include_deprecated), not no_subtechniques)
    _write(html, text, started)


def heatmap(
    html: HtmlOpt,
    sources: SourcesOpt = None, vendors: VendorsOpt = None,
    include_deprecated: DeprecatedOpt = False, catalog: CatalogOpt = None,
) -> None:
    """The ATT&CK matrix coloured by rule count (sub-techniques rolled into parents)."""
    from rulecat.index.pages import heatmap_page

    started = time.perf_counter()
    text = heatmap_page(_open(catalog), _filters(sources, vendors, include_deprecated))
    _write(html, text, started)


def _write(target: str, text: str, started: float) -> None:
    """Write the page to `target` (or stdout for '-') and say so on stderr."""
    path = render.write_output(target, text)
    if path is None:
        return
    seconds = time.perf_counter() - started
    sys.stderr.write(f"wrote {path} ({len(text.encode()) / 1024:.0f} KB) in {seconds:.2f} s\n")
