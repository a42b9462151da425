"""Hostile rule files on every build path (Sigma, Elastic, Splunk): each costs one report
entry (path and reason), or leaves its rule unparsed, in bounded time and memory, and the
rest of the source builds.

The files are written at test time under `tmp_path` (a 50 MB file is not committed): one
source root per vendor, holding one good rule plus every hostile case, and a rule outside
the roots that a symlink points at and that must never be indexed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rulecat.index.readers import reader_for
from rulecat.index.readers.limits import MAX_FILE_BYTES

FILES = Path(__file__).parent / "files"
Build = dict[str, Any]  # the child build's figures, report and rule titles
BIG_BYTES = 50 * 1024 * 1024
SECRET_TITLE = "Outside The Source"
# Seconds one hostile file may cost a reader (each takes well under 0.5 s on 2 cores).
PER_FILE_S = 3.0

SIGMA_RULE = """title: {title}
id: 5b1a6d0e-1f0a-4d7a-9a51-{n:012d}
status: test
logsource: {{category: process_creation, product: windows}}
detection:
  selection:
    Image|endswith: '\\regsvr32.exe'
  condition: {condition}
level: low
"""
ELASTIC_RULE = """[metadata]
creation_date = "2024/01/02"
maturity = "production"

[rule]
author = ["Elastic"]
description = "d"
language = "kuery"
name = "{title}"
risk_score = 47
rule_id = "00000000-0000-4000-8000-{n:012d}"
severity = "medium"
type = "query"
query = '''
{query}
'''
"""
SPLUNK_RULE = """name: {title}
id: 11111111-1111-4111-8111-{n:012d}
type: TTP
description: d
search: '{search}'
tags:
  mitre_attack_id:
  - T1140
