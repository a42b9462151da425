"""The read API over a built catalog: what every MCP tool and CLI command calls.

`Catalog` opens the file read-only and answers with the models of `answers.py`. A bad
argument raises `InvalidArgument` with a message that says what was wrong and what to try.
Open one `Catalog` per thread (the MCP SDK runs plain tools on worker threads).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from .aggregates import PRECOMPUTED_LIMIT, Aggregates, PredicateTuple, aggregate
from .attack.matching import excerpt
from .answers import (
    CatalogInfo, EventRow, FieldMatch, FieldRow, Filters, IndicatorRow, PredicateRow,
    ReportSummary, RuleDetail, RuleEvent, RuleRow, RulesByField, SourceInfo, TechniqueCoverage,
    TechniqueInfo, TechniqueRef, TopIndicators, VendorCount,
)
from .errors import CatalogMissing, InvalidArgument
from .models import OPERATORS, VENDORS
from .store import open_catalog

TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
VIA_ORDER = ("exact", "subtechnique", "revoked", "renamed")
MAX_LIMIT = 200
MAX_PREDICATES_SHOWN = 5  # per rule in find_rules_by_field; get_rule shows them all
RULE_COLUMNS = "r.rowid, r.id, r.source, r.vendor, r.title, r.level, r.status, r.deprecated, r.url"


class Catalog:
    """A built catalog, opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CatalogMissing(
                f"No catalog at {self.path}. Build one first: "
                "`rulecat build --corpora ../shared/corpora` (or pass --catalog PATH)."
            )
        self.db = open_catalog(self.path)
        self.meta = {r["key"]: r["value"] for r in self.db.execute("SELECT key, value FROM meta")}
        self.attack_version = self.meta.get("attack_version", "unknown")
        self.source_names = [r[0] for r in self.db.execute("SELECT name FROM sources")]

    def close(self) -> None:
        self.db.close()

    # -- technique coverage ------------------------------------------------------------

    def get_technique_coverage(
        self,
        technique_id: str,
        include_subtechniques: bool = True,
        filters: Filters | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> TechniqueCoverage:
        filters = self._check_filters(filters)
        limit, offset = _check_page(limit, offset)
        info = self._technique_info(technique_id)
        rows = self._technique_rules(info.id, include_subtechniques, filters)

        counts: dict[str, VendorCount] = {}
        for vendor, group in _group(rows, "vendor").items():
            via = Counter(r["via"] for r in group)
            counts[vendor] = VendorCount(rules=len(group), via=_ordered(via, VIA_ORDER))
        page = rows[offset : offset + limit]
        grouped: dict[str, list[RuleRow]] = defaultdict(list)
        for r in page:
            grouped[r["vendor"]].append(_rule_row(r))
        nxt = None
        if offset + limit < len(rows):
            nxt = {"technique_id": info.id, "include_subtechniques": include_subtechniques,
                   **_filter_args(filters), "limit": limit, "offset": offset + limit}
        return TechniqueCoverage(
            technique=info, filters=filters, include_subtechniques=include_subtechniques,
            counts=counts, events=self._events_of([r["rowid"] for r in rows]),
            rules=dict(grouped), total=len(rows), returned=len(page), next=nxt,
            notes=self._notes(filters, len(rows), offset),
        )

    def _notes(self, filters: Filters, total: int, offset: int) -> list[str]:
        """Say why an answer may be empty: unindexed vendors, a page past the end."""
        indexed = {r[0] for r in self.db.execute("SELECT DISTINCT vendor FROM sources "
                                                 "WHERE rules > 0")}
        asked = filters.vendors or list(VENDORS)
        missing = [v for v in asked if v not in indexed]
        notes = [f"This catalog has no {v} rules indexed." for v in missing
                 if filters.vendors or total == 0]
        if total and offset >= total:
            notes.append(f"offset {offset} is past the end ({total}); use offset 0.")
        return notes

    def _technique_rules(
        self, technique: str, include_subtechniques: bool, filters: Filters
    ) -> list[sqlite3.Row]:
        where, args = _filter_sql(filters)
        if not include_subtechniques:
            where += " AND tr.rollup = 0"
        sql = f"""
            SELECT {RULE_COLUMNS}, tr.via, tr.rollup FROM technique_rules tr
            JOIN rules r ON r.rowid = tr.rule
            WHERE tr.technique = ? {where}
        """
        # A rule may reach a technique directly and, more strongly, through a roll-up.
        best: dict[int, sqlite3.Row] = {}
        for row in self.db.execute(sql, [technique, *args]):
            cur = best.get(row["rowid"])
            if cur is None or _via_key(row) < _via_key(cur):
                best[row["rowid"]] = row
        return sorted(best.values(), key=_rule_sort_key)

    def _pick(self, rule_rowids: list[int]) -> None:
        """Put these rules in `temp.picked`, for joins (a connection's own temp table)."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS picked (rule INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.picked")
        self.db.executemany("INSERT OR IGNORE INTO temp.picked VALUES (?)",
                            ((r,) for r in rule_rowids))

    def _events_of(self, rule_rowids: list[int]) -> list[EventRow]:
        if not rule_rowids:
            return []
        self._pick(rule_rowids)
        sql = """
            SELECT e.provider, e.event_id, COALESCE(ev.title, '') AS title,
                   COUNT(DISTINCT e.rule) AS n
            FROM rule_events e JOIN temp.picked p ON p.rule = e.rule
            LEFT JOIN events ev ON ev.provider = e.provider AND ev.event_id = e.event_id
            GROUP BY e.provider, e.event_id ORDER BY n DESC, e.provider, e.event_id
        """
        return [EventRow(provider=r[0], event_id=r[1], title=r[2], rules=r[3])
                for r in self.db.execute(sql)]

    # -- top indicators ----------------------------------------------------------------

    def top_indicators(
        self,
        technique_id: str,
        limit: int = 15,
        include_subtechniques: bool = True,
        filters: Filters | None = None,
    ) -> TopIndicators:
        filters = self._check_filters(filters)
        limit, _ = _check_page(limit, 0)
        info = self._technique_info(technique_id)
        rules = self._technique_rules(info.id, include_subtechniques, filters)
        stored = None
        if include_subtechniques and filters == Filters() and limit <= PRECOMPUTED_LIMIT:
            stored = self._stored_aggregates(info.id, limit)
        aggs = stored or aggregate(self._predicate_tuples(rules), self._reach, limit)
        return TopIndicators(
            technique=info, filters=filters, include_subtechniques=include_subtechniques,
            rules_considered=len(rules), fields=aggs.fields, indicators=aggs.indicators,
            exclusions=aggs.exclusions, limit=limit,
        )

    def _stored_aggregates(self, technique: str, limit: int) -> Aggregates | None:
        """The build's precomputed answer for the default request, cut to `limit`."""
        row = self.db.execute(
            "SELECT fields, indicators, exclusions FROM technique_aggregates "
            "WHERE technique = ?", (technique,)).fetchone()
        if row is None:
            return None
        fields, indicators, exclusions = (json.loads(x)[:limit] for x in row)
        return Aggregates(fields=[FieldRow(**f) for f in fields],
                          indicators=[IndicatorRow(**i) for i in indicators],
                          exclusions=[IndicatorRow(**i) for i in exclusions])

    def _predicate_tuples(self, rules: list[sqlite3.Row]) -> list[PredicateTuple]:
        if not rules:
            return []
        vendor = {r["rowid"]: r["vendor"] for r in rules}
        marks = ",".join("?" * len(vendor))
        sql = f"""
            SELECT rule, polarity, family, field, operator, vendor_field, value,
                   ind_field, ind_operator, ind_value
            FROM predicates WHERE rule IN ({marks})
        """
        return [PredicateTuple(r[0], vendor[r[0]], *r[1:])
                for r in self.db.execute(sql, list(vendor)).fetchall()]

    def _reach(self, key: tuple[Any, str, str]) -> tuple[int, int]:
        """(corpus reach, exclusion reach) of an indicator, over the whole catalog."""
        row = self.db.execute(
            "SELECT reach, exclude_reach FROM indicators WHERE ind_field IS ? "
            "AND ind_operator = ? AND ind_value = ?", key,
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _predicates_of(self, rule_rowids: list[int]) -> list[sqlite3.Row]:
        if not rule_rowids:
            return []
        marks = ",".join("?" * len(rule_rowids))
        sql = f"""
            SELECT p.*, r.vendor FROM predicates p JOIN rules r ON r.rowid = p.rule
            WHERE p.rule IN ({marks}) ORDER BY p.rule, p.seq
        """
        return self.db.execute(sql, rule_rowids).fetchall()

    # -- rules by field ----------------------------------------------------------------

    def find_rules_by_field(
        self,
        field: str,
        value: str | None = None,
        operator: str | None = None,
        technique: str | None = None,
        polarity: str | None = None,
        exact: bool = False,
        filters: Filters | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> RulesByField:
        filters = self._check_filters(filters)
        limit, offset = _check_page(limit, offset)
        canonical = self._resolve_field(field)
        _check_choice("operator", operator, OPERATORS)
        _check_choice("polarity", polarity, ("detect", "exclude"))
        family, members = self._family_members(canonical)

        # First the matching (rule, seq) from the covering family index, then their rows.
        hits, params = _value_test(family, polarity, value, exact)
        where, args = _filter_sql(filters)
        sql = f"""
            WITH hits AS ({hits})
            SELECT {RULE_COLUMNS}, p.* FROM hits h
            JOIN predicates p ON p.rule = h.rule AND p.seq = h.seq
            JOIN rules r ON r.rowid = h.rule
            WHERE 1 {where}
        """
        params += args
        if operator:
            sql += " AND p.operator = ?"
            params.append(operator)
        if technique:
            tech = self._technique_info(technique).id
            sql += " AND p.rule IN (SELECT rule FROM technique_rules WHERE technique = ?)"
            params.append(tech)
        rows = self.db.execute(sql + " ORDER BY p.rule, p.seq", params).fetchall()
        return self._rules_by_field_answer(
            canonical, members, rows, filters, limit, offset,
            dict(field=field, value=value, operator=operator, technique=technique,
                 polarity=polarity, exact=exact),
        )

    def _rules_by_field_answer(
        self, canonical: str, members: list[str], rows: list[sqlite3.Row], filters: Filters,
        limit: int, offset: int, asked: dict[str, Any],
    ) -> RulesByField:
        by_rule: dict[int, list[sqlite3.Row]] = defaultdict(list)
        for r in rows:
            by_rule[r["rowid"]].append(r)
        ordered = sorted(by_rule.values(), key=lambda g: _rule_sort_key(g[0]))
        page = ordered[offset : offset + limit]
        matches = [
            FieldMatch(**_rule_row(g[0]).model_dump(), matched=len(g),
                       predicates=[_predicate_row(p) for p in g[:MAX_PREDICATES_SHOWN]])
            for g in page
        ]
        aliases = sorted({f"{r['vendor']}:{r['vendor_field']}" for r in rows})
        nxt = None
        if offset + limit < len(ordered):
            nxt = {**{k: v for k, v in asked.items() if v not in (None, False)},
                   **_filter_args(filters), "limit": limit, "offset": offset + limit}
        return RulesByField(
            field=canonical, fields_matched=members, aliases=aliases, value=asked["value"],
            operator=asked["operator"], polarity=asked["polarity"], exact=asked["exact"],
            technique=asked["technique"], filters=filters, rules=matches,
            total=len(ordered), returned=len(page), next=nxt,
            notes=self._notes(filters, len(ordered), offset) + _value_hint(asked, len(ordered)),
        )

    def _resolve_field(self, name: str) -> str:
        """Any vendor's spelling -> canonical field, or an error naming the closest fields."""
        if not name or not name.strip():
            raise InvalidArgument("field is empty. Pass a field name, e.g. 'Image', "
                                  "'process.name' or 'Processes.process_name'.")
        name = name.strip()
        row = self.db.execute(
            "SELECT field FROM fields WHERE field = ? COLLATE NOCASE", (name,)).fetchone()
        row = row or self.db.execute(
            "SELECT field FROM field_aliases WHERE vendor_field = ? COLLATE NOCASE "
            "ORDER BY vendor_field = ? DESC, field LIMIT 1", (name, name)).fetchone()
        if row:
            return str(row[0])
        known = [r[0] for r in self.db.execute(
            "SELECT field FROM fields UNION SELECT vendor_field FROM field_aliases")]
        close = get_close_matches(name, known, n=5, cutoff=0.5) or get_close_matches(
            name.lower(), [k.lower() for k in known], n=5, cutoff=0.4)
        hint = f" Closest fields: {', '.join(close)}." if close else ""
        raise InvalidArgument(f"Unknown field {name!r}.{hint} Any vendor's spelling works, "
                              "e.g. 'Image', 'process.executable' or 'process_path'.")

    def _family_members(self, canonical: str) -> tuple[str, list[str]]:
        """The family a canonical field belongs to, and every field in it."""
        row = self.db.execute("SELECT family FROM fields WHERE field = ?", (canonical,)).fetchone()
        family = row[0] if row else canonical
        members = [r[0] for r in self.db.execute(
            "SELECT field FROM fields WHERE family = ? ORDER BY field", (family,))]
        return family, members or [canonical]

    # -- one rule ----------------------------------------------------------------------

    def get_rule(self, rule_id: str, include_raw: bool = False) -> RuleDetail:
        r = self._find_rule(rule_id)
        doc = json.loads(r["doc"])
        preds = [_predicate_row(p, *self._reach((p["ind_field"], p["ind_operator"],
                                                  p["ind_value"])))
                 for p in self._predicates_of([r["rowid"]])]
        return RuleDetail(
            rule=_rule_row(r), description=r["description"], author=r["author"],
            license=r["license"], date=r["date"], modified=r["modified"],
            language=r["language"], rule_type=r["rule_type"], path=r["path"],
            tags=doc["tags"], techniques=self._rule_techniques(r["rowid"]),
            tactics=doc["tactics"], logsource=doc["logsource"], references=doc["references"],
            falsepositives=doc["falsepositives"], related_rules=doc["related_rules"],
            grouping_fields=doc.get("grouping_fields", []), indices=doc.get("indices", []),
            data_sources=doc.get("data_sources", []), extra=doc.get("extra", {}),
            events=self._rule_events(r["rowid"]), parsed=bool(r["parsed"]),
            unparsed_reason=r["unparsed_reason"],
            detection=[p for p in preds if p.polarity == "detect"],
            exclusions=[p for p in preds if p.polarity == "exclude"],
            raw=r["raw"] if include_raw else None,
        )

    def _find_rule(self, rule_id: str) -> sqlite3.Row:
        rule_id = (rule_id or "").strip()
        row = self.db.execute("SELECT * FROM rules WHERE id = ?", (rule_id,)).fetchone()
        if row:
            return row
        native = rule_id.split(":", 1)[1] if rule_id.split(":", 1)[0] in self.source_names \
            else rule_id
        rows = self.db.execute("SELECT * FROM rules WHERE native_id = ?", (native,)).fetchall()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows)
            raise InvalidArgument(f"{rule_id!r} is in several sources: {ids}. Pass one of them.")
        raise InvalidArgument(
            f"No rule {rule_id!r}. Pass `<source>:<id>` (sources: "
            f"{', '.join(self.source_names)}) or a native id; find ids with "
            "get_technique_coverage or find_rules_by_field.")

    def _rule_techniques(self, rowid: int) -> list[TechniqueRef]:
        sql = """SELECT rt.technique, t.name, rt.known FROM rule_techniques rt
                 LEFT JOIN techniques t ON t.id = rt.technique WHERE rt.rule = ?
                 ORDER BY rt.technique"""
        return [TechniqueRef(id=r[0], name=r[1] or None, known=bool(r[2]))
                for r in self.db.execute(sql, (rowid,))]

    def _rule_events(self, rowid: int) -> list[RuleEvent]:
        sql = """SELECT e.provider, e.event_id, COALESCE(ev.title, ''), e.origin
                 FROM rule_events e LEFT JOIN events ev
                 ON ev.provider = e.provider AND ev.event_id = e.event_id WHERE e.rule = ?
                 ORDER BY e.provider, e.event_id"""
        return [RuleEvent(provider=r[0], event_id=r[1], title=r[2], origin=r[3])
                for r in self.db.execute(sql, (rowid,))]

    # -- catalog info ------------------------------------------------------------------

    def catalog_info(self) -> CatalogInfo:
        report = json.loads(self.meta["report"])
        sources = [
            SourceInfo(name=r[0], vendor=r[1], root=r[2], files=r[3], rules=r[4],
                       deprecated=r[5])
            for r in self.db.execute(
                "SELECT s.name, s.vendor, s.root, s.files, s.rules, "
                "(SELECT COUNT(*) FROM rules WHERE source = s.name AND deprecated = 1) "
                "FROM sources s ORDER BY s.name")
        ]

        counts = json.loads(self.meta["counts"])
        return CatalogInfo(
            catalog=str(self.path), build_id=self.meta["build_id"],
            built_at=self.meta["built_at"], attack_version=self.attack_version,
            sources=sources, **counts,
            report=_report_summary(report),
        )

    # -- shared helpers ----------------------------------------------------------------

    def _check_filters(self, filters: Filters | None) -> Filters:
        filters = filters or Filters()
        for name, given, valid in (("sources", filters.sources, self.source_names),
                                   ("vendors", filters.vendors, VENDORS)):
            bad = [x for x in given or [] if x not in valid]
            if bad:
                raise InvalidArgument(
                    f"Unknown {name}: {', '.join(bad)}. Valid {name}: {', '.join(valid)}.")
        return filters

    def _technique_info(self, technique_id: str) -> TechniqueInfo:
        tid = (technique_id or "").strip().upper()
        if not TECHNIQUE_ID.match(tid):
            near = self._nearest_ids(tid) if re.match(r"^T\d{4}", tid) else []
            hint = f" Nearest IDs: {', '.join(near)}." if near else self._name_hint(technique_id)
            raise InvalidArgument(
                f"{technique_id!r} is not an ATT&CK technique ID; expected T#### or T####.###, "
                f"e.g. T1059 or T1059.001.{hint}")
        t = self.db.execute("SELECT * FROM techniques WHERE id = ?", (tid,)).fetchone()
        if t is None:
            near = self._nearest_ids(tid)
            raise InvalidArgument(
                f"Unknown technique {tid} in ATT&CK {self.attack_version}, and no rule is "
                f"tagged with it. Nearest IDs: {', '.join(near)}.")
        subs = [r[0] for r in self.db.execute(
            "SELECT id FROM techniques WHERE parent = ? AND known = 1 AND revoked_by IS NULL "
            "AND deprecated = 0 ORDER BY id", (tid,))]
        return TechniqueInfo(
            id=tid, name=t["name"] or None, tactics=json.loads(t["tactics"]),
            description=excerpt(t["description"]), attack_version=self.attack_version,
            parent=t["parent"], subtechniques=subs, flags=json.loads(t["flags"]), url=t["url"])

    def _nearest_ids(self, tid: str) -> list[str]:
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM techniques WHERE known = 1 AND revoked_by IS NULL "
            "AND deprecated = 0")]
        parent = tid.split(".")[0][:5]
        siblings = sorted(i for i in ids if i.startswith(parent + ".") or i == parent)
        return (siblings or get_close_matches(tid, ids, n=5, cutoff=0.6) or ids[:5])[:5]

    def _name_hint(self, text: str) -> str:
        text = (text or "").strip()
        if len(text) < 3:
            return ""
        rows = self.db.execute(
            "SELECT id, name FROM techniques WHERE revoked_by IS NULL AND name LIKE ? "
            "ORDER BY length(name) LIMIT 5", (f"%{text}%",)).fetchall()
        if not rows:
            return ""
        return " Techniques named like it: " + ", ".join(f"{r[0]} ({r[1]})" for r in rows) + "."


