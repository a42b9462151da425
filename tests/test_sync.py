"""`rulecat sync` against a local HTTP server (127.0.0.1, never the internet).

The server serves archives this module makes: GitHub-shaped ones (one top folder, the commit
in the tar's pax `comment` or the zip comment) of `tests/files/acme` and of the real corpora,
plus the ATT&CK bundles. `/drop/<file>` announces the whole file and sends half of it, as a
connection that breaks mid-body. The done-when test syncs the three corpora and ATT&CK and
builds a catalog equal to the session's catalog built from the folders directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rulecat.index.errors import InvalidArgument
from rulecat.index.readers.sigma import read_sigma_file
from rulecat.index.sources import Provenance, source_provenance
from rulecat.index.sync.cache import synced_source
from rulecat.index.sync.config import load_config
from rulecat.index.sync.errors import ChecksumMismatch, DownloadError
from rulecat.index.sync.fetch import download
from rulecat.index.sync.sync import sync_sources
from rulecat.server import render

FILES = Path(__file__).parent / "files"
ACME = FILES / "acme"
MINI_BUNDLE = FILES / "attack" / "mini-bundle.json"
# The snapshots' commits, from shared/corpora/MANIFEST.md.
SIGMA_COMMIT = "8eaafff1f2845a696050e05e72ba1140ee190698"
ELASTIC_COMMIT = "14cf530f0d2177023092449cd9d9348b4a8884c2"
ACME_COMMIT = "0123456789abcdef0123456789abcdef01234567"
ACME_RULE = "windows/acme_regsvr32_image_extension.yml"


# --------------------------------------------------------------------------- archives


def github_tar(src: Path, dest: Path, top: str, commit: str | None) -> Path:
    """A tar.gz shaped like GitHub's: everything under `top/`, the commit as pax comment."""
    headers = {"comment": commit} if commit else {}
    with tarfile.open(dest, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT,
                      pax_headers=headers) as tar:
        tar.add(src, arcname=top)
    return dest


