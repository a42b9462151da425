"""The HTML pages on the real corpora: what they hold, that they escape rule text, the CLI."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rulecat.index.answers import Filters
from rulecat.index.pages import heatmap, technique

T1559_001_SIGMA_TITLES = {
    "CMSTP Execution Process Access",
    "DNS Query Request By Regsvr32.EXE",
    "Network Connection Initiated By Regsvr32.EXE",
    "Dllhost.EXE Initiated Network Connection To Non-Local IP Address",
}
SPLUNK_TITLE = "Process Writing DynamicWrapperX"


class Sections(HTMLParser):
    """Per `<section id=...>`: its table rows and its rule titles, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[list[str]]] = {}
        self.titles: dict[str, list[str]] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._h3: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id") or self.section
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "span" and dict(attrs).get("class") == "rule-title":
            self._h3 = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self.section, []).append(self._row)
            self._row = None
        elif tag == "span" and self._h3 is not None:
            self.titles.setdefault(self.section, []).append(" ".join("".join(self._h3).split()))
            self._h3 = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._h3):
            if part is not None:
                part.append(data)


def parse(text: str) -> Sections:
    parser = Sections()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def t1559_page(catalog) -> str:  # type: ignore[no-untyped-def]
    return technique.technique_page(catalog, "T1559.001")


def test_technique_page_lists_every_t1559_001_rule_grouped_by_vendor(t1559_page: str) -> None:
    titles = parse(t1559_page).titles
    assert set(titles["rules-sigma"]) == T1559_001_SIGMA_TITLES
    assert len(titles["rules-elastic"]) == 12
    assert "Incoming DCOM Lateral Movement with MMC" in titles["rules-elastic"]
    assert titles["rules-splunk"] == [SPLUNK_TITLE]


def test_technique_page_lists_the_events_the_rules_rely_on(t1559_page: str, catalog) -> None:
    rows = parse(t1559_page).rows["events"]
    by_event = {(r[0], r[1]): r for r in rows[1:]}
    assert by_event[("Sysmon", "3")][2:4] == ["Network connection", "5"]
    assert by_event[("Sysmon", "10")][2:4] == ["ProcessAccess", "1"]
    assert by_event[("Sysmon", "22")][2:4] == ["DNSEvent (DNS query)", "1"]
    answer = catalog.get_technique_coverage("T1559.001")
    assert len(rows) - 1 == len(answer.events)


def test_events_table_splits_each_event_by_vendor(t1559_page: str) -> None:
    rows = parse(t1559_page).rows["events"]
    header, body = rows[0], rows[1:]
    assert header[:4] == ["provider", "event", "title", "rules"]
    assert header[4:] == ["sigma", "elastic", "splunk", "ATT&CK"]
    for row in body:
        per_vendor = [int(c) if c.isdigit() else 0 for c in row[4:7]]
        assert sum(per_vendor) == int(row[3]), row


def test_page_sets_attack_recommended_events_beside_the_rules_events(t1559_page: str) -> None:
    rows = parse(t1559_page).rows
    recommended = {(r[0], r[1]): r for r in rows["attack-telemetry"][1:]}
    assert recommended[("Sysmon", "7")][-1] == "covered"
    assert recommended[("Security", "4663")][-1] == "no rule here"
    assert recommended[("Security", "4663")][4] == "0"
    marked = {(r[0], r[1]) for r in rows["events"][1:] if r[-1] == "recommended"}
    assert marked == {("Sysmon", "1"), ("Sysmon", "7")}


def test_authoring_guide_shows_fields_and_reach_as_the_api_does(t1559_page: str, catalog) -> None:
    rows = parse(t1559_page).rows["guide"]
    answer = catalog.top_indicators("T1559.001", technique.INDICATOR_ROWS)
    field_rows = [r for r in rows if r[0] == "process.name" and r[2].startswith("eq")]
    assert field_rows and field_rows[0][1] == str(answer.fields[0].rules)
    regsvr32 = next(i for i in answer.indicators if i.value == "regsvr32.exe")
    page_row = next(r for r in rows if r[:3] == ["process.name", "eq", "regsvr32.exe"])
    assert page_row[3:5] == [str(regsvr32.rules), str(regsvr32.corpus_reach)]
    assert any(r[:3] == ["source.ip", "eq", "127.0.0.1"] for r in rows)  # an exclusion


def test_each_rule_shows_its_detection_tests_and_exclusions(t1559_page: str) -> None:
    rows = parse(t1559_page).rows["rules-sigma"]
    assert ["selection", "winlog.event_data.CallTrace as CallTrace", "wildcard", "*cmlua.dll*",
            "1"] in rows
    assert any(r[0] == "filter_main_local_ranges" and r[3] == "10.0.0.0/8" for r in rows)


