"""One reader per vendor: files in, `RuleRecord`s and `Rejection`s out, one file at a time.

A reader module exposes `rule_files(root) -> list[Path]` (the files it reads under a source
root, e.g. Sigma's `rules*/` folders) and `read_file(source, root, path) -> (rules,
rejections)`, which never raises for bad content.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Protocol

from ..models import Rejection, RuleRecord

# vendor -> module of this package; a vendor missing here has no reader yet.
_READER_MODULES = {"sigma": "sigma", "elastic": "elastic", "splunk": "splunk"}


class Reader(Protocol):
    def rule_files(self, root: Path) -> list[Path]: ...

    def read_file(
        self, source: str, root: Path, path: Path
    ) -> tuple[list[RuleRecord], list[Rejection]]: ...


def reader_for(vendor: str) -> ModuleType | None:
    """The reader module for a vendor, or None when rulecat cannot read it yet."""
    name = _READER_MODULES.get(vendor)
    return import_module(f".{name}", __package__) if name else None
