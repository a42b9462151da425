"""The build: its report adds up, bad files cost one entry each, and the swap is atomic."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from rulecat.index.api import Catalog
from rulecat.index.build import (
    BuildInputs, SourceSpec, build_catalog, inputs_from_corpora, list_entries,
)
from rulecat.index.errors import CatalogMissing
from rulecat.index.store.files import FILE_STRIDE

FILES = Path(__file__).parent / "files"


def _walk(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def test_report_adds_up_against_an_independent_walk_of_the_corpus(catalog_path):
    info = Catalog(catalog_path).catalog_info()
    report = json.loads(Catalog(catalog_path).meta["report"])
    for source in report["sources"]:
        assert source["files_seen"] == _walk(Path(source["root"])), source["name"]
        assert source["files_seen"] == source["files_skipped"] + source["files_read"]
        assert source["files_read"] == source["files_indexed"] + source["files_rejected"]
    assert info.rules == sum(s["rules_indexed"] for s in report["sources"])
    assert info.report.adds_up
    # Parse rates per source and language (the two Splunk rules left are deprecated AWS ones).
    assert {"sigma/sigma 3780/3780", "elastic/kuery 792/792", "elastic/eql 1081/1081",
            "elastic/esql 212/212", "elastic/lucene 1/1", "elastic: 106 without a query",
            "splunk/spl 1709/1711"} == set(info.report.parsed)
    counts = [int(u.rsplit("(", 1)[1].rstrip(")")) for u in info.report.unmapped_fields]
    assert counts == sorted(counts, reverse=True) and len(counts) == 10  # most used first


def test_sigma_skipped_files_are_the_four_outside_the_rule_folders(catalog_path):
    report = json.loads(Catalog(catalog_path).meta["report"])
    sigma = next(s for s in report["sources"] if s["name"] == "sigma")
    assert sorted(s["path"] for s in sigma["skipped"]) == [
        "LICENSE", "README.md", "tests/logsource.json", "tests/thor.yml"]


@pytest.fixture
def attack_inputs(corpora: Path) -> BuildInputs:
    inputs = inputs_from_corpora(corpora)
    inputs.sources = []
    return inputs


def test_a_folder_of_bad_files_builds_and_lists_each_with_path_and_reason(
    attack_inputs: BuildInputs, tmp_path: Path
):
    attack_inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "sigma_bad")]
    report = build_catalog(attack_inputs, tmp_path / "c.sqlite")
    acme = report.sources[0]
    reasons = {r.path: r.reason for r in report.rejections}
    assert {"rules/windows/malformed.yml", "rules/windows/duplicate_key.yml",
            "rules/windows/binary.yml", "rules/windows/no_detection.yml"} <= set(reasons)
    assert "duplicate" in reasons["rules/windows/duplicate_key.yml"].lower()
    assert "detection" in reasons["rules/windows/no_detection.yml"].lower()
    skipped = {s.path for s in acme.skipped}
    assert {"tests/not_a_rule_folder.yml", "rules/README.md"} <= skipped
    assert acme.files_seen == _walk(FILES / "sigma_bad")
    assert acme.adds_up() and acme.rules_indexed >= 2
    assert Catalog(tmp_path / "c.sqlite").catalog_info().rules == acme.rules_indexed


def test_a_failed_build_leaves_the_previous_catalog_serving(
    attack_inputs: BuildInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    attack_inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "sigma")]
    target = tmp_path / "catalog.sqlite"
    build_catalog(attack_inputs, target)
    before = Catalog(target).catalog_info().build_id

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("rulecat.index.build._store_reference_data", boom)
    with pytest.raises(RuntimeError):
        build_catalog(attack_inputs, target)
    assert Catalog(target).catalog_info().build_id == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.sqlite"]


def test_the_catalog_is_finished_in_delete_journal_mode_and_opened_read_only(
    attack_inputs: BuildInputs, tmp_path: Path
):
    attack_inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "sigma")]
    target = tmp_path / "catalog.sqlite"
    build_catalog(attack_inputs, target)
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        Catalog(target).db.execute("DELETE FROM rules")


def test_rules_of_two_sources_with_one_uuid_never_overwrite_each_other(
    attack_inputs: BuildInputs, tmp_path: Path
):
    copy = tmp_path / "copy"
    shutil.copytree(FILES / "sigma", copy)
    attack_inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "sigma"),
                             SourceSpec(name="beta", vendor="sigma", root=copy)]
    report = build_catalog(attack_inputs, tmp_path / "c.sqlite")
    cat = Catalog(tmp_path / "c.sqlite")
    assert cat.catalog_info().rules == 2 * report.sources[0].rules_indexed


def test_a_missing_catalog_says_how_to_build_one(tmp_path: Path):
    with pytest.raises(CatalogMissing, match="rulecat build --corpora"):
        Catalog(tmp_path / "none.sqlite")


def test_a_file_that_is_not_a_catalog_says_to_rebuild(tmp_path: Path):
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CatalogMissing, match="not a rulecat catalog"):
        Catalog(bogus)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(CatalogMissing, match="Rebuild it"):
        Catalog(empty)


def test_a_catalog_of_another_schema_says_to_rebuild(attack_inputs: BuildInputs, tmp_path: Path):
    attack_inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=FILES / "sigma")]
    old = tmp_path / "old.sqlite"
    build_catalog(attack_inputs, old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(CatalogMissing, match="another rulecat version .*schema 2.*Rebuild it"):
        Catalog(old)


def test_the_walk_lists_every_entry_but_real_folders_as_rglob_does(tmp_path: Path):
    root = tmp_path / "src"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ("a/b/x.yml", "a/y", ".hidden/z"):
        (root / name).write_text("x")
    (root / "folder_link").symlink_to(root / "a")  # listed, not entered
    (root / "file_link").symlink_to(root / "a" / "y")
    (root / "broken").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")
    expected = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if not p.is_dir() or p.is_symlink())
    assert list_entries(root) == expected == [
        ".hidden/z", "a/b/x.yml", "a/y", "broken", "fifo", "file_link", "folder_link"]
    assert list_entries(tmp_path / "missing") == []


def test_rule_rowids_follow_reading_order_with_room_between_files(catalog_path):
    """Rowids go up with (source, file, document), a stride apart per file, so an
    incremental build can put a new file's rules between its neighbours'."""
    with sqlite3.connect(catalog_path) as conn:
        files = conn.execute("SELECT source, path, first_rule, rules FROM files "
                             "WHERE first_rule IS NOT NULL ORDER BY first_rule").fetchall()
        rules = conn.execute("SELECT rowid, source, path FROM rules ORDER BY rowid").fetchall()
        seen = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    report = json.loads(Catalog(catalog_path).meta["report"])
    assert [s["name"] for s in report["sources"]] == list(dict.fromkeys(s for s, *_ in files))
    assert seen == sum(s["files_seen"] for s in report["sources"])
    assert [first for _, _, first, _ in files] == [FILE_STRIDE * n
                                                   for n in range(1, len(files) + 1)]
    assert [(s, p) for _, s, p in rules] == [(s, p) for s, p, _, n in files for _ in range(n)]
    assert report["mode"] == "full" and report["full_reason"] is None
