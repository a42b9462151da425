"""Build inputs from the sources config, and each source's state for `rulecat sources`.

A build reads every enabled source: a local folder in place, a remote one from its synced
cache folder. A remote source never synced is left out with a note naming `rulecat sync`;
so is a local folder that is missing. The ATT&CK bundle is the synced one for a URL, else
the local bundle or folder. The ATT&CK version map is Elastic's, found in any elastic
source (as `--corpora` finds it in `elastic/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from ..build import ATTACK_BUNDLE, ATTACK_INDEX, ATTACK_VERSION_MAP, BuildInputs, SourceSpec
from ..errors import InvalidArgument
from ..sources import SyncMarker
from .cache import VERSION_INDEX, synced_attack, synced_source
from .config import ATTACK, AttackEntry, SourceEntry, SourcesConfig

# Where a folder laid out like shared/corpora/attack keeps the bundle and index.
_ATTACK_FOLDER_BUNDLE = Path(ATTACK_BUNDLE).relative_to("attack")
_ATTACK_FOLDER_INDEX = Path(ATTACK_INDEX).relative_to("attack")
# Where an Elastic detection-rules tree keeps the v18 -> v19 version map.
_VERSION_MAP = Path(ATTACK_VERSION_MAP).relative_to("elastic")


@dataclass
class Configured:
    """What the config gives a build: sources found, the ATT&CK files, and notes."""

    sources: list[SourceSpec] = field(default_factory=list)
    attack: Path | None = None
    attack_index: Path | None = None
    notes: dict[str, str] = field(default_factory=dict)  # source name -> why left out


def configured_inputs(config: SourcesConfig, cache: Path) -> Configured:
    """The enabled sources a build can read now, and why any others are left out."""
    found = Configured()
    for entry in config.enabled():
        root = _source_root(config, entry, cache, found.notes)
        if root is not None:
            found.sources.append(SourceSpec(name=entry.name, vendor=entry.vendor, root=root))
    if config.attack is not None:
        found.attack, found.attack_index = _attack_files(config, config.attack, cache,
                                                         found.notes)
    return found


def _source_root(
    config: SourcesConfig, entry: SourceEntry, cache: Path, notes: dict[str, str]
) -> Path | None:
    location = config.location(entry)
    if not location.needs_sync:
        assert location.path is not None
        if location.path.is_dir():
            return location.path
        notes[entry.name] = f"{entry.name}: folder not found: {location.path}; left out"
        return None
    synced = synced_source(cache, entry.name)
    if synced is None:
        notes[entry.name] = (f"{entry.name}: not synced yet ({location.text}); left out. "
                             "Run `rulecat sync` to download it.")
        return None
    root, marker = synced
    _note_stale(entry.name, marker, location.text, notes)
    return root


def _attack_files(
    config: SourcesConfig, entry: AttackEntry, cache: Path, notes: dict[str, str]
) -> tuple[Path | None, Path | None]:
    """(bundle, index.json or None) of the configured ATT&CK data."""
    location = config.location(entry)
    if location.kind == "url":
        synced = synced_attack(cache)
        if synced is None:
            notes[ATTACK] = (f"{ATTACK}: not synced yet ({location.text}). Run `rulecat "
                             "sync`, or pass --attack FILE.")
            return None, None
        bundle, marker = synced
        _note_stale(ATTACK, marker, location.text, notes)
        index = bundle.parent / VERSION_INDEX
        return bundle, index if index.is_file() else None
    assert location.path is not None
    if location.kind == "bundle":
        return location.path, None
    index = location.path / _ATTACK_FOLDER_INDEX
    return location.path / _ATTACK_FOLDER_BUNDLE, index if index.is_file() else None


def _note_stale(name: str, marker: SyncMarker, configured: str, notes: dict[str, str]) -> None:
    if marker.location != configured:
        notes[name] = (f"{name}: the cache holds {marker.location}, the config now says "
                       f"{configured}; run `rulecat sync` to update it")


def version_map_in(sources: list[SourceSpec]) -> Path | None:
    """Elastic's ATT&CK version map in the first elastic source that has one."""
    for spec in sources:
        path = spec.root / _VERSION_MAP
        if spec.vendor == "elastic" and path.is_file():
            return path
    return None


