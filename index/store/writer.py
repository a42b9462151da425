"""Write a catalog: a new file beside the old one, one transaction, then one rename.

A failed or killed build leaves the previous catalog serving; readers of the old file keep
their open handle until they close it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from ..models import RuleRecord

LEVEL_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}


class CatalogWriter:
    """Collects a build into `<catalog>.building-<pid>` and renames it into place."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.with_name(f"{self.target.name}.building-{os.getpid()}")
        self.tmp.unlink(missing_ok=True)
        self.conn = sqlite3.connect(self.tmp)
        # The file is private until the rename: no journal needed while building.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(resources.files(__package__).joinpath("schema.sql").read_text())
        self.conn.execute("BEGIN")
        self._next_rowid = 1

    def add_rule(self, rule: RuleRecord, families: dict[str, str]) -> int:
        """Insert one rule with its predicates, techniques and events; return its rowid."""
        rowid = self._next_rowid
        self._next_rowid += 1
        self.conn.execute(
            "INSERT INTO rules VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rowid, rule.id, rule.source, rule.vendor, rule.native_id, rule.title,
                rule.description, rule.status, rule.level, LEVEL_RANK.get(rule.level or "", 5),
                int(rule.deprecated), rule.author, rule.license, rule.date, rule.modified,
                rule.language, rule.rule_type, rule.path, rule.url, int(rule.parsed),
                rule.unparsed_reason, json.dumps(_rule_doc(rule)), rule.raw,
            ),
        )
        self.conn.executemany(
            "INSERT INTO predicates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    rowid, seq, p.vendor_field, p.field, families.get(p.field or "", p.field),
                    p.operator, p.value, p.polarity, p.selection, json.dumps(p.transforms),
                    int(p.case_sensitive), p.ind_field, p.ind_operator or p.operator,
                    p.ind_value if p.ind_value is not None else p.value,
                )
                for seq, p in enumerate(rule.predicates)
            ),
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO rule_events VALUES (?,?,?,?)",
            ((rowid, e.provider, e.event_id, e.origin) for e in rule.events),
        )
        return rowid

    def add_rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            self.conn.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)

    def set_meta(self, **values: Any) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            ((k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()),
        )

    def compute_reach(self) -> None:
        """Corpus reach per indicator: distinct non-deprecated rules with a detect test."""
        self.conn.execute(
            """
            INSERT INTO indicators
            SELECT p.ind_field, p.ind_operator, p.ind_value,
                   COUNT(DISTINCT CASE WHEN p.polarity = 'detect' THEN p.rule END),
                   COUNT(DISTINCT CASE WHEN p.polarity = 'exclude' THEN p.rule END)
            FROM predicates p JOIN rules r ON r.rowid = p.rule
            WHERE r.deprecated = 0
            GROUP BY p.ind_field, p.ind_operator, p.ind_value
            """
        )

    def count_totals(self) -> dict[str, int]:
        """Catalog-wide counts `catalog_info` reports, computed once here."""
        queries = {
            "rules": "SELECT COUNT(*) FROM rules",
            "predicates": "SELECT COUNT(*) FROM predicates",
            "indicators": "SELECT COUNT(*) FROM indicators",
            "techniques_covered": "SELECT COUNT(DISTINCT technique) FROM technique_rules",
            "events_used": "SELECT COUNT(*) FROM (SELECT DISTINCT provider, event_id "
                           "FROM rule_events)",
        }
        return {k: int(self.conn.execute(q).fetchone()[0]) for k, q in queries.items()}

    def commit(self) -> None:
        """Finish the file and swap it in with one rename."""
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA journal_mode=DELETE")
        self.conn.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        self.conn.close()
        self.tmp.unlink(missing_ok=True)


def _rule_doc(rule: RuleRecord) -> dict[str, Any]:
    """The rule's list-like metadata, kept as one JSON document."""
    return {
        "references": rule.references,
        "falsepositives": rule.falsepositives,
        "tags": rule.tags,
        "tactics": rule.tactics,
        "logsource": rule.logsource.model_dump(exclude_none=True) if rule.logsource else None,
        "related_rules": rule.related_rules,
        "malformed_tags": rule.malformed_tags,
        "grouping_fields": rule.grouping_fields,
        "indices": rule.indices,
        "data_sources": rule.data_sources,
        "extra": rule.extra,
    }
