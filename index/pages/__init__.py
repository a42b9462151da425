"""Pictures of the catalog for people: a technique page and a coverage heatmap, as HTML.

Both are single self-contained files (inline style sheet, no script, no external asset),
built from the read API under the shared filters, readable on screen and in print:

- `technique_page(catalog, "T1559.001")`: events covered, the authoring guide, and every
  rule grouped by vendor with its tests and exclusions (`technique.py`);
- `heatmap_page(catalog)`: tactics as columns, techniques as cells coloured by rule count,
  sub-techniques rolled into their parent's cell (`heatmap.py`).

Rule text is untrusted: every value is escaped (`html.py`), and each page carries a
Content-Security-Policy that forbids scripts and outside requests.
"""

from .heatmap import heatmap_page
from .technique import technique_page

__all__ = ["heatmap_page", "technique_page"]