def github_zip(src: Path, dest: Path, top: str, commit: str | None) -> Path:
    """A zip shaped like GitHub's: everything under `top/`, the commit as the zip comment."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, f"{top}/{path.relative_to(src).as_posix()}")
        zf.comment = (commit or "").encode()
    return dest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus `/drop/<file>`: the full Content-Length, half the body, then close."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/drop/"):
            body = (Path(self.directory) / self.path.removeprefix("/drop/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the server serves; tests add archives to it."""
    folder = tmp_path_factory.mktemp("served")
    github_tar(ACME, folder / "acme.tar.gz", f"acme-{ACME_COMMIT}", ACME_COMMIT)
    truncated = (folder / "acme.tar.gz").read_bytes()
    (folder / "acme-cut.tar.gz").write_bytes(truncated[: len(truncated) // 2])
    shutil.copy(MINI_BUNDLE, folder / "mini-bundle.json")
    (folder / "not-a-bundle.json").write_text('{"hello": "world"}')
    return folder


@pytest.fixture(scope="module")
def server(served: Path) -> Iterator[str]:
    """Base URL of a ThreadingHTTPServer on 127.0.0.1 serving `served`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def write_config(path: Path, sources: list[dict[str, object]],
                 attack: dict[str, object] | None) -> Path:
    """A sources TOML from plain dicts (strings, booleans and numbers only)."""
    def table(values: dict[str, object]) -> str:
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    text = "".join(f"[[source]]\n{table(s)}\n" for s in sources)
    text += f"[attack]\n{table(attack)}" if attack else ""
    path.write_text(text)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """RULECAT_CONFIG / _CACHE / _CATALOG in tmp_path, never the user's own directories."""
    return {"RULECAT_CONFIG": str(tmp_path / "sources.toml"),
            "RULECAT_CACHE": str(tmp_path / "cache"),
            "RULECAT_CATALOG": str(tmp_path / "catalog.sqlite")}


def rulecat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rulecat.server.cli", *args],
                          capture_output=True, text=True, check=False, env={**os.environ, **env})


# --------------------------------------------------------------------------- downloads


def test_a_download_is_checked_against_size_and_sha256(server: str, tmp_path: Path,
                                                       served: Path) -> None:
    url = f"{server}/acme.tar.gz"
    digest, size = sha256(served / "acme.tar.gz"), (served / "acme.tar.gz").stat().st_size
    got = download(url, tmp_path / "dl", sha256=digest, size=size)
    assert (got.bytes, got.sha256, got.url) == (size, digest, url)
    assert got.path.read_bytes() == (served / "acme.tar.gz").read_bytes()
    got.path.unlink()
    with pytest.raises(ChecksumMismatch, match=f"SHA-256 {digest}, but the config says "
                                                f"{'0' * 64}; the file changed upstream"):
        download(url, tmp_path / "dl", sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match=f"{size:,} bytes, but the config says 12"):
        download(url, tmp_path / "dl", size=12)
    with pytest.raises(DownloadError, match="bytes announced, over the 100-byte limit"):
        download(url, tmp_path / "dl", max_bytes=100)
    assert list((tmp_path / "dl").iterdir()) == []  # no partial file is left


def test_a_connection_dropped_mid_body_is_a_clear_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"/drop/acme.tar.gz: download failed after .*"
                                            r"peer closed connection.*try again"):
        download(f"{server}/drop/acme.tar.gz", tmp_path)
    with pytest.raises(DownloadError, match=r"/nothing.tar.gz: HTTP 404 File not found"):
        download(f"{server}/nothing.tar.gz", tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- sync


def test_sync_of_a_github_tar_gz_records_its_commit_for_provenance_and_rule_links(
        server: str, tmp_path: Path, served: Path) -> None:
    # Named `sigma`, the archive's rules link into SigmaHQ at the archive's commit.
    config = load_config(write_config(tmp_path / "s.toml", [
        {"name": "sigma", "vendor": "sigma", "location": f"{server}/acme.tar.gz",
         "sha256": sha256(served / "acme.tar.gz")},
        {"name": "mine", "vendor": "sigma", "location": str(ACME)},
    ], None))
    report = sync_sources(config, tmp_path / "cache")
    assert [(r.name, r.status) for r in report.results] == [("sigma", "synced"),
                                                             ("mine", "local")]
    root, marker = synced_source(tmp_path / "cache", "sigma")  # type: ignore[misc]
    assert root == tmp_path / "cache" / "sources" / "sigma" / "tree"
    assert (marker.commit, marker.files, marker.location) == (ACME_COMMIT, 2,
                                                              f"{server}/acme.tar.gz")
    assert sorted(p.name for p in root.iterdir()) == ["linux", "windows"]  # top folder gone

    prov = source_provenance("sigma", "sigma", root, 2, 2)
    assert (prov.commit, prov.upstream, prov.location) == (
        ACME_COMMIT, "https://github.com/SigmaHQ/sigma", f"{server}/acme.tar.gz")
    assert prov.sha256 == sha256(served / "acme.tar.gz") and prov.fetched_at == marker.fetched_at
    assert prov.archive_date is not None and prov.archive_date[:4] >= "2024"

    rules, _ = read_sigma_file("sigma", root, root / ACME_RULE)
    assert rules[0].url == f"https://github.com/SigmaHQ/sigma/blob/{ACME_COMMIT}/{ACME_RULE}"
    mine, _ = read_sigma_file("mine", ACME, ACME / ACME_RULE)
    assert mine[0].url is None  # a user's own folder has no upstream


@pytest.mark.parametrize(("served_name", "pinned", "message"), [
    ("acme.tar.gz", "0" * 64, "but the config says 0000"),
    ("drop/acme.tar.gz", None, "peer closed connection"),
    ("acme-cut.tar.gz", None, "not a readable tar or zip archive, or truncated"),
])
def test_a_failed_sync_keeps_the_previous_copy(server: str, tmp_path: Path, served_name: str,
                                               pinned: str | None, message: str) -> None:
    cache = tmp_path / "cache"
    good = load_config(write_config(tmp_path / "good.toml", [
        {"name": "acme", "vendor": "sigma", "location": f"{server}/acme.tar.gz"}], None))
    assert not sync_sources(good, cache).failed
    before = (cache / "sources" / "acme" / ".rulecat-source.json").read_text()

    bad = {"name": "acme", "vendor": "sigma", "location": f"{server}/{served_name}"}
    bad |= {"sha256": pinned} if pinned else {}
    report = sync_sources(load_config(write_config(tmp_path / "bad.toml", [bad], None)), cache)
    assert [(r.name, r.status) for r in report.results] == [("acme", "failed")]
    assert message in report.failed[0].detail
    assert (cache / "sources" / "acme" / ".rulecat-source.json").read_text() == before
    assert (cache / "sources" / "acme" / "tree" / ACME_RULE).is_file()
    assert sorted(p.name for p in (cache / "sources").iterdir()) == ["acme"]  # no leftovers
    assert list((cache / "downloads").iterdir()) == []


def test_the_attack_bundle_is_synced_with_its_pinned_version(server: str, tmp_path: Path,
                                                             served: Path) -> None:
    cache = tmp_path / "cache"
    config = load_config(write_config(tmp_path / "s.toml", [], {
        "location": f"{server}/mini-bundle.json", "version": "18.1",
        "sha256": sha256(served / "mini-bundle.json")}))
    (result,) = sync_sources(config, cache).results
    assert result.status == "synced" and result.marker and result.marker.version == "18.1"
    assert (cache / "attack" / "enterprise-attack.json").read_bytes() == MINI_BUNDLE.read_bytes()
    index = json.loads((cache / "attack" / "index.json").read_text())
    assert index["collections"][0]["versions"] == [{"version": "18.1"}]

    page = load_config(write_config(tmp_path / "p.toml", [], {
        "location": f"{server}/not-a-bundle.json"}))
    (failed,) = sync_sources(page, cache).results
    assert failed.status == "failed" and "JSON, but not a STIX bundle" in failed.detail
    assert (cache / "attack" / "enterprise-attack.json").read_bytes() == MINI_BUNDLE.read_bytes()


def test_only_names_enabled_sources(server: str, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "s.toml", [
        {"name": "acme", "vendor": "sigma", "location": f"{server}/acme.tar.gz"},
        {"name": "off", "vendor": "sigma", "location": f"{server}/x.tar.gz", "enabled": False},
    ], None))
    assert [r.name for r in sync_sources(config, tmp_path / "c", only=["acme"]).results] == [
        "acme"]
    with pytest.raises(InvalidArgument, match="--only off, nope: not an enabled source. "
                                              "Enabled: acme"):
        sync_sources(config, tmp_path / "c", only=["off", "nope"])


