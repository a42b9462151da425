"""The sync cache: one folder per synced source, replaced whole or not at all.

    <cache>/sources/<name>/tree/                  the unpacked archive: the build's source root
    <cache>/sources/<name>/.rulecat-source.json   its marker (`rulecat.index.sources`)
    <cache>/attack/enterprise-attack.json         the ATT&CK bundle
    <cache>/attack/index.json                     the configured ATT&CK version, when given
    <cache>/attack/.rulecat-source.json           its marker
    <cache>/downloads/                            partial downloads (deleted when done)

The marker sits beside `tree/`, not in it, so a build never counts it as a skipped rule
file. A sync writes a new folder beside the old one (`.<name>.partial-*`) and swaps it in
with two renames, so a failed or interrupted sync leaves the previous copy in place.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..sources import SYNC_MARKER, SyncMarker, read_sync_marker

TREE = "tree"
BUNDLE = "enterprise-attack.json"
VERSION_INDEX = "index.json"


def source_dir(cache: Path, name: str) -> Path:
    return cache / "sources" / name


def attack_dir(cache: Path) -> Path:
    return cache / "attack"


def downloads_dir(cache: Path) -> Path:
    return cache / "downloads"


def synced_source(cache: Path, name: str) -> tuple[Path, SyncMarker] | None:
    """(source root, marker) of a synced source, or None when it was never synced."""
    root = source_dir(cache, name) / TREE
    marker = read_sync_marker(root)
    return (root, marker) if marker is not None and root.is_dir() else None


def synced_attack(cache: Path) -> tuple[Path, SyncMarker] | None:
    """(bundle path, marker) of the synced ATT&CK bundle, or None."""
    bundle = attack_dir(cache) / BUNDLE
    marker = read_sync_marker(bundle)
    return (bundle, marker) if marker is not None and bundle.is_file() else None


def write_marker(folder: Path, marker: SyncMarker) -> None:
    (folder / SYNC_MARKER).write_text(marker.model_dump_json(indent=2) + "\n", encoding="utf-8")


@contextmanager
def staging(final: Path) -> Iterator[Path]:
    """A new empty folder beside `final`; it replaces `final` if the block succeeds.

    On any exception the new folder is removed and `final` is untouched. Between the two
    renames of the swap `final` is briefly absent; the old copy is kept until the new one
    is in place. TODO: a lock, so two syncs of one cache cannot interleave.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    partial = final.with_name(f".{final.name}.partial-{tag}")
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old-{tag}")
    if final.exists():
        os.rename(final, old)
    os.rename(partial, final)
    shutil.rmtree(old, ignore_errors=True)
