"""The build context cache: ATT&CK and the mapping tables loaded once for the same inputs,
kept between processes; a build from the cache equals one that derived them afresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rulecat.index import build, context_cache
from rulecat.index.build import SourceSpec, build_catalog, inputs_from_corpora
from test_incremental import assert_same_content, sigma_rule


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RULECAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "context"


@pytest.fixture
def inputs(corpora: Path, tmp_path: Path):  # -> BuildInputs of one small Sigma source
    inputs = inputs_from_corpora(corpora)
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "a.yml").write_text(sigma_rule(
        "6f0c2a41-4d1e-4b7a-9c55-ac3e000000c1", "Cached Context", "-enc", "t1559.001"))
    inputs.sources = [SourceSpec(name="acme", vendor="sigma", root=tmp_path / "acme")]
    return inputs


def test_a_build_from_the_cache_equals_one_that_derived_the_context(
        cache, inputs, tmp_path, monkeypatch):
    build_catalog(inputs, tmp_path / "cold.sqlite")
    (kept,) = cache.iterdir()  # one file, written whole (no partial name left)
    assert kept.suffix == ".pickle" and not kept.name.startswith(".")

    def not_again(*args: object) -> None:
        raise AssertionError("derived again although the cache holds it")

    monkeypatch.setattr(build, "load_attack", not_again)
    monkeypatch.setattr(build.FieldRegistry, "load", not_again)
    monkeypatch.setattr(build.EventCatalog, "load", not_again)
    build_catalog(inputs, tmp_path / "warm.sqlite")
    assert_same_content(tmp_path / "cold.sqlite", tmp_path / "warm.sqlite")


def test_other_attack_data_gets_its_own_entry(cache, inputs, tmp_path):
    build_catalog(inputs, tmp_path / "a.sqlite")
    changed = tmp_path / "bundle.json"
    shutil.copyfile(inputs.attack, changed)
    with changed.open("a") as handle:
        handle.write("\n")  # same objects, other bytes: another fingerprint
    inputs.attack = changed
    build_catalog(inputs, tmp_path / "b.sqlite")
    assert len(list(cache.iterdir())) == 2


def test_a_damaged_or_foreign_entry_is_derived_again(cache, inputs, tmp_path):
    build_catalog(inputs, tmp_path / "first.sqlite")
    (kept,) = cache.iterdir()
    for damage in (b"\x80\x05garbage", context_cache.pickle.dumps(("not", "a", "context"))):
        kept.write_bytes(damage)
        report = build_catalog(inputs, tmp_path / "again.sqlite")
        assert report.attack_version == "18.1" and report.rules_indexed == 1
        assert_same_content(tmp_path / "first.sqlite", tmp_path / "again.sqlite")


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch, inputs):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RULECAT_CACHE", str(blocker))
    assert build_catalog(inputs, tmp_path / "c.sqlite").rules_indexed == 1


def test_only_the_newest_entries_are_kept(cache, tmp_path):
    for n in range(context_cache.KEEP + 2):
        context_cache.save({"ATT&CK bundle": str(n)}, n)
    assert len(list(cache.iterdir())) == context_cache.KEEP
    assert context_cache.load({"ATT&CK bundle": str(context_cache.KEEP + 1)}) == \
        context_cache.KEEP + 1
