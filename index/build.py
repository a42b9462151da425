"""Build a catalog: read every source, normalize, store, and report.

    sources --read--> rules --normalize--> fields, techniques, events --store--> catalog

One bad file costs one report entry; the previous catalog keeps serving until the new file
is renamed into place. With `incremental=True` a build updates a copy of the existing
catalog, re-reading only the files that changed (`index/incremental.py`), and falls back to
a full build, saying why, whenever the update could differ from one.

Both kinds of build store a file's rules with the same steps (`read_files`, `qualify_ids`,
`normalize_file`, `store_file`) and end with the same steps (`finish_catalog`): whatever
depends on all rules (technique rows, event titles, fields, the report's lists and counts)
is derived from the catalog's own tables, so the report always says what the catalog holds.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import sqlite3
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .aggregates import store_technique_aggregates
from .analytics.log_sources import telemetry_rows
from .attack.matching import memberships, technique_flags
from .attack.stix import Attack, load_attack
from .models import VENDORS, Rejection, RuleRecord
from .normalize.events import EventCatalog
from .normalize.fields import FieldRegistry, UnmappedFields, normalize_rule
from .readers import Reader, reader_for
from .report import (
    BuildReport, FieldStats, LanguageStats, SkippedFile, SourceReport, UnknownTechnique,
    UnmappedField, UnparsedRule,
)
from .search import check_engine, write_text_index
from .sources import AttackProvenance, Provenance, rule_link_base, source_provenance
from .store import SCHEMA_VERSION
from .store.files import (
    FILE_STRIDE, FileRow, FileStamp, stamp_file, stored_rejections, write_files,
)
from .store.writer import CatalogWriter

if TYPE_CHECKING:
    from .incremental import Plan

logger = logging.getLogger(__name__)

# Where `--corpora DIR` finds the ATT&CK data (laid out like ../shared/corpora).
ATTACK_BUNDLE = "attack/enterprise-attack.json"
ATTACK_INDEX = "attack/attack-stix-data/index.json"
ATTACK_VERSION_MAP = "elastic/detection_rules/etc/attack-version-maps/attack_v18_to_v19.yaml"


class SourceSpec(BaseModel):
    """One rule repository read in one format."""

    name: str
    vendor: str
    root: Path


class BuildInputs(BaseModel):
    sources: list[SourceSpec]
    attack: Path
    attack_index: Path | None = None
    version_map: Path | None = None
    # Full-text engine: FTS5 is always built into the catalog; "whoosh" adds its folder.
    text_engine: str = "fts5"


# Called with (source name, files done, files total) as a build reads.
Progress = Callable[[str, int, int], None]


def inputs_from_corpora(corpora: Path) -> BuildInputs:
    """Every vendor folder found under `corpora` becomes a source of the same name."""
    sources = [
        SourceSpec(name=v, vendor=v, root=corpora / v) for v in VENDORS if (corpora / v).is_dir()
    ]
    optional = {k: corpora / p for k, p in [("attack_index", ATTACK_INDEX),
                                           ("version_map", ATTACK_VERSION_MAP)]}
    return BuildInputs(
        sources=sources,
        attack=corpora / ATTACK_BUNDLE,
        **{k: p for k, p in optional.items() if p.is_file()},
    )


def build_catalog(
    inputs: BuildInputs, catalog: Path, progress: Progress | None = None, *,
    incremental: bool = False,
) -> BuildReport:
    """Build the catalog file at `catalog` and return the build report.

    `incremental`: update the catalog already at `catalog` from the files that changed since
    it was built; the report's `mode` says which kind of build ran, `full_reason` why a full
    one did when an incremental one was asked for.
    """
    with _cyclic_gc_paused():
        return _build(inputs, catalog, progress, incremental)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Build without the cyclic garbage collector's pauses (a tenth of an incremental
    build): reference counting frees what a build drops, and the few cycles wait for the
    end. Worker processes collect as usual (`_read_all`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(
    inputs: BuildInputs, catalog: Path, progress: Progress | None, incremental: bool
) -> BuildReport:
    """`build_catalog`: a plan when incremental, then the writer's new file or copy."""
    started = time.perf_counter()
    stages: dict[str, float] = {}
    check_engine(inputs.text_engine)  # before a long build, not after it
    ctx = _load_context(inputs, stages)
    report = BuildReport(
        build_id=uuid.uuid4().hex[:12],
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=0.0,
        catalog=str(catalog),
        attack_version=ctx.attack.version,
        attack_source=str(inputs.attack),
    )
    plan = _plan_update(catalog, ctx, report, stages, progress) if incremental else None
    if plan is not None and plan.unchanged():
        # Nothing to write: the catalog stays, and its file (a server keeps it open).
        return plan.previous.model_copy(update={
            "mode": "unchanged", "full_reason": None, "files_reread": [], "files_added": [],
            "files_removed": [], "seconds": round(time.perf_counter() - started, 3),
            "stage_seconds": {k: round(v, 3) for k, v in stages.items()}})
    with stage(stages, "copy" if plan else "open"):
        writer = CatalogWriter(catalog, start_from=catalog if plan else None)
    try:
        if plan is not None:
            from .incremental import apply_update

            walks, duplicates = apply_update(writer, ctx, plan, report, stages)
        else:
            walks, duplicates = _write_catalog(writer, ctx, report, stages, progress)
        with stage(stages, "report"):
            finish_catalog(writer, ctx, report, walks, duplicates,
                           plan.kept_details() if plan else None)
        report.seconds = round(time.perf_counter() - started, 3)
        report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
        writer.set_meta(report=report.model_dump_json())
        with stage(stages, "commit"):
            writer.commit()
    except BaseException:
        writer.abort()
        raise
    report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
    return report


