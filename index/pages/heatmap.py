"""The coverage heatmap: the ATT&CK matrix as one HTML page, coloured by rule count.

Decisions:
- Columns are the loaded ATT&CK version's tactics in matrix order; cells are its techniques
  (deprecated and revoked ones left out), sorted by name as in ATT&CK's own matrix. A
  technique under several tactics appears in each of their columns.
- A cell is a parent technique. Its number is the rolled-up count: distinct rules tagged
  with the technique or any of its sub-techniques, plus rules tagged with an ID revoked in
  its favour or renamed to it — exactly `get_technique_coverage(id).total` under the same
  filters (sources, vendors, include_deprecated). Under the name, a strip of small squares
  shows each sub-technique's own count in the same colours, and the cell says how many
  sub-techniques have a rule.
- Colour is by count bucket (0, 1, 2-4, 5-9, 10-24, 25-49, 50-99, 100+); the number is
  printed in every cell too, so the page reads in grey print.
- Counting is one SQL query over `technique_rules` with the read API's own filter clause,
  not one API call per technique (200 calls would take seconds).
- IDs the loaded ATT&CK version lacks (e.g. v19 IDs in today's Sigma rules) have no cell;
  their rules are counted under the v18 IDs the version map relates them to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..answers import Filters
from ..api import Catalog, _filter_sql
from .html import esc, page, plural, tag
from .technique import filters_text

# (lowest count, background, text colour), darkest last.
BUCKETS: tuple[tuple[int, str, str], ...] = (
    (0, "#eef0f3", "#5d6877"),
    (1, "#fff2ae", "#3a3000"),
    (2, "#d9ef8b", "#223300"),
    (5, "#a6d96a", "#1b2e00"),
    (10, "#5fb96b", "#0d2610"),
    (25, "#2b9a73", "#ffffff"),
    (50, "#1c6f7f", "#ffffff"),
    (100, "#203a72", "#ffffff"),
)


@dataclass
class Sub:
    id: str
    name: str
    rules: int


@dataclass
class Cell:
    id: str
    name: str
    rules: int
    subs: list[Sub] = field(default_factory=list)


@dataclass
class Column:
    tactic_id: str
    name: str
    cells: list[Cell]

    @property
    def covered(self) -> int:
        return sum(1 for c in self.cells if c.rules)


@dataclass
class Heatmap:
    columns: list[Column]
    filters: Filters
    attack_version: str
    rules: int
    build: dict[str, str] = field(default_factory=dict)


def gather(catalog: Catalog, filters: Filters | None = None) -> Heatmap:
    """The matrix with a rule count per technique, under `filters`."""
    filters = catalog._check_filters(filters)
    counts, total = _counts(catalog, filters)
    techniques = catalog.db.execute(
        "SELECT id, name, tactics, parent FROM techniques "
        "WHERE known = 1 AND deprecated = 0 AND revoked_by IS NULL ORDER BY name, id"
    ).fetchall()
    subs: dict[str, list[Sub]] = {}
    for t in techniques:
        if t["parent"]:
            subs.setdefault(t["parent"], []).append(Sub(t["id"], t["name"], counts.get(t["id"], 0)))
    columns = []
    for tactic in catalog.db.execute("SELECT id, shortname, name FROM tactics ORDER BY ord"):
        cells = [Cell(t["id"], t["name"], counts.get(t["id"], 0),
                      sorted(subs.get(t["id"], []), key=lambda s: s.id))
                 for t in techniques
                 if not t["parent"] and tactic["shortname"] in json.loads(t["tactics"])]
        columns.append(Column(tactic["id"], tactic["name"], cells))
    build = {k: catalog.meta.get(k, "") for k in ("build_id", "built_at")}
    return Heatmap(columns, filters, catalog.attack_version, total, build)


def _counts(catalog: Catalog, filters: Filters) -> tuple[dict[str, int], int]:
    """Distinct rules per technique answer, and distinct rules over all live techniques."""
    where, args = _filter_sql(filters)
    sql = ("SELECT tr.technique, COUNT(DISTINCT tr.rule) FROM technique_rules tr "
           f"JOIN rules r ON r.rowid = tr.rule WHERE 1 = 1 {where} GROUP BY tr.technique")
    counts = {row[0]: int(row[1]) for row in catalog.db.execute(sql, args)}
    total_sql = ("SELECT COUNT(DISTINCT tr.rule) FROM technique_rules tr "
                 "JOIN rules r ON r.rowid = tr.rule JOIN techniques t ON t.id = tr.technique "
                 "WHERE t.known = 1 AND t.deprecated = 0 AND t.revoked_by IS NULL "
                 f"{where}")
    return counts, int(catalog.db.execute(total_sql, args).fetchone()[0])


def bucket(rules: int) -> tuple[str, str]:
    """(background, text colour) for a rule count."""
    colours = BUCKETS[0][1:]
    for low, background, ink in BUCKETS:
        if rules >= low:
            colours = (background, ink)
    return colours


def render(heatmap: Heatmap) -> str:
    """The whole HTML document for `heatmap`."""
    columns = "".join(_column(c) for c in heatmap.columns)
    body = (f"{_header(heatmap)}{_legend(heatmap)}"
            f'<div class="matrix" style="--cols:{len(heatmap.columns)}">{columns}</div>'
            f"{_footer()}")
    return page(f"ATT&CK {heatmap.attack_version} coverage heatmap — rulecat",
                f'<main class="wide">{body}</main>', HEATMAP_CSS)


def heatmap_page(catalog: Catalog, filters: Filters | None = None) -> str:
    """`gather` then `render`: the heatmap page."""
    return render(gather(catalog, filters))


def _header(h: Heatmap) -> str:
    cells = {c.id: c for col in h.columns for c in col.cells}
    covered = sum(1 for c in cells.values() if c.rules)
    return (
        '<header><p class="kicker">rulecat · coverage heatmap</p>'
        f"<h1>ATT&amp;CK {esc(h.attack_version)} Enterprise: rules per technique</h1>"
        f'<p class="facts">{covered} of {len(cells)} techniques have a rule · '
        f"{esc(plural(h.rules, 'rule'))} counted · {esc(filters_text(h.filters))} · catalog "
        f"{esc(h.build.get('build_id', ''))}, built {esc(h.build.get('built_at', ''))}</p>"
        "</header>"
    )


def _legend(h: Heatmap) -> str:
    """One key per colour band, with how many techniques fall in it (each counted once)."""
    unique = {c.id: c.rules for col in h.columns for c in col.cells}
    items = []
    for i, (low, background, ink) in enumerate(BUCKETS):
        high = BUCKETS[i + 1][0] - 1 if i + 1 < len(BUCKETS) else None
        label = f"{low}+" if high is None else str(low) if high == low else f"{low}–{high}"
        n = sum(1 for v in unique.values() if v >= low and (high is None or v <= high))
        items.append(f'<span class="key" style="background:{background};color:{ink}">'
                     f"{esc(label)}</span><span class=\"muted\">{n}</span>")
    return (f'<p class="legend">rules: {"".join(items)} <span class="muted">(techniques in '
            "each band) · a cell's squares are its sub-techniques</span></p>")


def _column(col: Column) -> str:
    cells = "".join(_cell(c) for c in col.cells)
    return (f'<section class="tactic"><h2 title="{esc(col.tactic_id)}">{esc(col.name)}'
            f"<small>{col.covered}/{len(col.cells)} covered</small></h2>{cells}</section>")


def _cell(cell: Cell) -> str:
    background, ink = bucket(cell.rules)
    name = esc(cell.name).replace("/", "/<wbr>")  # "Websites/Domains" breaks at the slash
    title = f"{cell.id} {cell.name}: {plural(cell.rules, 'rule')}"
    strip = ""
    if cell.subs:
        title += "".join(f"\n  {s.id} {s.name}: {s.rules}" for s in cell.subs)
        squares = "".join(
            f'<i style="background:{bucket(s.rules)[0]}" title="{esc(s.id)} {esc(s.name)}: '
            f'{s.rules}"></i>' for s in cell.subs)
        covered = sum(1 for s in cell.subs if s.rules)
        strip = f'<span class="subs">{squares}<b>{covered}/{len(cell.subs)}</b></span>'
    return (f'<div class="cell" style="background:{background};color:{ink}" '
            f'title="{esc(title)}"><span class="top">{tag("span", cell.id, "id")}'
            f'{tag("span", cell.rules, "n")}</span><span class="name">{name}</span>{strip}</div>')


def _footer() -> str:
    return ('<footer class="muted">A cell counts the rules for the technique and its '
            "sub-techniques together (and rules tagged with IDs revoked in its favour or "
            "renamed to it), as <code>rulecat coverage ID</code> does. Deprecated and revoked "
            "techniques are left out. Made by rulecat; no script, no external asset.</footer>")


HEATMAP_CSS = """
.matrix { display: grid; grid-template-columns: repeat(var(--cols), minmax(0, 1fr));
          gap: 6px; align-items: start; }
