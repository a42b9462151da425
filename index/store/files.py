"""The catalog's record of its source files: a stamp per file and where each file's rules are.

A stamp is (mode, size, mtime_ns, sha256). A rebuild compares the stat part first and hashes
only files whose stat changed, so an unchanged tree costs one stat walk, and a file touched
without a change in content is not read again.

Rule rowids follow reading order (source, file, document) and leave a gap of `FILE_STRIDE`
between files: a file's rules are `first_rule + 0, 1, ...`. A rebuild puts a new file's rules
between its neighbours' and a changed file's where they were, so rowid order stays reading
order, and everything that breaks ties by rowid (search ranks, the first rule to name an
event) answers as a full build would.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..models import Rejection
from ..readers.limits import MAX_FILE_BYTES

# Room between two files' first rowids. A file added between two others goes half way, so
# about 20 one-rule files fit at one place before a full build spaces them again (a file
# added after the last one takes a whole stride); 10,000 files stay below 2**34.
FILE_STRIDE = 2**20


@dataclass(frozen=True)
class FileStamp:
    mode: int
    size: int
    mtime_ns: int
    sha256: str  # '' when not hashed: not a regular file, or over the readers' size limit

    def same_stat(self, other: FileStamp) -> bool:
        return (self.mode, self.size, self.mtime_ns) == (other.mode, other.size, other.mtime_ns)


def stat_of(path: str | Path) -> FileStamp:
    """The stat part of a stamp (a symlink's target's; a broken symlink's own), not hashed."""
    try:
        info = os.stat(path)
    except OSError:
        info = os.lstat(path)
    return FileStamp(info.st_mode, info.st_size, info.st_mtime_ns, "")


def with_hash(path: str | Path, stamp: FileStamp) -> FileStamp:
    """`stamp` with the file's SHA-256, for regular files the readers would read."""
    if not stat.S_ISREG(stamp.mode) or stamp.size > MAX_FILE_BYTES:
        return stamp
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return stamp
    return FileStamp(stamp.mode, stamp.size, stamp.mtime_ns, digest)


def stamp_file(path: str | Path) -> FileStamp:
    return with_hash(path, stat_of(path))


@dataclass
class FileRow:
    """One row of the `files` table."""

    source: str
    path: str
    stamp: FileStamp
    first_rule: int | None = None  # None: not a rule file
    rules: int = 0
    read_ids: list[str] | None = None
    rejections: list[Rejection] | None = None

    def values(self) -> tuple[object, ...]:
        s = self.stamp
        return (self.source, self.path, s.mode, s.size, s.mtime_ns, s.sha256, self.first_rule,
                self.rules, json.dumps(self.read_ids) if self.read_ids is not None else None,
                json.dumps([r.model_dump() for r in self.rejections]) if self.rejections
                else None)


def write_files(conn: sqlite3.Connection, rows: Iterable[FileRow]) -> None:
    conn.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (r.values() for r in rows))


def read_files(conn: sqlite3.Connection, source: str) -> dict[str, FileRow]:
    """A source's stored rows by path."""
    rows = conn.execute("SELECT path, mode, size, mtime_ns, sha256, first_rule, rules, "
                        "read_ids, rejections FROM files WHERE source = ?", (source,))
    return {
        path: FileRow(source, path, FileStamp(mode, size, mtime, sha), first, rules,
                      json.loads(ids) if ids is not None else None,
                      [Rejection(**r) for r in json.loads(rej)] if rej else None)
        for path, mode, size, mtime, sha, first, rules, ids, rej in rows
    }


def stored_rejections(conn: sqlite3.Connection) -> list[Rejection]:
    """Every rule file's rejections, in reading order."""
    rows = sorted(conn.execute("SELECT first_rule, rejections FROM files "
                               "WHERE rejections IS NOT NULL"))
    return [Rejection(**r) for _, text in rows for r in json.loads(text)]
