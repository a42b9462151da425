"""Incremental rebuilds: after changed, added, removed and touched files, the updated catalog
equals a full build of the same tree, table by table and answer by answer; and whenever an
update could differ, a full build runs and the report says why."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import require
from rulecat.index.answers import Filters
from rulecat.index.api import Catalog
from rulecat.index.build import BuildInputs, SourceSpec, build_catalog, inputs_from_corpora
from rulecat.index.report import BuildReport
from rulecat.index.store import SCHEMA_VERSION

PROCESS_CREATION = "rules/windows/process_creation"
SIGMA_EDITED = f"{PROCESS_CREATION}/proc_creation_win_7zip_exfil_dmp_files.yml"
SIGMA_ADDED = f"{PROCESS_CREATION}/proc_creation_win_7zip_zz_added.yml"  # sorts mid-folder
SIGMA_REMOVED = f"{PROCESS_CREATION}/proc_creation_win_acccheckconsole_execution.yml"
SIGMA_TOUCHED = f"{PROCESS_CREATION}/proc_creation_win_addinutil_suspicious_cmdline.yml"
ELASTIC_EDITED = "rules/windows/collection_email_outlook_mailbox_via_com.toml"
SPLUNK_EDITED = "detections/endpoint/access_lsass_memory_for_dump_creation.yml"
ADDED_ID = "00000000-0000-4000-8000-00000000a11d"

# Report keys that differ between any two builds.
BUILD_IDENTITY = {"build_id", "started", "seconds", "stage_seconds", "catalog", "mode",
                  "full_reason", "files_reread", "files_added", "files_removed"}


# -- comparing two catalogs ------------------------------------------------------------------


def logical_content(path: Path) -> dict[str, list[Any]]:
    """Every table as sorted rows, rule rowids replaced by rule ids (rowids may differ
    between builds; their order may not), build identity and timings left out."""
    conn = sqlite3.connect(path)
    try:
        ids = dict(conn.execute("SELECT rowid, id FROM rules"))
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            if not name.startswith("rule_text_") or name == "rule_text_words"]
        content = {table: _rows(conn, table, ids) for table in tables}
        content["rules in rowid order"] = [
            rule_id for (rule_id,) in conn.execute("SELECT id FROM rules ORDER BY rowid")]
        return content
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, table: str, ids: dict[int, str]) -> list[Any]:
    columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
    if table in ("rules", "rule_text"):
        rest = ", ".join(c for c in columns if c != "rowid")
        rows = [(ids[r[0]], *r[1:]) for r in conn.execute(f"SELECT rowid, {rest} FROM {table}")]
    elif table == "meta":
        rows = [(k, _meta_value(k, v)) for k, v in conn.execute("SELECT * FROM meta")
                if k not in ("build_id", "built_at")]
    else:
        def logical(column: str, value: Any) -> Any:
            if column == "rule":
                return ids[value]
            return value is not None if column == "first_rule" else value
        rows = [tuple(logical(c, v) for c, v in zip(columns, r))
                for r in conn.execute(f"SELECT * FROM {table}")]
    return sorted(rows, key=repr)


def _meta_value(key: str, value: str) -> Any:
    if key != "report":
        return value
    report = json.loads(value)
    return {k: v for k, v in report.items() if k not in BUILD_IDENTITY}


def assert_same_content(a: Path, b: Path) -> None:
    left, right = logical_content(a), logical_content(b)
    assert sorted(left) == sorted(right)
    for table in left:
        assert left[table] == right[table], f"table {table} differs"


# What the read API answers, for techniques, fields and words the edits touch.
def api_answers(path: Path, techniques: list[str], words: list[str]) -> list[Any]:
    cat = Catalog(path)
    try:
        out: list[Any] = []
        for technique in techniques:
            out.append(cat.get_technique_coverage(technique, limit=200).model_dump())
            out.append(cat.top_indicators(technique, limit=50).model_dump())  # stored
            out.append(cat.top_indicators(technique, limit=15,  # computed live
                                          filters=Filters(include_deprecated=True)).model_dump())
        for field, value in (("CommandLine", ".dmp"), ("event.action", None),
                             ("process.name", "7z")):
            out.append(cat.find_rules_by_field(field, value, limit=200).model_dump())
        out += [cat.search_rules(word, limit=50).model_dump() for word in words]
        info = cat.catalog_info().model_dump(exclude={"catalog", "build_id", "built_at"})
        info["report"].pop("seconds")
        out.append(info)
        return out
    finally:
        cat.close()


# -- trees -----------------------------------------------------------------------------------


def copy_sources(corpora: Path, target: Path, elastic: int, splunk: int) -> Path:
    """A corpora folder in `target`: the real Sigma rules, ATT&CK data, the first `elastic`
    Elastic rule files (and the edited one), and the first `splunk` Splunk detections with
    all of the source's macros, data sources and stories."""
    shutil.copytree(corpora / "sigma", target / "sigma")
    shutil.copytree(corpora / "attack", target / "attack",
                    ignore=shutil.ignore_patterns("enterprise-attack", "*.md", "*.txt"))
    version_map = corpora / "elastic" / "detection_rules"
    shutil.copytree(version_map, target / "elastic" / "detection_rules")
    rules = sorted((corpora / "elastic" / "rules").rglob("*.toml"))[:elastic]
    _copy_files(corpora / "elastic", target / "elastic",
                [*rules, corpora / "elastic" / ELASTIC_EDITED])
    for folder in ("macros", "data_sources", "stories"):
        shutil.copytree(corpora / "splunk" / folder, target / "splunk" / folder)
    detections = sorted((corpora / "splunk" / "detections" / "endpoint").glob("*.yml"))[:splunk]
    _copy_files(corpora / "splunk", target / "splunk",
                [*detections, corpora / "splunk" / SPLUNK_EDITED])
    return target


