"""Build a catalog: read every source, normalize, store, and report.

    sources --read--> rules --normalize--> fields, techniques, events --store--> catalog

One bad file costs one report entry; the previous catalog keeps serving until the new file
is renamed into place.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from .aggregates import PRECOMPUTED_LIMIT, PredicateTuple, aggregate
from .analytics.log_sources import telemetry_rows
from .attack.matching import memberships, technique_flags
from .attack.stix import Attack, load_attack
from .models import VENDORS, Rejection, RuleRecord
from .normalize.events import EventCatalog
from .normalize.fields import FieldRegistry, UnmappedFields, normalize_rule
from .readers import Reader, reader_for
from .report import (
    BuildReport, FieldStats, LanguageStats, SkippedFile, SourceReport, UnknownTechnique, UnmappedField,
    UnparsedRule,
)
from .search import check_engine, write_text_index
from .sources import AttackProvenance, Provenance, source_provenance
from .store.writer import CatalogWriter

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
    inputs: BuildInputs, catalog: Path, progress: Progress | None = None
) -> BuildReport:
    """Build the catalog file at `catalog` and return the build report."""
    started = time.perf_counter()
    stages: dict[str, float] = {}
    check_engine(inputs.text_engine)  # before a long build, not after it

    with _stage(stages, "attack"):
        attack = load_attack(inputs.attack, inputs.attack_index, inputs.version_map)
    with _stage(stages, "mappings"):
        registry = FieldRegistry.load()
        events = EventCatalog.load()

    report = BuildReport(
        build_id=uuid.uuid4().hex[:12],
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=0.0,
        catalog=str(catalog),
        attack_version=attack.version,
        attack_source=str(inputs.attack),
    )
    writer = CatalogWriter(catalog)
    try:
        _write_catalog(writer, inputs, attack, registry, events, report, stages, progress)
        report.seconds = round(time.perf_counter() - started, 3)
        report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
        writer.set_meta(report=report.model_dump_json())
        with _stage(stages, "commit"):
            writer.commit()
    except BaseException:
        writer.abort()
        raise
    report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
    return report


def _write_catalog(
    writer: CatalogWriter,
    inputs: BuildInputs,
    attack: Attack,
    registry: FieldRegistry,
    events: EventCatalog,
    report: BuildReport,
    stages: dict[str, float],
    progress: Progress | None,
) -> None:
    families = registry.families()
    tally = _Tally()
    for spec in inputs.sources:
        with _stage(stages, f"read:{spec.name}"):
            rules = list(_read_source(spec, report, progress))
        with _stage(stages, f"normalize:{spec.name}"):
            for rule in rules:
                _normalize(rule, registry, events, tally)
        reader = reader_for(spec.vendor)
        if reader is not None and hasattr(reader, "source_summary"):
            # A reader may say more about its source (e.g. Splunk's unresolved macros).
            report.sources[-1].details = reader.source_summary(spec.root, rules).as_dict()
        with _stage(stages, f"store:{spec.name}"):
            _store_source(writer, spec, rules, attack, families, report, tally)

    with _stage(stages, "aggregates"):
        writer.compute_reach()
        _store_technique_aggregates(writer, tally)
        _store_reference_data(writer, attack, registry, events, tally.tagged)
    with _stage(stages, "text_index"):
        writer.set_meta(**write_text_index(writer.conn, writer.target, report.build_id,
                                           inputs.text_engine))
    _finish_report(report, attack, registry, tally)
    writer.set_meta(
        provenance=_provenance(inputs, report, attack).model_dump_json(),
        build_id=report.build_id,
        built_at=report.started,
        attack_version=attack.version,
        schema_version="1",
        counts=writer.count_totals(),
    )


def _provenance(inputs: BuildInputs, report: BuildReport, attack: Attack) -> Provenance:
    """Per source: its folder, counts, git commit when a checkout, upstream for public names."""
    roots = {spec.name: spec.root for spec in inputs.sources}
    return Provenance(
        sources=[source_provenance(s.name, s.vendor, roots[s.name], s.files_read, s.rules_indexed)
                 for s in report.sources],
        attack=AttackProvenance(version=attack.version, bundle=str(inputs.attack)),
    )


class _Tally:
    """Counts collected across sources for the report."""

    def __init__(self) -> None:
        self.unmapped = UnmappedFields()
        self.tagged: Counter[str] = Counter()
        # Non-deprecated rules' predicates, for the precomputed technique aggregates.
        self.predicates: dict[int, list[PredicateTuple]] = {}


def _read_source(
    spec: SourceSpec, report: BuildReport, progress: Progress | None
) -> Iterator[RuleRecord]:
    """Walk one source, read its rule files, and account for every file seen."""
    src = SourceReport(name=spec.name, vendor=spec.vendor, root=str(spec.root))
    report.sources.append(src)
    reader = reader_for(spec.vendor)
    # Every entry but a folder: FIFOs and sockets too, since a reader may be handed them.
    all_files = sorted(p for p in spec.root.rglob("*") if not p.is_dir() or p.is_symlink())
    src.files_seen = len(all_files)
    if reader is None:
        src.notes.append(f"no reader for vendor {spec.vendor!r} yet; its files are not indexed")
        _skip(src, spec.root, all_files, f"rulecat cannot read {spec.vendor} rules yet")
        return
    rule_files = reader.rule_files(spec.root)
    wanted = set(rule_files)
    _skip(src, spec.root, [p for p in all_files if p not in wanted], "not a rule file")

    seen_ids: dict[str, str] = {}
    for done, (rules, rejections) in enumerate(_read_all(spec, rule_files), 1):
        src.files_read += 1
        report.rejections.extend(rejections)
        if rules:
            src.files_indexed += 1
        else:
            src.files_rejected += 1
        for rule in rules:
            yield _unique(rule, seen_ids, report)
        if progress:
            progress(spec.name, done, len(rule_files))


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
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
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


def _skip(src: SourceReport, root: Path, files: list[Path], reason: str) -> None:
    src.files_skipped += len(files)
    src.skipped.extend(SkippedFile(path=p.relative_to(root).as_posix(), reason=reason)
                       for p in files)


def _unique(rule: RuleRecord, seen: dict[str, str], report: BuildReport) -> RuleRecord:
    """Keep a rule whose native id repeats in its source under a path-qualified id."""
    first = seen.get(rule.native_id)
    if first is not None:
        report.duplicate_ids.append(
            f"{rule.id} in {rule.path} (first in {first}); kept as {rule.native_id}@{rule.path}"
        )
        rule.native_id = f"{rule.native_id}@{rule.path}"
    seen[rule.native_id] = rule.path
    return rule


def _normalize(
    rule: RuleRecord, registry: FieldRegistry, events: EventCatalog, tally: _Tally
) -> None:
    normalize_rule(rule, registry, tally.unmapped)
    # Sigma rules map to events here; other readers set `events` from what they know.
    if rule.vendor == "sigma" and rule.logsource is not None and not rule.events:
        rule.events = events.events_for_sigma(rule.logsource, rule.predicates)


def _store_source(
    writer: CatalogWriter,
    spec: SourceSpec,
    rules: list[RuleRecord],
    attack: Attack,
    families: dict[str, str],
    report: BuildReport,
    tally: _Tally,
) -> None:
    src = report.sources[-1]
    for rule in rules:
        rowid = writer.add_rule(rule, families)
        if not rule.deprecated:
            tally.predicates[rowid] = _predicate_tuples(rowid, rule, families)
        techniques = sorted(set(rule.techniques))
        writer.add_rows(
            "rule_techniques", ((rowid, t, int(t in attack.techniques)) for t in techniques)
        )
        writer.add_rows(
            "technique_rules",
            ((m.technique_id, rowid, m.via, m.tagged_id, int(m.rollup))
             for m in memberships(techniques, attack)),
        )
        tally.tagged.update(techniques)
        writer.add_rows("events", ((e.provider, e.event_id, e.title) for e in rule.events
                                   if e.title))
        report.malformed_tags.extend(f"{rule.id}: {t}" for t in rule.malformed_tags)
        if not rule.parsed:
            report.unparsed.append(
                UnparsedRule(rule_id=rule.id, path=rule.path, reason=rule.unparsed_reason or "")
            )
        src.rules_indexed += 1
        src.rules_deprecated += int(rule.deprecated)
        src.rules_unparsed += int(not rule.parsed)
        lang = src.languages.setdefault(rule.language or "none", LanguageStats())
        lang.rules += 1
        lang.parsed += int(rule.parsed)
        lang.active += int(not rule.deprecated)
        lang.active_parsed += int(rule.parsed and not rule.deprecated)
        src.predicates += len(rule.predicates)
    writer.add_rows("sources", [(spec.name, spec.vendor, str(spec.root), src.files_read,
                                 src.rules_indexed)])


def _predicate_tuples(
    rowid: int, rule: RuleRecord, families: dict[str, str]
) -> list[PredicateTuple]:
    return [
        PredicateTuple(
            rowid, rule.vendor, p.polarity, families.get(p.field or "", p.field), p.field,
            p.operator, p.vendor_field, p.value, p.ind_field, p.ind_operator or p.operator,
            p.ind_value if p.ind_value is not None else p.value)
        for p in rule.predicates
    ]


def _store_technique_aggregates(writer: CatalogWriter, tally: _Tally) -> None:
    """top_indicators' default answer per technique, so the common request is a look-up."""
    reach = {(f, op, v): (n, x) for f, op, v, n, x in writer.conn.execute(
        "SELECT ind_field, ind_operator, ind_value, reach, exclude_reach FROM indicators")}
    members: dict[str, set[int]] = defaultdict(set)
    for technique, rule in writer.conn.execute("SELECT technique, rule FROM technique_rules"):
        if rule in tally.predicates:
            members[technique].add(rule)
    rows = []
    for technique, rules in members.items():
        preds = (p for r in sorted(rules) for p in tally.predicates[r])
        aggs = aggregate(preds, lambda key: reach.get(key, (0, 0)), PRECOMPUTED_LIMIT)
        rows.append((technique, *(json.dumps([m.model_dump() for m in part]) for part in aggs)))
    writer.add_rows("technique_aggregates", rows)