# -- module helpers ------------------------------------------------------------------------


def _check_page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT} (got {limit}); "
                              "page with offset and the answer's `next`.")
    if offset < 0:
        raise InvalidArgument(f"offset must be 0 or more (got {offset}).")
    return limit, offset


def _check_choice(name: str, given: str | None, valid: tuple[str, ...]) -> None:
    if given is not None and given not in valid:
        raise InvalidArgument(f"Unknown {name} {given!r}. Valid: {', '.join(valid)}.")


def _value_test(
    family: str, polarity: str | None, value: str | None, exact: bool
) -> tuple[str, list[Any]]:
    """SQL selecting (rule, seq) of a family's predicates that pass the value test.

    The value is a case-insensitive substring of the value as written, or with `exact`
    equal to it as written or to the normalized indicator (`process.name eq regsvr32.exe`).
    """
    sql, params = "SELECT rule, seq FROM predicates WHERE family = ?", [family]
    if polarity:
        sql += " AND polarity = ?"
        params.append(polarity)
    if value is not None and exact:
        sql += " AND (value = ? OR ind_value = ? OR ind_value = lower(?))"
        params += [value, value, value]
    elif value is not None:
        sql += " AND instr(lower(value), lower(?)) > 0"
        params.append(value)
    return sql, params


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    sql, args = "", []
    for column, values in (("r.source", filters.sources), ("r.vendor", filters.vendors)):
        if values:
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            args.extend(values)
    if not filters.include_deprecated:
        sql += " AND r.deprecated = 0"
    return sql, args