@dataclass
class BuildContext:
    """What every step of a build reads: its inputs, ATT&CK and the mapping tables."""

    inputs: BuildInputs
    attack: Attack
    registry: FieldRegistry
    events: EventCatalog
    families: dict[str, str]
    fingerprint: dict[str, str]  # what the catalog is built from (`inputs_fingerprint`)


def _load_context(inputs: BuildInputs, stages: dict[str, float]) -> BuildContext:
    """ATT&CK and the mapping tables: from the context cache when it has them for these
    inputs (`context_cache`), else loaded and derived, then kept there."""
    from . import context_cache

    with stage(stages, "attack"):
        fingerprint = inputs_fingerprint(inputs)
        cached = context_cache.load(fingerprint)
        if not (isinstance(cached, tuple) and len(cached) == 3
                and isinstance(cached[0], Attack) and isinstance(cached[1], FieldRegistry)):
            cached = None
        attack = cached[0] if cached else load_attack(
            inputs.attack, inputs.attack_index, inputs.version_map)
    with stage(stages, "mappings"):
        registry, events = cached[1:] if cached else (FieldRegistry.load(), EventCatalog.load())
    if not cached:
        context_cache.save(fingerprint, (attack, registry, events))
    return BuildContext(inputs, attack, registry, events, registry.families(), fingerprint)


def _plan_update(
    catalog: Path, ctx: BuildContext, report: BuildReport, stages: dict[str, float],
    progress: Progress | None,
) -> Plan | None:
    """The incremental plan, or None (a full build) with the reason in the report."""
    # incremental.py builds on this module's steps, so it is imported when first needed.
    from .incremental import FullBuildNeeded, plan_update

    try:
        plan = plan_update(catalog, ctx, stages, progress)
    except FullBuildNeeded as why:
        report.full_reason = str(why)
        logger.info("full build: %s", why)
        return None
    report.mode = "incremental"
    return plan


def _write_catalog(
    writer: CatalogWriter,
    ctx: BuildContext,
    report: BuildReport,
    stages: dict[str, float],
    progress: Progress | None,
) -> tuple[list[SourceWalk], list[str]]:
    """A full build: every source read and stored; returns the walks and duplicate ids."""
    walks, duplicates = [], []
    first_rule = 0
    for spec in ctx.inputs.sources:
        with stage(stages, f"read:{spec.name}"):
            walk = walk_source(spec)
            # Stamped before reading: a file changed while being read is read again next time.
            stamps = {rel: stamp_file(p) for rel, p in walk.stamped().items()}
            reads = list(read_files(spec, walk.rule_files, progress))
            finals, repeated = qualify_ids(spec.name, ((r.rel, r.read_ids) for r in reads))
            for read, ids in zip(reads, finals):
                read.apply_ids(ids)
        with stage(stages, f"normalize:{spec.name}"):
            for read in reads:
                normalize_file(read, ctx)
        with stage(stages, f"store:{spec.name}"):
            rows = {rel: FileRow(spec.name, rel, stamp) for rel, stamp in stamps.items()}
            for read in reads:
                first_rule += FILE_STRIDE
                rows[read.rel] = store_file(writer, ctx, read, first_rule, stamps[read.rel])
            write_files(writer.conn, rows.values())
        walks.append(walk)
        duplicates += repeated

    with stage(stages, "aggregates"):
        writer.compute_reach()
        store_technique_aggregates(writer.conn)
        _store_reference_data(writer, ctx)
    with stage(stages, "text_index"):
        writer.set_meta(**write_text_index(writer.conn, writer.target, report.build_id,
                                           ctx.inputs.text_engine))
    return walks, duplicates


