"""Incremental rebuild: update a copy of the catalog from the files that changed.

    stat walk --stat changed?--> hash --content changed?--> read, qualify ids, place rowids
        --> copy the catalog --> delete the old rules' rows, store the new ones
        --> recompute what they touch --> finish as a full build does (`finish_catalog`)

`plan_update` finds what changed and reads it, before the catalog is touched; `apply_update`
changes a copy of it. Both use the full build's own steps (`index/build.py`) for reading,
ids, normalizing and storing, so a rule is stored the same whichever build stores it.

What is recomputed how:

* rows per rule (rules, predicates, techniques and technique answers, events, unmapped
  fields, text index): deleted for the rules of changed, removed and re-qualified files,
  then written for the files read again. A changed file keeps its rowids; a new one gets
  rowids between its neighbours' (`store/files.py`), so rowid order stays reading order;
* corpus reach: for the indicators the old and new rules test (`compute_reach`);
* stored top_indicators answers: recomputed for the techniques the old and new rules are
  in; elsewhere the reach of indicators whose reach changed is patched in (`patch_reach`);
* technique, event-title and field rows, the report and its counts, provenance and totals:
  rewritten from the stored rules, as every build does (milliseconds);
* text index: the changed rules' documents, and the rule counts of their words.

A full build runs instead, and the report says why (`full_reason`), when an update could
differ from one: no catalog yet, or one from another schema; other sources, ATT&CK data,
mapping tables, rulecat code or libraries (`inputs_fingerprint`); the Whoosh engine; a
changed file in a Splunk source's macros, data sources, stories or lookups (a macro shapes
every rule using it); no room for a new file's rowids; or so many changed files that a full
build is as fast.

TODO: the plan is made from the catalog as it is when the build starts; a build replacing
it in the meantime (two builds at once) is not noticed, and the later rename wins.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .aggregates import IndicatorKey, patch_reach, store_technique_aggregates
from .build import (
    BuildContext, FileRead, Progress, SourceSpec, SourceWalk,
    normalize_file, qualify_ids, read_files, refresh_rule_reference, stage, store_file,
    walk_source,
)
from .report import BuildReport
from .search.document import FIELDS, RuleDocument, load_documents
from .search.fts5 import stored_documents
from .store import SCHEMA_VERSION, open_catalog
from .store.files import FILE_STRIDE, FileRow, FileStamp, read_files as read_file_rows
from .store.files import stat_of, with_hash, write_files
from .store.writer import SAME_INDICATOR, CatalogWriter

# A full build is about as fast once more than this share of rule files changed (and at
# least MIN_CHANGED_FOR_FULL of them: small sources always update).
MAX_CHANGED_SHARE = 0.2
MIN_CHANGED_FOR_FULL = 100

# Modification times this close before a build started do not prove a file unchanged since.
RACY_SECONDS = 2

# A reader whose rules are read with other files of their source names the folders holding
# them in `SUPPORT_FOLDERS` (Splunk: macros, data sources, stories, lookups): a change
# there may change rules whose files did not, so it needs a full build.


class FullBuildNeeded(Exception):
    """An incremental update could differ from a full build; the message says why."""


@dataclass
class SourcePlan:
    """One source: its files now, what changed since the catalog was built, and the reads."""

    walk: SourceWalk
    stored: dict[str, FileRow]  # the catalog's `files` rows, by path
    stamps: dict[str, FileStamp]  # every file now; hashed only where the stat changed
    order: list[str]  # rule files now, in reading order
    changed: list[str]  # rule files whose content changed
    added: list[str]  # rule files new to the catalog (or no longer skipped)
    removed: list[str]  # rule files gone (or now skipped)
    requalified: list[str] = field(default_factory=list)  # unchanged; an id's duplicate moved
    reads: dict[str, FileRead] = field(default_factory=dict)
    first_rule: dict[str, int] = field(default_factory=dict)  # every rule file now
    duplicates: list[str] = field(default_factory=list)

    @property
    def spec(self) -> SourceSpec:
        return self.walk.spec

    def rules_in(self, rel: str) -> int:
        """How many rules a rule file has now."""
        return len(self.reads[rel].rules) if rel in self.reads else self.stored[rel].rules

    def gone(self) -> list[tuple[int, int]]:
        """(first, last) rowids of the stored rules this update replaces or removes."""
        rows = [self.stored[rel] for rel in (*self.changed, *self.requalified, *self.removed)]
        return [(r.first_rule, r.first_rule + r.rules - 1) for r in rows
                if r.first_rule is not None and r.rules]


@dataclass
class Plan:
    sources: list[SourcePlan]
    previous: BuildReport  # the updated catalog's report

    def unchanged(self) -> bool:
        """No file added, removed or changed, even in its stat: nothing to write."""
        return all(not (p.changed or p.added or p.removed or p.requalified)
                   and p.stamps == {rel: row.stamp for rel, row in p.stored.items()}
                   for p in self.sources)

    def kept_details(self) -> dict[str, dict[str, Any]]:
        """Reader summaries of the sources no rule file of which changed, as reported."""
        untouched = {p.spec.name for p in self.sources if not p.reads and not p.removed}
        return {s.name: s.details for s in self.previous.sources if s.name in untouched}


# -- planning: what changed, read before the catalog is touched ----------------------------


def plan_update(
    catalog: Path, ctx: BuildContext, stages: dict[str, float], progress: Progress | None = None
) -> Plan:
    """What to change in `catalog`; `FullBuildNeeded` when an update could differ."""
    if ctx.inputs.text_engine != "fts5":
        raise FullBuildNeeded(f"the {ctx.inputs.text_engine} text index is only built whole")
    with stage(stages, "walk"):
        conn, previous = _open_previous(catalog, ctx)
        racy = _racy_after(previous)
        try:
            plans = [_plan_source(conn, spec, racy) for spec in ctx.inputs.sources]
        finally:
            conn.close()
        _check_share(plans)
    with stage(stages, "read"):
        for plan in plans:
            _read_changes(plan, progress)
    _place_files(plans)
    return Plan(plans, previous)


def _open_previous(catalog: Path, ctx: BuildContext) -> tuple[sqlite3.Connection, BuildReport]:
    """The catalog to update, read-only, and its report, once its inputs are known to be
    this build's."""
    if not catalog.is_file():
        raise FullBuildNeeded(f"no catalog at {catalog} yet")
    try:
        conn = open_catalog(catalog)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise FullBuildNeeded(f"{catalog} is not a readable catalog ({exc})") from None
    try:
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise FullBuildNeeded(f"the catalog has schema {meta.get('schema_version')}; "
                                  f"this rulecat writes schema {SCHEMA_VERSION}")
        before = json.loads(meta.get("inputs") or "{}")
        for part, now in ctx.fingerprint.items():
            if before.get(part) != now:
                raise FullBuildNeeded(f"{part} changed since the catalog was built")
        previous = BuildReport.model_validate_json(meta["report"])
    except BaseException:
        conn.close()
        raise
    return conn, previous


