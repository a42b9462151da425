"""Which technique answers list a rule, and why (`via`); flags and descriptions of IDs.

`memberships(tagged_ids, attack)` expands a rule's technique tags into every technique
answer that must list the rule. For each tagged ID `t`:

- `exact`: `t` itself, whatever its state (known, revoked, deprecated, unknown).
- `subtechnique` (roll-up): the parent of a sub-technique tag, in the loaded data's
  structure, or by the ID's shape (`T1685.005` -> `T1685`) for an ID the data lacks.
  A revoked tag does *not* roll up to its old parent: the loaded version has moved it
  (v18.1 has no `subtechnique-of` for T1547.011, now T1647 under Defense Evasion).
- `revoked`: every ID on `t`'s revoked-by chain (T1150 -> T1547.011 -> T1647), and, as a
  roll-up, the parent of the final replacement when it is a sub-technique
  (T1574.002 -> T1574.001 reaches T1574 `via: revoked`, `rollup: true`).
- `renamed`: one hop through the version map, both ways: the new ID of an old tag and the
  old IDs of a new tag (T1070.001 <-> T1685.005; T1685 -> T1562, T1562.001, T1562.006).
  The parents of those IDs are reached as roll-ups (asking T1070 with sub-techniques lists
  rules tagged T1685.005, `via: renamed`, `rollup: true`). Renames are not chained: a rule
  tagged T1562.001 reaches T1685 but not its sibling T1562.006, and a rule tagged T1562
  reaches T1685 but none of T1562's sub-techniques, so a parent-only tag never lands in
  a sub-technique's answer through the loaded version's structure. (The map itself may
  send a v19 parent-level ID to a v18 sub-technique: T1685 -> T1562.001; that is a rename.)

Precedence when a rule reaches one technique by several paths: exact > subtechnique >
revoked > renamed (`VIA_RANK`), and the tagged ID sorting first on a tie. A path that
needs no roll-up is kept separately: per technique there is one row with `rollup=False`
(the strongest direct path) and, only when strictly stronger, one with `rollup=True`.
So `include_subtechniques=false` keeps the `rollup=False` rows, and the default keeps the
strongest row per technique; `select()` does both.

Flags (`technique_flags`), short strings:
`unknown_to_loaded_attack` (the loaded version lacks the ID: kept, never dropped),
`deprecated`, `revoked`, `revoked_by:<ID>` (final replacement), `renamed_in_v<N>:<ID>`
(the version map sends this old ID to another ID in version N), `dropped_in_v<N>` (the map
drops it), `renamed_from:<ID>` (one per old ID the map sends to this ID).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Literal

from pydantic import BaseModel

from .stix import TECHNIQUE_ID, Attack, VersionMap

Via = Literal["exact", "subtechnique", "revoked", "renamed"]
VIA_RANK: dict[str, int] = {"exact": 0, "subtechnique": 1, "revoked": 2, "renamed": 3}

_TAG = re.compile(r"^(?:attack\.)?(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


class Membership(BaseModel, frozen=True):
    """A rule belongs in `technique_id`'s answer because it is tagged `tagged_id`."""

    technique_id: str
    via: Via
    tagged_id: str
    rollup: bool = False


class TechniqueInfo(BaseModel):
    """How an answer describes an asked technique ID, known to the data or not."""

    id: str
    name: str | None = None
    tactics: list[str] = []
    description: str = ""
    url: str | None = None
    is_subtechnique: bool = False
    parent: str | None = None
    known: bool = True
    attack_version: str = "unknown"
    flags: list[str] = []


