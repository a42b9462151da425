"""Elastic detection-rules reader: TOML rule files to `RuleRecord`s, one file at a time.

Each file under `rules/` and `rules_building_block/` is one rule, read with `tomllib`.
Nothing here raises for bad content: a file that is not UTF-8, not TOML or not shaped like
an Elastic rule (no `[rule]` table, no `rule_id` / `name` / `type`) becomes a `Rejection`;
a rule whose query cannot be read whole is kept with `parsed=False` and the reason.

Decisions:

* The query goes to the parser of its `language`: `kuery` (KQL) and `lucene` here; `eql`
  and `esql` through `rulecat.index.parsers.eql` / `.esql`, imported when first needed (a
  missing one leaves the rule unparsed, "parser not available"). Machine-learning rules
  have no query: `parsed=True`, no predicates, the job ids in `extra`.
* Kibana `filters` are part of the rule's logic (ANDed with the query): their
  `wildcard` / `exists` / `match_phrase` / `match` / `term(s)` clauses become predicates
  (selection `filters`, `negate` -> `exclude`, disabled ones skipped); any other clause
  leaves the rule unparsed, as a partial parse would. A threat-match rule's predicates are
  its own `query`; the indicator side (`threat_query`, `threat_mapping`) is kept in `extra`.
* Grouping fields, not predicates: threshold `field`s, new-terms fields, EQL `by` keys and
  whatever the parser reports.
* Techniques from `[[rule.threat]]`: listed sub-techniques are tagged, else the parent
  (DESIGN.md); tactics by name, as ATT&CK short names (`Defense Evasion` ->
  `defense-evasion`). Deprecated: maturity `deprecated` or a path under `_deprecated/`.
* Events: `EventCatalog.events_for_elastic` from the index patterns and predicates; an
  EQL query's `<category> where` adds its category even when the EQL parser is missing.
* Hostile files (`limits.py`): over 5 MiB, a symlink out of the source, a FIFO, NUL bytes,
  bad UTF-8 or TOML nested deeper than 64 levels are refused; a query over 200,000
  characters leaves its rule unparsed (raw text kept).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path
from typing import Any

from ..attack.matching import parse_technique_tag
from ..errors import RuleFileError
from ..models import Predicate, Rejection, RuleRecord
from ..normalize.events import EventCatalog
from ..parsers import ParsedQuery, QueryParseError
from ..parsers.values import exists_predicate, unescape, value_predicate
from ..sources import rule_url
from .limits import MAX_NESTING, MAX_QUERY_CHARS, nesting_depth_over, read_rule_text
from .walk import rule_files_under

RULE_FOLDERS: tuple[str, ...] = ("rules", "rules_building_block")
RULE_SUFFIX = ".toml"
DEPRECATED_FOLDER = "_deprecated"
FILTER_SELECTION = "filters"

# language -> (module of rulecat.index.parsers, function, name for messages)
PARSERS: dict[str, tuple[str, str, str]] = {
    "kuery": ("kql", "parse_kql", "KQL"),
    "lucene": ("lucene", "parse_lucene", "Lucene"),
    "eql": ("eql", "parse_eql", "EQL"),
    "esql": ("esql", "parse_esql", "ES|QL"),
}

_TOML_LINE = re.compile(r"at line (\d+)")
_EQL_CATEGORY = re.compile(r"(?:^|\[)\s*([a-z_]+)\s+where\b", re.IGNORECASE | re.MULTILINE)
_WILDCARD_ESCAPES = {"\\": "\\", "*": "*", "?": "?"}

Parser = Callable[[str], ParsedQuery]


class _Invalid(Exception):
    """The file is TOML but not an Elastic rule; `line` when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def elastic_rule_files(root: Path) -> list[Path]:
    """Every `*.toml` under `root`'s `rules/` and `rules_building_block/`, sorted.

    A root without either folder (a user's own rule folder) is read whole. Hidden
    folders and symlinked folders (the build does not follow them) are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [root / name for name in RULE_FOLDERS
               if (root / name).is_dir() and not (root / name).is_symlink()] or [root]
    return rule_files_under(folders, (RULE_SUFFIX,))


def read_elastic_file(
    source: str, root: Path, path: Path
) -> tuple[list[RuleRecord], list[Rejection]]:
    """The rule in one Elastic TOML file, or why it could not be read."""
    rel = _relative(root, path)
    try:
        text = _read_text(root, path)
        data = _load_toml(text)
        record = _record(source, root, rel, text, data)
    except _Invalid as exc:
        return [], [Rejection(source=source, path=rel, line=exc.line, reason=exc.reason)]
    return [record], []


# The reader protocol of rulecat.index.readers.
rule_files = elastic_rule_files
read_file = read_elastic_file


# --------------------------------------------------------------------------- loading


def _read_text(root: Path, path: Path) -> str:
    """The file's text; size, symlinks, NUL bytes and UTF-8 are checked by `limits.py`."""
    try:
        return read_rule_text(root, path, "TOML")
    except RuleFileError as exc:
        raise _Invalid(exc.reason, exc.line) from None