def test_page_escapes_hostile_rule_text(catalog) -> None:  # type: ignore[no-untyped-def]
    report = technique.gather(catalog, "T1559.001")
    rule = report.rules[0]
    rule.rule.title = "<script>alert(1)</script>"
    rule.rule.url = "javascript:alert(2)"
    rule.description = '"><img src=x onerror=alert(3)>'
    rule.detection[0].value = "</code></td></tr></table><script>alert(4)</script>"
    text = technique.render(report)
    assert "<script" not in text and "<img" not in text
    assert "javascript:" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_pages_are_self_contained(t1559_page: str, catalog) -> None:
    for text in (t1559_page, heatmap.heatmap_page(catalog)):
        assert "<script" not in text and "<link" not in text and " src=" not in text
        assert "@import" not in text and "url(" not in text
        assert text.count("<style>") == 1


def test_heatmap_cells_count_what_coverage_counts(catalog) -> None:  # type: ignore[no-untyped-def]
    for filters in (Filters(), Filters(vendors=["elastic"])):
        cells = {c.id: c for col in heatmap.gather(catalog, filters).columns for c in col.cells}
        for tid in ("T1559", "T1059", "T1003", "T1547"):
            total = catalog.get_technique_coverage(tid, True, filters, 1).total
            assert cells[tid].rules == total, (tid, filters)
        subs = {s.id: s.rules for s in cells["T1559"].subs}
        assert subs["T1559.001"] == catalog.get_technique_coverage("T1559.001", True,
                                                                   filters, 1).total


def test_heatmap_columns_are_the_tactics_in_matrix_order(catalog) -> None:
    columns = heatmap.gather(catalog).columns
    names = [c.name for c in columns]
    assert len(names) == 14
    assert names[0] == "Reconnaissance" and names[3] == "Execution" and names[-1] == "Impact"
    execution = {c.id for c in columns[3].cells}
    assert "T1559" in execution and "T1559.001" not in execution  # subs roll into parents
    valid_accounts = [c.name for c in columns if any(x.id == "T1078" for x in c.cells)]
    assert len(valid_accounts) == 4  # one technique, four tactics, four cells


def test_heatmap_page_colours_cells_by_count(catalog) -> None:
    text = heatmap.heatmap_page(catalog)
    cells = {c.id: c for col in heatmap.gather(catalog).columns for c in col.cells}
    t1059 = cells["T1059"]
    background, _ = heatmap.bucket(t1059.rules)
    assert t1059.rules >= 100 and background == heatmap.BUCKETS[-1][1]
    assert f'style="background:{background};' in text
    assert heatmap.bucket(0)[0] == heatmap.BUCKETS[0][1]
    assert heatmap.bucket(1)[0] != heatmap.bucket(2)[0]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rulecat.server.cli", *args],
                          capture_output=True, text=True)


def test_cli_report_and_heatmap_write_html_files(catalog_path: Path, tmp_path: Path) -> None:
    page, heat = tmp_path / "t1559.html", tmp_path / "heatmap.html"
    done = _cli("report", "T1559.001", "--html", str(page), "--catalog", str(catalog_path))
    assert done.returncode == 0, done.stderr
    assert SPLUNK_TITLE in page.read_text() and "wrote" in done.stderr
    done = _cli("heatmap", "--html", str(heat), "--vendor", "sigma", "--catalog",
                str(catalog_path))
    assert done.returncode == 0, done.stderr
    assert "vendors: sigma" in heat.read_text()


def test_cli_report_of_an_unknown_technique_names_the_nearest(catalog_path: Path,
                                                              tmp_path: Path) -> None:
    done = _cli("report", "T1559.009", "--html", str(tmp_path / "x.html"), "--catalog",
                str(catalog_path))
    assert done.returncode == 2 and "T1559.001" in done.stderr
    assert not (tmp_path / "x.html").exists()


def test_report_command_does_not_import_the_mcp_sdk(catalog_path: Path, tmp_path: Path) -> None:
    code = ("import sys; from rulecat.server.cli import main; "
            "sys.argv=['rulecat','report','T1559.001','--html',sys.argv[2],'--catalog',"
            "sys.argv[1]]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'mcp' not in sys.modules, 'mcp imported'")
    subprocess.run([sys.executable, "-c", code, str(catalog_path), str(tmp_path / "p.html")],
                   check=True, capture_output=True)
