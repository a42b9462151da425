"""Where each source of a build came from: its folder, counts, git commit and upstream.

The commit is read from the checkout's `.git` files (HEAD, loose refs, packed-refs); git is
never run. A folder that is not a git checkout simply has no commit.

A source that `rulecat sync` downloaded (see `rulecat.index.sync`) lives in the cache as
`<cache>/sources/<name>/tree/`, with a small marker file `.rulecat-source.json` *beside*
`tree/`, not inside it: the build walks `tree/` and so never counts the marker as a skipped
rule file, and a synced source reports the same `files_seen` as the same folder read in
place. The marker says where the archive came from, its SHA-256, when it was fetched, and
the commit and archive date when the archive carries them; provenance and rule links read
it here.

Rule links (`rule_url`) point at the upstream file on GitHub: at the snapshot's commit when
it is known (a synced archive's marker, or a git checkout whose `.git` is at the source
root), else at the branch head, as before.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

# The public repositories behind the default source names.
UPSTREAM = {
    "sigma": "https://github.com/SigmaHQ/sigma",
    "elastic": "https://github.com/elastic/detection-rules",
    "splunk": "https://github.com/splunk/security_content",
}
# The branch each default repository's rules are linked at when no commit is known.
UPSTREAM_BRANCH = {"sigma": "master", "elastic": "main", "splunk": "develop"}

# The marker file of a synced source, beside the folder (or bundle) it describes.
SYNC_MARKER = ".rulecat-source.json"

# GitHub archive URLs: .../<owner>/<repo>/archive/[refs/heads/|refs/tags/]<ref>.(tar.gz|zip)
# and codeload's .../<owner>/<repo>/(tar.gz|zip)/[refs/heads/|refs/tags/]<ref>.
_GITHUB_ARCHIVE = re.compile(
    r"^https://github\.com/(?P<repo>[\w.-]+/[\w.-]+)/archive/(?:refs/(?:heads|tags)/)?"
    r"(?P<ref>.+?)\.(?:tar\.gz|tgz|zip)$"
    r"|^https://codeload\.github\.com/(?P<repo2>[\w.-]+/[\w.-]+)/(?:tar\.gz|zip)/"
    r"(?:refs/(?:heads|tags)/)?(?P<ref2>.+)$"
)


class SourceProvenance(BaseModel):
    name: str
    vendor: str
    root: str = Field(description="The folder the build read.")
    files: int = Field(description="Rule files read.")
    rules: int = Field(description="Rules indexed.")
    commit: str | None = Field(None, description="Git commit of the folder, when a checkout.")
    branch: str | None = None
    checkout: str | None = Field(
        None, description="The git checkout holding the folder, when not the folder itself.")
    upstream: str | None = Field(None, description="Public repository, for the default names.")
    location: str | None = Field(
        None, description="The URL or archive `rulecat sync` fetched the folder from.")
    sha256: str | None = Field(None, description="SHA-256 of the synced archive.")
    archive_date: str | None = Field(
        None, description="Newest file time in the synced archive (GitHub: the commit time).")
    fetched_at: str | None = Field(None, description="When `rulecat sync` fetched it (UTC).")


class AttackProvenance(BaseModel):
    version: str
    bundle: str = Field(description="The ATT&CK STIX bundle the build read.")


class Provenance(BaseModel):
    sources: list[SourceProvenance] = Field(default_factory=list)
    attack: AttackProvenance | None = None


class SyncMarker(BaseModel):
    """What `rulecat sync` records beside a synced source's folder (or ATT&CK bundle)."""

    name: str
    vendor: str = Field(description="sigma, elastic, splunk, or attack for the bundle.")
    location: str = Field(description="The URL or local archive it came from.")
    root: str = Field(description="Name of the folder (or bundle file) this marker describes.")
    sha256: str
    bytes: int = Field(description="Size of the downloaded archive or bundle.")
    fetched_at: str
    commit: str | None = Field(None, description="From the archive (tar pax or zip comment).")
    branch: str | None = Field(None, description="From a GitHub archive URL.")
    archive_date: str | None = None
    files: int | None = Field(None, description="Files unpacked.")
    version: str | None = Field(None, description="ATT&CK: the configured version.")


def read_sync_marker(root: Path) -> SyncMarker | None:
    """The sync marker of the source folder (or bundle) `root`, or None when not synced."""
    try:
        text = (root.parent / SYNC_MARKER).read_text(encoding="utf-8")
        marker = SyncMarker.model_validate_json(text)
    except (OSError, ValueError, ValidationError):
        return None
    return marker if marker.root == root.name else None


