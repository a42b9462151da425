"""Benchmark rulecat on the real corpora and write the figures as JSON.

    python bench/run.py [--corpora DIR] [--subset N] [--out FILE]

Figures: build time per stage, catalog size, peak memory of the build, incremental rebuilds
after one changed Sigma rule, then one changed Elastic rule (target <= 1 s each), server
start to first answer (a real stdio `rulecat serve`), CLI cold query, p50/p99 per tool over
repeated in-process calls, answer sizes, and HTTP p50/p99 under load (`bench/load.py`: 16
concurrent clients on loopback). `--subset N` builds from the first N Sigma rule files
only (CI runs that, so this script cannot rot). Targets on the full Sigma corpus, 2 cores:
build <= 6 s, start to first answer <= 2 s, CLI cold query <= 0.5 s, tool p50 <= 5 ms.
`search`: FTS5 and Whoosh side by side (index build time and size, p50/p99 over 100 fixed
queries, answer sizes); targets FTS5 p50 <= 2 ms, 20 results <= 12 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"
CALLS = 200

# (tool, arguments) pairs timed in-process; the same shapes the MCP tools take.
QUERIES = [
    ("get_technique_coverage", {"technique_id": "T1059.001"}),
    ("get_technique_coverage", {"technique_id": "T1559.001"}),
    ("top_indicators", {"technique_id": "T1059.001"}),
    ("top_indicators", {"technique_id": "T1218.010"}),
    ("find_rules_by_field", {"field": "Image", "value": "regsvr32"}),
    ("find_rules_by_field", {"field": "TargetObject", "value": "\\Run"}),
    ("get_rule", {"rule_id": "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95"}),
    ("catalog_info", {}),
]


def main() -> None:
    args = _parse_args()
    work = Path(tempfile.mkdtemp(prefix="rulecat-bench-"))
    try:
        corpora = _subset(args.corpora, args.subset, work) if args.subset else args.corpora
        catalog = work / "catalog.sqlite"
        figures: dict[str, object] = {"corpora": str(corpora), "subset": args.subset}
        figures["build"] = _build(corpora, catalog)
        figures["catalog_bytes"] = catalog.stat().st_size
        figures["incremental"] = _incremental(corpora, work)
        figures["cli_cold_query_s"] = _cli_cold(catalog)
        figures["server_start_to_first_answer_s"] = _server_first_answer(catalog)
        figures["tools"] = _tool_latency(catalog)
        figures["search"] = _search_engines(catalog, figures["build"])
        figures["http_load"] = _http_load(catalog, calls=1600 if args.subset else 3200)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _http_load(catalog: Path, calls: int) -> dict[str, Any]:
    """p50/p99 of 16 concurrent MCP clients over `rulecat serve --http` (bench/load.py)."""
    out = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--catalog",
                          str(catalog), "--clients", "16", "--calls", str(calls)],
                         capture_output=True, text=True, check=False)
    if not out.stdout.strip():
        return {"error": out.stderr[-500:]}
    return dict(json.loads(out.stdout))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path,
                        default=Path(os.environ.get("RULECAT_CORPORA") or DEFAULT_CORPORA))
    parser.add_argument("--subset", type=int, default=0, help="first N Sigma rule files only")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    return parser.parse_args()


def _subset(corpora: Path, n: int, work: Path) -> Path:
    """A corpora folder with the first `n` Sigma rule files and the ATT&CK data."""
    from rulecat.index.readers import reader_for

    sigma = corpora / "sigma"
    reader = reader_for("sigma")
    assert reader is not None
    files = reader.rule_files(sigma)
    # The first n files, plus those the timed queries name (T1559.001's rules).
    wanted = files[:n] + [p for p in files[n:] if "attack.t1559.001" in p.read_text()]
    for path in wanted:
        target = work / "corpora" / "sigma" / path.relative_to(sigma)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copytree(corpora / "attack", work / "corpora" / "attack",
                    ignore=shutil.ignore_patterns("enterprise-attack", "*.md", "*.txt"))
    return work / "corpora"


def _build(corpora: Path, catalog: Path, incremental: bool = False) -> dict[str, Any]:
    """Build in a child process, so its peak memory is the build's own."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from rulecat.index.build import build_catalog, inputs_from_corpora\n"
        "t = time.perf_counter()\n"
        "r = build_catalog(inputs_from_corpora(Path(sys.argv[1])), Path(sys.argv[2]),\n"
        "                  incremental=sys.argv[3] == '1')\n"
        "print(json.dumps({'seconds': round(time.perf_counter() - t, 3),\n"
        "  'stages': r.stage_seconds, 'rules': r.rules_indexed, 'predicates': r.predicates,\n"
        "  'mode': r.mode, 'full_reason': r.full_reason,\n"
        "  'files_reread': r.files_reread + r.files_added + r.files_removed,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(corpora), str(catalog),
                          str(int(incremental))], check=True, capture_output=True, text=True)
    figures = dict(json.loads(out.stdout))
    figures["process_s"] = round(time.perf_counter() - started, 3)  # with start and imports
    return figures


