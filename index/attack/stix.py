"""Load MITRE ATT&CK techniques and tactics from a STIX bundle (json + pydantic only).

Choices:

- Only what technique answers need is read: `attack-pattern`, `x-mitre-tactic`,
  `x-mitre-matrix` (tactic order), `x-mitre-collection` (version) and the
  `subtechnique-of` / `revoked-by` relationships. Every other object is skipped, which keeps
  loading the 8.9 MB v18.1 bundle to about 0.1 s.
- A technique's ID is the `external_id` of its `mitre-attack` external reference. Its
  `tactics` are its kill-chain phase names, sorted in the matrix's tactic order.
- `parent` comes from the `subtechnique-of` relationship, else from the ID itself
  (`T1547.011` -> `T1547`): some revoked sub-techniques have no relationship left.
- `revoked_by` is the *final* replacement: chains are followed (v18.1 has
  T1150 -> T1547.011 -> T1647 and T1073 -> T1574.002 -> T1574.001); `revocation_chain`
  gives every hop.
- The version is the bundle's `x-mitre-collection` `x_mitre_version`; else the newest
  version of the Enterprise collection in attack-stix-data's `index.json`; else "unknown".
- `tactics` is keyed by shortname (`execution`), the word techniques use; `get_tactic`
  also takes a `TA` ID.
- ATT&CK v18's detection model is read too (`DetectionData`): `x-mitre-detection-strategy`
  (with its `detects` relationships to techniques), `x-mitre-analytic` (platforms and
  `x_mitre_log_source_references`: data component + log-source name + channel, e.g.
  `WinEventLog:Sysmon` / `EventCode=1`) and `x-mitre-data-component` (name and its own
  `x_mitre_log_sources`). Revoked or deprecated ones are skipped. v18.1 has no
  data-component `detects` relationships; strategy -> analytic -> log source is the path.
- `VersionMap` reads a version map such as Elastic's `attack_v18_to_v19.yaml`:
  `techniques:` and `subtechniques:` sections, `old: {id, name, reference}`, a bare ID
  string, or null (dropped in the new version). It relates IDs both ways (many-to-one).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..readers.yamlsafe import load_trusted

TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_LOOSE_ID = re.compile(r"^T?\d{1,5}(\.\d{0,4})?$")


class Tactic(BaseModel):
    """An ATT&CK tactic; `order` is its 0-based position in the matrix."""

    id: str
    shortname: str
    name: str
    order: int
    url: str | None = None


class Technique(BaseModel):
    """An ATT&CK technique or sub-technique as the loaded data describes it."""

    id: str
    stix_id: str
    name: str
    description: str = ""
    tactics: list[str] = []
    platforms: list[str] = []
    is_subtechnique: bool = False
    parent: str | None = None
    deprecated: bool = False
    revoked: bool = False
    revoked_by: str | None = None
    url: str | None = None

    @property
    def active(self) -> bool:
        return not (self.revoked or self.deprecated)


class VersionMap(BaseModel):
    """An ATT&CK ID map between two versions (old -> new, many-to-one; None = dropped)."""

    source_version: str | None = None
    target_version: str | None = None
    old_to_new: dict[str, str | None] = {}
    new_to_olds: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    urls: dict[str, str] = {}

    def new_id(self, old: str) -> str | None:
        """The new ID for `old`; None when unmapped or dropped (see `is_dropped`)."""
        return self.old_to_new.get(old)

    def is_dropped(self, old: str) -> bool:
        return old in self.old_to_new and self.old_to_new[old] is None

    def old_ids(self, new: str) -> list[str]:
        return self.new_to_olds.get(new, [])

    def name_of(self, new: str) -> str | None:
        return self.names.get(new)


class LogSourceRef(BaseModel):
    """One log source an analytic names, e.g. `WinEventLog:Sysmon` / `EventCode=1`."""

    data_component: str  # the data component's ID, e.g. DC0032
    name: str
    channel: str | None = None


class DataComponent(BaseModel):
    """An ATT&CK data component (`DC0032` Process Creation) and its listed log sources."""

    id: str
    name: str
    log_sources: list[tuple[str, str | None]] = []


class Analytic(BaseModel):
    """An ATT&CK analytic (`AN0628`): platforms and the log sources it reads."""

    id: str
    platforms: list[str] = []
    log_sources: list[LogSourceRef] = []
    url: str | None = None


class DetectionStrategy(BaseModel):
    """An ATT&CK detection strategy (`DET0224`): its analytics and the techniques it detects."""

    id: str
    name: str
    analytics: list[str] = []
    techniques: list[str] = []


class DetectionData(BaseModel):
    """ATT&CK v18's detection model, by ID; empty for bundles older than v18."""

    strategies: dict[str, DetectionStrategy] = {}
    analytics: dict[str, Analytic] = {}
    data_components: dict[str, DataComponent] = {}

    def strategies_for(self, technique_id: str) -> list[DetectionStrategy]:
        """Detection strategies that detect `technique_id`, by ID."""
        return [s for s in self.strategies.values() if technique_id in s.techniques]


