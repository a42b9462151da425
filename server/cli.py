"""The `rulecat` command line: build, serve, and a twin for every MCP tool.

Each query command prints a readable table, or with `--json` exactly the model the MCP
tool returns. Query commands never import the MCP SDK (it costs over a second to import).
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from pathlib import Path
from typing import Annotated, Optional

import typer

from rulecat.index.answers import Filters
from rulecat.index.errors import RulecatError

from . import render

app = typer.Typer(
    help="rulecat: detection rules (Sigma, Elastic, Splunk) and their ATT&CK coverage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(asked: bool) -> None:
    if asked:
        from . import package_version

        typer.echo(f"rulecat {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print rulecat's version and exit.")] = False,
) -> None:
    """rulecat: detection rules (Sigma, Elastic, Splunk) and their ATT&CK coverage."""


CatalogOpt = Annotated[Optional[Path], typer.Option(
    "--catalog", envvar="RULECAT_CATALOG",
    help="Catalog file (default: catalog.sqlite in the user data directory).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the tool's answer as JSON.")]
SourcesOpt = Annotated[Optional[list[str]], typer.Option("--source-name", "-s",
                                                         help="Only this source (repeatable).")]
VendorsOpt = Annotated[Optional[list[str]], typer.Option("--vendor", help="Only this vendor.")]
DeprecatedOpt = Annotated[bool, typer.Option("--include-deprecated",
                                             help="Also count deprecated rules.")]
LimitOpt = Annotated[int, typer.Option("--limit", help="Rows per page (1-200).")]
OffsetOpt = Annotated[int, typer.Option("--offset", help="Rows to skip.")]
NoSubtechniquesOpt = Annotated[bool, typer.Option(
    "--no-subtechniques", help="Do not roll sub-techniques into a parent.")]
VerboseOpt = Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="More logging on stderr (-v, -vv).")]


def _catalog_path(path: Path | None) -> Path:
    from rulecat.index.store import default_catalog_path

    return path or default_catalog_path()


def _open(path: Path | None):  # -> Catalog, imported lazily
    from rulecat.index.api import Catalog

    return Catalog(_catalog_path(path))


def _filters(sources: list[str] | None, vendors: list[str] | None, deprecated: bool) -> Filters:
    return Filters(sources=sources or None, vendors=vendors or None,
                   include_deprecated=deprecated)


def _emit(answer, as_json: bool, show) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        show(answer)


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", envvar="RULECAT_CONFIG", show_default=False,
    help="Sources config TOML (default: sources.toml in the user config directory; "
    "`rulecat sources --init` writes one).")]


@app.command()
def build(
    corpora: Annotated[Optional[Path], typer.Option(
        help="A folder laid out like shared/corpora (sigma/, elastic/, splunk/, attack/): "
        "replaces the configured sources for this build.")] = None,
    source: Annotated[Optional[list[str]], typer.Option(
        help="Add one source as NAME=VENDOR:PATH (repeatable), e.g. acme=sigma:./rules; "
        "replaces a configured (or --corpora) source of the same name.")] = None,
    attack: Annotated[Optional[Path], typer.Option(
        help="ATT&CK Enterprise STIX bundle (default: <corpora>/attack/enterprise-attack.json, "
        "else the configured one, synced by `rulecat sync`).",
    )] = None,
    attack_map: Annotated[Optional[Path], typer.Option(
        help="ATT&CK version map YAML (old ID -> new ID), e.g. Elastic's attack_v18_to_v19.yaml.",
    )] = None,
    text_engine: Annotated[str, typer.Option(
        "--text-engine", help="Full-text engine: fts5 (in the catalog) or whoosh (also writes "
        "a Whoosh index beside it; needs the whoosh extra).")] = "fts5",
    config: ConfigOpt = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Re-read every file. By default a rebuild reads only the files changed "
        "since the last build (a full build runs anyway when an update could differ, and "
        "says why).")] = False,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Build the catalog from rule sources and ATT&CK data.

    Without --corpora the sources come from the sources config (`rulecat sources`): local
    folders are read in place, remote ones from what `rulecat sync` downloaded; a remote
    source never synced is left out with a note.
    """
    _logging(verbose)
    from rulecat.index.build import build_catalog

    inputs = render.build_inputs(corpora, source or [], attack, attack_map, config)
    inputs.text_engine = text_engine
    target = _catalog_path(catalog)
    with render.build_progress() as progress:
        report = build_catalog(inputs, target, progress, incremental=not full)
    _emit(report, as_json, render.show_report)