def build_inputs_from_config(
    config: SourcesConfig, cache: Path, added: list[SourceSpec] | None = None,
    attack: Path | None = None,
) -> tuple[BuildInputs, list[str]]:
    """(inputs, notes) for a build of every configured source the build can read now.

    `added` sources (`--source`) join them, replacing any of the same name; `attack`
    (`--attack`) replaces the configured bundle. A note about a source (or the bundle) that
    an added one stands in for is dropped.
    """
    added = added or []
    found = configured_inputs(config, cache)
    if not found.sources and not added:
        raise InvalidArgument(nothing_to_build(config))
    bundle = attack or found.attack
    if bundle is None:
        raise InvalidArgument("No ATT&CK bundle: pass --attack FILE (or --corpora DIR), or run "
                              "`rulecat sync` to download the configured one.")
    replaced = {spec.name for spec in added}
    sources = [s for s in found.sources if s.name not in replaced] + added
    standing_in = replaced | ({ATTACK} if attack else set())
    notes = [note for name, note in found.notes.items() if name not in standing_in]
    inputs = BuildInputs(sources=sources, attack=bundle,
                         attack_index=None if attack else found.attack_index,
                         version_map=version_map_in(sources))
    return inputs, notes


def nothing_to_build(config: SourcesConfig) -> str:
    """The error for a build with no source: what to pass, or to run `rulecat sync`."""
    where = config.path or "the defaults: no sources config yet"
    return ("No sources to build. Pass --corpora DIR (e.g. ../shared/corpora) or "
            "--source NAME=VENDOR:PATH, or run `rulecat sync` to download the configured "
            f"sources ({where}; `rulecat sources` lists them).")


# --------------------------------------------------------------------------- states


class SourceState(BaseModel):
    """One configured source (or the ATT&CK bundle) and where it stands."""

    name: str
    vendor: str = Field(description="sigma, elastic, splunk, or attack for the ATT&CK bundle.")
    location: str
    kind: str = Field(description="folder, archive, bundle or url.")
    enabled: bool
    state: str = Field(description="present, missing, synced or not synced.")
    fetched_at: str | None = None
    commit: str | None = None
    sha256: str | None = None
    files: int | None = None
    root: str | None = Field(None, description="What a build reads for it.")


class SourcesListing(BaseModel):
    config: str = Field(description="The sources file.")
    config_exists: bool = Field(description="False: the defaults are in use.")
    cache: str
    sources: list[SourceState]


def sources_listing(config: SourcesConfig, path: Path, cache: Path) -> SourcesListing:
    """Every configured source with its state, for `rulecat sources`."""
    states = [_state(config, e, cache) for e in config.sources]
    if config.attack is not None:
        states.append(_state(config, config.attack, cache))
    return SourcesListing(config=str(path), config_exists=path.is_file(), cache=str(cache),
                          sources=states)


def _state(config: SourcesConfig, entry: SourceEntry | AttackEntry, cache: Path) -> SourceState:
    location = config.location(entry)
    name: str
    vendor: str
    if isinstance(entry, SourceEntry):
        name, vendor, enabled = entry.name, entry.vendor, entry.enabled
    else:
        name, vendor, enabled = ATTACK, ATTACK, True
    state = SourceState(name=name, vendor=vendor, location=location.text, kind=location.kind,
                        enabled=enabled, state="missing")
    if not location.needs_sync:
        assert location.path is not None
        if location.path.exists():
            state.state, state.root = "present", str(location.path)
        return state
    synced = synced_source(cache, name) if vendor != ATTACK else synced_attack(cache)
    if synced is None:
        state.state = "not synced"
        return state
    root, marker = synced
    state.state, state.root = "synced", str(root)
    state.fetched_at, state.commit, state.sha256 = marker.fetched_at, marker.commit, marker.sha256
    state.files = marker.files
    return state