"""


def sigma(title: str = "Good", n: int = 1, condition: str = "selection") -> str:
    return SIGMA_RULE.format(title=title, n=n, condition=condition)


def elastic(title: str = "Good", n: int = 1, query: str = "process.name:a.exe") -> str:
    return ELASTIC_RULE.format(title=title, n=n, query=query)


def splunk(title: str = "Good", n: int = 1, search: str = "index=main process=a.exe") -> str:
    return SPLUNK_RULE.format(title=title, n=n, search=search)


GOOD = {"sigma": sigma, "elastic": elastic, "splunk": splunk}
FOLDER = {"sigma": "rules/windows", "elastic": "rules/windows", "splunk": "detections/endpoint"}
SUFFIX = {"sigma": ".yml", "elastic": ".toml", "splunk": ".yml"}


# --------------------------------------------------------------------------- the cases


def alias_bomb(vendor: str) -> str:
    """Nine levels of nine aliases: 387 million strings once expanded."""
    anchors = "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]\n" for i in range(1, 9))
    # Fields the readers turn into text: without the limit, str() would expand the bomb.
    if vendor == "sigma":
        return anchors + sigma(n=2) + "falsepositives: *x8\n"
    return anchors + splunk(n=2) + "how_to_implement: *x8\n"


def deep_yaml(vendor: str) -> str:
    """900 nested flow lists (libyaml itself stops at 1,000)."""
    return GOOD[vendor](n=3) + "extra: " + "[" * 900 + "]" * 900 + "\n"


def huge_value_list(vendor: str) -> str:
    """A Sigma selection with 200,000 values (3.5 MB)."""
    values = "".join(f"      - 'value{i}'\n" for i in range(200_000))
    return sigma(n=4).replace("    Image|endswith: '\\regsvr32.exe'\n",
                              "    CommandLine|contains:\n" + values)


def long_condition(vendor: str) -> str:
    return sigma(title="Long Condition", n=5, condition=" or ".join(["selection"] * 100_000))


def deep_toml_arrays(vendor: str) -> str:
    return elastic(n=3) + "\n[extra]\nx = " + "[" * 5000 + "]" * 5000 + "\n"


def deep_toml_tables(vendor: str) -> str:
    return elastic(n=4) + "\n[extra]\nx = " + "{a = " * 5000 + "1" + " }" * 5000 + "\n"


def huge_query(vendor: str) -> str:
    """A 5 MB query (the file stays under the 5 MiB limit)."""
    terms = " or ".join(f"process.name:p{i}.exe" for i in range(250_000))[:5_000_000]
    if vendor == "elastic":
        return elastic(title="Huge Query", n=5, query=terms)
    return splunk(title="Huge Query", n=5, search="index=main " + terms.replace(":", "="))


def many_documents(vendor: str) -> str:
    return "".join(f"---\n{sigma(n=100 + i)}" for i in range(150))


# case -> (vendors, writer of the text, expected: ("rejected" | "unparsed", reason words))
TEXT_CASES: dict[str, tuple[tuple[str, ...], Callable[[str], str], tuple[str, str]]] = {
    "alias_bomb": (("sigma", "splunk"), alias_bomb, ("rejected", "alias bomb")),
    "deep_nesting": (("sigma", "splunk"), deep_yaml, ("rejected", "nested deeper than 64")),
    "huge_value_list": (("sigma",), huge_value_list, ("rejected", "more than 50,000")),
    "long_condition": (("sigma",), long_condition, ("unparsed", "condition of")),
    "many_documents": (("sigma",), many_documents, ("rejected", "more than 100 YAML")),
    "deep_toml_arrays": (("elastic",), deep_toml_arrays, ("rejected", "nested deeper")),
    "deep_toml_tables": (("elastic",), deep_toml_tables, ("rejected", "nested deeper")),
    "huge_query": (("elastic", "splunk"), huge_query, ("unparsed", "over the 200,000")),
}
# Cases every vendor gets, written as bytes or as special files.
FILE_CASES: dict[str, tuple[str, str]] = {
    "big_50mb": ("rejected", "over the 5,242,880-byte limit"),
    "non_utf8": ("rejected", "not UTF-8 text: invalid byte 0xe9"),
    "nul_bytes": ("rejected", "binary file (contains NUL bytes)"),
    "symlink_out": ("rejected", "symlink to a file outside the source"),
    "symlink_loop": ("rejected", "symlink loop"),
    "fifo": ("rejected", "not a regular file"),
}


def _write_file_case(vendor: str, case: str, path: Path, outside: Path) -> None:
    good = GOOD[vendor](n=9)
    if case == "big_50mb":
        with path.open("w") as out:
            out.write(good)
            line = "# " + "x" * 97 + "\n"
            out.write(line * (BIG_BYTES // len(line) + 1))
    elif case == "non_utf8":
        path.write_bytes(GOOD[vendor](title="Caf\xe9", n=9).encode("latin-1"))
    elif case == "nul_bytes":
        path.write_bytes(good.encode()[:40] + b"\x00" + good.encode()[40:])
    elif case == "symlink_out":
        path.symlink_to(outside / f"secret{SUFFIX[vendor]}")
    elif case == "symlink_loop":
        path.symlink_to(path)
    elif case == "fifo":
        os.mkfifo(path)


def expected_cases(vendor: str) -> dict[str, tuple[str, str]]:
    """Relative path -> (outcome, reason words), for every hostile file of a vendor."""
    cases = {case: want for case, (vendors, _, want) in TEXT_CASES.items() if vendor in vendors}
    cases.update(FILE_CASES)
    return {f"{FOLDER[vendor]}/{case}{SUFFIX[vendor]}": want for case, want in cases.items()}


def write_source(vendor: str, root: Path, outside: Path) -> None:
    """A source root with one good rule and every hostile case for `vendor`."""
    folder = root / FOLDER[vendor]
    folder.mkdir(parents=True)
    (folder / f"good{SUFFIX[vendor]}").write_text(GOOD[vendor]())
    (outside / f"secret{SUFFIX[vendor]}").write_text(GOOD[vendor](title=SECRET_TITLE, n=7))
    for case, (vendors, writer, _) in TEXT_CASES.items():
        if vendor in vendors:
            (folder / f"{case}{SUFFIX[vendor]}").write_text(writer(vendor))
    for case in FILE_CASES:
        _write_file_case(vendor, case, folder / f"{case}{SUFFIX[vendor]}", outside)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<base>/<vendor>/` source roots and `<base>/outside/`."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "outside").mkdir()
    for vendor in GOOD:
        write_source(vendor, base / vendor, base / "outside")
    return base


# --------------------------------------------------------------------------- per file


CASES = [(vendor, rel) for vendor in GOOD for rel in expected_cases(vendor)]


@pytest.mark.parametrize(("vendor", "rel"), CASES, ids=[f"{v}-{Path(r).stem}" for v, r in CASES])
def test_each_hostile_file_costs_one_entry_with_its_reason_in_bounded_time(
    hostile: Path, vendor: str, rel: str
) -> None:
    reader = reader_for(vendor)
    assert reader is not None
    root = hostile / vendor
    outcome, words = expected_cases(vendor)[rel]

    started = time.perf_counter()
    rules, rejections = reader.read_file(vendor, root, root / rel)
    seconds = time.perf_counter() - started

    assert seconds < PER_FILE_S, f"{rel} took {seconds:.2f} s"
    if outcome == "rejected":
        assert rules == [] and len(rejections) == 1
        assert rejections[0].path == rel and words in rejections[0].reason
    else:
        assert rejections == [] and len(rules) == 1
        assert not rules[0].parsed and words in (rules[0].unparsed_reason or "")


def test_the_50mb_file_is_refused_before_it_is_read(hostile: Path) -> None:
    path = hostile / "sigma" / "rules/windows/big_50mb.yml"
    assert path.stat().st_size > BIG_BYTES > MAX_FILE_BYTES
    reader = reader_for("sigma")
    assert reader is not None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reader.read_file("sigma", hostile / "sigma", path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 20


# --------------------------------------------------------------------------- whole build

BUILD = """
import json, resource, sys, time
from pathlib import Path
from rulecat.index.api import Catalog
from rulecat.index.build import BuildInputs, SourceSpec, build_catalog
base, attack, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
sources = [SourceSpec(name=v, vendor=v, root=base / v) for v in ("sigma", "elastic", "splunk")]
t = time.perf_counter()
report = build_catalog(BuildInputs(sources=sources, attack=attack), out)
seconds = time.perf_counter() - t
titles = [r[0] for r in Catalog(out).db.execute("SELECT title FROM rules")]
print(json.dumps({"seconds": seconds, "report": report.model_dump(mode="json"),
                  "adds_up": report.adds_up(), "titles": titles,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


@pytest.fixture(scope="module")
def hostile_build(hostile: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build the three hostile sources in a child process, for its time and peak memory."""
    out = tmp_path_factory.mktemp("hostile-catalog") / "catalog.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(hostile), str(FILES / "attack/mini-bundle.json"),
         str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    answer: Build = json.loads(done.stdout)
    return answer


def test_the_hostile_build_finishes_in_bounded_time_and_memory(hostile_build: Build) -> None:
    print(f"\nhostile build: {hostile_build['seconds']:.2f} s, "
          f"peak RSS {hostile_build['peak_rss_mb']} MB")
    assert hostile_build["seconds"] < 60
    assert hostile_build["peak_rss_mb"] < 600


def test_the_hostile_build_reports_each_file_with_path_and_reason(hostile_build: Build) -> None:
    report = hostile_build["report"]
    rejected = {(r["source"], r["path"]): r["reason"] for r in report["rejections"]}
    unparsed = {r["path"]: r["reason"] for r in report["unparsed"]}
    for vendor in GOOD:
        for rel, (outcome, words) in expected_cases(vendor).items():
            if outcome == "rejected":
                assert words in rejected.get((vendor, rel), ""), (vendor, rel)
            else:
                assert words in unparsed.get(rel, ""), (vendor, rel)


def test_the_hostile_build_indexes_the_rest_and_nothing_from_outside(hostile_build: Build) -> None:
    titles = hostile_build["titles"]
    assert titles.count("Good") == 3  # one good rule per vendor
    assert "Huge Query" in titles and "Long Condition" in titles  # kept, unparsed
    assert SECRET_TITLE not in titles


def test_the_hostile_build_report_adds_up(hostile_build: Build) -> None:
    assert hostile_build["adds_up"]
    for source in hostile_build["report"]["sources"]:
        hostile_files = len(expected_cases(source["vendor"]))
        assert source["files_seen"] == hostile_files + 1, source["name"]
        assert source["files_read"] == source["files_indexed"] + source["files_rejected"]
