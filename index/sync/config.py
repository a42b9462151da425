"""The sources config: which rule repositories and which ATT&CK bundle rulecat uses.

The file is TOML: one `[[source]]` table per rule repository and one `[attack]` table for
the ATT&CK Enterprise STIX bundle (`DEFAULT_CONFIG_TEXT` below is the documented default).
Where it is: `--config FILE`, else `$RULECAT_CONFIG`, else `sources.toml` in the user
config directory (platformdirs). No file there means the defaults; `rulecat sources --init`
writes them out so they can be edited. Relative local paths are read from the file's folder.

A location is one of:

- a local folder: read in place by `rulecat build`, offline; `rulecat sync` skips it;
- a local archive (`.tar.gz`, `.tgz`, `.tar`, `.zip`, ...): `rulecat sync` unpacks it;
- a URL: `rulecat sync` downloads and unpacks it. URLs must be https; plain http is taken
  only for loopback hosts (127.0.0.1, localhost, ::1), which tests serve archives from.

For ATT&CK, a location is a URL or a local `.json` bundle, or a folder laid out like
`shared/corpora/attack` (`enterprise-attack.json`, optional `attack-stix-data/index.json`).

Synced copies live in the cache: `$RULECAT_CACHE`, else the user cache directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator,
)
from pydantic_core import ErrorDetails

from .errors import ConfigError

CONFIG_FILE = "sources.toml"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".zip")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# The name `rulecat sources` and `rulecat sync --only` give the ATT&CK bundle.
ATTACK = "attack"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")

# The defaults, written out by `rulecat sources --init`; `default_config()` parses this text,
# so the file a user edits and the defaults never differ.
DEFAULT_CONFIG_TEXT = '''\
# rulecat sources: the rule repositories and ATT&CK data that `rulecat sync` downloads and
# `rulecat build` reads. `rulecat sources` shows each one and whether it is synced.
#
# Each [[source]] is one rule repository read in one format:
#   name      the source's name in the catalog (rule ids are <name>:<id>)
#   vendor    the rule format: sigma, elastic or splunk
#   location  a local folder (read in place, offline), a local archive (.tar.gz, .tgz,
#             .zip), or an https:// URL of one (http:// only for 127.0.0.1 / localhost)
#   enabled   false leaves the source out of syncs and builds (default true)
#   sha256    optional: the archive's SHA-256; a download with other bytes is refused
#   size      optional: the archive's size in bytes, checked the same way
#
# A folder of your own rules, for example:
#   [[source]]
#   name = "acme"
#   vendor = "sigma"
#   location = "~/detections/acme"

[[source]]
name = "sigma"
vendor = "sigma"
location = "https://github.com/SigmaHQ/sigma/archive/refs/heads/master.tar.gz"

[[source]]
name = "elastic"
vendor = "elastic"
location = "https://github.com/elastic/detection-rules/archive/refs/heads/main.tar.gz"

[[source]]
name = "splunk"
vendor = "splunk"
location = "https://github.com/splunk/security_content/archive/refs/heads/develop.tar.gz"

# MITRE ATT&CK Enterprise as a STIX bundle: a URL, a local .json bundle, or a folder laid
# out like shared/corpora/attack. `version` names the release the bundle is (used when the
# bundle does not say); `sha256` pins its bytes (MITRE's published hash of this file, as
# listed in mitreattack-python's release_info, STIX 2.1, enterprise 18.1).
[attack]
location = "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack-18.1.json"
version = "18.1"
sha256 = "f857d8f78f2f0c0b7db321a711a39fba98546c1e3076a657684850c83d0962fb"
'''

LocationKind = Literal["folder", "archive", "bundle", "url"]


@dataclass(frozen=True)
class Location:
    """Where a source or the ATT&CK bundle is: a local folder, archive or bundle, or a URL."""

    kind: LocationKind
    text: str  # the URL, or the local path resolved against the config's folder
    path: Path | None = None

    @property
    def needs_sync(self) -> bool:
        """True when `rulecat sync` must fetch or unpack it before a build can read it."""
        return self.kind in ("url", "archive")


class _Pinned(BaseModel):
    """Fields shared by rule sources and the ATT&CK bundle."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(description="Local folder, local archive, or https:// URL.")
    sha256: str | None = Field(None, description="Expected SHA-256 of the archive or bundle.")
    size: int | None = Field(None, ge=0, description="Expected size in bytes.")

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA256.fullmatch(value):
            raise ValueError("must be 64 hexadecimal digits (a SHA-256)")
        return value