@app.command()
def serve(
    catalog: CatalogOpt = None,
    http: Annotated[bool, typer.Option(
        "--http", help="Serve streamable HTTP (default: stdio).")] = False,
    host: Annotated[str, typer.Option(
        help="HTTP bind address; anything but loopback is reachable from other machines.",
    )] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.", min=0, max=65535)] = 8000,
    token: Annotated[Optional[str], typer.Option(
        envvar="RULECAT_TOKEN", show_default=False,
        help="Require 'Authorization: Bearer TOKEN' on every HTTP request.")] = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        help="Another Host name clients may use (repeatable), e.g. rulecat.internal.")] = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Run the MCP server on stdio, or with --http over streamable HTTP (127.0.0.1:8000)."""
    _logging(verbose)
    if http:
        from .http_server import HttpSettings, serve_http

        settings = HttpSettings(host=host, port=port, token=token or None,
                                allowed_hosts=tuple(allowed_host or ()))
        serve_http(_catalog_path(catalog), settings)
        return
    from .mcp_server import create_server

    path = _catalog_path(catalog)
    if not path.is_file():
        logging.getLogger("rulecat").warning(
            "no catalog at %s yet; tools will say how to build one", path)
    create_server(path).run()


@app.command()
def coverage(
    technique_id: Annotated[str, typer.Argument(help="ATT&CK technique ID, e.g. T1559.001.")],
    no_subtechniques: NoSubtechniquesOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None, include_deprecated: DeprecatedOpt = False,
    limit: Annotated[int, typer.Option("--limit", help="Rules per vendor (1-200).")] = 10,
    offset: Annotated[int, typer.Option("--offset", help="Of each vendor's rules.")] = 0,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rules covering a technique, per vendor, and the events they rely on."""
    answer = _open(catalog).get_technique_coverage(
        technique_id, not no_subtechniques, _filters(sources, vendors, include_deprecated),
        limit, offset)
    _emit(answer, as_json, render.show_coverage)


@app.command()
def indicators(
    technique_id: Annotated[str, typer.Argument(help="ATT&CK technique ID, e.g. T1559.001.")],
    limit: Annotated[int, typer.Option(help="Rows per list (1-200).")] = 15,
    no_subtechniques: NoSubtechniquesOpt = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None, include_deprecated: DeprecatedOpt = False,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Fields, indicators (with corpus reach) and exclusions of a technique's rules."""
    answer = _open(catalog).top_indicators(
        technique_id, limit, not no_subtechniques, _filters(sources, vendors, include_deprecated))
    _emit(answer, as_json, render.show_indicators)


@app.command("rules-by-field")
def rules_by_field(
    field: Annotated[str, typer.Argument(help="Any vendor's field name, e.g. Image.")],
    value: Annotated[Optional[str], typer.Argument(help="Substring of the value.")] = None,
    operator: Annotated[Optional[str], typer.Option(help="eq, wildcard, regex_match, ...")] = None,
    technique: Annotated[Optional[str], typer.Option(help="Only rules for this technique.")] = None,
    polarity: Annotated[Optional[str], typer.Option(help="detect or exclude.")] = None,
    exact: Annotated[bool, typer.Option(help="Match the value exactly.")] = False,
    sources: SourcesOpt = None, vendors: VendorsOpt = None, include_deprecated: DeprecatedOpt = False,
    limit: LimitOpt = 20, offset: OffsetOpt = 0, catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rules that test a field (and value), whatever the vendor calls it."""
    answer = _open(catalog).find_rules_by_field(
        field, value, operator, technique, polarity, exact,
        _filters(sources, vendors, include_deprecated), limit, offset)
    _emit(answer, as_json, render.show_rules_by_field)


@app.command()
def rule(
    rule_id: Annotated[str, typer.Argument(help="<source>:<id>, or a bare id.")],
    raw: Annotated[bool, typer.Option("--raw", help="Include the rule's text.")] = False,
    catalog: CatalogOpt = None, as_json: JsonOpt = False,
) -> None:
    """One rule: metadata, techniques, events, tests and exclusions."""
    _emit(_open(catalog).get_rule(rule_id, raw), as_json, render.show_rule)


@app.command()
def info(catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """What the catalog holds, and its build report's summary."""
    _emit(_open(catalog).catalog_info(), as_json, render.show_info)


def _logging(verbose: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


# Features add their commands from their own modules, each with `register(app)`.
FEATURE_COMMANDS: tuple[str, ...] = ("commands_report", "commands_analytics", "commands_search",
                                     "commands_sources", "commands_sync")


# Said after click's "No such option: -e" for `-enc`: most often a value, not an option.
DASH_VALUE_HINT = ("A value that starts with '-' goes after '--', options before it: "
                   "rulecat rules-by-field --limit 5 -- CommandLine -enc")


def main() -> None:
    for name in FEATURE_COMMANDS:
        import_module(f"{__package__}.{name}").register(app)
    try:
        # Not standalone: click's usage errors come here, to be shown with a hint.
        code = app(standalone_mode=False)
    except RulecatError as exc:
        sys.stderr.write(f"rulecat: {render.cli_words(str(exc))}\n")
        raise SystemExit(2) from None
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        raise SystemExit(1) from None
    except Exception as exc:
        # click's usage errors (typer may vendor its own click: matched by what they do).
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if show is None or not isinstance(exit_code, int):
            raise
        show()
        option = str(getattr(exc, "option_name", "") or "")
        if type(exc).__name__ == "NoSuchOption" and not option.startswith("--"):
            sys.stderr.write(f"{DASH_VALUE_HINT}\n")
        raise SystemExit(exit_code) from None
    if isinstance(code, int) and code:  # typer.Exit(code)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