# -- reading -------------------------------------------------------------------------------


@dataclass
class SourceWalk:
    """One source's files as a build sees them: every entry but folders, and its rule files."""

    spec: SourceSpec
    files: list[str]  # relative paths (forward slashes), in path order
    rule_files: list[Path]  # in reading order; none without a reader
    reader: ModuleType | None

    def rel(self, path: Path) -> str:
        """`path` relative to the source root, with forward slashes."""
        text, root = str(path), str(self.spec.root)
        if text.startswith(root + os.sep):  # what the walk gives: 10x faster than relative_to
            return text[len(root) + 1:].replace(os.sep, "/")
        return path.relative_to(self.spec.root).as_posix()

    @cached_property
    def rule_rels(self) -> list[str]:
        return [self.rel(p) for p in self.rule_files]

    def stamped(self) -> dict[str, str]:
        """The files the `files` table records, relative path -> path: all seen, and any
        rule file the walk lacks."""
        root = str(self.spec.root)
        found = {rel: os.path.join(root, rel) for rel in self.files}
        for path in self.rule_files:
            found.setdefault(self.rel(path), str(path))
        return found


def walk_source(spec: SourceSpec) -> SourceWalk:
    """A source's files, and those its reader reads."""
    reader = reader_for(spec.vendor)
    return SourceWalk(spec, list_entries(spec.root),
                      reader.rule_files(spec.root) if reader else [], reader)


def list_entries(root: Path) -> list[str]:
    """Every entry under `root` but real folders, relative, sorted as paths part by part.

    What `root.rglob("*")` finds, symlinked folders listed but not entered, FIFOs and
    sockets too (a reader may be handed them); an unreadable folder is left out. From
    `os.scandir`, which knows entry types without a stat: several times faster than pathlib.
    """
    found: list[str] = []
    folders = [("", str(root))]
    while folders:
        prefix, folder = folders.pop()
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                real_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                real_folder = False
            if real_folder:
                folders.append((f"{prefix}{entry.name}/", entry.path))
            else:
                found.append(prefix + entry.name)
    return sorted(found, key=lambda rel: rel.split("/"))


@dataclass
class FileRead:
    """What reading one rule file gave."""

    source: str
    rel: str  # relative to the source root
    rules: list[RuleRecord]
    rejections: list[Rejection]
    read_ids: list[str] = field(default_factory=list)  # native ids as read
    unmapped: list[list[tuple[str, int]]] = field(default_factory=list)  # per rule

    def __post_init__(self) -> None:
        self.read_ids = [r.native_id for r in self.rules]

    def apply_ids(self, native_ids: list[str]) -> None:
        """Give the rules their ids after duplicates within the source are qualified."""
        for rule, native_id in zip(self.rules, native_ids):
            rule.native_id = native_id


def read_files(
    spec: SourceSpec, paths: list[Path], progress: Progress | None = None
) -> Iterator[FileRead]:
    """Read these files of one source, in order."""
    for done, (path, (rules, rejections)) in enumerate(zip(paths, _read_all(spec, paths)), 1):
        yield FileRead(spec.name, path.relative_to(spec.root).as_posix(), rules, rejections)
        if progress:
            progress(spec.name, done, len(paths))


# Reading (YAML/TOML and query parsing) is most of a build: big sources are read by worker
# processes, in chunks, and the answers come back in file order, so nothing downstream sees
# a difference. Small sources and one-core machines read in this process.
PARALLEL_MIN_FILES = 400
CHUNK_FILES = 200

FileResult = tuple[list[RuleRecord], list[Rejection]]


