"""Where each source of a build came from: its folder, counts, git commit and upstream.

The commit is read from the checkout's `.git` files (HEAD, loose refs, packed-refs); git is
never run. A folder that is not a git checkout simply has no commit.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

# The public repositories behind the default source names.
UPSTREAM = {
    "sigma": "https://github.com/SigmaHQ/sigma",
    "elastic": "https://github.com/elastic/detection-rules",
    "splunk": "https://github.com/splunk/security_content",
}


class SourceProvenance(BaseModel):
    name: str
    vendor: str
    root: str = Field(description="The folder the build read.")
    files: int = Field(description="Rule files read.")
    rules: int = Field(description="Rules indexed.")
    commit: str | None = Field(None, description="Git commit of the folder, when a checkout.")
    branch: str | None = None
    upstream: str | None = Field(None, description="Public repository, for the default names.")


class AttackProvenance(BaseModel):
    version: str
    bundle: str = Field(description="The ATT&CK STIX bundle the build read.")


class Provenance(BaseModel):
    sources: list[SourceProvenance] = Field(default_factory=list)
    attack: AttackProvenance | None = None


def git_head(root: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the git checkout holding `root`, or (None, None)."""
    for folder in (root, *root.parents):
        git = folder / ".git"
        if git.is_dir():
            return _read_head(git)
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = _read(git) or ""
            if text.startswith("gitdir:"):
                return _read_head((folder / text[7:].strip()).resolve())
            return None, None
    return None, None


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
    commit, branch = git_head(root.resolve())
    return SourceProvenance(name=name, vendor=vendor, root=str(root), files=files, rules=rules,
                            commit=commit, branch=branch, upstream=UPSTREAM.get(name))