def _copy_files(root: Path, target: Path, files: list[Path]) -> None:
    for path in files:
        dest = target / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_tree(tree: Path) -> None:
    """One edited rule per vendor, a Sigma rule added, one removed, one touched."""
    sigma = tree / "sigma"
    replace_in(sigma / SIGMA_EDITED, "title: 7Zip Compressing Dump Files",
               "title: 7Zip Compressing Crash Dumps")
    replace_in(sigma / SIGMA_EDITED, "- '.hdmp'", "- '.mdmp'")
    added = (sigma / PROCESS_CREATION / "proc_creation_win_7zip_password_compression.yml")
    text = added.read_text()
    old_id = next(line for line in text.splitlines() if line.startswith("id: "))
    (sigma / SIGMA_ADDED).write_text(
        text.replace(old_id, f"id: {ADDED_ID}").replace("title: ", "title: Copied ", 1)
        .replace("attack.t1560.001", "attack.t1685.005"))  # a v19 ID the data lacks
    (sigma / SIGMA_REMOVED).unlink()
    touched = sigma / SIGMA_TOUCHED
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    replace_in(tree / "elastic" / ELASTIC_EDITED, 'event.action == "start"',
               'event.action == "begin"')
    replace_in(tree / "splunk" / SPLUNK_EDITED, "lsass.exe", "lsas.exe")


# -- the real corpora: one edit per vendor ------------------------------------------------------


class Edited:
    """A tree built in full, edited, rebuilt incrementally, and built in full once more."""

    def __init__(self, tree: Path, incremental: Path, full: Path, before: Path,
                 report: BuildReport) -> None:
        self.tree, self.incremental, self.full, self.before = tree, incremental, full, before
        self.report = report


