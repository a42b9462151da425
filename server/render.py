"""Readable CLI output: one `show_*` per answer model, plus the build's inputs and progress."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table as _RichTable
from rich.markup import escape
from rich.text import Text

from rulecat.index.answers import (
    CatalogInfo, IndicatorRow, RuleDetail, RulesByField, TechniqueCoverage, TopIndicators,
)
from rulecat.index.errors import InvalidArgument
from rulecat.index.measures import is_size
from rulecat.index.models import VENDORS

if TYPE_CHECKING:  # imported lazily at run time: a build's modules are heavy
    from rulecat.index.build import BuildInputs, SourceSpec

# On a pipe rich would assume 80 columns; answers read better a little wider.
console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)


class _PlainCells(_RichTable):
    """A table whose string cells are shown as written: rule values hold brackets
    (`*[char]*`, `[a-z]`) that rich would read as markup and drop."""

    def add_row(self, *cells: RenderableType | None, **kwargs: Any) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)


def Table(*columns: str, markup: bool = False, **kwargs: object) -> _RichTable:  # noqa: N802
    """A compact table (named like rich's); a column named `id` or `rule`, or ending in
    ` id`, never wraps (ids are copied). String cells are plain text unless `markup`."""
    kind = _RichTable if markup else _PlainCells
    table = kind(box=box.SIMPLE_HEAD, pad_edge=False, **kwargs)  # type: ignore[arg-type]
    for name in columns:
        table.add_column(name, no_wrap=name in ("id", "rule") or name.endswith(" id"),
                         overflow="fold")
    return table


def build_inputs(corpora: Path | None, sources: list[str], attack: Path | None,
                 attack_map: Path | None, config: Path | None = None) -> BuildInputs:
    """The build's inputs: `--corpora` or the configured sources, plus `--source`, `--attack`.

    `--corpora DIR` replaces the configured sources for this build (the config is not read);
    without it the sources config's enabled sources are read (local folders in place,
    remote ones from the sync cache). `--source NAME=VENDOR:PATH` adds a source, or
    replaces the one of the same name. The ATT&CK bundle is `--attack`, else the corpora's,
    else the configured (synced) one.
    """
    from rulecat.index.build import inputs_from_corpora

    added = [_source_spec(text) for text in sources]
    if corpora is None:
        inputs = _configured(config, added, attack)
    else:
        corpora = corpora.expanduser().resolve()  # info shows where
        if not corpora.is_dir():
            raise InvalidArgument(f"--corpora {corpora}: folder not found. Give a folder "
                                  "holding sigma/, elastic/, splunk/ and attack/.")
        inputs = inputs_from_corpora(corpora)
        for spec in added:
            inputs.sources = [s for s in inputs.sources if s.name != spec.name] + [spec]
        inputs.attack = attack or inputs.attack
    if attack_map:
        inputs.version_map = attack_map
    _check_paths(inputs)
    return inputs


def _source_spec(text: str) -> SourceSpec:
    """One `--source NAME=VENDOR:PATH`."""
    from rulecat.index.build import SourceSpec

    name, _, rest = text.partition("=")
    vendor, _, path = rest.partition(":")
    if not (name and vendor in VENDORS and path):
        raise InvalidArgument(f"--source {text!r}: expected NAME=VENDOR:PATH with VENDOR one "
                              f"of {', '.join(VENDORS)}, e.g. acme=sigma:./my-rules.")
    return SourceSpec(name=name, vendor=vendor, root=Path(path).expanduser().resolve())


def _configured(
    config_file: Path | None, added: list[SourceSpec], attack: Path | None
) -> BuildInputs:
    """Inputs from the sources config (`rulecat sources`), its notes printed on stderr."""
    from rulecat.index.sync.config import cache_dir, config_path, load_config
    from rulecat.index.sync.inputs import build_inputs_from_config

    config = load_config(config_path(config_file))
    inputs, notes = build_inputs_from_config(config, cache_dir(), added, attack)
    show_notes_on_stderr(notes)
    return inputs


def write_output(target: str | Path, text: str) -> Path | None:
    """Write `text` to the file `target`, or to stdout for '-' (then None). A path that
    cannot be written is an `InvalidArgument` naming it and why, not a traceback."""
    if str(target) == "-":
        sys.stdout.write(text)
        return None
    path = Path(target)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InvalidArgument(f"Cannot write {path}: {why}. Give a file path in an existing "
                              "folder, or '-' for standard output.") from None
    return path


def show_notes_on_stderr(notes: list[str]) -> None:
    """Notes about the build's inputs, on stderr (never wrapped: they hold URLs)."""
    err = Console(stderr=True, soft_wrap=True)
    for note in notes:
        err.print(f"[yellow]note[/] {note}", highlight=False)