def _racy_after(previous: BuildReport) -> int:
    """Files modified after this time (ns) may have changed again within the same clock
    tick after the previous build stamped them, leaving their stat as it was (git's
    "racily clean" files): their content is hashed even when their stat has not changed."""
    started = datetime.fromisoformat(previous.started).timestamp()
    return int((started - RACY_SECONDS) * 1e9)


def _plan_source(conn: sqlite3.Connection, spec: SourceSpec, racy_after: int) -> SourcePlan:
    """Compare a source's files with the catalog's record of them (stat first, then hash)."""
    walk = walk_source(spec)
    stored = read_file_rows(conn, spec.name)
    stamps: dict[str, FileStamp] = {}
    different: set[str] = set()  # new, or content changed
    for rel, path in walk.stamped().items():
        now, before = stat_of(path), stored.get(rel)
        if before is not None and before.stamp.same_stat(now) \
                and before.stamp.mtime_ns < racy_after:
            stamps[rel] = before.stamp
            continue
        stamps[rel] = now = with_hash(path, now)
        if before is None or not now.sha256 or now.sha256 != before.stamp.sha256:
            different.add(rel)
    order = walk.rule_rels
    now_rules = set(order)
    before_rules = {rel for rel, row in stored.items() if row.first_rule is not None}
    plan = SourcePlan(
        walk, stored, stamps, order,
        changed=[rel for rel in order if rel in before_rules and rel in different],
        added=[rel for rel in order if rel not in before_rules],
        removed=sorted(before_rules - now_rules, key=lambda rel: stored[rel].first_rule or 0),
    )
    folders = tuple(f"{f}/" for f in getattr(walk.reader, "SUPPORT_FOLDERS", ()))
    support = sorted(rel for rel in (different | (set(stored) - set(stamps))) - now_rules
                     if rel.startswith(folders))
    if support:
        raise FullBuildNeeded(f"{spec.name}:{support[0]} changed, and {spec.vendor} rules are "
                              f"read with the files in {', '.join(folders)}")
    return plan