def _store_reference_data(
    writer: CatalogWriter, attack: Attack, registry: FieldRegistry, events: EventCatalog,
    tagged: Iterable[str],
) -> None:
    writer.add_rows("tactics", ((t.id, t.shortname, t.name, t.order)
                                for t in attack.tactics.values()))
    vm = attack.version_map
    extra = set(tagged) | (set(vm.new_to_olds) if vm else set())
    ids = sorted(set(attack.techniques) | extra)
    writer.add_rows("techniques", (_technique_row(tid, attack) for tid in ids))
    writer.add_rows("events", events.events())
    writer.add_rows("attack_telemetry", telemetry_rows(attack, events))
    aliases = list(registry.alias_rows())
    writer.add_rows("field_aliases", aliases)
    writer.add_rows("fields", registry.families().items())
    # Any spelling a user may type -> the registry's own reading of it.
    spellings = {name for _, _, name in aliases} | set(registry.canonical_fields())
    writer.add_rows("field_spellings", ((name, field) for name in sorted(spellings)
                                        if (field := registry.resolve_any(name))))
    writer.conn.execute("INSERT OR IGNORE INTO fields SELECT DISTINCT field, family "
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


def _finish_report(
    report: BuildReport, attack: Attack, registry: FieldRegistry, tally: _Tally
) -> None:
    report.rules_indexed = sum(s.rules_indexed for s in report.sources)
    report.predicates = sum(s.predicates for s in report.sources)
    vm = attack.version_map
    report.unknown_techniques = [
        UnknownTechnique(technique_id=t, rules=n, name=vm.name_of(t) if vm else None,
                         renamed_from=vm.old_ids(t) if vm else [])
        for t, n in sorted(tally.tagged.items())
        if t not in attack.techniques
    ]
    report.unmapped_fields = [
        UnmappedField(vendor=u.vendor, vendor_field=u.vendor_field, rules=u.rules,
                      predicates=u.predicates)
        for u in tally.unmapped.rows()
    ]
    stats = registry.stats()
    report.fields = FieldStats(
        aliases_derived=stats["derived"]["total"],
        aliases_hand_added=stats["hand"]["total"],
        aliases_overridden_by_hand=stats["overridden_by_hand"],
        canonical_fields=stats["canonical_fields"],
    )


@contextmanager
def _stage(stages: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