@pytest.fixture(scope="module")
def edited(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Edited:
    require(corpora / "sigma" / "rules", "Sigma corpus")
    require(corpora / "elastic" / "rules", "Elastic corpus")
    require(corpora / "splunk" / "detections", "Splunk corpus")
    work = tmp_path_factory.mktemp("incremental")
    tree = copy_sources(corpora, work / "corpora", elastic=250, splunk=150)
    inputs = inputs_from_corpora(tree)
    catalog, before = work / "catalog.sqlite", work / "before.sqlite"
    assert build_catalog(inputs, catalog, incremental=True).mode == "full"  # none yet
    shutil.copyfile(catalog, before)
    edit_tree(tree)
    report = build_catalog(inputs, catalog, incremental=True)
    build_catalog(inputs, work / "full.sqlite")
    return Edited(tree, catalog, work / "full.sqlite", before, report)


def test_an_incremental_rebuild_equals_a_full_build_table_by_table(edited: Edited):
    assert_same_content(edited.incremental, edited.full)


def test_an_incremental_rebuild_reads_only_the_changed_files_and_names_them(edited: Edited):
    report = edited.report
    assert (report.mode, report.full_reason) == ("incremental", None)
    assert report.files_reread == [f"sigma:{SIGMA_EDITED}", f"elastic:{ELASTIC_EDITED}",
                                   f"splunk:{SPLUNK_EDITED}"]  # not the touched file
    assert report.files_added == [f"sigma:{SIGMA_ADDED}"]
    assert report.files_removed == [f"sigma:{SIGMA_REMOVED}"]
    assert report.adds_up()


def test_the_read_api_answers_an_incremental_catalog_as_a_full_one(edited: Edited):
    cat = Catalog(edited.full)
    edited_ids = [f"sigma:{ADDED_ID}", "sigma:ec570e53-4c76-45a9-804d-dc3f355ff7a7"]
    techniques = sorted({t.id for rule in edited_ids for t in cat.get_rule(rule).techniques}
                        | {"T1059.001", "T1114.001", "T1003.001", "T1070.001"})
    cat.close()
    words = ["7zip", "mdmp", "crash dumps", "outlook", "lsas.exe", "copied"]
    full = api_answers(edited.full, techniques, words)
    assert api_answers(edited.incremental, techniques, words) == full
    # The edits are in the answers, so the comparison compared something.
    assert "Copied" in json.dumps(full) and "mdmp" in json.dumps(full)


def test_the_edits_changed_reach_and_the_answers_of_other_techniques(edited: Edited):
    """A changed value moves corpus reach; answers of techniques the edited rules are not in
    show reach too, so the update had to reach into them."""
    before, after = sqlite3.connect(edited.before), sqlite3.connect(edited.incremental)
    key = ("process.command_line", "wildcard", "*.hdmp*")
    sql = ("SELECT reach FROM indicators WHERE ind_field = ? AND ind_operator = ? "
           "AND ind_value = ?")
    assert before.execute(sql, key).fetchone()[0] == after.execute(sql, key).fetchone()[0] + 1
    changed = {t for t, old in before.execute("SELECT technique, indicators "
                                              "FROM technique_aggregates")
               if after.execute("SELECT indicators FROM technique_aggregates WHERE "
                                "technique = ?", (t,)).fetchone() != (old,)}
    assert {"T1560", "T1560.001"} <= changed and len(changed) > 4


def test_an_unchanged_tree_rereads_nothing_and_keeps_the_content(
    edited: Edited, tmp_path: Path
):
    catalog = tmp_path / "catalog.sqlite"
    shutil.copyfile(edited.incremental, catalog)
    # The first look hashes the files written just before the last build (racily clean) and
    # records their stamps; then nothing has changed, and the file is left as it is.
    build_catalog(inputs_from_corpora(edited.tree), catalog, incremental=True)
    before = catalog.stat()
    report = build_catalog(inputs_from_corpora(edited.tree), catalog, incremental=True)
    assert report.mode == "unchanged"
    assert report.files_reread == report.files_added == report.files_removed == []
    after = catalog.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert report.build_id == Catalog(catalog).catalog_info().build_id
    assert_same_content(catalog, edited.incremental)
    rowids = "SELECT rowid, id FROM rules ORDER BY rowid"
    with sqlite3.connect(catalog) as now, sqlite3.connect(edited.incremental) as then:
        assert now.execute(rowids).fetchall() == then.execute(rowids).fetchall()


# -- small trees ------------------------------------------------------------------------------


def sigma_rule(rule_id: str, title: str, value: str, technique: str = "t1059.001") -> str:
    return f"""title: {title}
id: {rule_id}
status: test
description: {title}, for an incremental build test.
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|contains: '{value}'
    condition: selection
tags:
    - attack.{technique}
level: medium
"""


@pytest.fixture
def small(corpora: Path, tmp_path: Path) -> tuple[BuildInputs, Path]:
    """Inputs of one Sigma source in `tmp_path/acme` (real ATT&CK data), and a catalog path."""
    inputs = inputs_from_corpora(corpora)
    (tmp_path / "acme" / "rules").mkdir(parents=True)
    inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=tmp_path / "acme")]
    return inputs, tmp_path / "catalog.sqlite"


def write_rules(root: Path, rules: dict[str, str]) -> None:
    for name, text in rules.items():
        (root / "rules" / name).write_text(text)


def full_twin(inputs: BuildInputs, catalog: Path) -> Path:
    """A full build of the same inputs beside `catalog`."""
    twin = catalog.with_name("full.sqlite")
    build_catalog(inputs, twin)
    return twin


def test_a_rejected_file_made_valid_and_a_valid_one_broken_match_a_full_build(small):
    inputs, catalog = small
    root = inputs.sources[0].root
    ids = [str(uuid.UUID(int=n)) for n in range(1, 4)]
    write_rules(root, {"a.yml": sigma_rule(ids[0], "Alpha", "alpha.exe"),
                       "b.yml": "title: Broken\ndetection: [unclosed\n",
                       "c.yml": sigma_rule(ids[2], "Gamma", "gamma.exe")})
    first = build_catalog(inputs, catalog)
    assert [r.path for r in first.rejections] == ["rules/b.yml"]
    write_rules(root, {"b.yml": sigma_rule(ids[1], "Beta", "beta.exe"),
                       "c.yml": "title: Gamma\nid: [broken\n"})
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.mode == "incremental"
    assert report.files_reread == ["acme:rules/b.yml", "acme:rules/c.yml"]
    assert [r.path for r in report.rejections] == ["rules/c.yml"]
    assert (report.sources[0].files_indexed, report.sources[0].files_rejected) == (2, 1)
    assert_same_content(catalog, full_twin(inputs, catalog))


