"""Full-text search over the catalog's rules: one small interface, two engines.

    catalog tables --document.py--> RuleDocument --fts5.py / whoosh_engine.py--> text index
    query --analyzer.py--> terms --engine--> hits --searcher.py--> filtered, ranked page
                                                  --snippets.py / suggest.py--> why, near words

SQLite FTS5 (in the catalog file) is the default; Whoosh (`pip install 'rulecat[whoosh]'`,
`rulecat build --text-engine whoosh`) is the second engine, a folder beside the catalog
named after its build id. Both index the same documents with the same analyzer and pass the
same contract tests (tests/test_search_contract.py). The decisions are stated in each
module's docstring; `engines.py` says which engine answers.
"""

from __future__ import annotations

from .base import ENGINES, Hit, TextIndex, TextIndexUnavailable
from .engines import check_engine, open_text_index, whoosh_folder, write_text_index

__all__ = [
    "ENGINES", "Hit", "TextIndex", "TextIndexUnavailable", "check_engine", "open_text_index",
    "whoosh_folder", "write_text_index",
]