class Attack:
    """Loaded ATT&CK data: techniques by ID, tactics by shortname, plus look-ups."""

    def __init__(
        self,
        version: str,
        techniques: dict[str, Technique],
        tactics: dict[str, Tactic],
        revoked_direct: dict[str, str] | None = None,
        version_map: VersionMap | None = None,
        detection: DetectionData | None = None,
    ) -> None:
        self.version = version
        self.detection = detection or DetectionData()
        self.techniques = techniques
        self.tactics = tactics
        self.revoked_direct = revoked_direct or {}
        self.version_map = version_map
        self._children: dict[str, list[str]] = {}
        for tech in techniques.values():
            if tech.parent:
                self._children.setdefault(tech.parent, []).append(tech.id)

    def get_technique(self, text: str) -> Technique | None:
        """The technique for an ID in any case (`t1059.001`), or None."""
        return self.techniques.get(text.strip().upper())

    def get_tactic(self, key: str) -> Tactic | None:
        """A tactic by shortname (`execution`) or ID (`TA0002`)."""
        if key in self.tactics:
            return self.tactics[key]
        key = key.strip().upper()
        return next((t for t in self.tactics.values() if t.id == key), None)

    def subtechniques_of(self, tid: str, include_inactive: bool = False) -> list[Technique]:
        """Sub-techniques of `tid` by ID; only active ones unless asked."""
        subs = (self.techniques[c] for c in sorted(self._children.get(tid.upper(), [])))
        return [s for s in subs if include_inactive or s.active]

    def revocation_chain(self, tid: str) -> list[str]:
        """Successive replacements of a revoked ID (`T1150` -> `[T1547.011, T1647]`)."""
        chain: list[str] = []
        cur = self.revoked_direct.get(tid)
        while cur and cur not in chain and cur != tid:
            chain.append(cur)
            cur = self.revoked_direct.get(cur)
        return chain

    def search_by_name(
        self, text: str, limit: int = 10, include_inactive: bool = False
    ) -> list[Technique]:
        """Techniques whose name contains `text` (case-insensitive), best first."""
        needle = text.strip().casefold()
        if not needle:
            return []
        hits = [
            t for t in self.techniques.values()
            if needle in t.name.casefold() and (include_inactive or t.active)
        ]

        def key(t: Technique) -> tuple:
            name = t.name.casefold()
            return (name != needle, not name.startswith(needle), not t.active, len(name), t.id)

        return sorted(hits, key=key)[:limit]

    def nearest_ids(self, text: str, n: int = 5) -> list[str]:
        """Closest existing technique IDs for a "did you mean" (by ID, else by name)."""
        query = text.strip().upper()
        if _LOOSE_ID.match(query):
            if not query.startswith("T"):
                query = "T" + query
            return self._nearest_by_id(query, n)
        found = [t.id for t in self.search_by_name(text, limit=n)]
        names = {t.name.casefold(): t.id for t in self.techniques.values() if t.active}
        for name in difflib.get_close_matches(text.casefold(), list(names), n=n, cutoff=0.6):
            if names[name] not in found:
                found.append(names[name])
        return found[:n]

    def _nearest_by_id(self, query: str, n: int) -> list[str]:
        candidates = set(self.techniques)
        if self.version_map:
            candidates |= {i for i in self.version_map.new_to_olds if i}
        base = query.split(".")[0]

        def key(cid: str) -> tuple:
            tech = self.techniques.get(cid)
            inactive = tech is not None and not tech.active
            return (cid.split(".")[0] != base, _edit_distance(query, cid),
                    -_common_prefix(query, cid), inactive, cid)

        return sorted(candidates, key=key)[:n]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _attack_ref(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """(ATT&CK ID, URL) from an object's `mitre-attack` external reference."""
    for ref in obj.get("external_references") or ():
        if ref.get("source_name") in ("mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"):
            return ref.get("external_id"), ref.get("url")
    return None, None


def _tactics(objects: list[dict], matrices: list[dict]) -> dict[str, Tactic]:
    order = [ref for m in matrices for ref in m.get("tactic_refs", [])]
    pos = {ref: i for i, ref in enumerate(dict.fromkeys(order))}
    raw = sorted(objects, key=lambda o: pos.get(o["id"], len(pos)))
    tactics: dict[str, Tactic] = {}
    for i, obj in enumerate(raw):
        tid, url = _attack_ref(obj)
        short = obj.get("x_mitre_shortname")
        if tid and short:
            tactics[short] = Tactic(id=tid, shortname=short, name=obj["name"], order=i, url=url)
    return tactics


def _technique(obj: dict, parent: str | None, rank: dict[str, int]) -> Technique | None:
    tid, url = _attack_ref(obj)
    if not tid:
        return None
    phases = [p["phase_name"] for p in obj.get("kill_chain_phases") or () if "phase_name" in p]
    phases = sorted(dict.fromkeys(phases), key=lambda p: rank.get(p, len(rank)))
    is_sub = bool(obj.get("x_mitre_is_subtechnique")) or "." in tid
    return Technique(
        id=tid, stix_id=obj["id"], name=obj.get("name", ""),
        description=obj.get("description") or "", tactics=phases,
        platforms=list(obj.get("x_mitre_platforms") or ()), is_subtechnique=is_sub,
        parent=parent or (tid.split(".")[0] if is_sub else None),
        deprecated=bool(obj.get("x_mitre_deprecated")), revoked=bool(obj.get("revoked")),
        url=url,
    )


def _version_from_index(index_json: Path) -> str | None:
    """Newest version of the Enterprise collection listed in attack-stix-data's index.json."""
    data = json.loads(Path(index_json).read_text(encoding="utf-8"))
    cols = data.get("collections") or []
    ent = [c for c in cols if "enterprise" in (c.get("name") or "").lower()]
    if not ent and len(cols) == 1:
        ent = cols
    versions = [v.get("version") for c in ent for v in c.get("versions") or ()]
    versions = [v for v in versions if isinstance(v, str) and v]
    return max(versions, key=_version_key) if versions else None


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in v.split("."))


