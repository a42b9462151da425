"""Normalization across vendors: field families (`fields.py`) and log events (`events.py`),
each driven by a YAML table shipped beside it."""

from __future__ import annotations

from importlib import resources
from typing import Any


def load_table(filename: str) -> dict[str, Any]:
    """One of this package's YAML tables (`fields.yaml`, `events.yaml`)."""
    from ..readers.yamlsafe import load_trusted

    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return load_trusted(text) or {}
