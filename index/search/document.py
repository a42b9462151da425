"""What the text index holds per rule, assembled from the catalog's own tables.

Both engines index the same `RuleDocument`, read back from the catalog after the rules are
stored, so the index never sees anything the catalog lacks; the FTS5 table keeps the text,
and snippets are cut from it at query time. Fields, most weighty first (`FIELDS`): title;
tags, with technique IDs and names and tactics (Splunk's `analytic_story:<name>` tags name
its stories); description; field names (the vendor's and the canonical); tested values;
the query text.

Decision: the raw query text is the rule's query, not its whole file (Elastic files carry
long investigation guides): Sigma's `detection:` block, Elastic's `[rule]` `query`, Splunk's
`search:`. It is cut from the file's text without re-parsing it (a build re-reads nothing);
a rule whose query cannot be found that way still has its fields and values indexed.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

# Field -> weight: title and tags weigh more than descriptions, tests and the raw query.
FIELDS: dict[str, float] = {
    "title": 10.0,
    "tags": 6.0,
    "description": 3.0,
    "field_names": 2.0,
    "field_values": 2.0,
    "query": 1.0,
}


@dataclass
class RuleDocument:
    rowid: int
    title: str = ""
    tags: str = ""
    description: str = ""
    field_names: str = ""
    field_values: str = ""
    query: str = ""

    def texts(self) -> dict[str, str]:
        """Field name -> text, in `FIELDS` order."""
        return {name: getattr(self, name) for name in FIELDS}


@dataclass
class _Parts:
    techniques: list[str] = field(default_factory=list)  # "T1021.003 Distributed ..."
    tactics: dict[str, None] = field(default_factory=dict)  # of those techniques
    names: dict[str, None] = field(default_factory=dict)
    values: dict[str, None] = field(default_factory=dict)


def load_documents(conn: sqlite3.Connection) -> Iterator[RuleDocument]:
    """Every rule's document, by rowid: three reads of the catalog, grouped in Python."""
    parts: dict[int, _Parts] = defaultdict(_Parts)
    for rule, tid, name, tactics in conn.execute(
        "SELECT rt.rule, rt.technique, t.name, t.tactics FROM rule_techniques rt "
        "LEFT JOIN techniques t ON t.id = rt.technique"):
        parts[rule].techniques.append(f"{tid} {name or ''}".strip())
        parts[rule].tactics.update(dict.fromkeys(json.loads(tactics or "[]")))
    for rule, vendor_field, canonical, value in conn.execute(
        "SELECT rule, vendor_field, field, value FROM predicates ORDER BY rule, seq"):
        p = parts[rule]
        if vendor_field:
            p.names[vendor_field] = None
        if canonical:
            p.names[canonical] = None
        p.values[value] = None
    for row in conn.execute(
        "SELECT rowid, vendor, title, description, doc, raw FROM rules ORDER BY rowid"):
        yield _document(row, parts.pop(row[0], _Parts()))


def _document(row: tuple, parts: _Parts) -> RuleDocument:  # type: ignore[type-arg]
    rowid, vendor, title, description, doc_json, raw = row
    doc = json.loads(doc_json)
    tags = list(dict.fromkeys(doc.get("tags", [])))
    # Tactics once: a tag such as `attack.lateral-movement` already says one (BM25 counts).
    said = " ".join(tags).lower()
    tactics = [t for t in dict.fromkeys([*doc.get("tactics", []), *parts.tactics])
               if t.lower() not in said]
    return RuleDocument(
        rowid=rowid, title=title, tags=" ; ".join([*tags, *parts.techniques, *tactics]),
        description=description,
        field_names=" ; ".join(parts.names), field_values=" ; ".join(parts.values),
        query=query_text(vendor, raw),
    )


# -- the query text, cut from the rule file ---------------------------------------------

_TOP_KEY = re.compile(r"^[^\s#-][^:\n]*:", re.M)
_TOML_HEADER = re.compile(r"^\[\[?[\w.-]+\]\]?[ \t]*$", re.M)
_TOML_QUERY = re.compile(
    r"""^query\s*=\s*(?:'''(.*?)'''|\"\"\"(.*?)\"\"\"|'([^'\n]*)'|"((?:[^"\\\n]|\\.)*)")""",
    re.M | re.S)


def query_text(vendor: str, raw: str) -> str:
    """The query part of a rule file: Sigma `detection:`, Elastic `query`, Splunk `search:`."""
    if vendor == "elastic":
        return _toml_rule_query(raw)
    key = {"sigma": "detection", "splunk": "search"}.get(vendor)
    return "\n".join(_yaml_blocks(raw, key)) if key else ""


def _yaml_blocks(raw: str, key: str) -> Iterator[str]:
    """Each top-level `key:` block, up to the next top-level key (every YAML document)."""
    for match in re.finditer(rf"^{key}:", raw, re.M):
        end = _TOP_KEY.search(raw, match.end())
        yield raw[match.end() : end.start() if end else len(raw)]


def _toml_rule_query(raw: str) -> str:
    """`query` inside the `[rule]` table (not `[[transform.osquery]]`'s queries).

    The first `query =` after `[rule]` with no table header (`[x.y]`, `[[x.y]]` alone on a
    line) between; strings may hold lines starting with `[` (EQL sequences, Markdown).
    """
    start = re.search(r"^\[rule\]\s*$", raw, re.M)
    if start is None:
        return ""
    match = _TOML_QUERY.search(raw, start.end())
    if match is None or _TOML_HEADER.search(raw, start.end(), match.start()):
        return ""
    return next((g for g in match.groups() if g is not None), "")