def load_version_map(path: Path) -> VersionMap:
    """Parse a version map YAML (e.g. Elastic's `attack_v18_to_v19.yaml`)."""
    data = load_trusted(Path(path).read_text(encoding="utf-8")) or {}
    vm = VersionMap(
        source_version=_str_or_none(data.get("source_version")),
        target_version=_str_or_none(data.get("target_version")),
    )
    for section in ("techniques", "subtechniques"):
        for old, entry in (data.get(section) or {}).items():
            _add_entry(vm, str(old).strip().upper(), entry)
    return vm


def _add_entry(vm: VersionMap, old: str, entry: Any) -> None:
    if entry is None:
        vm.old_to_new[old] = None
        return
    if isinstance(entry, str):
        entry = {"id": entry}
    new = str(entry.get("id") or "").strip().upper()
    if not new:
        vm.old_to_new[old] = None
        return
    vm.old_to_new[old] = new
    vm.new_to_olds.setdefault(new, [])
    if old not in vm.new_to_olds[new]:
        vm.new_to_olds[new].append(old)
    if entry.get("name"):
        vm.names[new] = str(entry["name"])
    if entry.get("reference"):
        vm.urls[new] = str(entry["reference"])


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def load_attack(
    bundle: Path, index_json: Path | None = None, version_map: Path | None = None
) -> Attack:
    """Load a STIX bundle; `index_json` and `version_map` are optional side files."""
    objects = json.loads(Path(bundle).read_bytes()).get("objects") or []
    by_type: dict[str, list[dict]] = {}
    for obj in objects:
        by_type.setdefault(obj.get("type", ""), []).append(obj)
    tactics = _tactics(by_type.get("x-mitre-tactic", []), by_type.get("x-mitre-matrix", []))
    techniques, revoked_direct = _techniques(by_type, tactics)
    version = _bundle_version(by_type.get("x-mitre-collection", []))
    if version is None and index_json is not None and Path(index_json).is_file():
        version = _version_from_index(Path(index_json))
    vm = load_version_map(version_map) if version_map is not None else None
    detection = _detection(by_type, techniques)
    return Attack(version or "unknown", techniques, tactics, revoked_direct, vm, detection)


