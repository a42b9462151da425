"""The read API over a built catalog: what every MCP tool and CLI command calls.

`Catalog` opens the file read-only and answers with the models of `answers.py`. A bad
argument raises `InvalidArgument` with a message that says what was wrong and what to try.
Open one `Catalog` per thread (the MCP SDK runs plain tools on worker threads).

Absurd arguments cost bounded work and a clear error, never a crash: text arguments are
at most `MAX_TEXT_CHARS` characters with no NUL (`check_text`), filter lists at most
`MAX_LIST_ITEMS` items, `offset` at most `MAX_OFFSET` (SQLite integers are 64-bit), and an
error message quotes at most `SHOWN_CHARS` characters of what it was given (`shown`), so a
megabyte argument never comes back, or into the log, as a megabyte message. User text is
only ever a bound parameter or a `LIKE` pattern with its wildcards escaped.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from .aggregates import PRECOMPUTED_LIMIT, Aggregates, PredicateTuple, aggregate
from .attack.matching import excerpt
from .compare import SourceComparison, compare
from .answers import (
    CatalogInfo, EventUse, FieldMatch, FieldRow, Filters, IndicatorRow, PredicateRow,
    ReportSummary, RuleDetail, RuleEvent, RuleRow, RulesByField, SourceInfo, TechniqueCoverage,
    TechniqueInfo, TechniqueRef, TopIndicators, VendorCount,
)
from .errors import CatalogMissing, InvalidArgument
from .measures import stored_measure
from .models import OPERATORS, VENDORS
from .search import TextIndex, open_text_index
from .search.answers import SearchResults
from .search.searcher import SearchRequest, search_rules
from .sources import Provenance, SourceProvenance
from .store import SCHEMA_VERSION, open_catalog
from .store.writer import LEVEL_RANK

TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
VIA_ORDER = ("exact", "subtechnique", "revoked", "renamed")
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
MAX_TEXT_CHARS = 4_096  # the longest predicate value in today's corpora is 717
MAX_LIST_ITEMS = 50
SHOWN_CHARS = 80
MAX_PREDICATES_SHOWN = 5  # per rule in find_rules_by_field; get_rule shows them all
# The order rule lists are shown in: vendor, source, severity, title (as _rule_sort_key).
RULE_ORDER = ("CASE r.vendor WHEN 'sigma' THEN 0 WHEN 'elastic' THEN 1 WHEN 'splunk' THEN 2 "
              "ELSE 3 END, r.source, r.level_rank, r.title")
RULE_COLUMNS = "r.rowid, r.id, r.source, r.vendor, r.title, r.level, r.status, r.deprecated, r.url"


class Catalog:
    """A built catalog, opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CatalogMissing(
                f"No catalog at {self.path}. Build one first: `rulecat build --corpora DIR` "
                "from a folder like ../shared/corpora, or `rulecat sync` to download the public "
                "rule repositories (or pass --catalog PATH)."
            )
        self.db = open_catalog(self.path)
        try:
            self.meta = {r["key"]: r["value"]
                         for r in self.db.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise CatalogMissing(
                f"{self.path} is not a rulecat catalog ({exc}). Rebuild it: "
                "`rulecat build --corpora ../shared/corpora --catalog PATH`.") from None
        built_by = self.meta.get("schema_version")
        if built_by != SCHEMA_VERSION:
            self.db.close()
            raise CatalogMissing(
                f"{self.path} was built by another rulecat version (catalog schema {built_by}; "
                f"this one reads {SCHEMA_VERSION}). Rebuild it: `rulecat build` with the same "
                "sources, e.g. `rulecat build --corpora ../shared/corpora`.")
        self.attack_version = self.meta.get("attack_version", "unknown")
        self.source_names = [r[0] for r in self.db.execute("SELECT name FROM sources")]
        self._text_indexes: dict[str, TextIndex] = {}  # opened on first search, per engine

    def close(self) -> None:
        for text_index in self._text_indexes.values():
            text_index.close()
        self.db.close()

    # -- technique coverage ------------------------------------------------------------

    def get_technique_coverage(
        self,
        technique_id: str,
        include_subtechniques: bool = True,
        filters: Filters | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> TechniqueCoverage:
        filters = self._check_filters(filters)
        limit, offset = _check_page(limit, offset)
        info = self._technique_info(technique_id)
        rows = self._technique_rules(info.id, include_subtechniques, filters)

        by_vendor = _group(rows, "vendor")
        counts: dict[str, VendorCount] = {}
        for vendor, group in by_vendor.items():
            via = Counter(r["via"] for r in group)
            by_source = Counter(r["source"] for r in group)
            counts[vendor] = VendorCount(rules=len(group), via=_ordered(via, VIA_ORDER),
                                         sources=dict(by_source.most_common()))
        # A page holds each vendor's rules from `offset`, `limit` of them: every vendor is on
        # the first page, whatever the others' counts.
        page = {vendor: [_rule_row(r) for r in group[offset : offset + limit]]
                for vendor, group in by_vendor.items() if len(group) > offset}
        longest = max(map(len, by_vendor.values()), default=0)
        nxt = None
        if offset + limit < longest:
            nxt = {"technique_id": info.id, "include_subtechniques": include_subtechniques,
                   **_filter_args(filters), "limit": limit, "offset": offset + limit}
        return TechniqueCoverage(
            technique=info, filters=filters, include_subtechniques=include_subtechniques,
            counts=counts, events=self._events_of([r["rowid"] for r in rows]),
            rules=page, total=len(rows), returned=sum(map(len, page.values())), next=nxt,
            notes=self._notes(filters, longest, offset),
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

    def _events_of(self, rule_rowids: list[int]) -> list[EventUse]:
        if not rule_rowids:
            return []
        self._pick(rule_rowids)
        sql = """
            SELECT e.provider, e.event_id, COALESCE(ev.title, '') AS title, r.vendor,
                   COUNT(DISTINCT e.rule) AS n
            FROM rule_events e JOIN temp.picked p ON p.rule = e.rule
            JOIN rules r ON r.rowid = e.rule
            LEFT JOIN events ev ON ev.provider = e.provider AND ev.event_id = e.event_id
            GROUP BY e.provider, e.event_id, r.vendor
        """
        events: dict[tuple[str, int], EventUse] = {}
        for provider, event_id, title, vendor, n in self.db.execute(sql):
            row = events.setdefault((provider, event_id), EventUse(
                provider=provider, event_id=event_id, title=title, rules=0, vendors={}))
            row.rules += n  # a rule has one vendor: the vendors' counts add up
            row.vendors[vendor] = n
        for row in events.values():
            row.vendors = {v: row.vendors[v] for v in VENDORS if v in row.vendors}
        return sorted(events.values(), key=lambda e: (-e.rules, e.provider, e.event_id))

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
                   ind_field, ind_operator, ind_value, transforms
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

    def _predicate_row(self, p: sqlite3.Row) -> PredicateRow:
        """A predicate as answers show it, with the reach of its indicator (none for a test
        of a derived measure: it is no indicator)."""
        if stored_measure(p["transforms"]):
            return _predicate_row(p)
        return _predicate_row(p, *self._reach((p["ind_field"], p["ind_operator"],
                                               p["ind_value"])))

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
        if value is not None:
            check_text("value", value)
        canonical = self._resolve_field(field)
        _check_choice("operator", operator, OPERATORS)
        _check_choice("polarity", polarity, ("detect", "exclude"))
        family, members = self._family_members(canonical)

        # The matching (rule, seq) come from the covering family index; the page's rules are
        # ordered and cut in SQL; only their predicates are fetched.
        hits, params = _value_test(family, polarity, value, exact, operator)
        where, args = _filter_sql(filters)
        if technique:
            where += " AND r.rowid IN (SELECT rule FROM technique_rules WHERE technique = ?)"
            args.append(self._technique_info(technique).id)
        # Scan the index once; the three reads below use this connection's temp table.
        self.db.execute("DROP TABLE IF EXISTS temp.hits")
        self.db.execute(f"CREATE TEMP TABLE hits AS {hits}", params)
        # Grouping before the join keeps SQLite from scanning `rules` for a bloom filter.
        matched = self.db.execute(f"""
            SELECT r.rowid, g.n, r.vendor
            FROM (SELECT rule, COUNT(*) AS n FROM temp.hits GROUP BY rule) g
            CROSS JOIN rules r ON r.rowid = g.rule
            WHERE 1 {where} ORDER BY {RULE_ORDER}
        """, args).fetchall()
        page = matched[offset : offset + limit]
        rows = self._matching_predicates([r[0] for r in page])
        asked = dict(field=field, value=value, operator=operator, technique=technique,
                     polarity=polarity, exact=exact)
        nxt = None
        if offset + limit < len(matched):
            nxt = {**{k: v for k, v in asked.items() if v not in (None, False)},
                   **_filter_args(filters), "limit": limit, "offset": offset + limit}
        return RulesByField(
            field=canonical, fields_matched=members, aliases=self._spellings_of(),
            value=value, operator=operator, polarity=polarity, exact=exact,
            technique=technique, filters=filters,
            rules=[self._field_match(rows[rowid], n) for rowid, n, _ in page],
            counts=dict(Counter(vendor for _, _, vendor in matched)),
            total=len(matched), returned=len(page), next=nxt,
            notes=self._parent_name_hint(field, canonical)
            + self._notes(filters, len(matched), offset) + _value_hint(asked, len(matched))
            + _other_vendors([m[2] for m in matched], {m[2] for m in page}, offset),
        )

    def _matching_predicates(self, rowids: list[int]) -> dict[int, list[sqlite3.Row]]:
        """The matching predicates (with their rule's columns) of each page rule."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        out: dict[int, list[sqlite3.Row]] = defaultdict(list)
        for row in self.db.execute(f"""
            SELECT {RULE_COLUMNS}, p.* FROM temp.hits h
            CROSS JOIN predicates p ON p.rule = h.rule AND p.seq = h.seq
            CROSS JOIN rules r ON r.rowid = h.rule
            WHERE h.rule IN ({marks}) ORDER BY p.rule, p.seq
        """, rowids):
            out[row["rowid"]].append(row)
        return out

    def _spellings_of(self) -> list[str]:
        """Vendor spellings among all matching predicates, as `vendor:field`."""
        return [r[0] for r in self.db.execute("""
            SELECT DISTINCT r.vendor || ':' || p.vendor_field FROM temp.hits h
            CROSS JOIN predicates p ON p.rule = h.rule AND p.seq = h.seq
            CROSS JOIN rules r ON r.rowid = h.rule ORDER BY 1
        """)]

    def _resolve_field(self, name: str) -> str:
        """Any vendor's spelling -> canonical field, or an error naming the closest fields."""
        if not name or not name.strip():
            raise InvalidArgument("field is empty. Pass a field name, e.g. 'Image', "
                                  "'process.name' or 'Processes.process_name'.")
        name = check_text("field", name).strip()
        row = self.db.execute(
            "SELECT field FROM field_spellings WHERE spelling = ?", (name,)).fetchone()
        row = row or self.db.execute(
            "SELECT field FROM fields WHERE field = ? COLLATE NOCASE", (name,)).fetchone()
        if row:
            return str(row[0])
        known = [r[0] for r in self.db.execute(
            "SELECT field FROM fields UNION SELECT vendor_field FROM field_aliases")]
        close = get_close_matches(name, known, n=5, cutoff=0.5) or get_close_matches(
            name.lower(), [k.lower() for k in known], n=5, cutoff=0.4)
        hint = f" Closest fields: {', '.join(close)}." if close else ""
        raise InvalidArgument(f"Unknown field {shown(name)}.{hint} Any vendor's spelling "
                              "works, e.g. 'Image', 'process.executable' or 'process_path'.")

    def _parent_name_hint(self, asked: str, canonical: str) -> list[str]:
        """A note when a bare name (Splunk CIM's `process`, `user`) was read as one field of
        the group it also names in ECS (`process.command_line` of `process.*`)."""
        bare = asked.strip().lower()
        if "." in bare or not canonical.lower().startswith(f"{bare}."):
            return []
        others = [r[0] for r in self.db.execute(  # a range of the indicator index
            "SELECT ind_field FROM predicates WHERE ind_field > ? AND ind_field < ? "
            "AND ind_field != ? GROUP BY ind_field ORDER BY COUNT(*) DESC LIMIT 3",
            (f"{bare}.", f"{bare}/", canonical))]
        example = f", e.g. {', '.join(others)}" if others else ""
        return [f"{shown(asked.strip())} was read as {canonical} (a vendor's field of that "
                f"name, e.g. Splunk CIM's); for another {bare}.* field name it in full"
                f"{example}."]

    def _family_members(self, canonical: str) -> tuple[str, list[str]]:
        """The family a canonical field belongs to, and every field in it."""
        row = self.db.execute("SELECT family FROM fields WHERE field = ?", (canonical,)).fetchone()
        family = row[0] if row else canonical
        members = [r[0] for r in self.db.execute(
            "SELECT field FROM fields WHERE family = ? ORDER BY field", (family,))]
        return family, members or [canonical]

    def _field_match(self, rows: list[sqlite3.Row], matched: int) -> FieldMatch:
        return FieldMatch(**_rule_row(rows[0]).model_dump(), matched=matched, predicates=[
            self._predicate_row(p) for p in rows[:MAX_PREDICATES_SHOWN]])

    # -- one rule ----------------------------------------------------------------------

    def get_rule(self, rule_id: str, include_raw: bool = False) -> RuleDetail:
        r = self._find_rule(rule_id)
        doc = json.loads(r["doc"])
        preds = [self._predicate_row(p) for p in self._predicates_of([r["rowid"]])]
        return RuleDetail(
            rule=_rule_row(r), description=r["description"], author=r["author"],
            license=r["license"], date=r["date"], modified=r["modified"],
            language=r["language"], rule_type=r["rule_type"], path=r["path"],
            tags=doc["tags"], techniques=self._rule_techniques(r["rowid"]),
            tactics=doc["tactics"], logsource=doc["logsource"], references=doc["references"],
            falsepositives=doc["falsepositives"], related_rules=doc["related_rules"],
            grouping_fields=doc.get("grouping_fields", []), indices=doc.get("indices", []),
            data_sources=doc.get("data_sources", []), extra=doc.get("extra", {}),
            **self._rule_events(r["rowid"]), parsed=bool(r["parsed"]),
            unparsed_reason=r["unparsed_reason"],
            detection=[p for p in preds if p.polarity == "detect"],
            exclusions=[p for p in preds if p.polarity == "exclude"],
            raw=r["raw"] if include_raw else None,
        )

    def _find_rule(self, rule_id: str) -> sqlite3.Row:
        rule_id = check_text("rule_id", rule_id or "").strip()
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
            f"No rule {shown(rule_id)}. Pass `<source>:<id>` (sources: "
            f"{', '.join(self.source_names)}) or a native id; find ids with "
            "get_technique_coverage or find_rules_by_field.")

    def _rule_techniques(self, rowid: int) -> list[TechniqueRef]:
        sql = """SELECT rt.technique, t.name, rt.known FROM rule_techniques rt
                 LEFT JOIN techniques t ON t.id = rt.technique WHERE rt.rule = ?
                 ORDER BY rt.technique"""
        return [TechniqueRef(id=r[0], name=r[1] or None, known=bool(r[2]))
                for r in self.db.execute(sql, (rowid,))]

    def _rule_events(self, rowid: int) -> dict[str, Any]:
        """`events` and `events_needed` of `RuleDetail` (the requirements, listed when there
        are several: each one's events, any of which meets it)."""
        sql = """SELECT e.provider, e.event_id, COALESCE(ev.title, ''), e.origin, e.clauses
                 FROM rule_events e LEFT JOIN events ev
                 ON ev.provider = e.provider AND ev.event_id = e.event_id WHERE e.rule = ?
                 ORDER BY e.provider, e.event_id"""
        rows = self.db.execute(sql, (rowid,)).fetchall()
        bits = 0
        for row in rows:
            bits |= row[4]
        needed = [[f"{r[0]} {r[1]}" for r in rows if r[4] >> n & 1]
                  for n in range(bits.bit_length()) if bits >> n & 1]
        return {"events": [RuleEvent(provider=r[0], event_id=r[1], title=r[2], origin=r[3])
                           for r in rows],
                "events_needed": needed if len(needed) > 1 else []}

    # -- full-text search --------------------------------------------------------------

    def search_rules(
        self,
        query: str,
        techniques: list[str] | None = None,
        tactics: list[str] | None = None,
        levels: list[str] | None = None,
        filters: Filters | None = None,
        limit: int = 20,
        offset: int = 0,
        engine: str | None = None,
    ) -> SearchResults:
        """Rules ranked by full-text relevance, explained; see `rulecat.index.search`."""
        filters = self._check_filters(filters)
        limit, offset = _check_page(limit, offset)
        for name, values in (("techniques", techniques), ("tactics", tactics),
                             ("levels", levels)):
            check_list(name, values)
        request = SearchRequest(
            query=query or "", techniques=[self._technique_info(t).id for t in techniques or []],
            tactics=tactics or [], levels=levels or [], filters=filters, limit=limit,
            offset=offset)
        key = engine or ""
        if key not in self._text_indexes:
            self._text_indexes[key] = open_text_index(self.db, self.path, self.meta, engine)
        return search_rules(self.db, self._text_indexes[key], request)

    # -- catalog info ------------------------------------------------------------------

    def catalog_info(self) -> CatalogInfo:
        report = json.loads(self.meta["report"])
        prov = Provenance.model_validate_json(self.meta.get("provenance") or "{}")
        known = {s.name: s for s in prov.sources}
        sources = [
            SourceInfo(name=r[0], vendor=r[1], root=r[2], files=r[3], rules=r[4],
                       deprecated=r[5], **_source_origin(known.get(r[0])))
            for r in self.db.execute(
                "SELECT s.name, s.vendor, s.root, s.files, s.rules, "
                "(SELECT COUNT(*) FROM rules WHERE source = s.name AND deprecated = 1) "
                "FROM sources s ORDER BY s.name")
        ]

        counts = json.loads(self.meta["counts"])
        return CatalogInfo(
            catalog=str(self.path), build_id=self.meta["build_id"],
            built_at=self.meta["built_at"], attack_version=self.attack_version,
            attack_bundle=prov.attack.bundle if prov.attack else None,
            sources=sources, **counts,
            report=_report_summary(report),
        )

    # -- comparing sources -------------------------------------------------------------

    def compare_sources(
        self, a: str, b: str, limit: int = 20, offset: int = 0
    ) -> SourceComparison:
        """Techniques A covers and B does not; A's rules whose indicators B already tests."""
        limit, offset = _check_page(limit, offset)
        for name, given in (("a", a), ("b", b)):
            if given not in self.source_names:
                raise InvalidArgument(f"Unknown source {shown(given)} (as {name}). "
                                      f"Valid sources: {', '.join(self.source_names)}.")
        if a == b:
            raise InvalidArgument(f"a and b are both {shown(a)}; pass two different sources.")
        return compare(self.db, a, b, limit, offset)

    # -- shared helpers ----------------------------------------------------------------

    def _check_filters(self, filters: Filters | None) -> Filters:
        filters = filters or Filters()
        if filters.vendors:  # vendor names are lower-case words; accept any case
            filters = filters.model_copy(update={"vendors": [v.lower() for v in filters.vendors]})
        for name, given, valid in (("sources", filters.sources, self.source_names),
                                   ("vendors", filters.vendors, VENDORS)):
            check_list(name, given)
            bad = [x for x in given or [] if x not in valid]
            if bad:
                raise InvalidArgument(f"Unknown {name}: {', '.join(map(shown, bad[:5]))}. "
                                      f"Valid {name}: {', '.join(valid)}.")
        return filters

    def _technique_info(self, technique_id: str) -> TechniqueInfo:
        tid = check_text("technique_id", technique_id or "").strip().upper()
        if not TECHNIQUE_ID.match(tid):
            near = self._nearest_ids(tid) if re.match(r"^T\d{4}", tid) else []
            hint = f" Nearest IDs: {', '.join(near)}." if near else self._name_hint(technique_id)
            raise InvalidArgument(
                f"{shown(technique_id)} is not an ATT&CK technique ID; expected T#### or "
                f"T####.###, e.g. T1059 or T1059.001.{hint}")
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
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"  # the text, not wildcards
        rows = self.db.execute(
            "SELECT id, name FROM techniques WHERE revoked_by IS NULL AND name LIKE ? "
            "ESCAPE '\\' ORDER BY length(name) LIMIT 5", (pattern,)).fetchall()
        if not rows:
            return ""
        return " Techniques named like it: " + ", ".join(f"{r[0]} ({r[1]})" for r in rows) + "."


# -- module helpers ------------------------------------------------------------------------


# Where a source came from: what its provenance and `catalog_info`'s row both name.
_ORIGIN = (set(SourceProvenance.model_fields) & set(SourceInfo.model_fields)) - {
    "name", "vendor", "root", "files", "rules"}


def _source_origin(prov: SourceProvenance | None) -> dict[str, str | None]:
    return prov.model_dump(include=_ORIGIN) if prov is not None else {}


def _check_page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT} (got {_number(limit)}); "
                              "page with offset and the answer's `next`.")
    if offset < 0 or offset > MAX_OFFSET:
        raise InvalidArgument(f"offset must be between 0 and {MAX_OFFSET:,} (got "
                              f"{_number(offset)}); start at 0 and follow the answer's `next`.")
    return limit, offset