def _check_paths(inputs) -> None:  # type: ignore[no-untyped-def]
    if not inputs.attack.is_file():
        raise InvalidArgument(f"ATT&CK bundle not found: {inputs.attack}. Pass --attack FILE.")
    for s in inputs.sources:
        if not s.root.is_dir():
            raise InvalidArgument(f"Source {s.name}: folder not found: {s.root}.")
    if not inputs.sources:
        raise InvalidArgument("No sources to build. Pass --corpora DIR or --source.")


@contextmanager
def build_progress() -> Iterator[object]:
    """A progress bar on a terminal, nothing on a pipe."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, object] = {}

        def update(source: str, done: int, total: int) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(f"reading {source}", total=total)
            bar.update(tasks[source], completed=done)  # type: ignore[arg-type]

        yield update


def show_report(report) -> None:  # type: ignore[no-untyped-def]
    table = Table("source", "files seen", "skipped", "read", "rejected", "rules", "unparsed",
                  "predicates", title=f"{'Checked' if report.mode == 'unchanged' else 'Built'} "
                  f"{report.catalog} in {report.seconds:.1f} s")
    for s in report.sources:
        table.add_row(s.name, *map(str, (s.files_seen, s.files_skipped, s.files_read,
                                         s.files_rejected, s.rules_indexed, s.rules_unparsed,
                                         s.predicates)))
    console.print(table)
    for r in report.rejections:
        console.print(f"[yellow]rejected[/] {r.source}:{r.path}:{r.line or ''} {r.reason}",
                      markup=True, highlight=False)
    _listed("unparsed", [f"{u.rule_id} ({u.path}): {u.reason}" for u in report.unparsed])
    _listed("bad tag", report.malformed_tags)
    for s in report.sources:
        for note in s.notes:
            console.print(f"[yellow]note[/] {s.name}: {note}")
    console.print(f"ATT&CK {report.attack_version}; unknown technique IDs: "
                  f"{len(report.unknown_techniques)}; unmapped fields: "
                  f"{len(report.unmapped_fields)}; counts add up: {report.adds_up()}")
    if report.mode == "unchanged":
        console.print(f"unchanged: no source file changed since the build of {report.started}; "
                      "the catalog was kept.", highlight=False, markup=False)
    elif report.mode == "incremental":
        changed = [("re-read", report.files_reread), ("added", report.files_added),
                   ("removed", report.files_removed)]
        console.print("incremental: " + "; ".join(
            f"{len(files)} {what}" + (f" ({', '.join(files[:3])}{', ...' * (len(files) > 3)})"
                                      if files else "") for what, files in changed),
            highlight=False, markup=False)
    elif report.full_reason:
        console.print(f"full build: {report.full_reason}", highlight=False, markup=False)


def _listed(what: str, lines: list[str], most: int = 10) -> None:
    """Up to `most` report entries of one kind, one a line, then how many more."""
    for line in lines[:most]:
        console.print(f"[yellow]{what}[/] ", end="", highlight=False)
        console.print(line, markup=False, highlight=False)
    if len(lines) > most:
        console.print(f"[yellow]{what}[/] ... and {len(lines) - most} more "
                      "(`rulecat build --json` lists them all)", highlight=False)


def show_coverage(a: TechniqueCoverage) -> None:
    t = a.technique
    console.print(f"[bold]{t.id}[/] {t.name or '(unnamed)'}  "
                  f"[dim]{', '.join(t.tactics)} · ATT&CK {t.attack_version}[/]")
    if t.flags:
        console.print(f"flags: {', '.join(t.flags)}")
    counts = ", ".join(f"{v}: {c.rules} ({_via(c.via)}{_by_source(v, c.sources)})"
                       for v, c in a.counts.items())
    console.print(f"rules: {counts or 'none'}")
    for vendor, rows in a.rules.items():
        of = a.counts[vendor].rules
        shown = vendor if len(rows) == of else f"{vendor} · {len(rows)} of {of} on this page"
        table = Table("level", "title", "via", "id", title=shown, title_justify="left")
        for r in rows:
            table.add_row(r.level or "", r.title, r.via or "", r.id)
        console.print(table)
    _notes(a.notes)
    if a.events:
        table = Table("provider", "event", "title", "rules", "per vendor", title="events",
                      title_justify="left")
        for e in a.events:
            table.add_row(e.provider, str(e.event_id), e.title, str(e.rules),
                          ", ".join(f"{v} {n}" for v, n in e.vendors.items()))
        console.print(table)
    _more(a.total, a.returned, a.next)


def show_indicators(a: TopIndicators) -> None:
    console.print(f"[bold]{a.technique.id}[/] {a.technique.name}: {a.rules_considered} rules")
    table = Table("field", "rules", "how", "samples", "spellings", title="fields filtered most",
                  title_justify="left")
    for f in a.fields:
        how = ", ".join(f"{op} {n}" for op, n in f.how.items())
        table.add_row(f.field, str(f.rules), how, " | ".join(f.samples[:3]),
                      ", ".join(f.vendor_fields[:4]))
    console.print(table)
    console.print(_indicator_table("indicators (detect)", a.indicators, "reach"))
    if a.exclusions:
        console.print(_indicator_table("exclusions", a.exclusions, "excluded by"))
    console.print("[dim]reach: rules in the whole catalog that detect on the same test; "
                  "excluded by: rules that exclude it; specific: no rule outside this "
                  "technique has it.[/]")


def _indicator_table(title: str, rows: list[IndicatorRow], reach: str) -> _RichTable:
    table = Table("field", "op", "value", "rules", reach, "specific", title=title,
                  title_justify="left")
    for i in rows:
        n = i.exclusion_reach if i.exclusion_reach is not None else i.corpus_reach
        table.add_row(i.field or "(keyword)", i.operator, i.value, str(i.rules),
                      str(n), "yes" if i.specific_to_technique else "")
    return table


def show_rules_by_field(a: RulesByField) -> None:
    console.print(f"[bold]{a.field}[/] (searched {', '.join(a.fields_matched)}; "
                  f"spellings {', '.join(a.aliases) or 'none'})")
    table = Table("level", "title", "tests", "rule")
    for r in a.rules:
        tests = "\n".join(f"{p.polarity} " + predicate_text(
            p.vendor_field or "(keyword)", p.operator, p.value, p.transforms)
            for p in r.predicates[:4])
        table.add_row(r.level or "", r.title, tests, r.id)
    if a.rules:
        console.print(table)
    per_vendor = ", ".join(f"{v} {n}" for v, n in a.counts.items())
    console.print(f"{a.total} {'rule matches' if a.total == 1 else 'rules match'}"
                  + (f" ({per_vendor})." if per_vendor else "."))
    _notes(a.notes)
    _more(a.total, a.returned, a.next)


def show_rule(a: RuleDetail) -> None:
    r = a.rule
    facts = " · ".join(x for x in (r.level, r.status, a.path) if x)
    console.print(f"[bold]{r.title}[/]  {r.id}  [dim]{facts}[/]")
    if r.url:
        console.print(r.url, markup=False, highlight=False, soft_wrap=True)
    if not a.parsed:
        console.print("[yellow]unparsed[/] ", end="")
        console.print(a.unparsed_reason or "", markup=False, highlight=False)
        console.print("  no tests were read from it; its text is kept and searchable (--raw)",
                      highlight=False)
    console.print(a.description, markup=False, highlight=False)
    techniques = ", ".join(f"{t.id} {t.name or ''}".strip() for t in a.techniques)
    if not techniques:
        techniques = "none" + (f" (tags: {', '.join(a.tags)})" if a.tags else "")
    console.print(f"techniques: {techniques}", markup=False, highlight=False)
    console.print("events: " + ", ".join(f"{e.provider} {e.event_id} ({e.title})"
                                         for e in a.events))
    if a.events_needed:
        console.print("needs together: " + "; and ".join(" or ".join(need)
                                                        for need in a.events_needed),
                      highlight=False)
    for title, rows, reach in (("detection", a.detection, "reach"),
                               ("exclusions", a.exclusions, "excluded by")):
        if not rows:
            continue
        table = Table("selection", "field (as the rule writes it)", "op", "value", reach,
                      title=title, title_justify="left")
        for p in rows:
            n = p.exclusion_reach if p.exclusion_reach is not None else p.corpus_reach
            field = tested(p.vendor_field or "(keyword)", p.transforms)
            table.add_row(p.selection or "", field, p.operator,
                          shown_value(p.value, p.transforms), "-" if n is None else str(n))
        console.print(table)
    if a.raw:
        sys.stdout.write(a.raw if a.raw.endswith("\n") else a.raw + "\n")


def predicate_text(field: str, operator: str, value: str, transforms: list[str]) -> str:
    """A predicate's test as one line, with its transforms: `length(process.command_line) gt
    1000`, `script_block_text gte 0.75 [replace,length,subtract,to_double,divide]`."""
    return f"{tested(field, transforms)} {operator} {shown_value(value, transforms)}"


def tested(field: str, transforms: list[str]) -> str:
    """The field as the test reads it: wrapped in its transforms when they measure its size
    or a position (`length(replace(f))`, no arithmetic after), else as it is."""
    if not is_size(transforms):
        return field
    for name in transforms:  # innermost first
        field = f"{name}({field})"
    return field


def shown_value(value: str, transforms: list[str]) -> str:
    """The value, followed by `[transforms]` unless `tested` shows them around the field."""
    if not transforms or is_size(transforms):
        return value
    return f"{value} [{','.join(transforms)}]"


def show_info(a: CatalogInfo) -> None:
    console.print(f"catalog {a.catalog} · build {a.build_id} at {a.built_at} · "
                  f"ATT&CK {a.attack_version}")
    table = Table("source", "vendor", "files", "rules", "deprecated", "root")
    for s in a.sources:
        table.add_row(s.name, s.vendor, str(s.files), str(s.rules), str(s.deprecated), s.root)
    console.print(table)
    for s in a.sources:
        origin = [x for x in (s.upstream, s.branch, s.commit and f"commit {s.commit}",
                              s.checkout and f"of the checkout {s.checkout}",
                              s.sha256 and f"sha256 {s.sha256[:12]}",
                              s.archive_date and f"dated {s.archive_date}",
                              s.fetched_at and f"fetched {s.fetched_at}",
                              s.location != s.upstream and s.location) if x]
        if origin:
            console.print(f"  {s.name}: {' · '.join(origin)}", highlight=False)
    if a.attack_bundle:
        console.print(f"ATT&CK bundle {a.attack_bundle}", highlight=False)
    rep = a.report
    console.print(f"{a.rules} rules · {a.predicates} predicates · {a.indicators} indicators · "
                  f"{a.techniques_covered} techniques · {a.events_used} events")
    console.print(f"files seen {rep.files_seen} = skipped {rep.files_skipped} + read "
                  f"{rep.files_read}; rejected {rep.files_rejected}; unparsed rules "
                  f"{rep.unparsed_rules}; adds up: {rep.adds_up}")
    for line in rep.rejections:
        console.print(f"  rejected {line}", markup=False, highlight=False)
    if rep.parsed:
        console.print(f"parsed whole: {' · '.join(rep.parsed)}", highlight=False)
    if rep.unmapped_fields:
        console.print(f"unmapped fields ({rep.unmapped_fields_total}), most used: "
                      f"{', '.join(rep.unmapped_fields)}", markup=False, highlight=False)


def plural(n: int, word: str) -> str:
    """`1 rule`, `2 rules`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note[/] {escape(cli_words(note))}", highlight=False)


# MCP tools and their CLI twins: answers and errors name the tools, the CLI says commands.
TOOL_COMMANDS = {
    "get_technique_coverage": "coverage", "top_indicators": "indicators",
    "find_rules_by_field": "rules-by-field", "get_rule": "rule", "catalog_info": "info",
    "search_rules": "search", "get_event_coverage": "event", "list_events": "events",
    "coverage_gaps": "gaps", "events_to_collect": "collect",
    "technique_telemetry": "telemetry", "telemetry_gaps": "telemetry-gaps",
    "navigator_layer": "layer", "compare_sources": "compare",
}
_TOOL_NAME = re.compile(rf"\b({'|'.join(TOOL_COMMANDS)})\b")
_ARGUMENTS = {
    "vendors=[...]": "--vendor", "sources=[...]": "--source-name",
    "page with offset and the answer's `next`": "page with --offset",
    "narrow with techniques, tactics, levels or vendors":
        "narrow with --technique, --tactic, --level or --vendor",
}


def cli_words(text: str) -> str:
    """A note or error in the CLI's words: `rulecat events` for list_events, `--vendor` for
    vendors=[...]."""
    text = _TOOL_NAME.sub(lambda m: f"`rulecat {TOOL_COMMANDS[m.group(1)]}`", text)
    for tool_words, cli in _ARGUMENTS.items():
        text = text.replace(tool_words, cli)
    return text


def _via(via: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in via.items())


def _by_source(vendor: str, sources: dict[str, int]) -> str:
    """`; acme 1, sigma 4` when a vendor's rules are not all from its namesake source."""
    if set(sources) <= {vendor}:
        return ""
    return "; " + ", ".join(f"{name} {n}" for name, n in sources.items())


def _more(total: int, returned: int, nxt: dict | None) -> None:  # type: ignore[type-arg]
    if nxt:
        console.print(f"[dim]{returned} of {total}; next page: --offset {nxt['offset']}[/]")