def github_origin(url: str) -> tuple[str, str] | None:
    """(repository URL, ref) of a GitHub archive URL, e.g. the `master` of SigmaHQ/sigma."""
    match = _GITHUB_ARCHIVE.match(url)
    if match is None:
        return None
    repo = match["repo"] or match["repo2"]
    return f"https://github.com/{repo}", match["ref"] or match["ref2"]


def git_head(root: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the git checkout holding `root`, or (None, None)."""
    found = git_checkout(root)
    return _read_head(found[1]) if found else (None, None)


def git_checkout(root: Path) -> tuple[Path, Path] | None:
    """(the checkout's folder, its git directory) for the checkout holding `root`."""
    for folder in (root, *root.parents):
        git = folder / ".git"
        if git.is_dir():
            return folder, git
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = _read(git) or ""
            if text.startswith("gitdir:"):
                return folder, (folder / text[7:].strip()).resolve()
            return None
    return None


def _read_head(git: Path) -> tuple[str | None, str | None]:
    head = _read(git / "HEAD")
    if head is None:
        return None, None
    if not head.startswith("ref:"):
        return (head if _is_sha(head) else None), None
    ref = head[4:].strip()
    branch = ref.removeprefix("refs/heads/")
    loose = _read(git / ref) if ".." not in ref else None
    if loose and _is_sha(loose):
        return loose, branch
    return _packed_ref(git, ref), branch


def _packed_ref(git: Path, ref: str) -> str | None:
    for line in (_read(git / "packed-refs") or "").splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _is_sha(sha):
            return sha
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def source_provenance(
    name: str, vendor: str, root: Path, files: int, rules: int
) -> SourceProvenance:
    """Where a source came from: its sync marker when synced, else its git checkout."""
    counts = SourceProvenance(name=name, vendor=vendor, root=str(root), files=files, rules=rules,
                              upstream=UPSTREAM.get(name))
    marker = read_sync_marker(root)
    if marker is None:
        found = git_checkout(root.resolve())
        if found is not None:
            counts.commit, counts.branch = _read_head(found[1])
            # A parent checkout's commit may say nothing of these files: name the checkout.
            counts.checkout = str(found[0]) if found[0] != root.resolve() else None
        return counts
    origin = github_origin(marker.location)
    return counts.model_copy(update={
        "commit": marker.commit, "branch": marker.branch,
        "upstream": origin[0] if origin else counts.upstream, "location": marker.location,
        "sha256": marker.sha256, "archive_date": marker.archive_date,
        "fetched_at": marker.fetched_at})


# ------------------------------------------------------------------------- rule links


def rule_url(vendor: str, source: str, root: Path, rel: str) -> str | None:
    """The upstream URL of the rule file `rel` (relative to the source root), or None.

    GitHub's blob URL at the snapshot's commit when known (a synced archive's marker, or a
    git checkout rooted at the source folder), else at the branch: the synced archive's
    branch, or the default repository's (`master`, `main`, `develop`). Only the default
    names (`sigma`, `elastic`, `splunk`, read as their own vendor) and sources synced from a
    GitHub archive URL have links. Readers call this once per file, in worker processes:
    the answer is cached per root and invalidated when the marker or `.git/HEAD` changes.
    """
    base = rule_link_base(vendor, source, root)
    return None if base is None else base + quote(rel, safe="/")


def rule_link_base(vendor: str, source: str, root: Path) -> str | None:
    """`https://github.com/<owner>/<repo>/blob/<commit or branch>/`, or None: what every
    rule link of the source starts with (an incremental build must see it change)."""
    root = Path(root)
    origin = _link_origin(vendor, source, root, _stamp(root))
    return None if origin is None else f"{origin[0]}/blob/{origin[1]}/"


@functools.lru_cache(maxsize=64)
def _link_origin(
    vendor: str, source: str, root: Path, stamp: tuple[int, int]
) -> tuple[str, str] | None:
    """(repository URL, commit or branch) that a source's rule links point into."""
    default = UPSTREAM.get(source) if vendor == source else None
    marker = read_sync_marker(root)
    if marker is not None:
        origin = github_origin(marker.location)
        repo = origin[0] if origin else default
        ref = marker.commit or (origin[1] if origin else UPSTREAM_BRANCH.get(source))
        return (repo, ref) if repo and ref else None
    if default is None:
        return None
    # Only a checkout rooted here: a parent repository's commit says nothing about upstream.
    # TODO: check the checkout's remote is the upstream before trusting its commit.
    commit = git_head(root)[0] if (root / ".git").exists() else None
    return default, commit or UPSTREAM_BRANCH[source]


def _stamp(root: Path) -> tuple[int, int]:
    """Modification times of the sync marker and `.git/HEAD` (0 when absent): a cache key."""
    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0
    return mtime(root.parent / SYNC_MARKER), mtime(root / ".git" / "HEAD")