def _filter_args(filters: Filters) -> dict[str, Any]:
    return filters.model_dump(exclude_defaults=True)


def _rule_sort_key(r: sqlite3.Row) -> tuple[Any, ...]:
    vendor_rank = VENDORS.index(r["vendor"]) if r["vendor"] in VENDORS else len(VENDORS)
    keys = r.keys()
    via_rank = VIA_ORDER.index(r["via"]) if "via" in keys and r["via"] in VIA_ORDER else 0
    return (vendor_rank, r["source"], via_rank, _LEVELS.get(r["level"] or "", 5), r["title"])


_LEVELS = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}


def _rule_row(r: sqlite3.Row) -> RuleRow:
    keys = r.keys()
    return RuleRow(
        id=r["id"], source=r["source"], vendor=r["vendor"], title=r["title"],
        level=r["level"], status=r["status"], deprecated=bool(r["deprecated"]),
        via=r["via"] if "via" in keys else None, url=r["url"],
    )


def _via_key(r: sqlite3.Row) -> tuple[int, int]:
    return VIA_ORDER.index(r["via"]), r["rollup"]


def _group(rows: list[sqlite3.Row], key: str) -> dict[str, list[sqlite3.Row]]:
    out: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _ordered(counter: Counter[str], order: tuple[str, ...]) -> dict[str, int]:
    return {k: counter[k] for k in order if counter[k]}


