"""The user's own rules as a named source: coverage, filters, `compare_sources`, provenance.

The catalog is the real Sigma corpus plus `tests/files/acme`, a private Sigma folder of two
rules: an edited copy of SigmaHQ's regsvr32 rule (own id, 9 detect indicators, 7 of them in
the original) and a new rule for T1546.017 (Udev Rules), which no Sigma rule covers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from rulecat.index.answers import Filters
from rulecat.index.errors import InvalidArgument
from rulecat.index.sources import git_head
from rulecat.server.mcp_server import create_server

ACME = Path(__file__).parent / "files" / "acme"
ACME_COPY = "acme:6f0c2a41-4d1e-4b7a-9c55-ac3e00000001"
ACME_NEW = "acme:6f0c2a41-4d1e-4b7a-9c55-ac3e00000002"
SIGMA_ORIGINAL = "sigma:089fc3d2-71e8-4763-a8a5-c97fbb0a403e"


@pytest.fixture(scope="module")
def acme_path(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rulecat.index.build import SourceSpec, build_catalog, inputs_from_corpora

    inputs = inputs_from_corpora(corpora)
    inputs.sources = [SourceSpec(name="sigma", vendor="sigma", root=corpora / "sigma"),
                      SourceSpec(name="acme", vendor="sigma", root=ACME)]
    path = tmp_path_factory.mktemp("acme-catalog") / "catalog.sqlite"
    build_catalog(inputs, path)
    return path


@pytest.fixture(scope="module")
def acme(acme_path: Path):  # -> Catalog
    from rulecat.index.api import Catalog

    cat = Catalog(acme_path)
    yield cat
    cat.close()


def test_acme_rules_show_up_in_coverage_with_their_source(acme) -> None:
    answer = acme.get_technique_coverage("T1218.010")
    rows = {r.id: r for r in answer.rules["sigma"]}
    assert rows[ACME_COPY].source == "acme" and rows[SIGMA_ORIGINAL].source == "sigma"
    new = acme.get_technique_coverage("T1546.017")
    assert [(r.id, r.source) for r in new.rules["sigma"]] == [(ACME_NEW, "acme")]


def test_the_sources_filter_accepts_acme(acme) -> None:
    only = acme.get_technique_coverage("T1218.010", filters=Filters(sources=["acme"]))
    assert only.total == 1 and only.rules["sigma"][0].id == ACME_COPY
    assert only.counts["sigma"].sources == {"acme": 1}
    merged = acme.get_technique_coverage("T1218.010").counts["sigma"]
    assert merged.sources["acme"] == 1 and sum(merged.sources.values()) == merged.rules
    both = acme.get_technique_coverage("T1218.010", filters=Filters(sources=["acme", "sigma"]))
    assert both.total == acme.get_technique_coverage("T1218.010").total
    with pytest.raises(InvalidArgument, match="Valid sources: acme, sigma"):
        acme.get_technique_coverage("T1218.010", filters=Filters(sources=["acne"]))


def test_compare_acme_with_sigma_shows_the_overlap_and_what_acme_adds(acme) -> None:
    c = acme.compare_sources("acme", "sigma")
    assert (c.techniques_a, c.techniques_only_in_a) == (2, 1)
    assert [(t.id, t.name, t.rules) for t in c.only_in_a] == [("T1546.017", "Udev Rules", 1)]
    assert (c.rules_a, c.rules_fully_in_b, c.rules_partly_in_b, c.rules_new) == (2, 0, 1, 1)
    copy, new = c.overlap
    assert (copy.id, copy.indicators, copy.in_b) == (ACME_COPY, 9, 7)
    assert (copy.shared_with[0].id, copy.shared_with[0].shared) == (SIGMA_ORIGINAL, 7)
    assert (new.id, new.indicators, new.in_b, new.shared_with) == (ACME_NEW, 2, 0, [])
    assert c.next is None


def test_compare_the_other_way_pages_and_finds_the_original(acme) -> None:
    c = acme.compare_sources("sigma", "acme", limit=1)
    assert c.techniques_b == 2 and c.techniques_only_in_a == c.techniques_a - 1
    assert c.rules_a == 3780 and c.rules_new + c.rules_partly_in_b + c.rules_fully_in_b == 3780
    assert [(o.id, o.in_b) for o in c.overlap] == [(SIGMA_ORIGINAL, 7)]
    assert c.next == {"a": "sigma", "b": "acme", "limit": 1, "offset": 1}
    assert acme.compare_sources(**c.next).only_in_a[0].id != c.only_in_a[0].id


@pytest.mark.parametrize(("a", "b", "message"), [
    ("acne", "sigma", "Unknown source 'acne' (as a). Valid sources: acme, sigma."),
    ("acme", "x" * 10_000, "Valid sources: acme, sigma."),
    ("acme", "acme", "pass two different sources"),
])
def test_compare_rejects_bad_source_names(acme, a: str, b: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        acme.compare_sources(a, b)
    assert message in str(err.value) and len(str(err.value)) < 300


def test_catalog_info_gives_each_sources_provenance(acme, corpora: Path) -> None:
    info = acme.catalog_info()
    by_name = {s.name: s for s in info.sources}
    sigma, mine = by_name["sigma"], by_name["acme"]
    assert sigma.upstream == "https://github.com/SigmaHQ/sigma" and sigma.commit is None
    assert (sigma.files, sigma.rules) == (3780, 3780)
    assert mine.upstream is None and (mine.files, mine.rules) == (2, 2)
    assert info.attack_version == "18.1"
    assert info.attack_bundle == str(corpora / "attack" / "enterprise-attack.json")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_compare_sources_tool(acme_path: Path) -> None:
    async with Client(create_server(acme_path), raise_exceptions=True) as client:
        ok = await client.call_tool("compare_sources", {"a": "acme", "b": "sigma"})
        bad = await client.call_tool("compare_sources", {"a": "acme", "b": "nope"})
    assert not ok.is_error and ok.structured_content["rules_new"] == 1
    assert bad.is_error and "Valid sources: acme, sigma" in bad.content[0].text


def test_cli_compare(acme_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rulecat.server.cli", *args, "--catalog",
                               str(acme_path)], capture_output=True, text=True, check=False)

    done = run("compare", "acme", "sigma", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["only_in_a"][0]["id"] == "T1546.017"
    table = run("compare", "acme", "sigma")
    assert "T1546.017" in table.stdout and "1 only in acme" in table.stdout
    # Each id stands whole on a line of its own cell; titles wrap at word ends, not letters.
    lines = [line.split() for line in table.stdout.splitlines()]
    assert [ACME_COPY, SIGMA_ORIGINAL] in lines
    assert ["ACME", "-", "Udev", "Rule", "File", "Written", "0", "of", "2"] in lines
    bad = run("compare", "acme", "nope")
    assert bad.returncode == 2 and "Valid sources: acme, sigma" in bad.stderr
    info = run("info")
    assert "sigma: https://github.com/SigmaHQ/sigma" in info.stdout
    coverage = run("coverage", "T1546.017")
    assert "rules: sigma: 1 (exact 1; acme 1)" in coverage.stdout


# ------------------------------------------------------------------ git commit, no git run

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_git_head_reads_a_loose_ref(tmp_path: Path) -> None:
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(SHA + "\n")
    (tmp_path / "rules").mkdir()
    assert git_head(tmp_path / "rules") == (SHA, "main")


def test_provenance_names_a_parent_checkout_whose_commit_it_gives(tmp_path: Path) -> None:
    from rulecat.index.sources import source_provenance

    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text(SHA + "\n")
    (tmp_path / "rules").mkdir()
    inner = source_provenance("mine", "sigma", tmp_path / "rules", 1, 1)
    top = source_provenance("mine", "sigma", tmp_path, 1, 1)
    assert (inner.commit, inner.checkout) == (SHA, str(tmp_path.resolve()))
    assert (top.commit, top.checkout) == (SHA, None)


def test_git_head_reads_packed_refs_and_detached_heads(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    git.mkdir()
    (git / "HEAD").write_text("ref: refs/heads/master\n")
    (git / "packed-refs").write_text(f"# pack-refs\n{SHA} refs/heads/master\n")
    assert git_head(tmp_path) == (SHA, "master")
    (git / "HEAD").write_text(SHA)
    assert git_head(tmp_path) == (SHA, None)


def test_git_head_follows_a_gitdir_file_and_ignores_junk(tmp_path: Path) -> None:
    real = tmp_path / "real.git"
    real.mkdir()
    (real / "HEAD").write_text(SHA)
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {real}\n")
    assert git_head(tmp_path / "wt") == (SHA, None)
    (real / "HEAD").write_text("not a sha")
    assert git_head(tmp_path / "wt") == (None, None)


# ------------------------------------------------------- synced sources and rule links

OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def _synced(tmp_path: Path, location: str, commit: str | None, **extra: object) -> Path:
    """A cache folder as `rulecat sync` leaves it: `tree/` and the marker beside it."""
    from rulecat.index.sources import SYNC_MARKER, SyncMarker

    folder = tmp_path / "cache" / "sources" / "sigma"
    (folder / "tree" / "rules").mkdir(parents=True, exist_ok=True)
    marker = SyncMarker(name="sigma", vendor="sigma", location=location, root="tree",
                        sha256="a" * 64, bytes=10, fetched_at="2026-08-06T10:00:00+00:00",
                        commit=commit, archive_date="2026-08-05T08:52:16+00:00", files=1,
                        **extra)  # type: ignore[arg-type]
    (folder / SYNC_MARKER).write_text(marker.model_dump_json())
    return folder / "tree"


def test_rule_links_use_the_commit_of_a_checkout_rooted_at_the_source(tmp_path: Path) -> None:
    from rulecat.index.sources import rule_url

    checkout = tmp_path / "sigma"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text(SHA)
    assert rule_url("sigma", "sigma", checkout, "rules/a b.yml") == (
        f"https://github.com/SigmaHQ/sigma/blob/{SHA}/rules/a%20b.yml")
    # A folder inside some other repository: that commit says nothing about SigmaHQ.
    (checkout / "sub").mkdir()
    assert rule_url("sigma", "sigma", checkout / "sub", "rules/a.yml") == (
        "https://github.com/SigmaHQ/sigma/blob/master/rules/a.yml")
    assert rule_url("elastic", "elastic", tmp_path, "rules/x.toml") == (
        "https://github.com/elastic/detection-rules/blob/main/rules/x.toml")
    assert rule_url("sigma", "acme", checkout, "rules/a.yml") is None  # a user's own source
    assert rule_url("elastic", "sigma", checkout, "rules/a.toml") is None  # not SigmaHQ's format


def test_rule_links_follow_the_sync_marker_and_notice_a_new_sync(tmp_path: Path) -> None:
    import os

    from rulecat.index.sources import SYNC_MARKER, rule_url

    root = _synced(tmp_path, "http://127.0.0.1:9/sigma.tar.gz", SHA)
    assert rule_url("sigma", "sigma", root, "rules/a.yml") == (
        f"https://github.com/SigmaHQ/sigma/blob/{SHA}/rules/a.yml")
    _synced(tmp_path, "https://github.com/me/sigma-fork/archive/refs/heads/dev.tar.gz", OTHER)
    marker = root.parent / SYNC_MARKER
    os.utime(marker, ns=(marker.stat().st_atime_ns, marker.stat().st_mtime_ns + 10**9))
    assert rule_url("sigma", "sigma", root, "rules/a.yml") == (
        f"https://github.com/me/sigma-fork/blob/{OTHER}/rules/a.yml")
    # An archive without a commit links at its branch; any name synced from GitHub has links.
    _synced(tmp_path, "https://github.com/me/sigma-fork/archive/refs/heads/dev.tar.gz", None)
    os.utime(marker, ns=(marker.stat().st_atime_ns, marker.stat().st_mtime_ns + 10**9))
    assert rule_url("sigma", "acme", root, "rules/a.yml") == (
        "https://github.com/me/sigma-fork/blob/dev/rules/a.yml")


def test_provenance_of_a_synced_source_says_where_and_when_it_came_from(tmp_path: Path) -> None:
    from rulecat.index.sources import source_provenance

    url = "https://github.com/SigmaHQ/sigma/archive/refs/heads/master.tar.gz"
    root = _synced(tmp_path, url, SHA, branch="master")
    prov = source_provenance("sigma", "sigma", root, 3, 4)
    assert (prov.commit, prov.branch, prov.upstream, prov.location) == (
        SHA, "master", "https://github.com/SigmaHQ/sigma", url)
    assert (prov.sha256, prov.archive_date, prov.fetched_at, prov.files, prov.rules) == (
        "a" * 64, "2026-08-05T08:52:16+00:00", "2026-08-06T10:00:00+00:00", 3, 4)
    # The marker describes `tree/` only: a folder beside it is not that synced source.
    (root.parent / "other").mkdir()
    assert source_provenance("sigma", "sigma", root.parent / "other", 0, 0).location is None


def test_the_closest_rule_of_b_is_the_most_alike_among_equal_shares() -> None:
    from rulecat.index.compare import _rule_overlap

    shared, mine = ("process.name", "eq", "regsvr32.exe"), ("dns.question.name", "eq", "x.test")
    holders = {shared: [10, 20]}
    titles = {10: ("sigma:long", "A rule testing twelve things"), 20: ("sigma:orig", "Z original")}
    row = _rule_overlap("acme:copy", "copy", {shared, mine}, holders, titles, {10: 12, 20: 2})
    # Both share one indicator; the two-indicator original is closer (1/3 against 1/13).
    assert [(s.id, s.shared, s.indicators) for s in row.shared_with] == [
        ("sigma:orig", 1, 2), ("sigma:long", 1, 12)]
    assert (row.indicators, row.in_b) == (2, 1)