def _check_share(plans: list[SourcePlan]) -> None:
    files = sum(len(p.order) for p in plans)
    changed = sum(len(p.changed) + len(p.added) + len(p.removed) for p in plans)
    if changed > max(MIN_CHANGED_FOR_FULL, MAX_CHANGED_SHARE * files):
        raise FullBuildNeeded(f"{changed} of {files} rule files changed; a full build is as "
                              "fast")


def _read_changes(plan: SourcePlan, progress: Progress | None) -> None:
    """Read changed and new files; qualify the source's ids as a full build would, and read
    the unchanged files whose ids that moves (a duplicate of theirs came or went)."""
    root = plan.spec.root
    plan.reads = {r.rel: r for r in read_files(
        plan.spec, [root / rel for rel in plan.order if rel in {*plan.changed, *plan.added}],
        progress)}
    finals, plan.duplicates = qualify_ids(plan.spec.name, (
        (rel, plan.reads[rel].read_ids if rel in plan.reads else _stored_ids(plan, rel))
        for rel in plan.order))
    before = _stored_finals(plan)
    plan.requalified = [rel for rel, ids in zip(plan.order, finals)
                        if rel not in plan.reads and ids != before[rel]]
    for read in read_files(plan.spec, [root / rel for rel in plan.requalified]):
        if read.read_ids != _stored_ids(plan, read.rel):
            raise FullBuildNeeded(f"{plan.spec.name}:{read.rel} changed while being read")
        plan.reads[read.rel] = read
    for rel, ids in zip(plan.order, finals):
        if rel in plan.reads:
            plan.reads[rel].apply_ids(ids)


def _stored_ids(plan: SourcePlan, rel: str) -> list[str]:
    return plan.stored[rel].read_ids or []


def _stored_finals(plan: SourcePlan) -> dict[str, list[str]]:
    """The stored rule files' ids as the catalog holds them (qualified in the old order)."""
    before = sorted((row.first_rule, rel) for rel, row in plan.stored.items()
                    if row.first_rule is not None)
    finals, _ = qualify_ids(plan.spec.name, ((rel, _stored_ids(plan, rel)) for _, rel in before))
    return {rel: ids for (_, rel), ids in zip(before, finals)}


def _place_files(plans: list[SourcePlan]) -> None:
    """First rowids for every rule file, in reading order across sources: a kept file keeps
    its own; new files are spread evenly between their neighbours' (after the last file, a
    stride apart)."""
    entries = [(plan, rel) for plan in plans for rel in plan.order]
    firsts = [plan.stored[rel].first_rule if rel in plan.stored else None
              for plan, rel in entries]
    start = 0
    while start < len(firsts):
        if firsts[start] is not None:
            start += 1
            continue
        end = next((k for k in range(start, len(firsts)) if firsts[k] is not None),
                   len(firsts))
        low = firsts[start - 1] or 0 if start else 0
        high = firsts[end] if end < len(firsts) else None
        step = FILE_STRIDE if high is None else (high - low) // (end - start + 1)
        for k in range(start, end):
            firsts[k] = low + step * (k - start + 1)
        start = end
    last = 0
    for (plan, rel), first in zip(entries, firsts):
        if first is None or first <= last:
            raise FullBuildNeeded(f"no room left for the rowids of {plan.spec.name}:{rel} "
                                  "between its neighbours'; a full build spaces them again")
        plan.first_rule[rel] = first
        last = first + max(plan.rules_in(rel), 1) - 1


# -- applying: a copy of the catalog, changed -----------------------------------------------


