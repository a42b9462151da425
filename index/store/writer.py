"""Write a catalog: a new file beside the old one, one transaction, then one rename.

A full build starts the new file empty; an incremental one starts from a copy of the
catalog it updates. Either way a failed or killed build leaves the previous catalog serving;
readers of the old file keep their open handle until they close it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from ..measures import measured_sql
from ..models import RuleRecord

LEVEL_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}
# Tables with rows per rule (column `rule`), besides `rules` and the text index `rule_text`.
RULE_TABLES = ("predicates", "rule_techniques", "technique_rules", "rule_events",
               "rule_unmapped", "rule_malformed_tags")
# Two rows' indicator keys are equal (SQL, for `.format(a=..., b=...)`; the field may be NULL).
SAME_INDICATOR = ("{a}.ind_field IS {b}.ind_field AND {a}.ind_operator = {b}.ind_operator "
                  "AND {a}.ind_value = {b}.ind_value")


class CatalogWriter:
    """Collects a build into `<catalog>.building-<pid>` and renames it into place."""

    def __init__(self, target: Path, start_from: Path | None = None) -> None:
        """An empty catalog, or with `start_from` a copy of that catalog to update."""
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.with_name(f"{self.target.name}.building-{os.getpid()}")
        self.tmp.unlink(missing_ok=True)
        self.updating = start_from is not None
        if start_from is not None:
            shutil.copyfile(start_from, self.tmp)
        self.conn = sqlite3.connect(self.tmp)
        # The file is private until the rename: no journal needed while building.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        if start_from is None:
            self.conn.executescript(
                resources.files(__package__).joinpath("schema.sql").read_text())
        self.conn.execute("BEGIN")

    def add_rule(self, rule: RuleRecord, families: dict[str, str], rowid: int) -> None:
        """Insert one rule at `rowid` with its predicates and events."""
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
            "INSERT INTO rule_events VALUES (?,?,?,?,?,?)",
            ((rowid, *key, *found) for key, found in _rule_events(rule).items()),
        )

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

    def compute_reach(self, only_touched: bool = False) -> None:
        """Corpus reach per indicator: distinct non-deprecated rules with a detect test (not
        counting tests of a derived measure, `measures.py`).

        With `only_touched`, for the keys in `temp.touched` alone, their old rows replaced
        (an incremental build's indicators); the join then starts from those keys.
        """
        source = "predicates p JOIN rules r ON r.rowid = p.rule"
        if only_touched:
            self.conn.execute(f"""
                DELETE FROM indicators WHERE rowid IN (SELECT i.rowid FROM temp.touched t
                JOIN indicators i ON {SAME_INDICATOR.format(a="i", b="t")})""")
            source = (f"temp.touched t CROSS JOIN predicates p ON "
                      f"{SAME_INDICATOR.format(a='p', b='t')} "
                      "CROSS JOIN rules r ON r.rowid = p.rule")
        counted = f"NOT {measured_sql('p.transforms')}"  # a measure's test is no indicator
        self.conn.execute(
            f"""
            INSERT INTO indicators
            SELECT p.ind_field, p.ind_operator, p.ind_value,
                   COUNT(DISTINCT CASE WHEN p.polarity = 'detect' AND {counted} THEN p.rule END),
                   COUNT(DISTINCT CASE WHEN p.polarity = 'exclude' AND {counted} THEN p.rule END)
            FROM {source}
            WHERE r.deprecated = 0
            GROUP BY p.ind_field, p.ind_operator, p.ind_value
            """
        )

    def delete_rules(self) -> None:
        """Delete the rules whose rowids are in `temp.gone` from every table holding them."""
        for table in RULE_TABLES:
            self.conn.execute(f"DELETE FROM {table} WHERE rule IN (SELECT rule FROM temp.gone)")
        self.conn.execute("DELETE FROM rules WHERE rowid IN (SELECT rule FROM temp.gone)")
        self.conn.execute("DELETE FROM rule_text WHERE rowid IN (SELECT rule FROM temp.gone)")

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
        """Finish the file and swap it in with one rename.

        A new catalog is analyzed for the query planner; an updated copy keeps the stats it
        was copied with (a few changed files barely move them; `optimize` re-analyzes what
        SQLite judges stale), which saves a tenth of a second.
        """
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA optimize" if self.updating else "ANALYZE")
        self.conn.execute("PRAGMA journal_mode=DELETE")
        self.conn.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        self.conn.close()
        self.tmp.unlink(missing_ok=True)


def _rule_events(rule: RuleRecord) -> dict[tuple[str, int], list[Any]]:
    """(provider, event id) -> [origin of its first mention, first title given or None,
    the requirements (`clauses`) of all its mentions]."""
    found: dict[tuple[str, int], list[Any]] = {}
    for e in rule.events:
        entry = found.setdefault((e.provider, e.event_id), [e.origin, None, 0])
        if entry[1] is None and e.title:
            entry[1] = e.title
        entry[2] |= e.clauses
    return found


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