def _read_all(spec: SourceSpec, paths: list[Path]) -> Iterator[FileResult]:
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or len(paths) < PARALLEL_MIN_FILES:
        reader = reader_for(spec.vendor)
        assert reader is not None
        yield from (_read_one(reader, spec, p) for p in paths)
        return
    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    # Workers collect cyclic garbage (parsed rules hold cycles) even while a build pauses it.
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=gc.enable) as pool:
        for results in pool.map(_read_chunk, [spec] * len(chunks), chunks):
            yield from results


def _read_chunk(spec: SourceSpec, paths: list[Path]) -> list[FileResult]:
    """Run in a worker process: read these files of one source."""
    reader = reader_for(spec.vendor)
    assert reader is not None
    return [_read_one(reader, spec, p) for p in paths]


def _read_one(
    reader: Reader, spec: SourceSpec, path: Path
) -> tuple[list[RuleRecord], list[Rejection]]:
    """A reader's answer for one file; a fault in a reader costs that file, not the build."""
    try:
        return reader.read_file(spec.name, spec.root, path)
    except Exception as exc:
        logger.exception("reader failed on %s", path)
        reason = f"internal error while reading: {type(exc).__name__}: {exc}"[:500]
        rel = path.relative_to(spec.root).as_posix()
        return [], [Rejection(source=spec.name, path=rel, reason=reason)]


def qualify_ids(
    source: str, files: Iterable[tuple[str, list[str]]]
) -> tuple[list[list[str]], list[str]]:
    """Each file's native ids with those repeated in the source kept as `<id>@<path>`.

    `files` is (relative path, native ids as read) in reading order; returns the ids to
    store, per file, and a report line per repeated id. The first file keeps the plain id.
    """
    seen: dict[str, str] = {}
    finals: list[list[str]] = []
    lines: list[str] = []
    for path, ids in files:
        out = []
        for native_id in ids:
            first = seen.get(native_id)
            if first is not None:
                lines.append(f"{source}:{native_id} in {path} (first in {first}); "
                             f"kept as {native_id}@{path}")
                native_id = f"{native_id}@{path}"
            seen[native_id] = path
            out.append(native_id)
        finals.append(out)
    return finals, lines


# -- normalizing and storing ---------------------------------------------------------------


def normalize_file(read: FileRead, ctx: BuildContext) -> None:
    """Canonical fields, indicators and (Sigma) events for a file's rules; note unmapped."""
    read.unmapped = []
    for rule in read.rules:
        unmapped = UnmappedFields()
        normalize_rule(rule, ctx.registry, unmapped)
        read.unmapped.append([(u.vendor_field, u.predicates) for u in unmapped.rows()])
        # Sigma rules map to events here; other readers set `events` from what they know.
        if rule.vendor == "sigma" and rule.logsource is not None and not rule.events:
            rule.events = ctx.events.events_for_sigma(rule.logsource, rule.predicates)


def store_file(
    writer: CatalogWriter, ctx: BuildContext, read: FileRead, first_rule: int, stamp: FileStamp
) -> FileRow:
    """Store a normalized file's rules from rowid `first_rule` on; return its `files` row."""
    assert len(read.rules) < FILE_STRIDE, "the readers' document limit keeps files smaller"
    for n, (rule, unmapped) in enumerate(zip(read.rules, read.unmapped)):
        _store_rule(writer, ctx, rule, first_rule + n, unmapped)
    return FileRow(read.source, read.rel, stamp, first_rule, len(read.rules), read.read_ids,
                   read.rejections or None)


def _store_rule(
    writer: CatalogWriter, ctx: BuildContext, rule: RuleRecord, rowid: int,
    unmapped: list[tuple[str, int]],
) -> None:
    """One rule: its row, predicates and events, techniques and technique answers."""
    writer.add_rule(rule, ctx.families, rowid)
    techniques = sorted(set(rule.techniques))
    writer.add_rows(
        "rule_techniques", ((rowid, t, int(t in ctx.attack.techniques)) for t in techniques)
    )
    writer.add_rows(
        "technique_rules",
        ((m.technique_id, rowid, m.via, m.tagged_id, int(m.rollup))
         for m in memberships(techniques, ctx.attack)),
    )
    writer.add_rows("rule_unmapped", ((rowid, name, n) for name, n in unmapped))
    writer.add_rows("rule_malformed_tags", ((rowid, n, tag)
                                            for n, tag in enumerate(rule.malformed_tags)))