def test_a_file_rewritten_keeping_its_size_and_time_is_still_read_again(small):
    """A file changed within the clock tick of its last change keeps its stat; one changed
    that close to a build is hashed, as git does with "racily clean" files."""
    inputs, catalog = small
    path = inputs.sources[0].root / "rules" / "a.yml"
    rule_id = str(uuid.UUID(int=5))
    path.write_text(sigma_rule(rule_id, "Alpha", "alpha.exe"))
    build_catalog(inputs, catalog)
    stat = path.stat()
    path.write_text(sigma_rule(rule_id, "Aleph", "aleph.exe"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.files_reread == ["acme:rules/a.yml"]
    assert Catalog(catalog).get_rule(f"acme:{rule_id}").rule.title == "Aleph"


def test_ids_qualified_as_duplicates_follow_the_first_file_holding_them(small):
    """Removing the first of three files sharing an id gives the second the plain id: its
    unchanged file is read again, as a full build would name its rule."""
    inputs, catalog = small
    root = inputs.sources[0].root
    shared = str(uuid.UUID(int=7))
    write_rules(root, {f"{n}.yml": sigma_rule(shared, f"Rule {n}", f"{n}.exe")
                       for n in ("a", "b", "c")})
    first = build_catalog(inputs, catalog)
    assert len(first.duplicate_ids) == 2
    (root / "rules" / "a.yml").unlink()
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.mode == "incremental"
    assert report.files_reread == ["acme:rules/b.yml"]  # its id moved; c's stays c's
    assert report.duplicate_ids == [
        f"acme:{shared} in rules/c.yml (first in rules/b.yml); kept as {shared}@rules/c.yml"]
    assert Catalog(catalog).get_rule(f"acme:{shared}").rule.title == "Rule b"
    assert_same_content(catalog, full_twin(inputs, catalog))


def test_a_file_added_where_no_rowids_are_left_falls_back_to_a_full_build(
    small, monkeypatch: pytest.MonkeyPatch
):
    inputs, catalog = small
    root = inputs.sources[0].root
    monkeypatch.setattr("rulecat.index.build.FILE_STRIDE", 2)  # files two rowids apart
    write_rules(root, {n: sigma_rule(str(uuid.uuid4()), n, n) for n in ("a.yml", "d.yml")})
    build_catalog(inputs, catalog)
    write_rules(root, {n: sigma_rule(str(uuid.uuid4()), n, n) for n in ("b.yml", "c.yml")})
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.mode == "full"
    assert report.full_reason and "no room left for the rowids of acme:rules/b.yml" \
        in report.full_reason
    assert_same_content(catalog, full_twin(inputs, catalog))


def test_a_failed_update_leaves_the_previous_catalog_serving(
    small, monkeypatch: pytest.MonkeyPatch
):
    inputs, catalog = small
    root = inputs.sources[0].root
    write_rules(root, {"a.yml": sigma_rule(str(uuid.UUID(int=9)), "Alpha", "alpha.exe")})
    build_catalog(inputs, catalog)
    before = logical_content(catalog)
    write_rules(root, {"b.yml": sigma_rule(str(uuid.UUID(int=10)), "Beta", "beta.exe")})

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("rulecat.index.incremental.refresh_rule_reference", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        build_catalog(inputs, catalog, incremental=True)
    assert logical_content(catalog) == before
    assert sorted(p.name for p in catalog.parent.iterdir()) == ["acme", "catalog.sqlite"]


def test_reasons_for_a_full_build(small, tmp_path: Path):
    inputs, catalog = small
    write_rules(inputs.sources[0].root, {"a.yml": sigma_rule(str(uuid.uuid4()), "A", "a")})

    def reason(given: BuildInputs) -> str | None:
        report = build_catalog(given, catalog, incremental=True)
        assert (report.mode == "full") == (report.full_reason is not None)
        return report.full_reason

    assert reason(inputs) == f"no catalog at {catalog} yet"
    assert reason(inputs) is None
    bundle = tmp_path / "attack.json"
    bundle.write_bytes(inputs.attack.read_bytes() + b"\n")
    assert reason(inputs.model_copy(update={"attack": bundle})) == \
        "ATT&CK bundle changed since the catalog was built"
    assert reason(inputs) == "ATT&CK bundle changed since the catalog was built"
    renamed = inputs.model_copy(update={"sources": [
        inputs.sources[0].model_copy(update={"name": "beta"})]})
    assert reason(renamed) == "sources changed since the catalog was built"
    with sqlite3.connect(catalog) as conn:  # as if built by other code
        fingerprint = json.loads(conn.execute(
            "SELECT value FROM meta WHERE key = 'inputs'").fetchone()[0])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'inputs'",
                     (json.dumps({**fingerprint, "rulecat code": "older"}),))
    assert reason(renamed) == "rulecat code changed since the catalog was built"
    with sqlite3.connect(catalog) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert reason(renamed) == \
        f"the catalog has schema 1; this rulecat writes schema {SCHEMA_VERSION}"


def need_whoosh() -> None:
    """The Whoosh extra: missing, the test fails when CI is set and skips otherwise."""
    if importlib.util.find_spec("whoosh") is None:
        if os.environ.get("CI"):
            pytest.fail("the whoosh extra is not installed")
        pytest.skip("the whoosh extra is not installed")


def test_the_whoosh_engine_always_builds_in_full(small):
    need_whoosh()
    inputs, catalog = small
    write_rules(inputs.sources[0].root, {"a.yml": sigma_rule(str(uuid.uuid4()), "A", "a")})
    inputs.text_engine = "whoosh"
    build_catalog(inputs, catalog)
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.mode == "full"
    assert report.full_reason == "the whoosh text index is only built whole"


def test_many_changed_files_build_in_full(small, monkeypatch: pytest.MonkeyPatch):
    inputs, catalog = small
    root = inputs.sources[0].root
    monkeypatch.setattr("rulecat.index.incremental.MIN_CHANGED_FOR_FULL", 2)
    write_rules(root, {f"{n}.yml": sigma_rule(str(uuid.uuid4()), n, n) for n in "abcdefghij"})
    build_catalog(inputs, catalog)
    write_rules(root, {f"{n}.yml": sigma_rule(str(uuid.uuid4()), n, n + "2") for n in "abc"})
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.full_reason == "3 of 10 rule files changed; a full build is as fast"


# -- Splunk: macros, data sources and stories shape many rules ------------------------------


@pytest.fixture
def splunk_tree(corpora: Path, tmp_path: Path) -> tuple[BuildInputs, Path]:
    real = require(corpora / "splunk" / "detections", "Splunk corpus").parent
    root = tmp_path / "splunk"
    for folder in ("macros", "data_sources", "stories"):
        shutil.copytree(real / folder, root / folder)
    detections = sorted((real / "detections" / "endpoint").glob("*.yml"))[:40]
    _copy_files(real, root, [*detections, real / SPLUNK_EDITED])
    inputs = inputs_from_corpora(corpora)
    inputs.sources = [SourceSpec(name="splunk", vendor="splunk", root=root)]
    return inputs, tmp_path / "catalog.sqlite"


def test_an_edited_splunk_detection_updates_in_place(splunk_tree):
    inputs, catalog = splunk_tree
    build_catalog(inputs, catalog)
    replace_in(inputs.sources[0].root / SPLUNK_EDITED, "lsass.exe", "lsas.exe")
    (inputs.sources[0].root / "README.md").write_text("Not a rule, nor read with rules.\n")
    report = build_catalog(inputs, catalog, incremental=True)
    assert (report.mode, report.files_reread) == ("incremental", [f"splunk:{SPLUNK_EDITED}"])
    assert "README.md" in {s.path for s in report.sources[0].skipped}
    detections = len(list((inputs.sources[0].root / "detections").rglob("*.yml")))
    assert report.sources[0].details["rules"] == report.rules_indexed == detections
    assert_same_content(catalog, full_twin(inputs, catalog))


def test_an_edited_splunk_macro_rebuilds_in_full_and_says_why(splunk_tree):
    """A macro is expanded into every detection using it: a full build re-reads them all."""
    inputs, catalog = splunk_tree
    build_catalog(inputs, catalog)
    macro = inputs.sources[0].root / "macros" / "sysmon.yml"
    replace_in(macro, "definition: ", "definition: index=sysmon ")
    report = build_catalog(inputs, catalog, incremental=True)
    assert report.mode == "full"
    assert report.full_reason == (
        "splunk:macros/sysmon.yml changed, and splunk rules are read with the files in "
        "macros/, data_sources/, stories/, lookups/")
