"""Limits that keep hostile rule files from hurting a build, and the safe way to read one.

Every reader reads its rule files through `read_rule_text`, and YAML through `yamlsafe`,
which applies the YAML limits below. A file past a limit becomes a `Rejection` with its
path and the reason, costing the build one report entry; the rest builds. Each limit sits
far above what the real corpora need (in brackets: the largest seen in SigmaHQ, Elastic
detection-rules and Splunk security_content):

* `MAX_FILE_BYTES`, 5 MiB per file [295 KB]: checked before reading, so a 50 MB file
  costs a `stat`.
* `MAX_YAML_DOCUMENTS`, 100 documents per YAML file [1]: each is one rule to read.
* `MAX_YAML_NODES`, 50,000 nodes per file as written, and per document with an alias
  counted at each use [4,475]: bounds the work on, say, a list of a million values.
* `MAX_YAML_ALIASES`, 1,000 uses of anchors per document [0]: refuses a "billion laughs"
  alias bomb before it is expanded.
* `MAX_NESTING`, 64 levels of mappings and lists, YAML and TOML [6]: deeper data would
  exhaust recursion downstream.
* `MAX_QUERY_CHARS`, 200,000 characters of an Elastic query or a Splunk search [46,906]:
  the rule is kept unparsed, its raw text searchable. (Splunk's SPL parser also stops at
  100,000 characters after macro expansion.)
* `MAX_CONDITION_CHARS`, 10,000 characters per Sigma condition [542]: the rule is kept
  unparsed; pySigma's condition parser slows steeply with length.

A file is read only when it is a regular file whose real path lies inside the source root:
a symlink pointing out of the source, a FIFO (which would block the build forever), a device
or a socket is refused unread. Its bytes must hold no NUL (a binary file) and be UTF-8 (a
BOM is allowed); otherwise the rejection gives the offset and line of the first bad byte.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import RuleFileError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_YAML_DOCUMENTS = 100
MAX_YAML_NODES = 50_000
MAX_YAML_ALIASES = 1_000
MAX_NESTING = 64
MAX_QUERY_CHARS = 200_000
MAX_CONDITION_CHARS = 10_000


def read_rule_text(root: Path, path: Path, kind: str) -> str:
    """The text of a rule file, or `RuleFileError` (path relative to `root`) saying why not.

    `kind` names the format for messages ("YAML", "TOML").
    """
    rel = relative_path(root, path)
    data = read_rule_bytes(root, path)
    if b"\x00" in data:
        raise RuleFileError(rel, f"binary file (contains NUL bytes), not {kind} text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        reason = f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise RuleFileError(rel, reason, line) from None


def read_rule_bytes(root: Path, path: Path) -> bytes:
    """The bytes of a regular file inside `root`, at most `MAX_FILE_BYTES` of them."""
    rel = relative_path(root, path)
    try:
        real = Path(path).resolve(strict=True)
        inside = real.is_relative_to(Path(root).resolve(strict=True))
    except RuntimeError:  # Python 3.11 reports a symlink loop so
        raise RuleFileError(rel, "cannot read file: symlink loop") from None
    except OSError as exc:  # a broken link
        raise RuleFileError(rel, f"cannot read file: {_why(exc)}") from None
    if not inside:
        raise RuleFileError(rel, "symlink to a file outside the source: not read")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise RuleFileError(rel, f"cannot read file: {_why(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RuleFileError(rel, "not a regular file (a FIFO, device or socket): not read")
        if info.st_size > MAX_FILE_BYTES:
            raise RuleFileError(rel, _too_big(info.st_size))
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:  # grew while we looked
        raise RuleFileError(rel, _too_big(len(data)))
    return data


def nesting_depth_over(data: Any, limit: int = MAX_NESTING) -> bool:
    """True when lists and mappings in `data` nest deeper than `limit` (iterative walk)."""
    stack: list[Iterator[Any]] = [iter([data])]  # stack[d - 1] walks the children at depth d
    while stack:
        for value in stack[-1]:
            if isinstance(value, (dict, list)):
                if len(stack) > limit:
                    return True
                stack.append(iter(value.values() if isinstance(value, dict) else value))
                break
        else:
            stack.pop()
    return False


def relative_path(root: Path, path: Path) -> str:
    """`path` relative to the source root, with forward slashes (as the report shows it)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _too_big(size: int) -> str:
    return (f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit "
            f"({MAX_FILE_BYTES // (1024 * 1024)} MiB): not read")


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
