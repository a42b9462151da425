"""The build's loaded ATT&CK data and mapping tables, kept between processes.

Loading ATT&CK's bundle and deriving the field registry from pySigma's pipelines take about
0.25 s, the same for the same inputs: a third of an incremental build of one changed file.
Both are pickled in `<cache>/context/<key>.pickle` (`$RULECAT_CACHE`, else the user cache
directory), the key a hash of everything they are made from: the ATT&CK bundle, index and
version map, the mapping tables, rulecat's code and its libraries' versions (the parts of
`inputs_fingerprint` an incremental build also checks). As with lark's grammar cache
(`parsers.lalr_parser`) the files are the user's own, written by rulecat (a catalog, which
may come from elsewhere, holds no pickle): a file that cannot be read is derived again, one
that cannot be written costs only the time. The newest `KEEP` files are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The fingerprint parts the cached objects depend on (not the sources, not the text engine).
KEEP = 4
PARTS = ("schema", "ATT&CK bundle", "ATT&CK index", "ATT&CK version map", "mapping tables",
         "rulecat code", "libraries")


def cache_path(fingerprint: dict[str, str]) -> Path:
    from .sync.config import cache_dir

    key = json.dumps({part: fingerprint.get(part, "") for part in PARTS}, sort_keys=True)
    return cache_dir() / "context" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def load(fingerprint: dict[str, str]) -> Any | None:
    """What `save` kept for these inputs, or None."""
    path = cache_path(fingerprint)
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:  # damaged, or written by other code: derive it again
        logger.debug("unreadable build context cache %s", path, exc_info=True)
        return None


def save(fingerprint: dict[str, str], value: Any) -> None:
    """Keep `value` for these inputs: written under a unique name, then renamed into place,
    so a process starting meanwhile never reads half a file."""
    path = cache_path(fingerprint)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, path)
        _prune(path.parent)
    except (OSError, pickle.PicklingError):
        logger.debug("cannot write build context cache %s", path, exc_info=True)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    """Keep the `KEEP` newest files (a few rulecat versions or ATT&CK bundles side by side)."""
    files = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