def _load_toml(text: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise _Invalid(f"malformed TOML: {exc}", int(match[1]) if match else None) from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise _Invalid(f"TOML nested deeper than {MAX_NESTING} levels") from None
    if nesting_depth_over(data):
        raise _Invalid(f"TOML nested deeper than {MAX_NESTING} levels")
    rule = data.get("rule")
    if not isinstance(rule, dict):
        raise _Invalid("no [rule] table: not an Elastic rule")
    for key in ("rule_id", "name", "type"):
        if not isinstance(rule.get(key), str) or not rule[key].strip():
            raise _Invalid(f"[rule] has no {key} (a non-empty string): not an Elastic rule")
    if not isinstance(data.get("metadata", {}), dict):
        raise _Invalid("[metadata] is not a table")
    return data


# --------------------------------------------------------------------------- the record


def _record(source: str, root: Path, rel: str, text: str, data: dict[str, Any]) -> RuleRecord:
    meta: dict[str, Any] = data.get("metadata") or {}
    rule: dict[str, Any] = data["rule"]
    try:
        record = _metadata(source, root, rel, text, meta, rule)
        record.techniques, record.tactics, record.malformed_tags = _threat(rule.get("threat"))
        record.extra = _extra(meta, rule)
        _read_logic(record, rule)
    except (TypeError, ValueError, AttributeError) as exc:  # wrong shapes inside the rule
        raise _Invalid(f"unreadable rule metadata: {type(exc).__name__}: {exc}") from None
    record.events = EventCatalog.load().events_for_elastic(
        record.indices, record.predicates, _eql_categories(record.language, rule.get("query"))
    )
    return record


def _metadata(
    source: str, root: Path, rel: str, text: str, meta: dict[str, Any], rule: dict[str, Any]
) -> RuleRecord:
    maturity = _text(meta.get("maturity"))
    tags = _strings(rule.get("tags"))
    return RuleRecord(
        source=source,
        vendor="elastic",
        native_id=rule["rule_id"].strip(),
        title=rule["name"].strip(),
        description=_text(rule.get("description")) or "",
        status=maturity,
        level=_text(rule.get("severity")),
        deprecated=maturity == "deprecated" or DEPRECATED_FOLDER in rel.split("/")[:-1],
        author=", ".join(_strings(rule.get("author"))) or None,
        license=_text(rule.get("license")),
        date=_date(meta.get("creation_date")),
        modified=_date(meta.get("updated_date")),
        references=_strings(rule.get("references")),
        falsepositives=_strings(rule.get("false_positives")),
        tags=tags,
        data_sources=[t.split(":", 1)[1].strip() for t in tags
                      if t.lower().startswith("data source:")],
        language=_text(rule.get("language")),
        rule_type=rule["type"].strip(),
        path=rel,
        url=rule_url("elastic", source, root, rel),
        raw=text,
        indices=_strings(rule.get("index")),
    )


def _threat(threats: Any) -> tuple[list[str], list[str], list[str]]:
    """(techniques, tactics, malformed IDs) from `[[rule.threat]]`."""
    techniques: list[str] = []
    tactics: list[str] = []
    malformed: list[str] = []
    for threat in threats or []:
        tactic = (threat.get("tactic") or {}).get("name")
        if isinstance(tactic, str) and tactic.strip():
            tactics.append("-".join(tactic.lower().split()))
        for technique in threat.get("technique") or []:
            subs = [s.get("id") for s in technique.get("subtechnique") or []]
            for raw in subs or [technique.get("id")]:
                tid = parse_technique_tag(raw) if isinstance(raw, str) else None
                if tid:
                    techniques.append(tid)
                else:
                    malformed.append(str(raw))
    return _unique(techniques), _unique(tactics), _unique(malformed)


def _extra(meta: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """Vendor metadata worth keeping beside the record's own fields."""
    extra: dict[str, Any] = {
        "risk_score": rule.get("risk_score"),
        "building_block": bool(rule.get("building_block_type")),
        "building_block_type": rule.get("building_block_type"),
        "integrations": _strings(meta.get("integration")),
        "min_stack_version": meta.get("min_stack_version"),
        "deprecation_date": _date(meta.get("deprecation_date")),
        "deprecated_reason": meta.get("deprecated_reason"),
        "machine_learning_job_id": _strings(rule.get("machine_learning_job_id")) or None,
        "anomaly_threshold": rule.get("anomaly_threshold"),
        "threshold": _threshold_extra(rule.get("threshold")),
        "new_terms_history_window_start": _new_terms_window(rule.get("new_terms")),
        "event_category_override": rule.get("event_category_override"),
        "alert_suppression": rule.get("alert_suppression"),
    }
    for key in ("threat_index", "threat_query", "threat_language", "threat_indicator_path",
                "threat_mapping"):
        extra[key] = rule.get(key)
    return {k: v for k, v in extra.items() if v not in (None, [], {}, "")}


def _threshold_extra(threshold: Any) -> dict[str, Any] | None:
    if not isinstance(threshold, dict):
        return None
    cardinality = [c for c in threshold.get("cardinality") or [] if isinstance(c, dict)]
    return {"value": threshold.get("value"), "cardinality": cardinality or None}


def _new_terms_window(new_terms: Any) -> Any:
    if not isinstance(new_terms, dict):
        return None
    for entry in new_terms.get("history_window_start") or []:
        if isinstance(entry, dict) and "value" in entry:
            return entry["value"]
    return None


# --------------------------------------------------------------------------- the logic


def _read_logic(record: RuleRecord, rule: dict[str, Any]) -> None:
    """Predicates, grouping fields and parse state from the query, filters and type."""
    record.grouping_fields = _grouping_fields(rule)
    query = rule.get("query")
    if record.rule_type == "machine_learning" and not query:
        return
    if not isinstance(query, str) or not query.strip():
        _unparsed(record, f"no query text in a {record.rule_type} rule")
        return
    parsed, reason = _parse_query(record.language, query)
    if parsed is None:
        _unparsed(record, reason or "unparsed")
        return
    record.predicates = parsed.predicates
    record.grouping_fields = _unique([*record.grouping_fields, *parsed.grouping_fields])
    record.indices = _unique([*record.indices, *parsed.indices])
    try:
        record.predicates += _filter_predicates(rule.get("filters"))
    except _Invalid as exc:
        _unparsed(record, exc.reason)


def _unparsed(record: RuleRecord, reason: str) -> None:
    record.parsed = False
    record.unparsed_reason = reason


def _parse_query(language: str | None, query: str) -> tuple[ParsedQuery | None, str | None]:
    """(parsed query, None) or (None, why not)."""
    if len(query) > MAX_QUERY_CHARS:  # kept unparsed; its raw text stays searchable
        return None, f"query of {len(query):,} characters, over the {MAX_QUERY_CHARS:,} " \
                     "rulecat parses"
    parser, reason = _parser(language)
    if parser is None:
        return None, reason
    try:
        return parser(query), None
    except QueryParseError as exc:
        return None, exc.reason
    except RecursionError:
        return None, f"{language}: query nested too deeply"
    except Exception as exc:  # a parser bug must cost one rule, not the build
        return None, f"{language} parser failed: {type(exc).__name__}: {exc}"


def _parser(language: str | None) -> tuple[Parser | None, str | None]:
    """The parse function for a query language, or (None, why there is none)."""
    spec = PARSERS.get((language or "").lower())
    if spec is None:
        return None, f"no parser for query language {language!r}"
    module, function, label = spec
    try:
        return getattr(import_module(f"..parsers.{module}", __package__), function), None
    except (ImportError, AttributeError) as exc:
        return None, f"{label} parser not available yet ({type(exc).__name__}: {exc})"


def _grouping_fields(rule: dict[str, Any]) -> list[str]:
    """Threshold `field`s and new-terms fields (fields that group, not test)."""
    fields: list[str] = []
    threshold = rule.get("threshold")
    if isinstance(threshold, dict):
        fields += _strings(threshold.get("field"))
    new_terms = rule.get("new_terms")
    if isinstance(new_terms, dict):
        fields += _strings(new_terms.get("value"))
    return _unique(f for f in fields if f)


def _filter_predicates(filters: Any) -> list[Predicate]:
    """Predicates of Kibana filters; `_Invalid` for a clause rulecat cannot read."""
    out: list[Predicate] = []
    for entry in filters or []:
        if not isinstance(entry, dict):
            raise _Invalid("a filter that is not a table")
        meta = entry.get("meta") or {}
        if meta.get("disabled"):
            continue
        negations = int(bool(meta.get("negate")))
        clause = entry.get("query") or {k: v for k, v in entry.items() if k == "exists"}
        if not isinstance(clause, dict) or len(clause) != 1:
            raise _Invalid(f"filter not read: {sorted(clause) if clause else 'empty'}")
        kind, body = next(iter(clause.items()))
        out += _filter_clause(kind, body, negations)
    return out


def _filter_clause(kind: str, body: Any, negations: int) -> list[Predicate]:
    if not isinstance(body, dict) or not body:
        raise _Invalid(f"filter {kind!r} has no field")
    if kind == "exists" and isinstance(body.get("field"), str):
        return [exists_predicate(body["field"], True, negations, selection=FILTER_SELECTION)]
    field, spec = next(iter(body.items()))
    value = spec.get("value", spec.get("query")) if isinstance(spec, dict) else spec
    if kind == "wildcard" and isinstance(value, str):
        text, wild = unescape(value, _WILDCARD_ESCAPES, "*?", keep_unknown=True)
        cased = not (isinstance(spec, dict) and spec.get("case_insensitive"))
        return [value_predicate(field, text, negations, wildcard=wild, case_sensitive=cased,
                                selection=FILTER_SELECTION)]
    if kind in ("match_phrase", "match", "term", "terms"):
        values = value if isinstance(value, list) else [value]
        return [value_predicate(field, str(v), negations, wildcard=False,
                                case_sensitive=kind.startswith("term"),
                                selection=FILTER_SELECTION) for v in values]
    raise _Invalid(f"filter of type {kind!r} not read")


def _eql_categories(language: str | None, query: Any) -> list[str]:
    """Event categories an EQL query names (`process where`, `[file where ...]`)."""
    if (language or "").lower() != "eql" or not isinstance(query, str):
        return []
    found = (m.group(1).lower() for m in _EQL_CATEGORY.finditer(_strip_strings(query)))
    return _unique(c for c in found if c != "any")


def _strip_strings(query: str) -> str:
    """The query with quoted strings emptied (so `"x [file where"` names nothing)."""
    return re.sub(r'"""[\s\S]*?"""|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', query)


# --------------------------------------------------------------------------- helpers


def _relative(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _strings(value: Any) -> list[str]:
    """A string or a list of them, stripped; anything else gives []."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _date(value: Any) -> str | None:
    """`2022/11/16` -> `2022-11-16` (Sigma's form); other text as written."""
    text = _text(value) if isinstance(value, str) else str(value) if value else None
    return text.replace("/", "-") if text else None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