# -- what depends on many rules ------------------------------------------------------------


def _store_reference_data(writer: CatalogWriter, ctx: BuildContext) -> None:
    """ATT&CK, event and field tables: the loaded data's, then those rules add to."""
    attack, registry = ctx.attack, ctx.registry
    writer.add_rows("tactics", ((t.id, t.shortname, t.name, t.order)
                                for t in attack.tactics.values()))
    writer.add_rows("attack_telemetry", telemetry_rows(attack, ctx.events))
    aliases = list(registry.alias_rows())
    writer.add_rows("field_aliases", aliases)
    # Any spelling a user may type -> the registry's own reading of it.
    spellings = {name for _, _, name in aliases} | set(registry.canonical_fields())
    writer.add_rows("field_spellings", ((name, field) for name in sorted(spellings)
                                        if (field := registry.resolve_any(name))))
    refresh_rule_reference(writer, ctx)


def refresh_rule_reference(writer: CatalogWriter, ctx: BuildContext) -> None:
    """The reference rows rules add, rewritten from the stored rules (milliseconds):

    techniques (the loaded ones, plus IDs only rules or the version map know, flagged),
    events (the title of the first rule naming one, else the event catalog's) and fields.
    """
    conn = writer.conn
    conn.execute("DELETE FROM techniques")
    vm = ctx.attack.version_map
    tagged = {r[0] for r in conn.execute("SELECT DISTINCT technique FROM rule_techniques")}
    extra = tagged | (set(vm.new_to_olds) if vm else set())
    ids = sorted(set(ctx.attack.techniques) | extra)
    writer.add_rows("techniques", (_technique_row(tid, ctx.attack) for tid in ids))

    conn.execute("DELETE FROM events")
    conn.execute("INSERT OR IGNORE INTO events SELECT provider, event_id, title "
                 "FROM rule_events WHERE title IS NOT NULL ORDER BY rule")
    writer.add_rows("events", ctx.events.events())

    conn.execute("DELETE FROM fields")
    writer.add_rows("fields", ctx.registry.families().items())
    conn.execute("INSERT OR IGNORE INTO fields SELECT DISTINCT field, family "
                 "FROM predicates WHERE field IS NOT NULL")


def _technique_row(tid: str, attack: Attack) -> tuple[object, ...]:
    """Loaded techniques, plus IDs only rules or the version map know (flagged)."""
    t = attack.techniques.get(tid)
    flags = json.dumps(technique_flags(tid, attack))
    if t is None:
        name = attack.version_map.name_of(tid) if attack.version_map else None
        parent = tid.split(".")[0] if "." in tid else None
        return (tid, name or "", "", "[]", "[]", parent, 0, None, None, 0, flags)
    return (tid, t.name, t.description, json.dumps(t.tactics), json.dumps(t.platforms),
            t.parent if not t.revoked else None, int(t.deprecated), t.revoked_by, t.url, 1,
            flags)


# -- the end of every build: report, sources, meta -----------------------------------------