# --------------------------------------------------------------------------- CLI


def test_sync_builds_and_a_later_failed_sync_leaves_cache_and_catalog_alone(
        server: str, tmp_path: Path, env: dict[str, str], served: Path) -> None:
    good = [{"name": "acme", "vendor": "sigma", "location": f"{server}/acme.tar.gz"}]
    attack = {"location": f"{server}/mini-bundle.json", "version": "18.1"}
    write_config(Path(env["RULECAT_CONFIG"]), good, attack)
    done = rulecat(env, "sync")
    assert done.returncode == 0, done.stderr
    assert "synced acme: " in done.stderr and f"commit {ACME_COMMIT[:12]}" in done.stderr
    assert "Built" in done.stdout and "acme" in done.stdout
    catalog = Path(env["RULECAT_CATALOG"])
    built = catalog.stat()
    info = json.loads(rulecat(env, "info", "--json").stdout)
    assert [(s["name"], s["rules"]) for s in info["sources"]] == [("acme", 2)]
    acme = info["sources"][0]
    assert acme["fetched_at"] and len(acme["sha256"]) == 64 and acme["location"].endswith(".tar.gz")
    assert f"fetched {acme['fetched_at']}" in rulecat(env, "info").stdout.replace("\n", "")

    marker = Path(env["RULECAT_CACHE"]) / "sources" / "acme" / ".rulecat-source.json"
    before = marker.read_text()
    write_config(Path(env["RULECAT_CONFIG"]), [{**good[0], "sha256": "0" * 64}], attack)
    failed = rulecat(env, "sync")
    assert failed.returncode == 1
    assert f"failed acme: {server}/acme.tar.gz: SHA-256 {sha256(served / 'acme.tar.gz')}, " \
           f"but the config says {'0' * 64}" in failed.stderr
    assert "sync failed for acme; the previous copies and the catalog are unchanged" in \
        failed.stderr
    assert failed.stdout == ""  # nothing was built
    assert marker.read_text() == before
    assert (catalog.stat().st_ino, catalog.stat().st_mtime_ns) == (built.st_ino,
                                                                    built.st_mtime_ns)


