"""Exceptions of `rulecat sync` and the sources config.

    RulecatError
    ├── InvalidArgument
    │   └── ConfigError          the sources TOML (or a location in it) is wrong
    └── SyncError                one source could not be fetched or unpacked
        ├── DownloadError        HTTP failure, dropped connection, size over a limit
        │   └── ChecksumMismatch size or SHA-256 differs from the configured one
        └── UnpackError          damaged archive, a path escaping the target, a limit hit

Every message names the source or file and says what to try; a `SyncError` never leaves a
half-written cache folder behind (see `cache.py`).
"""

from __future__ import annotations

from ..errors import InvalidArgument, RulecatError


class ConfigError(InvalidArgument):
    """The sources config cannot be used; the message names the file, entry and fix."""


class SyncError(RulecatError):
    """A source could not be synced; the previous copy of it stays in the cache."""


class DownloadError(SyncError):
    """A download failed: HTTP status, network error, dropped connection, or too big."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the ones the config pins (size or SHA-256)."""


class UnpackError(SyncError):
    """An archive is damaged, or a member would escape the target or break a limit."""