class SourceEntry(_Pinned):
    """One `[[source]]`: a rule repository read in one format."""

    name: str
    vendor: Literal["sigma", "elastic", "splunk"]
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 64), e.g. acme")
        if value == ATTACK:
            raise ValueError(f"{ATTACK!r} names the [attack] table; pick another name")
        return value


class AttackEntry(_Pinned):
    """The `[attack]` table: the ATT&CK Enterprise STIX bundle."""

    version: str | None = Field(None, description="ATT&CK release, e.g. 18.1.")


class SourcesConfig(BaseModel):
    """The whole sources file; `path` is the file it was read from (None: the defaults)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sources: list[SourceEntry] = Field(default_factory=list, alias="source")
    attack: AttackEntry | None = None
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesConfig:
        seen: set[str] = set()
        for entry in self.sources:
            if entry.name in seen:
                raise ValueError(f"two sources are named {entry.name!r}; names must differ")
            seen.add(entry.name)
        return self

    def enabled(self) -> list[SourceEntry]:
        return [s for s in self.sources if s.enabled]

    def location(self, entry: SourceEntry | AttackEntry) -> Location:
        """The entry's location, local paths resolved against the config file's folder."""
        base = self.path.parent if self.path else None
        return resolve_location(entry.location, base, bundle=isinstance(entry, AttackEntry))


# --------------------------------------------------------------------------- paths


def config_path(flag: Path | None = None) -> Path:
    """`--config FILE`, else `$RULECAT_CONFIG`, else `sources.toml` in the user config dir."""
    if flag is not None:
        return flag
    env = os.environ.get("RULECAT_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_path

    return user_config_path("rulecat") / CONFIG_FILE


def cache_dir() -> Path:
    """`$RULECAT_CACHE`, else the user cache directory (platformdirs)."""
    env = os.environ.get("RULECAT_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("rulecat")


# --------------------------------------------------------------------------- loading


def default_config() -> SourcesConfig:
    """The default sources: SigmaHQ, Elastic, Splunk and ATT&CK 18.1, all from GitHub."""
    return _parse(DEFAULT_CONFIG_TEXT, None)


def load_config(path: Path) -> SourcesConfig:
    """The config at `path`, or the defaults when there is no file there yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default_config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the sources config {path}: {exc}") from None
    config = _parse(text, path)
    entries: list[tuple[str, SourceEntry | AttackEntry]] = [
        (f"source {s.name!r}", s) for s in config.sources]
    if config.attack is not None:
        entries.append(("[attack]", config.attack))
    for label, entry in entries:
        try:  # every location checked now, not halfway through a sync
            config.location(entry)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {label}: {exc}") from None
    return config


def _parse(text: str, path: Path | None) -> SourcesConfig:
    where = str(path) if path else "default sources"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        config = SourcesConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors()[:5])
        raise ConfigError(f"{where}: {problems}. See `rulecat sources --init` for the "
                          "format.") from None
    config.path = path
    return config


def _problem(error: ErrorDetails) -> str:
    """`source[1].vendor: Input should be 'sigma', ...` from one pydantic error."""
    where = ""
    for part in error.get("loc", ()):
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def write_default_config(path: Path, force: bool = False) -> Path:
    """Write the default sources file at `path` (not over an existing one unless `force`)."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists: edit it, or pass --force to replace it "
                          "with the defaults.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
    os.replace(partial, path)
    return path


# --------------------------------------------------------------------------- locations


def resolve_location(text: str, base: Path | None, bundle: bool = False) -> Location:
    """Classify a configured location; `bundle` for ATT&CK (a .json file, not an archive)."""
    if "://" in text:
        check_url(text)
        return Location("url", text)
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    name = path.name.lower()
    if bundle:
        return Location("bundle" if name.endswith(".json") else "folder", str(path), path)
    if not path.is_dir() and name.endswith(ARCHIVE_SUFFIXES):
        return Location("archive", str(path), path)
    return Location("folder", str(path), path)


def check_url(url: str) -> None:
    """Accept https URLs, and http only on loopback hosts; anything else is a ConfigError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and is_loopback(parts.hostname):
        return
    if scheme == "http":
        raise ConfigError(f"{url}: plain http is refused (anyone on the path could change the "
                          "rules); use https. http is taken only for loopback hosts "
                          f"({', '.join(LOOPBACK_HOSTS)}), e.g. a local test server.")
    raise ConfigError(f"{url}: a location is a local folder, a local archive, or an https:// "
                      "URL.")


def is_loopback(host: str | None) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
