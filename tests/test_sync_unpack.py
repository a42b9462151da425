"""Unpacking source archives: commits from GitHub-style archives, and hostile archives.

Every archive here is made in `tmp_path` by the test itself: GitHub's shape (one top folder,
the commit in the tar's pax `comment` or the zip comment) and the attacks an archive can
carry (`../` and absolute members, symlinks out of the target, bombs over the limits,
truncation).
"""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from rulecat.index.sync.errors import UnpackError
from rulecat.index.sync.unpack import Limits, unpack_archive

COMMIT = "8eaafff1f2845a696050e05e72ba1140ee190698"
MTIME = 1_785_920_000  # 2026-08-05T08:53:20+00:00


def make_tar(path: Path, members: list[tuple[str, bytes | str | None]], comment: str | None = None,
             mode: str = "w:gz") -> Path:
    """A tar of `(name, content)`: bytes for a file, `"->target"` text for a symlink, None
    for a folder; the commit as the pax global header's `comment`, as GitHub writes it."""
    headers = {"comment": comment} if comment else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, pax_headers=headers) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def make_zip(path: Path, members: list[tuple[str, bytes]], comment: bytes = b"") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 8, 5, 8, 53, 20))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
        zf.comment = comment
    return path


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


GITHUB_LIKE = [
    (f"sigma-{COMMIT}/", None),
    (f"sigma-{COMMIT}/rules/", None),
    (f"sigma-{COMMIT}/rules/a.yml", b"title: a\n"),
    (f"sigma-{COMMIT}/README.md", b"# sigma\n"),
]


def test_a_github_tar_gz_gives_its_commit_date_and_loses_its_top_folder(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "sigma.tar.gz", GITHUB_LIKE, comment=COMMIT)
    result = unpack_archive(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == ["README.md", "rules", "rules/a.yml"]
    assert (tmp_path / "out" / "rules" / "a.yml").read_bytes() == b"title: a\n"
    assert (result.commit, result.files, result.bytes) == (COMMIT, 2, 17)
    assert result.archive_date == "2026-08-05T08:53:20+00:00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sigma.tar.gz"]  # no scratch


