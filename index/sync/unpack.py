"""Unpack a source archive (tar.gz, tgz, tar, zip, ...) safely into a new folder.

- **Paths.** Tar members go through the standard library's `data` extraction filter
  (`tarfile.data_filter`): a member that would land outside the target (`../x`) refuses
  the whole archive; a leading `/` is stripped, so `/x` lands inside; device files and
  FIFOs are dropped. Zip has no such filter: a member with an absolute path or a `..`
  part refuses the archive, and zip symlinks are dropped (they would unpack as files).
- **Links.** A symlink pointing outside the target is dropped and listed; so is one that
  only leaves it once the archive's top folder is stripped (checked after unpacking).
- **Limits** (`Limits`): entries, bytes per file and bytes in all; a file's bytes are
  counted as they are written, so a zip that lies about its sizes gains nothing.
- **Top folder.** GitHub's archives hold one folder (`sigma-<commit>/`); when an archive
  holds exactly one folder and nothing else, its content becomes the target.
- **Provenance.** GitHub writes the commit into the tar's pax global header (`comment`)
  and into the zip comment; it is returned when it looks like a commit id. The newest file
  time in the archive is returned as its date (for GitHub, the commit time).

A failure removes everything this call wrote and raises `UnpackError`.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO

from .errors import UnpackError

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_COPY_BYTES = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Caps on what one archive may unpack to; far above any rule repository's archive."""

    entries: int = 200_000  # files, folders and links
    file_bytes: int = 100 << 20  # GitHub refuses files over 100 MiB too
    total_bytes: int = 4 << 30


@dataclass
class Unpacked:
    """What an archive held, once unpacked."""

    files: int = 0
    bytes: int = 0
    commit: str | None = None
    archive_date: str | None = None
    dropped: list[str] = field(default_factory=list)  # links and special files left out
    newest: float = 0.0  # newest file time seen (seconds since the epoch)


def unpack_archive(archive: Path, target: Path, limits: Limits = Limits()) -> Unpacked:
    """Unpack `archive` into `target` (which must not exist yet); see the module docstring."""
    raw = target.with_name(f".{target.name}.raw")
    try:
        raw.mkdir(parents=True)
        unpack = _unpack_zip if _is_zip(archive) else _unpack_tar
        result = unpack(archive, raw, limits)
        os.rename(_top_folder(raw), target)
        _drop_escaping_links(target, result)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(raw, ignore_errors=True)
    if result.newest:
        result.archive_date = datetime.fromtimestamp(result.newest, timezone.utc).isoformat(
            timespec="seconds")
    return result


def _is_zip(archive: Path) -> bool:
    """By the first bytes (`zipfile.is_zipfile` also says yes to a tar ending in a zip)."""
    with archive.open("rb") as f:
        return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _top_folder(raw: Path) -> Path:
    """The archive's single top folder, or `raw` itself when it holds anything else."""
    entries = list(raw.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return raw


# --------------------------------------------------------------------------- tar


def _unpack_tar(archive: Path, raw: Path, limits: Limits) -> Unpacked:
    result = Unpacked()
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(raw, filter=_TarGuard(limits, result))
            result.commit = _commit(tar.pax_headers.get("comment"))
    except UnpackError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise UnpackError(f"{archive.name}: not a readable tar or zip archive, or truncated "
                          f"({type(exc).__name__}: {exc})") from None
    return result


class _TarGuard:
    """An extraction filter: the stdlib's `data` filter, plus limits and dropped links."""

    def __init__(self, limits: Limits, result: Unpacked) -> None:
        self.limits = limits
        self.result = result
        self.entries = 0

    def __call__(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            safe = tarfile.data_filter(member, dest)
        except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError,
                tarfile.SpecialFileError):
            self.result.dropped.append(member.name)
            return None
        except tarfile.FilterError as exc:
            raise UnpackError(f"refused: member {member.name[:200]!r} would land outside "
                              f"the target ({exc})") from None
        self.entries += 1
        _check_entries(self.entries, self.limits)
        if safe.isreg():
            _count_file(self.result, member.name, safe.size, self.limits)
            self.result.newest = max(self.result.newest, float(safe.mtime))
        return safe


# --------------------------------------------------------------------------- zip


def _unpack_zip(archive: Path, raw: Path, limits: Limits) -> Unpacked:
    result = Unpacked()
    try:
        with zipfile.ZipFile(archive) as zf:
            result.commit = _commit(zf.comment.decode("ascii", errors="replace"))
            for n, info in enumerate(zf.infolist(), 1):
                _check_entries(n, limits)
                _unpack_zip_member(zf, info, raw, limits, result)
    except UnpackError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise UnpackError(f"{archive.name}: damaged or truncated zip archive "
                          f"({type(exc).__name__}: {exc})") from None
    return result


def _unpack_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, raw: Path, limits: Limits, result: Unpacked
) -> None:
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix mode recorded, a plain file
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):  # symlinks, devices, FIFOs
        result.dropped.append(info.filename)
        return
    rel = PurePosixPath(info.filename)
    if rel.is_absolute() or ".." in rel.parts:
        raise UnpackError(f"refused: member {info.filename[:200]!r} would land outside the "
                          "target")
    if not rel.parts:
        return
    dest = raw.joinpath(*rel.parts)
    if info.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    _count_file(result, info.filename, info.file_size, limits)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, dest.open("xb") as out:
        _copy_bounded(src, out, info, limits)
    result.newest = max(result.newest, datetime(*info.date_time).timestamp())


def _copy_bounded(src: IO[bytes], out: IO[bytes], info: zipfile.ZipInfo, limits: Limits) -> None:
    """Copy one member, counting the bytes really written, not the ones its header claims."""
    written = 0
    while chunk := src.read(_COPY_BYTES):
        written += len(chunk)
        if written > min(info.file_size, limits.file_bytes):
            raise UnpackError(f"refused: member {info.filename[:200]!r} unpacks to more than "
                              "its header says or the per-file limit")
        out.write(chunk)


# --------------------------------------------------------------------------- shared


def _check_entries(entries: int, limits: Limits) -> None:
    if entries > limits.entries:
        raise UnpackError(f"refused: more than {limits.entries:,} entries in the archive")


def _count_file(result: Unpacked, name: str, size: int, limits: Limits) -> None:
    if size > limits.file_bytes:
        raise UnpackError(f"refused: member {name[:200]!r} is {size:,} bytes, over the "
                          f"{limits.file_bytes:,}-byte limit per file")
    result.files += 1
    result.bytes += size
    if result.bytes > limits.total_bytes:
        raise UnpackError(f"refused: the archive unpacks to more than {limits.total_bytes:,} "
                          "bytes")


def _commit(text: str | None) -> str | None:
    text = (text or "").strip().lower()
    return text if _COMMIT.fullmatch(text) else None


def _drop_escaping_links(target: Path, result: Unpacked) -> None:
    """Remove symlinks that resolve outside `target` (e.g. once the top folder is gone)."""
    top = target.resolve()
    for folder, dirs, files in os.walk(target):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(top):
                path.unlink()
                result.dropped.append(path.relative_to(target).as_posix())