.tactic h2 { font-size: 12.5px; margin: 0 0 4px; padding: 4px 2px; line-height: 1.2;
             border-bottom: 2px solid var(--ink); min-height: 44px;
             hyphens: auto; overflow-wrap: anywhere; }
.tactic h2 small { display: block; font-weight: 400; color: var(--muted); font-size: 11px; }
.cell { border-radius: 3px; padding: 3px 5px 4px; margin-bottom: 3px; font-size: 11px;
        line-height: 1.2; break-inside: avoid; border: 1px solid rgba(0, 0, 0, .06); }
.cell .top { display: flex; justify-content: space-between; gap: 4px; }
.cell .id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 10px;
            opacity: .85; }
.cell .n { font-weight: 700; font-size: 12px; }
.cell .name { display: block; hyphens: auto; overflow-wrap: anywhere; }
.cell .subs { display: flex; flex-wrap: wrap; align-items: center; gap: 2px; margin-top: 3px; }
.cell .subs i { display: inline-block; width: 7px; height: 7px; border-radius: 1px;
                outline: 1px solid rgba(0, 0, 0, .25); }
.cell .subs b { font-weight: 400; font-size: 9.5px; margin-left: 3px; opacity: .85; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 6px; }
.legend .key { display: inline-block; min-width: 44px; text-align: center; padding: 1px 5px;
               border-radius: 3px; font-weight: 600; font-size: 12px; }
@media print { @page { size: landscape; margin: 8mm; } .cell { font-size: 8px; } }
"""
