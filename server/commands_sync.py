"""`rulecat sources` (the configured sources and their state) and `rulecat sync`.

`rulecat sync` downloads every enabled remote source into the cache (a progress bar on a
terminal, nothing on a pipe), then builds the catalog from all configured sources. If any
source fails, it says which and why, exits 1, and builds nothing: the previous cache folder
of that source and the previous catalog stay as they were.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from . import render
from .cli import CatalogOpt, ConfigOpt, JsonOpt, VerboseOpt, _catalog_path, _emit, _logging

if TYPE_CHECKING:
    from rulecat.index.sync.config import SourcesConfig
    from rulecat.index.sync.inputs import SourceState, SourcesListing
    from rulecat.index.sync.sync import SourceSync, SyncProgress, SyncReport

stderr = Console(stderr=True, soft_wrap=True)  # messages hold URLs and hashes: never wrapped


def register(app: typer.Typer) -> None:
    """Add `sources` and `sync` to the CLI."""
    app.command()(sources)
    app.command()(sync)


def sources(
    config: ConfigOpt = None,
    init: Annotated[bool, typer.Option(
        "--init", help="Write the default sources file (SigmaHQ, Elastic, Splunk, ATT&CK 18.1) "
        "to edit, at --config or the default path.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="With --init: replace an existing file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The configured rule sources and ATT&CK data, and whether each is synced."""
    from rulecat.index.sync.config import cache_dir, config_path, load_config, write_default_config
    from rulecat.index.sync.inputs import sources_listing

    path = config_path(config)
    if init:
        written = write_default_config(path, force)
        sys.stdout.write(f"wrote {written}; edit it, then run `rulecat sync`\n")
        return
    listing = sources_listing(load_config(path), path, cache_dir())
    _emit(listing, as_json, show_sources)


def sync(
    config: ConfigOpt = None,
    only: Annotated[Optional[list[str]], typer.Option(
        "--only", help="Sync only this source (repeatable; `attack` is the ATT&CK bundle). "
        "The build still reads every configured source.")] = None,
    no_build: Annotated[bool, typer.Option(
        "--no-build", help="Download and unpack only; build later with `rulecat build`.")] = False,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Download the configured remote sources, then build the catalog from all of them."""
    _logging(verbose)
    from rulecat.index.sync.config import cache_dir, config_path, load_config
    from rulecat.index.sync.sync import sync_sources

    settings = load_config(config_path(config))
    cache = cache_dir()
    with download_progress() as progress:
        report = sync_sources(settings, cache, only, progress)
    show_sync(report)
    if report.failed:
        names = ", ".join(r.name for r in report.failed)
        stderr.print(f"rulecat: sync failed for {names}; the previous copies and the catalog "
                     "are unchanged, nothing was built", highlight=False)
        if any("ConnectError" in r.detail for r in report.failed):
            stderr.print("Offline? Point those sources at local folders or archives in the "
                         "config (`rulecat sources --init`, then edit it), or build from a "
                         "folder: `rulecat build --corpora DIR`.", highlight=False)
        raise typer.Exit(1)
    if not no_build:
        _build(settings, cache, catalog, as_json)


def _build(settings: SourcesConfig, cache: Path, catalog: Path | None, as_json: bool) -> None:
    """Build the catalog from every configured source, as `rulecat build` without flags."""
    from rulecat.index.build import build_catalog
    from rulecat.index.sync.inputs import build_inputs_from_config

    inputs, notes = build_inputs_from_config(settings, cache)
    render.show_notes_on_stderr(notes)
    with render.build_progress() as progress:
        # Incremental: unchanged files in the swapped-in folders are known by their hashes.
        report = build_catalog(inputs, _catalog_path(catalog), progress, incremental=True)
    _emit(report, as_json, render.show_report)


@contextmanager
def download_progress() -> Iterator[SyncProgress | None]:
    """One progress bar per download on a terminal (stderr), nothing on a pipe."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[str, object] = {}

        def update(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"downloading {name}", total=total)
            bar.update(tasks[name], completed=done)  # type: ignore[arg-type]

        yield update


# --------------------------------------------------------------------------- output


def show_sources(listing: SourcesListing) -> None:
    console = render.console
    origin = "" if listing.config_exists else " (no file yet: the defaults; " \
        "`rulecat sources --init` writes them to edit)"
    console.print(f"sources config {listing.config}{origin}", highlight=False)
    console.print(f"cache {listing.cache}", highlight=False)
    table = render.Table("source", "vendor", "enabled", "state", "location")
    for s in listing.sources:
        table.add_row(s.name, s.vendor, "yes" if s.enabled else "no", _state_text(s),
                      s.location)
    console.print(table)


def _state_text(s: SourceState) -> str:
    if s.state == "synced":
        pin = f"commit {s.commit[:12]}" if s.commit else f"sha256 {(s.sha256 or '')[:12]}"
        return f"synced {s.fetched_at} · {pin}"
    if s.state == "present":
        return f"local {s.kind}"
    if s.state == "not synced":
        return "not synced yet (rulecat sync)"
    return f"local {s.kind} missing"


def show_sync(report: SyncReport) -> None:
    """One line per source on stderr, so stdout keeps the build's report (and its --json)."""
    for result in report.results:
        stderr.print(_sync_line(result), highlight=False)


def _sync_line(r: SourceSync) -> str:
    if r.status == "failed":
        return f"[red]failed[/] {r.name}: {r.detail}"
    if r.status == "local":
        return f"[dim]local[/] {r.name}: {r.detail}, used in place"
    m = r.marker
    assert m is not None
    what = f"{m.files:,} files" if m.files is not None else f"ATT&CK {m.version or '?'}"
    pin = f", commit {m.commit[:12]}" if m.commit else ""
    dropped = f", {len(r.dropped)} links dropped" if r.dropped else ""
    return (f"[green]synced[/] {r.name}: {m.bytes / 1e6:.1f} MB, {what}{pin}{dropped} "
            f"in {r.seconds:.1f} s")
