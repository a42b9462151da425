"""Choosing, writing and opening a text engine.

Decisions:
- Every build fills the FTS5 table in the catalog (about a second), whatever the engine, so
  a catalog can always be searched. `--text-engine whoosh` also writes the Whoosh folder.
  The meta keys `text_engine` and `text_index` record what the catalog was built with.
- A search uses, in order: the engine asked for (`engine=`, CLI `--text-engine`), else
  `$RULECAT_TEXT_ENGINE`, else the catalog's `text_engine`, else fts5. An engine asked for
  that cannot open is an error; the catalog's own choice falls back to fts5 with a note
  (e.g. a server without the Whoosh extra still answers).
- A build removes this catalog's older Whoosh folders but keeps the one of the catalog it
  replaces, so servers still reading the previous catalog keep searching.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from ..errors import InvalidArgument
from .base import ENGINES, TextIndex, TextIndexUnavailable
from .document import load_documents
from .fts5 import TABLE, Fts5Index, write_fts5

logger = logging.getLogger(__name__)

ENV_ENGINE = "RULECAT_TEXT_ENGINE"
FOLDER_INFIX = ".whoosh-"
_INSTALL = "pip install 'rulecat[whoosh]'"


def whoosh_folder(catalog: Path, build_id: str) -> Path:
    """Where the Whoosh index of the catalog built as `build_id` lives: beside the catalog."""
    return catalog.with_name(f"{catalog.name}{FOLDER_INFIX}{build_id}")


def check_engine(engine: str) -> None:
    """Fail before a long build when `engine` is unknown or not installed."""
    if engine not in ENGINES:
        raise InvalidArgument(f"Unknown text engine {engine!r}. Valid: {', '.join(ENGINES)}.")
    if engine == "whoosh":
        _import_whoosh()


def write_text_index(
    conn: sqlite3.Connection, catalog: Path, build_id: str, engine: str = "fts5"
) -> dict[str, str]:
    """Index every rule of the catalog being built on `conn`; return the meta to record."""
    check_engine(engine)
    documents = list(load_documents(conn))
    write_fts5(conn, documents)
    if engine != "whoosh":
        return {"text_engine": "fts5", "text_index": TABLE}
    folder = whoosh_folder(catalog, build_id)
    _prune_whoosh(catalog, keep={build_id, *_serving_build_id(catalog)})
    _import_whoosh().write_whoosh(folder, documents)
    return {"text_engine": "whoosh", "text_index": folder.name}


def open_text_index(
    db: sqlite3.Connection, catalog: Path, meta: Mapping[str, str], engine: str | None = None
) -> TextIndex:
    """The text index to search with (see the module docstring for the order)."""
    asked = engine or os.environ.get(ENV_ENGINE) or None
    chosen = asked or meta.get("text_engine") or "fts5"
    if chosen not in ENGINES:
        where = "engine" if engine else f"${ENV_ENGINE}"
        raise InvalidArgument(f"Unknown text engine {chosen!r} ({where}). "
                              f"Valid: {', '.join(ENGINES)}.")
    if "text_engine" not in meta:
        raise TextIndexUnavailable(
            f"The catalog at {catalog} was built before full-text search existed. Rebuild "
            "it: `rulecat build --corpora ../shared/corpora`.")
    if chosen == "fts5":
        return Fts5Index(db)
    try:
        index: TextIndex = _import_whoosh().WhooshIndex(
            whoosh_folder(catalog, meta["build_id"]), db)
        return index
    except TextIndexUnavailable as exc:
        if asked:
            raise
        fallback = Fts5Index(db)
        fallback.notes.append(f"Answered with fts5: the catalog was built for Whoosh, but {exc}")
        return fallback


def _import_whoosh() -> ModuleType:
    """The Whoosh engine module, imported only when asked for (an optional extra)."""
    try:
        from . import whoosh_engine
    except ImportError as exc:
        raise TextIndexUnavailable(
            f"Whoosh is not installed here ({exc}). Install it with {_INSTALL}, or use the "
            "fts5 engine (the default, inside the catalog file).") from None
    return whoosh_engine


def _serving_build_id(catalog: Path) -> list[str]:
    """The build id of the catalog now at `catalog` (the one this build replaces), if any."""
    if not catalog.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{catalog.resolve().as_posix()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        logger.warning("could not read the build id of %s; keeping no old Whoosh index", catalog)
        return []
    return [str(row[0])] if row else []


def _prune_whoosh(catalog: Path, keep: set[str]) -> None:
    """Remove this catalog's Whoosh folders except those of the build ids in `keep`."""
    prefix = f"{catalog.name}{FOLDER_INFIX}"
    for folder in catalog.parent.iterdir():
        if folder.name.startswith(prefix) and folder.is_dir() \
                and folder.name[len(prefix):] not in keep:
            shutil.rmtree(folder, ignore_errors=True)