def _predicate_row(
    p: sqlite3.Row, reach: int | None = None, excluded: int | None = None
) -> PredicateRow:
    indicator = f"{p['ind_field']} {p['ind_operator']} {p['ind_value']}"
    own = f"{p['field']} {p['operator']} {p['value']}"
    return PredicateRow(
        vendor_field=p["vendor_field"], field=p["field"], operator=p["operator"],
        value=p["value"], polarity=p["polarity"], selection=p["selection"],
        transforms=json.loads(p["transforms"]), case_sensitive=bool(p["case_sensitive"]),
        indicator=indicator if indicator != own else None, corpus_reach=reach,
        exclusion_reach=excluded if p["polarity"] == "exclude" else None,
    )


def _report_summary(report: dict[str, Any]) -> ReportSummary:
    sources = report["sources"]

    def total(key: str) -> int:
        return sum(int(s[key]) for s in sources)

    rejections = report["rejections"]
    return ReportSummary(
        seconds=report["seconds"], files_seen=total("files_seen"),
        files_skipped=total("files_skipped"), files_read=total("files_read"),
        files_rejected=total("files_rejected"),
        rejections=[f"{r['source']}:{r['path']}:{r['line'] or ''}: {r['reason']}"
                    for r in rejections[:20]],
        rejections_total=len(rejections), unparsed_rules=len(report["unparsed"]),
        unknown_techniques=[f"{u['technique_id']} ({_rules(u['rules'])})"
                            for u in report["unknown_techniques"]],
        unmapped_fields=[f"{u['vendor']}:{u['vendor_field']} ({u['predicates']})"
                         for u in report["unmapped_fields"][:10]],
        unmapped_fields_total=len(report["unmapped_fields"]),
        aliases_derived=(report.get("fields") or {}).get("aliases_derived", 0),
        aliases_hand_added=(report.get("fields") or {}).get("aliases_hand_added", 0),
        adds_up=all(s["files_seen"] == s["files_skipped"] + s["files_read"]
                    and s["files_read"] == s["files_indexed"] + s["files_rejected"]
                    for s in sources),
    )


def _value_hint(asked: dict[str, Any], total: int) -> list[str]:
    value = asked.get("value") or ""
    if total or "\\\\" not in value:
        return []
    return ["No match. Values are compared as written: '\\\\' is two backslashes; "
            "rule paths use one (e.g. '\\CurrentVersion\\Run')."]


def _rules(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"