def _incremental(corpora: Path, work: Path, runs: int = 3) -> dict[str, Any]:
    """Incremental rebuilds of a copy of the corpora after editing one rule file (a detection
    value and the title, differently each run), each in a fresh process: a Sigma rule, then an
    Elastic EQL rule; then one with nothing changed. The full build of the copy is the
    comparison. `seconds` is the build's own time, `process_s` adds interpreter start and
    imports (what `rulecat build` costs on the command line)."""
    tree = work / "incremental-corpora"
    shutil.copytree(corpora, tree, ignore=shutil.ignore_patterns("enterprise-attack"))
    catalog = work / "incremental.sqlite"
    full = _build(tree, catalog)
    # Files just written are hashed by the first update (racily clean, as in git); settle that.
    _build(tree, catalog, incremental=True)
    rules = [r for r in (_first_rule(tree / "sigma", "sigma"),
                         _first_rule(tree / "elastic", "elastic", 'language = "eql"')) if r]
    load = [round(x, 2) for x in os.getloadavg()]
    edits: dict[str, Any] = {}
    for path in rules:
        text = path.read_text()
        timed = []
        for run in range(1, runs + 1):
            path.write_text(_edited(text, path.suffix, run))
            timed.append(_build(tree, catalog, incremental=True))
        median = sorted(timed, key=lambda r: r["seconds"])[len(timed) // 2]
        edits[str(path.relative_to(tree))] = {
            "runs_s": [r["seconds"] for r in timed],
            "runs_process_s": [r["process_s"] for r in timed],
            "median_s": median["seconds"],
            "median_stages": median["stages"],
            "modes": sorted({r["mode"] for r in timed}),
            "files_reread": median["files_reread"],
            "full_reason": median["full_reason"],
        }
    unchanged = _build(tree, catalog, incremental=True)
    return {
        "full_build_s": full["seconds"],
        "one_file_edited": edits,
        "unchanged_s": unchanged["seconds"],
        "unchanged_files_reread": unchanged["files_reread"],
        "load_avg_before": load,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _first_rule(root: Path, vendor: str, holding: str = "") -> Path | None:
    """The first rule file of a source, not deprecated, holding `holding` and a quoted value
    to edit (None: no such source or file)."""
    from rulecat.index.readers import reader_for

    reader = reader_for(vendor)
    if reader is None or not root.is_dir():
        return None
    suffix = ".yml" if vendor == "sigma" else ".toml"
    return next((p for p in reader.rule_files(root) if "deprecated" not in p.as_posix()
                 and holding in (text := p.read_text()) and _edited(text, suffix, 1) != text),
                None)


def _edited(text: str, suffix: str, run: int) -> str:
    """A rule's text with its title and first quoted detection value changed for `run`."""
    import re

    if suffix == ".toml":
        title, logic, quote = r'^name = "(.*)"$', "\nquery = ", '"'
        text = re.sub(title, rf'name = "\1 (edit {run})"', text, count=1, flags=re.M)
    else:
        title, logic, quote = r"^title: (.*)$", "\ndetection:", "'"
        text = re.sub(title, rf"title: \1 (edit {run})", text, count=1, flags=re.M)
    start = text.find(logic)
    if start < 0:
        return text
    value = re.compile(rf"{quote}([^{quote}\n]+){quote}")
    tail = value.sub(rf"{quote}\g<1>{run}{quote}", text[start:], count=1)
    return text[:start] + tail


def _rulecat() -> list[str]:
    exe = Path(sys.executable).with_name("rulecat")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rulecat.server.cli"]


def _cli_cold(catalog: Path, runs: int = 5) -> float:
    """Median wall time of `rulecat coverage T1559.001 --json` in a fresh process."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*_rulecat(), "coverage", "T1559.001", "--json", "--catalog",
                        str(catalog)], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def _server_first_answer(catalog: Path) -> float:
    """Wall time from spawning `rulecat serve` (stdio) to the first tool answer."""
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=_rulecat()[0], args=[*_rulecat()[1:], "serve", "--catalog", str(catalog)],
        env={**os.environ},
    )

    async def first_answer() -> float:
        t = time.perf_counter()
        async with Client(params) as client:
            await client.call_tool("get_technique_coverage", {"technique_id": "T1559.001"})
            return time.perf_counter() - t

    return round(anyio.run(first_answer), 3)


def _tool_latency(catalog: Path) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) and answer size (bytes) per query, over repeated in-process calls."""
    from rulecat.index.answers import Filters
    from rulecat.index.api import Catalog

    cat = Catalog(catalog)
    calls = {
        "get_technique_coverage": lambda a: cat.get_technique_coverage(a["technique_id"]),
        "top_indicators": lambda a: cat.top_indicators(a["technique_id"]),
        "find_rules_by_field": lambda a: cat.find_rules_by_field(a["field"], a["value"],
                                                                 filters=Filters()),
        "get_rule": lambda a: cat.get_rule(a["rule_id"]),
        "catalog_info": lambda a: cat.catalog_info(),
    }
    figures = {}
    for tool, args in QUERIES:
        try:
            answer = calls[tool](args)
        except Exception as exc:  # a subset may lack the technique or rule
            figures[f"{tool} {json.dumps(args)}"] = {"error": str(exc)[:120]}
            continue
        times = []
        for _ in range(CALLS):
            t = time.perf_counter()
            calls[tool](args)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        figures[f"{tool} {json.dumps(args)}"] = {
            "p50_ms": round(times[len(times) // 2], 3),
            "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
            "answer_bytes": len(answer.model_dump_json()),
        }
    return figures


# -- full-text search: FTS5 vs Whoosh side by side ------------------------------------------

# 100 fixed queries: identifiers as typed, words and phrases, technique IDs, story and tactic
# names, filters' worth of plain words, and misspellings (the no-hit path with suggestions).
SEARCH_QUERIES = [
    "regsvr32.exe", "powershell.exe", "process.command_line", "-EncodedCommand",
    "\\mshta.exe", "rundll32.exe", "certutil.exe", "CommandLine", "ParentImage",
    "TargetObject", "winword.exe", "lsass.exe", "\\CurrentVersion\\Run", "vssadmin",
    "wmic.exe", "schtasks.exe", "bitsadmin", "cmstp.exe", "msiexec.exe", "process.name",
    "event.action", "Image", "file.path", "registry.path", "user.name", "dest_ip",
    "Processes.process_name", "DownloadString", "Invoke-Expression", "FromBase64String",
    "dcom lateral movement", "mshta from office", "credential dumping", "scheduled task",
    "pass the hash", "kerberoasting", "golden ticket", "dll side loading", "process injection",
    "shadow copy deletion", "ransomware", "defense evasion", "persistence registry run key",
    "remote desktop", "brute force", "password spraying", "web shell", "cobalt strike",
    "mimikatz", "impacket", "psexec", "named pipe", "\"lateral movement\"", "amsi bypass",
    "uac bypass", "token impersonation", "living off the land", "suspicious child process",
    "encoded command", "base64", "sam registry hive", "wevtutil cl", "netsh firewall",
    "AdFind", "clear event log",
    "T1059.001", "T1003.001", "T1021.003", "T1218.011", "T1055", "T1547.001", "T1053.005",
    "T1486", "T1112", "T1562.001", "T1027", "T1070.001", "T1685.005", "T1566.001", "T1190",
    "Active Directory Discovery", "Windows Registry Abuse", "Data Destruction",
    "Living Off The Land", "Linux Privilege Escalation", "lateral-movement",
    "credential-access", "Tactic: Execution", "Data Source: Sysmon", "OS: Windows",
    "dcomm latral", "regsvr23", "powershel", "mimikats", "lsas", "kerberost", "scheduld tsk",
    "ransomwear", "psexecc", "certutill",
]


def _search_engines(catalog: Path, build: dict[str, object]) -> dict[str, object]:
    """Build time, index size, p50/p99 over SEARCH_QUERIES and answer sizes, per engine."""
    from rulecat.index.api import Catalog

    stages = build.get("stages") or {}
    figures: dict[str, object] = {"queries": len(SEARCH_QUERIES), "fts5": {
        "build_s": stages.get("text_index") if isinstance(stages, dict) else None,
        "index_bytes": _fts5_bytes(catalog)}}
    try:
        figures["whoosh"] = _whoosh_build(catalog)
    except ImportError as exc:
        figures["whoosh"] = {"error": f"Whoosh not installed: {exc}"}
    cat = Catalog(catalog)
    for engine in ("fts5", "whoosh"):
        entry = figures[engine]
        if isinstance(entry, dict) and "error" not in entry:
            entry.update(_search_latency(cat, engine))
    cat.close()
    return figures


def _fts5_bytes(catalog: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(catalog)
    try:
        row = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'rule_text%'")
        return int(row.fetchone()[0] or 0)
    finally:
        conn.close()


def _whoosh_build(catalog: Path) -> dict[str, object]:
    """Time the Whoosh index of the catalog's documents, written where a build puts it."""
    import sqlite3

    from rulecat.index.search import whoosh_folder
    from rulecat.index.search.document import load_documents
    from rulecat.index.search.whoosh_engine import write_whoosh

    conn = sqlite3.connect(catalog)
    build_id = conn.execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()[0]
    folder = whoosh_folder(catalog, build_id)
    started = time.perf_counter()
    write_whoosh(folder, load_documents(conn))
    seconds = time.perf_counter() - started
    conn.close()
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {"build_s": round(seconds, 3), "index_bytes": size}


def _search_latency(cat: Any, engine: str, repeats: int = 5) -> dict[str, object]:
    """Per query the median of `repeats` calls (20 results); p50/p99 across the queries."""
    medians, sizes = [], []
    for query in SEARCH_QUERIES:
        sizes.append(len(cat.search_rules(query, engine=engine, limit=20).model_dump_json()))
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            cat.search_rules(query, engine=engine, limit=20)
            times.append((time.perf_counter() - started) * 1000)
        medians.append(statistics.median(times))
    medians.sort()
    return {"p50_ms": round(medians[len(medians) // 2], 3),
            "p99_ms": round(medians[int(len(medians) * 0.99) - 1], 3),
            "answer_bytes_median": int(statistics.median(sizes)), "answer_bytes_max": max(sizes)}


if __name__ == "__main__":
    main()