def test_a_zip_gives_the_commit_from_its_comment(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [(f"sigma-{COMMIT}/rules/a.yml", b"x"),
                                            (f"sigma-{COMMIT}/README.md", b"y")],
                       comment=COMMIT.encode())
    result = unpack_archive(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == ["README.md", "rules", "rules/a.yml"]
    assert (result.commit, result.files) == (COMMIT, 2)


def test_an_archive_without_one_top_folder_keeps_its_layout_and_a_junk_comment_is_no_commit(
        tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "t.tgz", [("rules/a.yml", b"x"), ("b.yml", b"y")],
                       comment="not a commit")
    result = unpack_archive(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == ["b.yml", "rules", "rules/a.yml"]
    assert result.commit is None


def test_a_member_climbing_out_refuses_the_whole_archive(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", [("top/ok.yml", b"x"), ("top/../../x", b"!")])
    (tmp_path / "work").mkdir()
    with pytest.raises(UnpackError, match=r"'top/\.\./\.\./x' would land outside the target"):
        unpack_archive(archive, tmp_path / "work" / "out")
    assert not (tmp_path / "x").exists() and not (tmp_path / "work" / "x").exists()
    assert list((tmp_path / "work").iterdir()) == []  # nothing half-written is left


def test_an_absolute_tar_member_lands_inside_the_target(tmp_path: Path) -> None:
    # The stdlib data filter strips the leading '/', so the file stays inside the target.
    name = f"/tmp/rulecat-absolute-{time.monotonic_ns()}.yml"
    archive = make_tar(tmp_path / "abs.tar", [(name, b"x"), ("b.yml", b"y")], mode="w")
    unpack_archive(archive, tmp_path / "out")
    assert not Path(name).exists()
    assert (tmp_path / "out" / name.lstrip("/")).read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../x.yml", "/etc/x.yml", "top/../../x.yml"])
def test_a_zip_member_with_an_absolute_or_dotdot_path_is_refused(tmp_path: Path,
                                                                   name: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", [("top/a.yml", b"x"), (name, b"!")])
    with pytest.raises(UnpackError, match="would land outside the target"):
        unpack_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.yml").exists()


def test_symlinks_out_of_the_target_are_dropped_and_inner_ones_kept(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "links.tar.gz", [
        ("top/", None),
        ("top/rules/", None),
        ("top/rules/a.yml", b"x"),
        ("top/rules/passwd.yml", "->/etc/passwd"),  # absolute: out
        ("top/rules/up.yml", "->../../../outside.yml"),  # out of the archive
        ("top/rules/stripped.yml", "->../../sibling.yml"),  # out once top/ is stripped
        ("top/rules/inner.yml", "->a.yml"),  # inside: kept
    ])
    result = unpack_archive(archive, tmp_path / "out")
    assert sorted(result.dropped) == ["rules/stripped.yml", "top/rules/passwd.yml",
                                      "top/rules/up.yml"]
    assert tree(tmp_path / "out") == ["rules", "rules/a.yml", "rules/inner.yml"]
    assert (tmp_path / "out" / "rules" / "inner.yml").is_symlink()


def test_a_zip_symlink_is_dropped_not_written_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "l.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("top/a.yml", b"x")
        link = zipfile.ZipInfo("top/link.yml")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    result = unpack_archive(path, tmp_path / "out")
    assert result.dropped == ["top/link.yml"] and tree(tmp_path / "out") == ["a.yml"]


@pytest.mark.parametrize(("limits", "message"), [
    (Limits(entries=2), "more than 2 entries"),
    (Limits(file_bytes=1000), r"'top/big.yml' is 5,000 bytes, over the 1,000-byte limit"),
    (Limits(total_bytes=5_500), "unpacks to more than 5,500 bytes"),
])
@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_limits_refuse_the_archive(tmp_path: Path, limits: Limits, message: str,
                                   suffix: str) -> None:
    members: list[tuple[str, bytes]] = [
        ("top/a.yml", b"a" * 1000), ("top/big.yml", b"b" * 5000), ("top/c.yml", b"c")]
    maker = make_zip if suffix == ".zip" else make_tar
    archive = maker(tmp_path / f"t{suffix}", members)
    with pytest.raises(UnpackError, match=message):
        unpack_archive(archive, tmp_path / "out", limits)
    assert not (tmp_path / "out").exists()
    unpack_archive(archive, tmp_path / "out")  # the default limits take it


def test_a_zip_that_lies_about_its_size_is_stopped_by_the_bytes_written(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "lie.zip", [("top/a.yml", b"a" * 10_000), ("top/b", b"b")])
    raw = bytearray(path.read_bytes())
    # Make both size fields of the first member claim 10 bytes (local header and directory).
    for offset in (raw.find(b"PK\x03\x04") + 22, raw.find(b"PK\x01\x02") + 24):
        raw[offset:offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(UnpackError, match="lie.zip: damaged or truncated zip archive"):
        unpack_archive(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_truncated_or_foreign_archive_is_a_clear_error(tmp_path: Path) -> None:
    whole = make_tar(tmp_path / "whole.tar.gz",
                     [(f"top/{n}.yml", bytes(range(256)) * 64) for n in range(20)])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnpackError, match="cut.tar.gz: not a readable tar or zip archive, or "
                                          "truncated"):
        unpack_archive(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    page = tmp_path / "page.tar.gz"
    page.write_text("<html>rate limited</html>")
    with pytest.raises(UnpackError, match="page.tar.gz: not a readable tar or zip archive"):
        unpack_archive(page, tmp_path / "out")


def test_a_tar_ending_in_a_zip_file_is_unpacked_as_a_tar(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", [("evil/a.yml", b"x")]).read_bytes()
    archive = make_tar(tmp_path / "t.tar", [("top/", None), ("top/r.yml", b"y"),
                                            ("top/data.zip", inner)], mode="w")
    unpack_archive(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == ["data.zip", "r.yml"]