def _check_choice(name: str, given: str | None, valid: tuple[str, ...]) -> None:
    if given is not None and given not in valid:
        raise InvalidArgument(f"Unknown {name} {shown(given)}. Valid: {', '.join(valid)}.")


def check_text(name: str, value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`value`, or `InvalidArgument` when it is over `limit` characters or holds a NUL."""
    if len(value) > limit:
        raise InvalidArgument(f"{name} is {len(value):,} characters long; the limit is "
                              f"{limit:,} characters.")
    if "\x00" in value:
        raise InvalidArgument(f"{name} contains a NUL character (\\x00); remove it.")
    return value


def check_list(name: str, values: list[str] | None, limit: int = MAX_LIST_ITEMS) -> None:
    """`InvalidArgument` for a list over `limit` items or an item `check_text` refuses."""
    if values is not None and len(values) > limit:
        raise InvalidArgument(f"{name} has {len(values):,} items; the limit is {limit}.")
    for value in values or []:
        check_text(f"an item of {name}", value)


def shown(value: object) -> str:
    """`value` quoted for an error message: its repr, cut to `SHOWN_CHARS` characters."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(str(value)):,} characters)"


def _number(n: int) -> str:
    """An integer for a message; an absurd one is not spelled out."""
    return str(n) if abs(n) < 10**18 else f"a {n.bit_length()}-bit number"


def _value_test(
    family: str, polarity: str | None, value: str | None, exact: bool,
    operator: str | None = None,
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
    if operator:
        sql += " AND operator = ?"
        params.append(operator)
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
    return (vendor_rank, r["source"], via_rank, LEVEL_RANK.get(r["level"] or "", 5), r["title"])




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
        parsed=[_parse_rate(s["name"], language, n) for s in sources
                for language, n in (s.get("languages") or {}).items()],
        unknown_techniques=[f"{u['technique_id']} ({_rules(u['rules'])})"
                            for u in report["unknown_techniques"]],
        unmapped_fields=[f"{u['vendor']}:{u['vendor_field']} ({u['predicates']})"
                         for u in sorted(report["unmapped_fields"],
                                         key=lambda u: -u["predicates"])[:10]],
        unmapped_fields_total=len(report["unmapped_fields"]),
        aliases_derived=(report.get("fields") or {}).get("aliases_derived", 0),
        aliases_hand_added=(report.get("fields") or {}).get("aliases_hand_added", 0),
        adds_up=all(s["files_seen"] == s["files_skipped"] + s["files_read"]
                    and s["files_read"] == s["files_indexed"] + s["files_rejected"]
                    for s in sources),
    )


def _parse_rate(source: str, language: str, stats: dict[str, int]) -> str:
    """`elastic/eql 1081/1081`; rules without a query (machine learning) are counted apart."""
    if language == "none":
        return f"{source}: {stats['rules']} without a query"
    return f"{source}/{language} {stats['parsed']}/{stats['rules']}"


def _other_vendors(vendors: list[str], shown: Iterable[str], offset: int) -> list[str]:
    """Where the vendors this page does not show begin (`vendors`: each answer row's vendor,
    in answer order), so per-vendor answers are one call."""
    first: dict[str, int] = {}
    for i, vendor in enumerate(vendors):
        first.setdefault(vendor, i)
    shown = set(shown)
    hidden = [f"{v} from offset {i}" for v, i in first.items() if v not in shown and i > offset]
    if not hidden:
        return []
    return ["More vendors on later pages: " + ", ".join(hidden) +
            " (or pass vendors=[...] for one vendor's rules)."]


def _value_hint(asked: dict[str, Any], total: int) -> list[str]:
    value = asked.get("value") or ""
    if total or "\\\\" not in value:
        return []
    return ["No match. Values are compared as written: '\\\\' is two backslashes; "
            "rule paths use one (e.g. '\\CurrentVersion\\Run')."]


def _rules(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"
