"""The catalog file: schema, the writer a build uses, and read-only connections."""

from pathlib import Path
import os
import sqlite3

SCHEMA_VERSION = "3"


def open_catalog(path: Path) -> sqlite3.Connection:
    """Open a built catalog read-only (it never changes once built)."""
    uri = f"file:{Path(path).resolve().as_posix()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    # Per-request scratch tables (picked rules, matching predicates) live in memory.
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def default_catalog_path() -> Path:
    """`RULECAT_CATALOG`, else `catalog.sqlite` in the user data directory."""
    env = os.environ.get("RULECAT_CATALOG")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("rulecat") / "catalog.sqlite"