def apply_update(
    writer: CatalogWriter, ctx: BuildContext, plan: Plan, report: BuildReport,
    stages: dict[str, float],
) -> tuple[list[SourceWalk], list[str]]:
    """Change the copy on `writer` as the plan says; return the walks and duplicate ids."""
    conn = writer.conn
    with stage(stages, "delete"):
        _mark(conn, "gone", [r for p in plan.sources for r in p.gone()])
        before = _Before.capture(conn)
        writer.delete_rules()
    with stage(stages, "normalize"):
        for source in plan.sources:
            for read in source.reads.values():
                normalize_file(read, ctx)
    with stage(stages, "store"):
        new = [_store_source(writer, ctx, source) for source in plan.sources]
        _mark(conn, "new", [r for ranges in new for r in ranges])
    with stage(stages, "aggregates"):
        _update_aggregates(writer, before)
        refresh_rule_reference(writer, ctx)
    with stage(stages, "text_index"):
        _update_text_index(conn, before.documents)
    _note_files(report, plan)
    return [p.walk for p in plan.sources], [d for p in plan.sources for d in p.duplicates]


def _mark(conn: sqlite3.Connection, table: str, ranges: list[tuple[int, int]]) -> None:
    """`temp.<table>`: the rules whose rowids lie in these (first, last) ranges."""
    conn.execute(f"CREATE TEMP TABLE {table} (rule INTEGER PRIMARY KEY)")
    for first, last in ranges:
        conn.execute(f"INSERT INTO temp.{table} SELECT rowid FROM rules "
                     "WHERE rowid BETWEEN ? AND ?", (first, last))


@dataclass
class _Before:
    """What the replaced rules touched, read before they are deleted."""

    reach: dict[IndicatorKey, tuple[int, int]]  # their indicators' reach, as stored
    techniques: set[str]  # the technique answers they are in
    documents: list[RuleDocument]  # their text-index documents

    @classmethod
    def capture(cls, conn: sqlite3.Connection) -> _Before:
        conn.execute("""CREATE TEMP TABLE touched AS SELECT DISTINCT ind_field, ind_operator,
                        ind_value FROM predicates WHERE rule IN (SELECT rule FROM temp.gone)""")
        reach = {(f, op, v): (n, x) for f, op, v, n, x in conn.execute(f"""
            SELECT t.ind_field, t.ind_operator, t.ind_value, i.reach, i.exclude_reach
            FROM temp.touched t JOIN indicators i ON {SAME_INDICATOR.format(a="i", b="t")}""")}
        techniques = {t for (t,) in conn.execute(
            "SELECT DISTINCT technique FROM technique_rules "
            "WHERE rule IN (SELECT rule FROM temp.gone)")}
        gone = [r for (r,) in conn.execute("SELECT rule FROM temp.gone")]
        return cls(reach, techniques, list(stored_documents(conn, gone).values()))


def _store_source(
    writer: CatalogWriter, ctx: BuildContext, plan: SourcePlan
) -> list[tuple[int, int]]:
    """Store the files read again and bring the `files` rows up to date; return the new
    rules' (first, last) rowids."""
    rows: dict[str, FileRow] = {}
    for rel, stamp in plan.stamps.items():
        if rel in plan.reads:
            rows[rel] = store_file(writer, ctx, plan.reads[rel], plan.first_rule[rel], stamp)
        elif rel in plan.first_rule:  # a rule file kept as it was
            kept = plan.stored[rel]
            rows[rel] = FileRow(kept.source, rel, stamp, kept.first_rule, kept.rules,
                                kept.read_ids, kept.rejections)
        else:
            rows[rel] = FileRow(plan.spec.name, rel, stamp)
    write_files(writer.conn, (row for rel, row in rows.items() if plan.stored.get(rel) != row))
    writer.conn.executemany("DELETE FROM files WHERE source = ? AND path = ?",
                            ((plan.spec.name, rel) for rel in plan.stored if rel not in rows))
    return [(plan.first_rule[rel], plan.first_rule[rel] + len(read.rules) - 1)
            for rel, read in plan.reads.items() if read.rules]


