"""The sources config: defaults, where the file is, locations, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.sources import github_origin
from rulecat.index.sync.config import (
    ATTACK, DEFAULT_CONFIG_TEXT, Location, cache_dir, check_url, config_path, default_config,
    load_config, resolve_location, write_default_config,
)
from rulecat.index.sync.errors import ConfigError

ATTACK_URL = ("https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/"
              "enterprise-attack/enterprise-attack-18.1.json")


def test_no_config_file_means_the_four_default_sources(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert config.path is None
    assert [(s.name, s.vendor, s.location, s.enabled) for s in config.sources] == [
        ("sigma", "sigma", "https://github.com/SigmaHQ/sigma/archive/refs/heads/master.tar.gz",
         True),
        ("elastic", "elastic",
         "https://github.com/elastic/detection-rules/archive/refs/heads/main.tar.gz", True),
        ("splunk", "splunk",
         "https://github.com/splunk/security_content/archive/refs/heads/develop.tar.gz", True),
    ]
    assert config.attack is not None
    assert (config.attack.location, config.attack.version, config.attack.sha256) == (
        ATTACK_URL, "18.1", "f857d8f78f2f0c0b7db321a711a39fba98546c1e3076a657684850c83d0962fb")
    assert config.location(config.attack) == Location("url", ATTACK_URL)


def test_init_writes_the_defaults_once(tmp_path: Path) -> None:
    path = write_default_config(tmp_path / "conf" / "sources.toml")
    assert path.read_text() == DEFAULT_CONFIG_TEXT
    loaded = load_config(path)
    assert loaded.path == path
    assert loaded.model_dump() == default_config().model_dump()
    path.write_text("# mine\n")
    with pytest.raises(ConfigError, match="already exists: edit it, or pass --force"):
        write_default_config(path)
    assert path.read_text() == "# mine\n"
    write_default_config(path, force=True)
    assert path.read_text() == DEFAULT_CONFIG_TEXT


def test_config_path_is_the_flag_then_the_environment_then_the_user_config_dir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RULECAT_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"
    assert config_path() == tmp_path / "env.toml"
    monkeypatch.delenv("RULECAT_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "rulecat" / "sources.toml"
    monkeypatch.setenv("RULECAT_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"


def test_local_locations_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nname = "acme"\nvendor = "sigma"\nlocation = "rules"\n\n'
        '[[source]]\nname = "zipped"\nvendor = "elastic"\nlocation = "drop/rules.zip"\n'
        'enabled = false\n\n[attack]\nlocation = "attack/bundle.json"\n')
    config = load_config(tmp_path / "sources.toml")
    acme, zipped = config.sources
    assert config.location(acme) == Location("folder", str(tmp_path / "rules"), tmp_path / "rules")
    assert config.location(zipped).kind == "archive" and config.location(zipped).needs_sync
    assert not zipped.enabled and config.enabled() == [acme]
    assert config.location(config.attack).kind == "bundle"  # type: ignore[arg-type]
    assert resolve_location("~/x", None).path == Path.home() / "x"


@pytest.mark.parametrize(("text", "message"), [
    ('[[source]]\nname = "a"\nvendor = "sigmaa"\nlocation = "x"\n',
     r"source\[0\]\.vendor: Input should be 'sigma', 'elastic' or 'splunk'"),
    ('[[source]]\nname = "a"\nvendor = "sigma"\nlocation = "x"\n' * 2,
     "two sources are named 'a'"),
    ('[[source]]\nname = "attack"\nvendor = "sigma"\nlocation = "x"\n',
     "'attack' names the \\[attack\\] table"),
    ('[[source]]\nname = "../up"\nvendor = "sigma"\nlocation = "x"\n',
     r"source\[0\]\.name: use letters, digits"),
    ('[[source]]\nname = "a"\nvendor = "sigma"\nlocation = "x"\nsha256 = "abc"\n',
     "must be 64 hexadecimal digits"),
    ('[[source]]\nname = "a"\nvendor = "sigma"\nlocation = "x"\nbranch = "main"\n',
     r"source\[0\]\.branch: Extra inputs are not permitted"),
    ('[[source]]\nname = "a"\nvendor = "sigma"\n', r"source\[0\]\.location: Field required"),
    ('[[source]\n', "not valid TOML"),
    ('[[source]]\nname = "a"\nvendor = "sigma"\nlocation = "http://example.com/a.tar.gz"\n',
     "plain http is refused"),
])
def test_a_bad_config_says_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize("url", [
    "https://github.com/SigmaHQ/sigma/archive/refs/heads/master.tar.gz",
    "http://127.0.0.1:8123/sigma.tar.gz", "http://localhost/x.zip", "http://[::1]:80/x.zip",
    "http://127.1.2.3/x.zip",
])
def test_https_and_loopback_http_are_taken(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "message"), [
    ("http://example.com/sigma.tar.gz", r"plain http is refused .* use https\. http is taken "
                                        r"only for loopback hosts \(127\.0\.0\.1, localhost"),
    ("http://10.0.0.1/x.zip", "plain http is refused"),
    ("ftp://example.com/x.zip", "an https:// URL"),
    ("file:///etc/passwd", "an https:// URL"),
])
def test_other_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_url(url)


@pytest.mark.parametrize(("url", "origin"), [
    ("https://github.com/SigmaHQ/sigma/archive/refs/heads/master.tar.gz",
     ("https://github.com/SigmaHQ/sigma", "master")),
    ("https://github.com/acme/rules/archive/refs/tags/v1.2.zip",
     ("https://github.com/acme/rules", "v1.2")),
    ("https://github.com/acme/rules/archive/0123abc.tar.gz",
     ("https://github.com/acme/rules", "0123abc")),
    ("https://codeload.github.com/elastic/detection-rules/tar.gz/refs/heads/main",
     ("https://github.com/elastic/detection-rules", "main")),
    ("http://127.0.0.1:8000/sigma.tar.gz", None),
    ("https://example.com/acme/rules/archive/main.tar.gz", None),
])
def test_github_archive_urls_name_their_repository_and_ref(
        url: str, origin: tuple[str, str] | None) -> None:
    assert github_origin(url) == origin


def test_attack_is_the_name_of_the_attack_bundle() -> None:
    assert ATTACK == "attack"