def _live(objects: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(ATT&CK ID, object) of objects neither revoked nor deprecated."""
    for obj in objects:
        ext_id = _attack_ref(obj)[0]
        if ext_id and not obj.get("revoked") and not obj.get("x_mitre_deprecated"):
            yield ext_id, obj


def _detection(
    by_type: dict[str, list[dict[str, Any]]], techniques: dict[str, Technique]
) -> DetectionData:
    """Detection strategies, analytics and data components (ATT&CK v18 and later)."""
    components = {obj["id"]: DataComponent(
        id=ext, name=obj.get("name", ""),
        log_sources=[(s.get("name", ""), s.get("channel"))
                     for s in obj.get("x_mitre_log_sources") or ()],
    ) for ext, obj in _live(by_type.get("x-mitre-data-component", []))}
    analytics = {obj["id"]: Analytic(
        id=ext, platforms=list(obj.get("x_mitre_platforms") or ()), url=_attack_ref(obj)[1],
        log_sources=[LogSourceRef(data_component=components[r["x_mitre_data_component_ref"]].id,
                                  name=r.get("name", ""), channel=r.get("channel"))
                     for r in obj.get("x_mitre_log_source_references") or ()
                     if r.get("x_mitre_data_component_ref") in components],
    ) for ext, obj in _live(by_type.get("x-mitre-analytic", []))}
    by_stix = {t.stix_id: t.id for t in techniques.values()}
    detects: dict[str, list[str]] = {}
    for rel in by_type.get("relationship", []):
        if rel.get("relationship_type") == "detects" and not rel.get("revoked") and (
                rel.get("target_ref") in by_stix):
            detects.setdefault(rel["source_ref"], []).append(by_stix[rel["target_ref"]])
    strategies = {ext: DetectionStrategy(
        id=ext, name=obj.get("name", ""), techniques=sorted(set(detects.get(obj["id"], []))),
        analytics=[analytics[a].id for a in obj.get("x_mitre_analytic_refs") or ()
                   if a in analytics],
    ) for ext, obj in _live(by_type.get("x-mitre-detection-strategy", []))}
    return DetectionData(strategies=strategies,
                         analytics={a.id: a for a in analytics.values()},
                         data_components={c.id: c for c in components.values()})


def _bundle_version(collections: list[dict]) -> str | None:
    versions = [str(c["x_mitre_version"]) for c in collections if c.get("x_mitre_version")]
    return max(versions, key=_version_key) if versions else None


def _techniques(
    by_type: dict[str, list[dict]], tactics: dict[str, Tactic]
) -> tuple[dict[str, Technique], dict[str, str]]:
    patterns = by_type.get("attack-pattern", [])
    stix_to_id = {o["id"]: _attack_ref(o)[0] for o in patterns}
    parents: dict[str, str] = {}
    revoked_direct: dict[str, str] = {}
    for rel in _relationships(by_type.get("relationship", [])):
        src, dst = stix_to_id.get(rel["source_ref"]), stix_to_id.get(rel["target_ref"])
        if not (src and dst):
            continue
        if rel["relationship_type"] == "subtechnique-of":
            parents[src] = dst
        else:
            revoked_direct[src] = dst
    rank = {short: t.order for short, t in tactics.items()}
    techniques: dict[str, Technique] = {}
    for obj in patterns:
        tid = stix_to_id[obj["id"]]
        tech = _technique(obj, parents.get(tid) if tid else None, rank)
        if tech:
            techniques[tech.id] = tech
    attack = Attack("", techniques, tactics, revoked_direct)
    for tech in techniques.values():
        if tech.revoked:
            chain = attack.revocation_chain(tech.id)
            tech.revoked_by = chain[-1] if chain else None
    return techniques, revoked_direct


def _relationships(rels: Iterable[dict]) -> Iterable[dict]:
    for rel in rels:
        kind = rel.get("relationship_type")
        if kind in ("subtechnique-of", "revoked-by") and not rel.get("revoked") and (
            not rel.get("x_mitre_deprecated")
        ):
            yield rel