def _update_aggregates(writer: CatalogWriter, before: _Before) -> None:
    """Reach of the indicators old and new rules test; the technique answers they are in;
    new reach patched into the other answers that show those indicators."""
    conn = writer.conn
    conn.execute("""INSERT INTO temp.touched SELECT DISTINCT ind_field, ind_operator, ind_value
                    FROM predicates WHERE rule IN (SELECT rule FROM temp.new)
                    EXCEPT SELECT * FROM temp.touched""")
    writer.compute_reach(only_touched=True)
    now = {(f, op, v): (n, x) for f, op, v, n, x in conn.execute(f"""
        SELECT t.ind_field, t.ind_operator, t.ind_value, i.reach, i.exclude_reach
        FROM temp.touched t JOIN indicators i ON {SAME_INDICATOR.format(a="i", b="t")}""")}
    keys = set(before.reach) | set(now)
    moved = {k: now.get(k, (0, 0)) for k in keys if now.get(k) != before.reach.get(k)}
    techniques = before.techniques | {t for (t,) in conn.execute(
        "SELECT DISTINCT technique FROM technique_rules "
        "WHERE rule IN (SELECT rule FROM temp.new)")}
    store_technique_aggregates(conn, techniques)
    patch_reach(conn, moved, skip=techniques)


# -- the text index --------------------------------------------------------------------------


def _update_text_index(conn: sqlite3.Connection, old: list[RuleDocument]) -> None:
    """Index the new rules (the old ones' rows went with them) and recount their words."""
    new = _documents_of(conn)
    conn.executemany(
        f"INSERT INTO rule_text(rowid, {', '.join(FIELDS)}) "
        f"VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
        ((d.rowid, *d.texts().values()) for d in new))
    conn.execute("CREATE VIRTUAL TABLE temp.words_now USING fts5vocab(main, rule_text, row)")
    for word in _words_of(conn, [*old, *new]):
        row = conn.execute("SELECT doc FROM temp.words_now WHERE term = ?", (word,)).fetchone()
        if row:
            conn.execute("INSERT OR REPLACE INTO rule_text_words VALUES (?, ?)", (word, row[0]))
        else:
            conn.execute("DELETE FROM rule_text_words WHERE word = ?", (word,))
    conn.execute("DROP TABLE temp.words_now")


def _documents_of(conn: sqlite3.Connection) -> list[RuleDocument]:
    """The new rules' documents, made as a full build makes them: `load_documents` over an
    in-memory copy of just their rows."""
    # TODO: a `rowids` argument to load_documents would save the copy.
    scope = {
        "rules": "rowid IN (SELECT rule FROM temp.new)",
        "predicates": "rule IN (SELECT rule FROM temp.new)",
        "rule_techniques": "rule IN (SELECT rule FROM temp.new)",
        "techniques": "id IN (SELECT technique FROM rule_techniques "
                      "WHERE rule IN (SELECT rule FROM temp.new))",
    }
    with _scratch(conn, scope) as mem:
        return list(load_documents(mem))


def _words_of(conn: sqlite3.Connection, documents: list[RuleDocument]) -> list[str]:
    """The words of these documents, as the catalog's `rule_text` tokenizes them."""
    with _scratch(conn, {}, tables=("rule_text",)) as mem:
        mem.executemany(
            f"INSERT INTO rule_text({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
            (tuple(d.texts().values()) for d in documents))
        mem.execute("CREATE VIRTUAL TABLE words USING fts5vocab(rule_text, row)")
        return [w for (w,) in mem.execute("SELECT term FROM words")]


@contextmanager
def _scratch(
    conn: sqlite3.Connection, scope: dict[str, str], tables: tuple[str, ...] = ()
) -> Iterator[sqlite3.Connection]:
    """An in-memory database with some of the catalog's tables (same definitions), filled
    with the rows `scope` selects (table -> WHERE clause), and `tables` left empty."""
    mem = sqlite3.connect(":memory:")
    try:
        for table in (*scope, *tables):
            (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                  (table,)).fetchone()
            mem.execute(sql)
        for table, where in scope.items():
            rows = conn.execute(f"SELECT * FROM {table} WHERE {where}").fetchall()
            if rows:
                marks = ",".join("?" * len(rows[0]))
                mem.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        yield mem
    finally:
        mem.close()


def _note_files(report: BuildReport, plan: Plan) -> None:
    for p in plan.sources:
        name = p.spec.name
        report.files_reread += [f"{name}:{rel}" for rel in p.order
                                if rel in p.reads and rel not in p.added]
        report.files_added += [f"{name}:{rel}" for rel in p.added]
        report.files_removed += [f"{name}:{rel}" for rel in p.removed]
