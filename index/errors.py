"""Exceptions raised by rulecat.index.

Every error rulecat raises on purpose derives from one root, so callers (the CLI, the MCP
server) can catch rulecat's own failures apart from programming errors::

    RulecatError
    ├── RuleFileError        one rule file (or a document in it) could not be read
    ├── CatalogMissing       no catalog file where one was expected; build one first
    └── InvalidArgument      a tool or command argument is wrong; the message says what to try

Readers never let `RuleFileError` escape for bad content: they turn it into a `Rejection`
record for the build report. Other stages add their own subclasses of `RulecatError`.
"""

from __future__ import annotations


class RulecatError(Exception):
    """Root of every exception rulecat raises on purpose."""


class RuleFileError(RulecatError):
    """A rule file, or one document in it, that cannot be read.

    `path` is the file's path as the caller knows it (readers use the path relative to the
    source root, with forward slashes), `line` the 1-based line of the problem when known.
    """

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class CatalogMissing(RulecatError):
    """No catalog at the expected path; the message says how to build one."""


class InvalidArgument(RulecatError):
    """A bad tool or command argument; the message names what was wrong and what to try."""