def finish_catalog(
    writer: CatalogWriter, ctx: BuildContext, report: BuildReport, walks: list[SourceWalk],
    duplicates: list[str], kept_details: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Derive the report from the stored catalog, then write the sources table and meta.

    `kept_details`: reader summaries (`SourceReport.details`) of sources whose files did
    not change, from the previous report, so their support data is not loaded again.
    """
    _derive_report(writer.conn, ctx, report, walks, duplicates, kept_details or {})
    writer.conn.execute("DELETE FROM sources")
    writer.add_rows("sources", [(s.name, s.vendor, s.root, s.files_read, s.rules_indexed)
                                for s in report.sources])
    writer.set_meta(
        provenance=_provenance(ctx.inputs, report, ctx.attack).model_dump_json(),
        build_id=report.build_id,
        built_at=report.started,
        attack_version=ctx.attack.version,
        schema_version=SCHEMA_VERSION,
        counts=writer.count_totals(),
        inputs=ctx.fingerprint,
    )


def _derive_report(
    conn: sqlite3.Connection, ctx: BuildContext, report: BuildReport, walks: list[SourceWalk],
    duplicates: list[str], kept_details: dict[str, dict[str, Any]],
) -> None:
    """The report's counts and lists, read back from the catalog, in reading order."""
    counts = _rule_counts(conn)
    report.sources = [_source_report(conn, walk, counts, kept_details.get(walk.spec.name))
                      for walk in walks]
    report.rejections = stored_rejections(conn)
    report.unparsed = [
        UnparsedRule(rule_id=rule_id, path=path, reason=reason or "")
        for rule_id, path, reason in conn.execute(
            "SELECT id, path, unparsed_reason FROM rules WHERE rowid IN "
            "(SELECT rowid FROM rules INDEXED BY rules_report WHERE parsed = 0) ORDER BY rowid")]
    report.duplicate_ids = duplicates
    report.malformed_tags = [f"{rule_id}: {tag}" for rule_id, tag in conn.execute(
        "SELECT r.id, m.tag FROM rule_malformed_tags m JOIN rules r ON r.rowid = m.rule "
        "ORDER BY m.rule, m.seq")]
    vm = ctx.attack.version_map
    report.unknown_techniques = [
        UnknownTechnique(technique_id=t, rules=n, name=vm.name_of(t) if vm else None,
                         renamed_from=vm.old_ids(t) if vm else [])
        for t, n in sorted(conn.execute("SELECT technique, COUNT(*) FROM rule_techniques "
                                        "WHERE known = 0 GROUP BY technique"))
    ]
    unmapped = conn.execute(
        "SELECT r.vendor, u.vendor_field, COUNT(*), SUM(u.predicates) FROM rule_unmapped u "
        "JOIN rules r ON r.rowid = u.rule GROUP BY r.vendor, u.vendor_field").fetchall()
    report.unmapped_fields = [
        UnmappedField(vendor=v, vendor_field=f, rules=n, predicates=p)
        for v, f, n, p in sorted(unmapped, key=lambda u: (-u[2], -u[3], u[0], u[1]))
    ]
    stats = ctx.registry.stats()
    report.fields = FieldStats(
        aliases_derived=stats["derived"]["total"],
        aliases_hand_added=stats["hand"]["total"],
        aliases_overridden_by_hand=stats["overridden_by_hand"],
        canonical_fields=stats["canonical_fields"],
    )
    report.rules_indexed = sum(s.rules_indexed for s in report.sources)
    report.predicates = sum(s.predicates for s in report.sources)


@dataclass
class _RuleCounts:
    """Per source: rules by query language (first seen first), predicates, rule files."""

    languages: dict[str, dict[str, LanguageStats]]
    predicates: dict[str, int]
    files: dict[str, tuple[int, int]]  # (read, indexed)


def _rule_counts(conn: sqlite3.Connection) -> _RuleCounts:
    """Every source's counts in three reads (of the `rules_report` index, not rule text)."""
    languages: dict[str, dict[str, LanguageStats]] = defaultdict(dict)
    for source, lang, rules, parsed, active, active_parsed, _ in conn.execute(
        "SELECT source, COALESCE(NULLIF(language, ''), 'none') AS lang, COUNT(*), "
        "SUM(parsed), SUM(1 - deprecated), SUM(parsed * (1 - deprecated)), MIN(rowid) AS first "
        "FROM rules GROUP BY source, lang ORDER BY first"):
        languages[source][lang] = LanguageStats(rules=rules, parsed=parsed, active=active,
                                                active_parsed=active_parsed)
    predicates = dict(conn.execute("SELECT r.source, COUNT(*) FROM predicates p "
                                   "JOIN rules r ON r.rowid = p.rule GROUP BY r.source"))
    files = {source: (read, indexed) for source, read, indexed in conn.execute(
        "SELECT source, COUNT(*), COUNT(*) FILTER (WHERE rules > 0) FROM files "
        "WHERE first_rule IS NOT NULL GROUP BY source")}
    return _RuleCounts(languages, predicates, files)


def _source_report(
    conn: sqlite3.Connection, walk: SourceWalk, counts: _RuleCounts,
    kept_details: dict[str, Any] | None,
) -> SourceReport:
    """One source's counts: files from its walk and `files` rows, rules from `rules`."""
    spec = walk.spec
    src = SourceReport(name=spec.name, vendor=spec.vendor, root=str(spec.root),
                       files_seen=len(walk.files))
    if walk.reader is None:
        src.notes.append(f"no reader for vendor {spec.vendor!r} yet; its files are not indexed")
        _skip(src, walk.files, f"rulecat cannot read {spec.vendor} rules yet")
    else:
        wanted = set(walk.rule_rels)
        _skip(src, [rel for rel in walk.files if rel not in wanted], "not a rule file")
    read, indexed = counts.files.get(spec.name, (0, 0))
    src.files_read, src.files_indexed, src.files_rejected = read, indexed, read - indexed
    src.languages = counts.languages.get(spec.name, {})
    src.rules_indexed = sum(s.rules for s in src.languages.values())
    src.rules_deprecated = sum(s.rules - s.active for s in src.languages.values())
    src.rules_unparsed = sum(s.rules - s.parsed for s in src.languages.values())
    src.predicates = counts.predicates.get(spec.name, 0)
    if kept_details is not None:
        src.details = kept_details
    elif walk.reader is not None and hasattr(walk.reader, "source_summary"):
        # A reader may say more about its source (e.g. Splunk's unresolved macros).
        summary = walk.reader.source_summary(spec.root, _stored_rules(conn, spec.name))
        src.details = summary.as_dict()
    return src


def _stored_rules(conn: sqlite3.Connection, source: str) -> list[RuleRecord]:
    """A source's rules as stored (their row, not predicates), for a reader's summary."""
    rows = conn.execute(
        "SELECT vendor, native_id, title, path, parsed, deprecated, unparsed_reason, "
        "json_extract(doc, '$.extra') FROM rules WHERE source = ? ORDER BY rowid", (source,))
    return [RuleRecord(
        source=source, vendor=vendor, native_id=native_id, title=title, path=path,
        parsed=bool(parsed), deprecated=bool(deprecated), unparsed_reason=reason,
        extra=json.loads(extra or "{}"))
        for vendor, native_id, title, path, parsed, deprecated, reason, extra in rows]


def _skip(src: SourceReport, files: list[str], reason: str) -> None:
    src.files_skipped += len(files)
    src.skipped.extend(SkippedFile(path=rel, reason=reason) for rel in files)


def _provenance(inputs: BuildInputs, report: BuildReport, attack: Attack) -> Provenance:
    """Per source: its folder, counts, git commit when a checkout, upstream for public names."""
    roots = {spec.name: spec.root for spec in inputs.sources}
    return Provenance(
        sources=[source_provenance(s.name, s.vendor, roots[s.name], s.files_read, s.rules_indexed)
                 for s in report.sources],
        attack=AttackProvenance(version=attack.version, bundle=str(inputs.attack)),
    )


# -- what a catalog was built from ---------------------------------------------------------

# Libraries whose data or behaviour shape stored rules: pySigma and its pipelines (field
# and event mappings), the parser libraries, YAML.
LIBRARIES = ("pySigma", "pySigma-pipeline-sysmon", "pySigma-pipeline-windows",
             "pySigma-backend-elasticsearch", "pysigma-backend-splunk", "lark", "luqum",
             "PyYAML")


def inputs_fingerprint(inputs: BuildInputs) -> dict[str, str]:
    """What a catalog was built from, part by part; an incremental build needs each equal.

    Ordered as an incremental build names the first part that differs.
    """
    package = Path(__file__).parent
    return {
        "schema": SCHEMA_VERSION,
        "text engine": inputs.text_engine,
        # With where rule links point: a re-sync to a new commit keeps the folder but moves
        # every rule's link, read or not.
        "sources": json.dumps([[s.name, s.vendor, str(s.root.resolve()),
                                rule_link_base(s.vendor, s.name, s.root)]
                               for s in inputs.sources]),
        "ATT&CK bundle": _file_hash(inputs.attack),
        "ATT&CK index": _file_hash(inputs.attack_index),
        "ATT&CK version map": _file_hash(inputs.version_map),
        "mapping tables": _tree_hash(package / "normalize", "*.yaml"),
        "rulecat code": _tree_hash(package, "*"),
        "libraries": json.dumps({name: _version(name) for name in LIBRARIES}),
    }


@cache
def _tree_hash(folder: Path, pattern: str) -> str:
    """One hash of a folder's files (names and bytes), caches left out.

    Once per process: the code and tables a process has loaded are what it builds with.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.rglob(pattern)):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _file_hash(path: Path | None) -> str:
    if path is None or not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


@contextmanager
def stage(stages: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