def test_local_folders_need_no_network_and_sources_lists_every_state(
        server: str, tmp_path: Path, env: dict[str, str]) -> None:
    write_config(Path(env["RULECAT_CONFIG"]), [
        {"name": "acme", "vendor": "sigma", "location": str(ACME)},
        {"name": "gone", "vendor": "sigma", "location": str(tmp_path / "gone")},
        {"name": "remote", "vendor": "elastic", "location": f"{server}/x.tar.gz"},
        {"name": "off", "vendor": "splunk", "location": str(ACME), "enabled": False},
    ], {"location": str(MINI_BUNDLE)})
    listing = json.loads(rulecat(env, "sources", "--json").stdout)
    assert listing["config"] == env["RULECAT_CONFIG"] and listing["config_exists"]
    assert [(s["name"], s["kind"], s["enabled"], s["state"]) for s in listing["sources"]] == [
        ("acme", "folder", True, "present"), ("gone", "folder", True, "missing"),
        ("remote", "url", True, "not synced"), ("off", "folder", False, "present"),
        ("attack", "bundle", True, "present")]

    built = rulecat(env, "sync", "--only", "acme", "--only", "attack")
    assert built.returncode == 0, built.stderr
    assert f"local acme: local folder {ACME}, used in place" in built.stderr
    assert "note remote: not synced yet" in built.stderr
    assert "note gone: folder not found" in built.stderr
    info = json.loads(rulecat(env, "info", "--json").stdout)
    assert [(s["name"], s["rules"], s["root"]) for s in info["sources"]] == [
        ("acme", 2, str(ACME))]

    table = rulecat(env, "sources")
    assert "not synced yet (rulecat sync)" in table.stdout and "local folder" in table.stdout

    # `rulecat build` without flags reads the same configured sources.
    rebuilt = rulecat(env, "build", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert [s["name"] for s in json.loads(rebuilt.stdout)["sources"]] == ["acme"]
    assert "note remote: not synced yet" in rebuilt.stderr


def test_build_flags_add_to_or_replace_the_configured_sources(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, corpora: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from rulecat.index.build import inputs_from_corpora

    config = tmp_path / "sources.toml"
    monkeypatch.setenv("RULECAT_CACHE", str(tmp_path / "cache"))
    # --corpora replaces the config, which is not even read: a broken file cannot stop it.
    config.write_text("[[source]\n")
    assert render.build_inputs(corpora, [], None, None, config) == inputs_from_corpora(corpora)

    write_config(config, [{"name": "acme", "vendor": "sigma", "location": str(ACME)},
                          {"name": "sigma", "vendor": "sigma", "location": "https://x.test/s.zip"}],
                 {"location": str(corpora / "attack")})
    inputs = render.build_inputs(None, [f"extra=sigma:{ACME}"], None, None, config)
    assert [(s.name, s.root) for s in inputs.sources] == [("acme", ACME), ("extra", ACME)]
    assert inputs.attack == corpora / "attack" / "enterprise-attack.json"
    assert inputs.attack_index == corpora / "attack" / "attack-stix-data" / "index.json"
    assert "note sigma: not synced yet (https://x.test/s.zip); left out" in \
        capsys.readouterr().err

    # Same name: --source stands in for the configured (unsynced) one, without a note.
    inputs = render.build_inputs(None, [f"sigma=sigma:{ACME}"], MINI_BUNDLE, None, config)
    assert [s.name for s in inputs.sources] == ["acme", "sigma"]
    assert (inputs.attack, inputs.attack_index) == (MINI_BUNDLE, None)
    assert "sigma" not in capsys.readouterr().err

    write_config(config, [{"name": "sigma", "vendor": "sigma", "location": "https://x.test/s.zip"}],
                 None)
    with pytest.raises(InvalidArgument, match=r"No sources to build\. Pass --corpora DIR .* or "
                                              r"run `rulecat sync`"):
        render.build_inputs(None, [], None, None, config)
    with pytest.raises(InvalidArgument, match="No ATT&CK bundle: pass --attack FILE"):
        render.build_inputs(None, [f"acme=sigma:{ACME}"], None, None, config)


# --------------------------------------------------------------------------- done when


@pytest.fixture(scope="module")
def corpora_served(served: Path, corpora: Path) -> dict[str, Path]:
    """The corpora as GitHub serves them: SigmaHQ and Splunk tar.gz, Elastic zip, ATT&CK."""
    return {
        "sigma": github_tar(corpora / "sigma", served / "sigma.tar.gz",
                            f"sigma-{SIGMA_COMMIT}", SIGMA_COMMIT),
        "elastic": github_zip(corpora / "elastic", served / "detection-rules.zip",
                              f"detection-rules-{ELASTIC_COMMIT}", ELASTIC_COMMIT),
        "splunk": github_tar(corpora / "splunk", served / "security_content.tar.gz",
                             "security_content-develop", None),
        "attack": Path(shutil.copy(corpora / "attack" / "enterprise-attack.json",
                                   served / "enterprise-attack-18.1.json")),
    }


def test_a_catalog_synced_from_the_server_equals_the_one_built_from_the_folders(
        server: str, env: dict[str, str], corpora_served: dict[str, Path],
        catalog_path: Path) -> None:
    from rulecat.index.api import Catalog

    write_config(Path(env["RULECAT_CONFIG"]), [
        {"name": name, "vendor": name, "location": f"{server}/{corpora_served[name].name}",
         "sha256": sha256(corpora_served[name])}
        for name in ("sigma", "elastic", "splunk")
    ], {"location": f"{server}/enterprise-attack-18.1.json", "version": "18.1",
        "sha256": sha256(corpora_served["attack"]),
        "size": corpora_served["attack"].stat().st_size})
    done = rulecat(env, "sync")
    assert done.returncode == 0, done.stderr

    synced, folders = Catalog(Path(env["RULECAT_CATALOG"])), Catalog(catalog_path)
    try:
        assert_same_catalog(synced, folders)
        assert_synced_provenance(synced, server)
    finally:
        synced.close()
        folders.close()


def assert_same_catalog(synced, folders) -> None:  # type: ignore[no-untyped-def]
    rules = "SELECT id, title, source, deprecated, parsed, path FROM rules ORDER BY id"
    assert synced.db.execute(rules).fetchall() == folders.db.execute(rules).fetchall()
    count = "SELECT COUNT(*) FROM predicates"
    assert synced.db.execute(count).fetchone()[0] == folders.db.execute(count).fetchone()[0]
    a, b = synced.catalog_info(), folders.catalog_info()
    assert (a.rules, a.predicates, a.indicators, a.techniques_covered, a.events_used) == (
        b.rules, b.predicates, b.indicators, b.techniques_covered, b.events_used)
    assert [(s.name, s.vendor, s.files, s.rules, s.deprecated) for s in a.sources] == [
        (s.name, s.vendor, s.files, s.rules, s.deprecated) for s in b.sources]
    assert a.report.model_dump(exclude={"seconds"}) == b.report.model_dump(exclude={"seconds"})
    assert a.attack_version == b.attack_version == "18.1"
    x, y = synced.get_technique_coverage("T1559.001"), folders.get_technique_coverage("T1559.001")
    assert x.counts == y.counts and x.total == y.total == 17
    assert {v: [(r.id, r.via) for r in rows] for v, rows in x.rules.items()} == {
        v: [(r.id, r.via) for r in rows] for v, rows in y.rules.items()}


def assert_synced_provenance(synced, server: str) -> None:  # type: ignore[no-untyped-def]
    info = {s.name: s for s in synced.catalog_info().sources}
    assert (info["sigma"].commit, info["sigma"].upstream) == (
        SIGMA_COMMIT, "https://github.com/SigmaHQ/sigma")
    assert info["elastic"].commit == ELASTIC_COMMIT and info["splunk"].commit is None
    prov = {s.name: s for s in Provenance.model_validate_json(synced.meta["provenance"]).sources}
    assert prov["splunk"].location == f"{server}/security_content.tar.gz"
    assert prov["sigma"].archive_date and prov["sigma"].fetched_at and prov["sigma"].sha256
    # catalog_info (and `rulecat info`) show the same origin.
    assert info["splunk"].location == prov["splunk"].location
    assert (info["sigma"].sha256, info["sigma"].fetched_at, info["sigma"].archive_date) == (
        prov["sigma"].sha256, prov["sigma"].fetched_at, prov["sigma"].archive_date)
    def url(rule_id: str) -> str | None:
        return synced.get_rule(rule_id).rule.url

    assert url("sigma:3b4b232a-af90-427c-a22f-30b0c0837b95") == (
        f"https://github.com/SigmaHQ/sigma/blob/{SIGMA_COMMIT}/rules/windows/process_access/"
        "proc_access_win_cmstp_execution_by_access.yml")
    assert url("elastic:622ecb68-fa81-4601-90b5-f8cd661e4520") == (
        f"https://github.com/elastic/detection-rules/blob/{ELASTIC_COMMIT}/rules/windows/"
        "lateral_movement_dcom_hta.toml")
    assert url("splunk:b0a078e4-2601-11ec-9aec-acde48001122") == (
        "https://github.com/splunk/security_content/blob/develop/detections/endpoint/"
        "process_writing_dynamicwrapperx.yml")
