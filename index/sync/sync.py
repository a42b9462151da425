"""`rulecat sync`: fetch every enabled remote source into the cache.

For each enabled source whose location is a URL or a local archive: download (or verify)
it, unpack it into a new cache folder with its marker, and swap that folder in. Local
folders are used in place and skipped here. The ATT&CK bundle is fetched the same way and
checked to be a STIX bundle. One source's failure is recorded and the others go on; the
caller (the CLI) then builds nothing, so the previous catalog keeps serving.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from ..errors import InvalidArgument
from ..sources import SyncMarker, github_origin
from .cache import (
    BUNDLE, TREE, VERSION_INDEX, attack_dir, downloads_dir, source_dir, staging, write_marker,
)
from .config import ATTACK, AttackEntry, Location, SourceEntry, SourcesConfig
from .errors import SyncError
from .fetch import download, verify_file
from .unpack import Limits, unpack_archive

# Called with (source name, bytes received, bytes announced or None) while downloading.
SyncProgress = Callable[[str, int, int | None], None]

Status = Literal["synced", "local", "failed"]


@dataclass
class SourceSync:
    """What happened to one source in a sync."""

    name: str
    status: Status
    detail: str
    marker: SyncMarker | None = None
    seconds: float = 0.0
    unpack_seconds: float = 0.0
    dropped: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    results: list[SourceSync] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceSync]:
        return [r for r in self.results if r.status == "failed"]


def sync_sources(
    config: SourcesConfig,
    cache: Path,
    only: list[str] | None = None,
    progress: SyncProgress | None = None,
    limits: Limits = Limits(),
) -> SyncReport:
    """Sync the enabled sources (all, or those named in `only`) and the ATT&CK bundle."""
    wanted = _check_only(config, only)
    report = SyncReport()
    for entry in config.enabled():
        if entry.name in wanted:
            report.results.append(_sync_one(config, entry, cache, progress, limits))
    if config.attack is not None and ATTACK in wanted:
        report.results.append(_sync_one(config, config.attack, cache, progress, limits))
    return report


def _check_only(config: SourcesConfig, only: list[str] | None) -> set[str]:
    names = [s.name for s in config.enabled()] + ([ATTACK] if config.attack else [])
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise InvalidArgument(f"--only {', '.join(unknown)}: not an enabled source. "
                              f"Enabled: {', '.join(names) or 'none'} (see `rulecat sources`).")
    return set(only or names)


def _sync_one(
    config: SourcesConfig, entry: SourceEntry | AttackEntry, cache: Path,
    progress: SyncProgress | None, limits: Limits,
) -> SourceSync:
    """Sync one entry; a SyncError (or a cache OSError) becomes a `failed` result."""
    name = entry.name if isinstance(entry, SourceEntry) else ATTACK
    location = config.location(entry)
    if not location.needs_sync:
        state = "" if location.path and location.path.exists() else " (missing)"
        return SourceSync(name, "local", f"local {location.kind} {location.text}{state}")
    started = time.perf_counter()
    report = SourceSync(name, "synced", location.text)
    try:
        if isinstance(entry, SourceEntry):
            report.marker = _sync_archive(entry, location, cache, progress, limits, report)
        else:
            report.marker = _sync_bundle(entry, location, cache, progress)
    except SyncError as exc:
        report.status, report.detail = "failed", str(exc)
    except OSError as exc:  # the cache folder itself: disk full, permissions
        report.status, report.detail = "failed", f"cache {cache}: {exc}"
    report.seconds = time.perf_counter() - started
    return report


def _fetch(
    name: str, entry: SourceEntry | AttackEntry, location: Location, cache: Path,
    progress: SyncProgress | None,
) -> tuple[Path, int, str, bool]:
    """(file, bytes, sha256, is a temporary download) for a URL or a local archive."""
    if location.kind == "url":
        report = (lambda done, total: progress(name, done, total)) if progress else None
        got = download(location.text, downloads_dir(cache), sha256=entry.sha256,
                       size=entry.size, progress=report)
        return got.path, got.bytes, got.sha256, True
    assert location.path is not None
    if not location.path.is_file():
        raise SyncError(f"archive not found: {location.path}")
    size, digest = verify_file(location.path, entry.sha256, entry.size)
    return location.path, size, digest, False


def _sync_archive(
    entry: SourceEntry, location: Location, cache: Path, progress: SyncProgress | None,
    limits: Limits, report: SourceSync,
) -> SyncMarker:
    """Fetch and unpack one rule source into `<cache>/sources/<name>/tree`."""
    archive, size, digest, temporary = _fetch(entry.name, entry, location, cache, progress)
    try:
        started = time.perf_counter()
        with staging(source_dir(cache, entry.name)) as work:
            unpacked = unpack_archive(archive, work / TREE, limits)
            origin = github_origin(location.text)
            marker = SyncMarker(
                name=entry.name, vendor=entry.vendor, location=location.text, root=TREE,
                sha256=digest, bytes=size, fetched_at=_now(), commit=unpacked.commit,
                branch=origin[1] if origin else None, archive_date=unpacked.archive_date,
                files=unpacked.files)
            write_marker(work, marker)
        report.unpack_seconds = time.perf_counter() - started
        report.dropped = unpacked.dropped
    finally:
        if temporary:
            archive.unlink(missing_ok=True)
    return marker


def _sync_bundle(
    entry: AttackEntry, location: Location, cache: Path, progress: SyncProgress | None
) -> SyncMarker:
    """Fetch the ATT&CK bundle into `<cache>/attack/`, with the configured version beside it."""
    bundle, size, digest, temporary = _fetch(ATTACK, entry, location, cache, progress)
    try:
        _check_bundle(bundle, location.text)
        with staging(attack_dir(cache)) as work:
            os.replace(bundle, work / BUNDLE)
            if entry.version:
                _write_version_index(work / VERSION_INDEX, entry.version)
            marker = SyncMarker(
                name=ATTACK, vendor=ATTACK, location=location.text, root=BUNDLE, sha256=digest,
                bytes=size, fetched_at=_now(), version=entry.version)
            write_marker(work, marker)
    finally:
        if temporary:
            bundle.unlink(missing_ok=True)
    return marker


def _check_bundle(path: Path, where: str) -> None:
    """A STIX bundle is a JSON object of type `bundle` with `objects`; an error page is not."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise SyncError(f"{where}: not a JSON STIX bundle ({exc})") from None
    if not (isinstance(data, dict) and data.get("type") == "bundle"
            and isinstance(data.get("objects"), list)):
        raise SyncError(f"{where}: JSON, but not a STIX bundle (no type 'bundle' with objects)")


def _write_version_index(path: Path, version: str) -> None:
    """The configured version in attack-stix-data's `index.json` shape, which the ATT&CK
    loader reads when the bundle itself names no version (its collection object wins)."""
    index = {"description": "written by rulecat sync from the sources config's [attack] "
                            "version",
             "collections": [{"name": "Enterprise ATT&CK", "versions": [{"version": version}]}]}
    path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