def parse_technique_tag(text: str) -> str | None:
    """`t1059.001`, ` T1059.001 `, `attack.t1059.001` -> `T1059.001`; None if not an ID."""
    m = _TAG.match(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    tid = m.group(1).upper()
    return tid if TECHNIQUE_ID.match(tid) else None


def _id_parent(tid: str) -> str | None:
    return tid.split(".")[0] if "." in tid else None


def _rollup_parent(tid: str, attack: Attack) -> str | None:
    """The parent a tag rolls up to: none for a revoked ID (its replacement rolls up)."""
    tech = attack.techniques.get(tid)
    if tech is None:
        return _id_parent(tid)
    return None if tech.revoked else tech.parent


def _paths(tid: str, attack: Attack, vm: VersionMap | None) -> Iterator[Membership]:
    yield Membership(technique_id=tid, via="exact", tagged_id=tid)
    tech = attack.techniques.get(tid)
    if tech is not None and tech.revoked:
        chain = attack.revocation_chain(tid)
        for rid in chain:
            yield Membership(technique_id=rid, via="revoked", tagged_id=tid)
        parent = _rollup_parent(chain[-1], attack) if chain else None
        if parent:
            yield Membership(technique_id=parent, via="revoked", tagged_id=tid, rollup=True)
    elif parent := _rollup_parent(tid, attack):
        yield Membership(technique_id=parent, via="subtechnique", tagged_id=tid, rollup=True)
    if vm is None:
        return
    related = [vm.new_id(tid)] + vm.old_ids(tid)
    for rid in dict.fromkeys(r for r in related if r and r != tid):
        yield Membership(technique_id=rid, via="renamed", tagged_id=tid)
        if parent := _rollup_parent(rid, attack):
            yield Membership(technique_id=parent, via="renamed", tagged_id=tid, rollup=True)


def _strength(m: Membership) -> tuple[int, str]:
    return VIA_RANK[m.via], m.tagged_id


def memberships(
    tagged_ids: Iterable[str], attack: Attack, version_map: VersionMap | None = None
) -> list[Membership]:
    """Every technique answer that lists a rule with these tags (see module docstring).

    Tags are normalized with `parse_technique_tag`; text that is not a technique ID is
    skipped. `version_map` defaults to the one loaded with `attack`.
    """
    vm = version_map if version_map is not None else attack.version_map
    best: dict[tuple[str, bool], Membership] = {}
    tags = {t for t in (parse_technique_tag(x) for x in tagged_ids) if t}
    for tid in sorted(tags):
        for m in _paths(tid, attack, vm):
            key = (m.technique_id, m.rollup)
            if key not in best or _strength(m) < _strength(best[key]):
                best[key] = m
    rows = []
    for (tech_id, rollup), m in sorted(best.items()):
        direct = best.get((tech_id, False))
        if rollup and direct is not None and _strength(direct) <= _strength(m):
            continue
        rows.append(m)
    return rows


def select(rows: Iterable[Membership], include_subtechniques: bool = True) -> list[Membership]:
    """One row per technique: the strongest, or the strongest without roll-up."""
    best: dict[str, Membership] = {}
    for m in rows:
        if m.rollup and not include_subtechniques:
            continue
        cur = best.get(m.technique_id)
        if cur is None or (_strength(m), m.rollup) < (_strength(cur), cur.rollup):
            best[m.technique_id] = m
    return [best[k] for k in sorted(best)]


def technique_flags(
    tid: str, attack: Attack, version_map: VersionMap | None = None
) -> list[str]:
    """Short flags describing an ID's state (see module docstring for the vocabulary)."""
    vm = version_map if version_map is not None else attack.version_map
    tid = parse_technique_tag(tid) or tid.strip().upper()
    flags: list[str] = []
    tech = attack.techniques.get(tid)
    if tech is None:
        flags.append("unknown_to_loaded_attack")
    else:
        if tech.deprecated:
            flags.append("deprecated")
        if tech.revoked:
            flags.append("revoked")
            if tech.revoked_by:
                flags.append(f"revoked_by:{tech.revoked_by}")
    if vm is not None:
        target = vm.target_version or "next"
        new = vm.new_id(tid)
        if new and new != tid:
            flags.append(f"renamed_in_v{target}:{new}")
        elif vm.is_dropped(tid):
            flags.append(f"dropped_in_v{target}")
        flags += [f"renamed_from:{old}" for old in vm.old_ids(tid) if old != tid]
    return flags


_CITATION = re.compile(r"\(Citation: [^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def excerpt(text: str, limit: int = 300) -> str:
    """First paragraph of a description without citations or link targets, cut at `limit`."""
    para = _MD_LINK.sub(r"\1", _CITATION.sub("", text)).strip().split("\n\n")[0]
    para = " ".join(para.split())
    if len(para) <= limit:
        return para
    return para[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def describe(
    tid: str, attack: Attack, version_map: VersionMap | None = None, limit: int = 300
) -> TechniqueInfo:
    """Describe an asked ID; an ID unknown to the data takes its name from the version map."""
    vm = version_map if version_map is not None else attack.version_map
    tid = parse_technique_tag(tid) or tid.strip().upper()
    flags = technique_flags(tid, attack, vm)
    tech = attack.techniques.get(tid)
    if tech is not None:
        return TechniqueInfo(
            id=tid, name=tech.name, tactics=tech.tactics,
            description=excerpt(tech.description, limit), url=tech.url,
            is_subtechnique=tech.is_subtechnique, parent=tech.parent,
            attack_version=attack.version, flags=flags,
        )
    return TechniqueInfo(
        id=tid, name=vm.name_of(tid) if vm else None, url=vm.urls.get(tid) if vm else None,
        is_subtechnique="." in tid, parent=_id_parent(tid), known=False,
        attack_version=attack.version, flags=flags,
    )
