"""Splunk security_content reader: detection files to `RuleRecord`s, one file at a time.

Rule files are the `*.yml` under `detections/` (a root without that folder is read whole,
minus the supporting folders). `macros/`, `data_sources/` and `stories/` are supporting
data, loaded once per source root and state (`load_support`, cached).

Each detection's `search` is macro-expanded (`parsers.spl_macros`) and parsed
(`parsers.spl`); the expanded text is kept in `extra["expanded_search"]`.

Decisions:

* `native_id` is the detection's `id` (a file without one gets `path:<relative path>`);
  `rule_type` is its `type` (TTP, Anomaly, Hunting, Correlation, ...).
* `level` stays None: security_content has no severity, and a level derived from
  `risk_score` would be rulecat's invention; `risk_score`, `confidence` and `impact` are
  in `extra`.
* The one `date` a detection has is bumped with each version, so it is `modified`; it is
  also `date`, since no creation date exists.
* Deprecated: under `detections/deprecated/` or `status: deprecated`.
* `tags` are flattened as `key:value` for `analytic_story`, `asset_type`,
  `security_domain`, `mitre_attack_id` and `cve`; techniques come from
  `tags.mitre_attack_id`; security_content names no tactics.
* Analytic stories (`stories/**.yml`) are attached by name: `extra["stories"]` holds each
  story's name and the start of its description.
* A macro the source lacks is reported in `extra["unresolved_macros"]`; the rest of the
  search is still read and its predicates kept, but the rule counts as unparsed (a
  partial reading), with the macros named in the reason.
* Events come from `data_source` (see `DataSourceCatalog`) and from
  `EventCode=` / `EventID=` tests when the search selects exactly one Windows log.
* Hostile files (`limits.py`): detections, data sources and stories over 5 MiB, symlinked
  out of the source, not regular files, with NUL bytes or bad UTF-8 are refused unread;
  YAML past its node, alias, document or nesting limits is refused before it is built.
  A search over 200,000 characters is not expanded, and the SPL parser stops at 100,000
  characters and 100 levels of parentheses (the rule stays, unparsed).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..attack.matching import parse_technique_tag
from ..errors import RuleFileError
from ..models import EventRef, Rejection, RuleRecord
from ..normalize.events import EventCatalog, detected_event_ids, required_events
from ..parsers import QueryParseError
from ..parsers.spl import parse_spl
from ..parsers.spl_macros import MacroLibrary
from ..sources import rule_url
from .limits import MAX_QUERY_CHARS, read_rule_text
from .walk import rule_files_under
from .yamlsafe import DuplicateKeyError, YamlLimitError, error_line, load_yaml_document_list

DETECTIONS = "detections"
DEPRECATED = "detections/deprecated/"
SUPPORT_FOLDERS = ("macros", "data_sources", "stories", "lookups")
RULE_SUFFIXES = (".yml", ".yaml")
STORY_EXCERPT = 300
ALL_EVENTS = "all events"
OTHER_PROVIDER = "Splunk data source"
WINDOWS_EVENT_LOG = "windows event log "
_NUMBERED = re.compile(
    r"^(?P<label>.+?)\s+(?:event\s*id\s+|eventcode\s+)?(?P<ids>\d+(?:\s*,\s*\d+)*)$",
    re.IGNORECASE)
FLAT_TAGS = ("analytic_story", "asset_type", "security_domain", "mitre_attack_id", "cve")
EXTRA_TAGS = ("asset_type", "security_domain", "risk_score", "confidence", "impact", "cve",
              "atomic_guid")


class DataSourceCatalog:
    """Data-source names (`data_source:` entries) to the events they name.

    Decisions, in the order a name is tried (a compound `A AND B` names A's and B's):

    1. Names the event catalog reads ("Sysmon EventID 1", "Windows Event Log Security
       4688", "NTLM Operational 8004,8005,8006") give its events, with the catalog's
       provider names (Sysmon, Security, ...). An id the catalog lacks keeps the name as
       its title.
    2. Other `<label> [EventID] <number>` names ("Sysmon for Linux EventID 1", "Windows
       Event Log Application 2282") give (label, number); "Windows Event Log " is dropped
       from the label, as the catalog does.
    3. Names of `data_sources/*.yml` give an event of their product. Descriptors sharing
       sourcetype and separator field form a family; its provider is the family's
       common leading words ("AWS CloudTrail", "Azure Active Directory", "O365"; at most
       two words unless a member is named so), and each member's title is the rest
       ("ConsoleLogin"), or `ALL_EVENTS` for the member named like the provider. A lone
       descriptor whose separator field holds event names (`event_simpleName`, not an
       id field) splits off its last word ("CrowdStrike" / "ProcessRollup2"); any other
       lone descriptor is a provider of its own ("Okta", all events).
    4. Other names: a known provider they start with ("AWS CloudTrail GetObject"), else
       provider `OTHER_PROVIDER` with the whole name as title. Nothing is dropped.

    Events of rules 3 and 4 have no numeric id, so `stable_event_id` gives one: CRC-32 of
    "provider\ntitle" (lower-cased), 31 bits; the same name gets the same id in every
    build and every snapshot.
    """

    def __init__(self, entries: list[dict[str, Any]], events: EventCatalog) -> None:
        self._events = events
        self._named: dict[str, tuple[str, str]] = {}  # name (lower) -> (provider, title)
        self._sources: dict[str, str] = {}  # log source (lower) -> catalog provider
        self.problems: list[str] = []
        families: dict[tuple[str, str], list[str]] = {}
        for entry in entries:
            name = " ".join(str(entry["name"]).split())
            self._learn_source(name, entry)
            if events.events_for_data_source(name) or _NUMBERED.match(name):
                continue  # rules 1 and 2 read it
            separator = str(entry.get("separator") or "")
            families.setdefault((str(entry.get("sourcetype") or "").lower(), separator),
                                []).append(name)
        for (_, separator), names in sorted(families.items()):
            self._named.update(_family(names, _names_events(separator)))
        self._providers = sorted({p for p, _ in self._named.values()}, key=len, reverse=True)

    @classmethod
    def load(cls, folder: Path, events: EventCatalog) -> DataSourceCatalog:
        """The descriptors in `folder`; files that cannot be read are noted, not fatal."""
        entries: list[dict[str, Any]] = []
        problems: list[str] = []
        for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
            try:
                docs = load_yaml_document_list(read_rule_text(folder, path, "YAML"))
            except (RuleFileError, yaml.YAMLError) as exc:
                problems.append(f"{path.name}: {str(exc).splitlines()[0]}")
                continue
            data = docs[0].data if docs else None
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                entries.append(data)
            else:
                problems.append(f"{path.name}: no data source `name`")
        catalog = cls(entries, events)
        catalog.problems = problems
        return catalog

    def events_for(self, name: str) -> list[EventRef]:
        """The events a `data_source` entry names (see the class doc)."""
        return [ref for part in self.parts_of(name) for ref in part]

    def parts_of(self, name: str) -> list[list[EventRef]]:
        """A `data_source` entry's parts joined with `AND`, each part's events."""
        return [self._part_events(part) for part in
                re.split(r"\s+AND\s+", " ".join(name.split()), flags=re.IGNORECASE) if part]

    def windows_provider(self, indices: list[str]) -> str | None:
        """The one catalog provider a search's data selection names, or None."""
        providers: set[str] = set()
        for entry in indices:
            key, _, value = entry.partition("=")
            key, value = key.lower(), value.strip('"').lower()
            if key in ("source", "sourcetype"):
                found = self._sources.get(_without_xml(value))
            elif key == "eventtype" and value.startswith("wineventlog_"):
                found = self._events.provider_for_service(value.removeprefix("wineventlog_"))
            elif key == "channel":
                found = self._events.provider_for_service(value)
            else:
                found = None
            providers.update([found] if found else [])
        return providers.pop() if len(providers) == 1 else None

    def windows_event(self, provider: str, event_id: int) -> EventRef:
        """An event a search's `EventCode=` test names, under `provider`."""
        known = (provider, event_id) in self._events
        return EventRef(provider=provider, event_id=event_id, origin="predicate",
                        title=None if known else f"{provider} event {event_id}")

    def _part_events(self, part: str) -> list[EventRef]:
        known = self._events.events_for_data_source(part)
        if known:
            for ref in known:
                ref.title = None if (ref.provider, ref.event_id) in self._events else part
            return known
        if match := _NUMBERED.match(part):
            label = match["label"]
            if label.lower().startswith(WINDOWS_EVENT_LOG):
                label = label[len(WINDOWS_EVENT_LOG):]
            return [EventRef(provider=label, event_id=int(i), origin="data_source", title=part)
                    for i in re.split(r"\s*,\s*", match["ids"])]
        provider, title = self._named.get(part.lower()) or self._by_prefix(part)
        return [EventRef(provider=provider, event_id=stable_event_id(provider, title),
                         origin="data_source", title=title)]

    def _by_prefix(self, name: str) -> tuple[str, str]:
        for provider in self._providers:
            if name.lower() == provider.lower():
                return provider, ALL_EVENTS
            if name.lower().startswith(provider.lower() + " "):
                return provider, name[len(provider):].strip()
        return OTHER_PROVIDER, name

    def _learn_source(self, name: str, entry: dict[str, Any]) -> None:
        """Remember which catalog provider a descriptor's `source` belongs to."""
        providers = {r.provider for r in self._events.events_for_data_source(name)}
        source = str(entry.get("source") or "").lower()
        if len(providers) == 1 and source:
            self._sources.setdefault(_without_xml(source), providers.pop())


def stable_event_id(provider: str, title: str) -> int:
    """A build-independent id for an event known only by name (see `DataSourceCatalog`)."""
    return zlib.crc32(f"{provider}\n{title}".lower().encode("utf-8")) & 0x7FFFFFFF


def _names_events(separator: str) -> bool:
    """True for a separator field holding event names (`eventName`), not ids (`AlertId`)."""
    return bool(separator) and not separator.lower().endswith(("id", "code"))


def _family(names: list[str], split_last: bool) -> dict[str, tuple[str, str]]:
    """Name (lower) -> (provider, title) for one family of descriptors."""
    if len(names) == 1:
        words = names[0].split()
        if split_last and len(words) > 1:
            return {names[0].lower(): (" ".join(words[:-1]), words[-1])}
        return {names[0].lower(): (names[0], ALL_EVENTS)}
    prefix: list[str] = []
    for column in zip(*(n.split() for n in names), strict=False):
        if any(w != column[0] for w in column):
            break
        prefix.append(column[0])
    if not prefix:
        return {k: v for n in names for k, v in _family([n], split_last).items()}
    if " ".join(prefix) not in names:
        prefix = prefix[:2]
    provider = " ".join(prefix)
    return {n.lower(): (provider, " ".join(n.split()[len(prefix):]) or ALL_EVENTS)
            for n in names}


def _without_xml(source: str) -> str:
    """`xmlwineventlog:security` and `wineventlog:security` name the same log."""
    return source.removeprefix("xml")


@dataclass
class Support:
    """A source root's supporting data: macros, data sources and analytic stories."""

    macros: MacroLibrary
    data_sources: DataSourceCatalog
    stories: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def splunk_rule_files(root: Path) -> list[Path]:
    """Every `*.yml` under `detections/`, sorted (hidden and symlinked folders skipped)."""
    root = Path(root)
    detections = root / DETECTIONS
    top = detections if detections.is_dir() and not detections.is_symlink() else root
    skip = SUPPORT_FOLDERS if top == root else ()
    return rule_files_under([top], RULE_SUFFIXES, skip)


def read_splunk_file(
    source: str, root: Path, path: Path
) -> tuple[list[RuleRecord], list[Rejection]]:
    """The detection in one file, or the reason it cannot be read."""
    rel = _relative(root, path)
    body, text, problem = _load_detection(root, path)
    if problem is not None:
        line, reason = problem
        return [], [Rejection(source=source, path=rel, line=line, reason=reason)]
    assert body is not None
    try:
        record = _record(source, root, rel, body, text, load_support(Path(root)))
    except (TypeError, ValueError) as exc:  # metadata of the wrong shape
        reason = f"unreadable detection metadata: {exc}"
        return [], [Rejection(source=source, path=rel, reason=reason)]
    return [record], []


# The reader protocol of rulecat.index.readers.
rule_files = splunk_rule_files
read_file = read_splunk_file


# --------------------------------------------------------------------------- loading


def _load_detection(
    root: Path, path: Path,
) -> tuple[dict[str, Any] | None, str, tuple[int | None, str] | None]:
    """(detection mapping, file text, (line, reason) when it cannot be read)."""
    try:  # size, symlinks out of the source, NUL bytes, UTF-8: see limits.py
        text = read_rule_text(root, path, "YAML")
    except RuleFileError as exc:
        return None, "", (exc.line, exc.reason)
    try:
        docs = [d.data for d in load_yaml_document_list(text) if d.data is not None]
    except YamlLimitError as exc:
        return None, text, (exc.line, exc.reason)
    except DuplicateKeyError as exc:
        reason = f"duplicate key {exc.key!r} on line {exc.line} (first on line {exc.first_line})"
        return None, text, (exc.line, reason)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, text, (error_line(exc), f"malformed YAML: {problem}")
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return None, text, (None, "not one YAML mapping: not a security_content detection")
    body = docs[0]
    missing = [k for k in ("name", "search") if not isinstance(body.get(k), str)]
    if missing:
        return None, text, (None, f"no {' or '.join(missing)}: not a detection")
    return body, text, None


def load_support(root: Path) -> Support:
    """Macros, data sources and stories of a source root.

    Read once per root and state: the cache key holds the modification times of the
    supporting folders, which change when a file there is added, removed or replaced
    (as git and most editors write files), so the next build reads them again.
    """
    root = Path(root)
    stamp = tuple((root / folder).stat().st_mtime_ns if (root / folder).is_dir() else 0
                  for folder in SUPPORT_FOLDERS[:3])
    return _load_support(root, stamp)


@lru_cache(maxsize=8)
def _load_support(root: Path, stamp: tuple[int, ...]) -> Support:
    macros = MacroLibrary.load(root / "macros")
    data_sources = DataSourceCatalog.load(root / "data_sources", EventCatalog.load())
    stories, problems = _load_stories(root / "stories")
    problems = [f"macros/{p}" for p in macros.problems] + [
        f"data_sources/{p}" for p in data_sources.problems] + problems
    return Support(macros, data_sources, stories, problems)


def _load_stories(folder: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Story name -> {name, description excerpt}, and files that could not be read."""
    stories: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for path in sorted(folder.rglob("*.yml")) if folder.is_dir() else []:
        try:
            data = next((d.data for d in load_yaml_document_list(
                read_rule_text(folder, path, "YAML")) if isinstance(d.data, dict)), None)
        except (RuleFileError, yaml.YAMLError) as exc:
            problems.append(f"stories/{path.name}: {str(exc).splitlines()[0]}")
            continue
        if data and isinstance(data.get("name"), str):
            stories[data["name"]] = {
                "name": data["name"],
                "description": _excerpt(str(data.get("description") or "")),
            }
    return stories, problems


# --------------------------------------------------------------------------- records


def _record(source: str, root: Path, rel: str, body: dict[str, Any], text: str,
            support: Support) -> RuleRecord:
    raw_tags = body.get("tags")
    tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
    techniques, malformed = _techniques(_strings(tags.get("mitre_attack_id")))
    status = _text(body.get("status"))
    date = _text(body.get("date"))
    record = RuleRecord(
        source=source, vendor="splunk",
        native_id=_text(body.get("id")) or f"path:{rel}",
        title=body["name"].strip(),
        description=_text(body.get("description")) or "",
        status=status,
        deprecated=rel.startswith(DEPRECATED) or status == "deprecated",
        author=_text(body.get("author")),
        date=date, modified=date,
        references=_strings(body.get("references")),
        falsepositives=_strings(body.get("known_false_positives")),
        tags=_flat_tags(tags), techniques=techniques, malformed_tags=malformed,
        language="spl", rule_type=_text(body.get("type")),
        path=rel, url=rule_url("splunk", source, root, rel),
        raw=text,
        data_sources=_strings(body.get("data_source")) + _strings(body.get("data_sources")),
    )
    record.extra = _extra(body, tags, support)
    _parse(record, body["search"], support)
    record.events = _events(record, support)
    return record


def _extra(body: dict[str, Any], tags: dict[str, Any], support: Support) -> dict[str, Any]:
    """Vendor metadata kept beside the record (stories, implementation notes, scores)."""
    names = _strings(tags.get("analytic_story"))
    extra: dict[str, Any] = {
        "analytic_story": names,
        "stories": [support.stories.get(n, {"name": n}) for n in names],
        "how_to_implement": _text(body.get("how_to_implement")) or "",
        "version": body.get("version"),
    }
    extra.update((k, tags[k]) for k in EXTRA_TAGS if tags.get(k) is not None)
    if body.get("datamodel"):
        extra["datamodel"] = _strings(body.get("datamodel"))
    return extra


def _parse(record: RuleRecord, search: str, support: Support) -> None:
    """Expand macros, parse, and fill predicates (or the reason the parse failed)."""
    if len(search) > MAX_QUERY_CHARS:  # not even expanded: the raw text stays searchable
        record.extra.update(expanded_search=search, macros=[], unresolved_macros=[])
        record.parsed = False
        record.unparsed_reason = (f"search of {len(search):,} characters, over the "
                                  f"{MAX_QUERY_CHARS:,} rulecat parses")
        return
    expansion = support.macros.expand(search)
    record.extra["expanded_search"] = expansion.text
    record.extra["macros"] = expansion.used
    record.extra["unresolved_macros"] = expansion.unresolved
    try:
        parsed = parse_spl(expansion.text)
    except QueryParseError as exc:
        record.parsed, record.unparsed_reason = False, exc.reason
        return
    except Exception as exc:  # a parser fault costs one rule, never the build
        record.parsed = False
        record.unparsed_reason = f"internal error: {type(exc).__name__}: {exc}"
        return
    record.predicates = parsed.predicates
    record.grouping_fields = parsed.grouping_fields
    record.indices = parsed.indices
    if expansion.unresolved:
        record.parsed = False
        record.unparsed_reason = "unresolved macro(s): " + ", ".join(expansion.unresolved)


def _events(record: RuleRecord, support: Support) -> list[EventRef]:
    """Events of the data sources, then those of `EventCode=` tests (deduplicated). Each
    data source is one way to run the detection, its `AND` parts all needed; tested event
    codes the data sources do not name are one more way (`required_events`)."""
    options = [support.data_sources.parts_of(name) for name in record.data_sources]
    provider = support.data_sources.windows_provider(record.indices)
    if provider is not None:
        named = {(r.provider, r.event_id) for option in options for part in option
                 for r in part}
        tested = [support.data_sources.windows_event(provider, event_id)
                  for event_id in detected_event_ids(record.predicates)]
        options.append([[r for r in tested if (r.provider, r.event_id) not in named]])
    return required_events(options)


# --------------------------------------------------------------------------- summaries


@dataclass
class SourceSummary:
    """What a build report should say about one Splunk source."""

    rules: int = 0
    parsed: int = 0
    active: int = 0  # not deprecated
    active_parsed: int = 0
    unresolved_macros: Counter[str] = field(default_factory=Counter)
    unparsed: list[tuple[str, str]] = field(default_factory=list)  # (rule id, reason)
    problems: list[str] = field(default_factory=list)  # supporting files not read

    def as_dict(self) -> dict[str, Any]:
        rate = self.parsed / self.rules if self.rules else 1.0
        active_rate = self.active_parsed / self.active if self.active else 1.0
        return {
            "spl_parse_rate": round(rate, 4),
            "spl_parse_rate_not_deprecated": round(active_rate, 4),
            "rules": self.rules, "parsed": self.parsed,
            "not_deprecated": self.active, "not_deprecated_parsed": self.active_parsed,
            "unresolved_macros": dict(self.unresolved_macros.most_common()),
            "unparsed": [{"rule_id": r, "reason": why} for r, why in self.unparsed],
            "support_problems": self.problems,
        }


def source_summary(root: Path, rules: Iterable[RuleRecord]) -> SourceSummary:
    """Parse rates, unresolved macros (with rule counts) and unread support files."""
    summary = SourceSummary(problems=list(load_support(Path(root)).problems))
    for rule in rules:
        summary.rules += 1
        summary.parsed += rule.parsed
        if not rule.deprecated:
            summary.active += 1
            summary.active_parsed += rule.parsed
        summary.unresolved_macros.update(rule.extra.get("unresolved_macros") or [])
        if not rule.parsed:
            summary.unparsed.append((rule.id, rule.unparsed_reason or ""))
    return summary


# --------------------------------------------------------------------------- helpers


def _techniques(values: list[str]) -> tuple[list[str], list[str]]:
    """(technique IDs, malformed tags) from `mitre_attack_id` values."""
    techniques: list[str] = []
    malformed: list[str] = []
    for value in values:
        tid = parse_technique_tag(value)
        if tid:
            techniques.append(tid)
        else:
            malformed.append(f"mitre_attack_id:{value}")
    return _unique(techniques), _unique(malformed)


def _flat_tags(tags: dict[str, Any]) -> list[str]:
    return _unique(f"{key}:{value}" for key in FLAT_TAGS for value in _strings(tags.get(key)))


def _strings(value: Any) -> list[str]:
    """A scalar or list as a list of non-empty strings."""
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values
            if v is not None and not isinstance(v, (dict, list)) and str(v).strip()]


def _text(value: Any) -> str | None:
    return str(value).strip() if value is not None and str(value).strip() else None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= STORY_EXCERPT else text[:STORY_EXCERPT - 3].rstrip() + "..."


def _relative(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
