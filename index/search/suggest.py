"""Near words that do exist in the catalog, for query words that match no rule.

Decision: candidates come from the engine's own vocabulary (FTS5's `fts5vocab`, Whoosh's
lexicon): words with the same first letter and a close spelling (difflib ratio >= 0.75,
length within 2), plus words the typed one begins (`regsv` -> `regsvr32`). They are ranked by
closeness, then by how many rules hold them, so both engines suggest the same words.
"""

from __future__ import annotations

from difflib import SequenceMatcher, get_close_matches
from itertools import islice

from .analyzer import Term
from .base import TextIndex

PER_WORD = 3
MAX_SUGGESTIONS = 10
_POOL = 50_000
_COMPLETIONS = 20


def unknown_words(index: TextIndex, terms: list[Term]) -> list[str]:
    """The query's words that no rule holds, in order."""
    seen = dict.fromkeys(w for t in terms for w in t.words)
    return [w for w in seen if index.rules_with(w) == 0]


def suggest(index: TextIndex, words: list[str]) -> list[tuple[str, str, int]]:
    """(typed word, suggested word, rules holding it), best first for each typed word."""
    out: list[tuple[str, str, int]] = []
    for word in words:
        if 2 <= len(word) <= 40:
            out.extend((word, near, n) for near, n in _near(index, word))
    return out[:MAX_SUGGESTIONS]


def _near(index: TextIndex, word: str) -> list[tuple[str, int]]:
    pool = list(islice(index.vocabulary(word[0], (len(word) - 2, len(word) + 2)), _POOL))
    close = get_close_matches(word, pool, n=10, cutoff=0.75)
    longer = list(islice(index.vocabulary(word), _COMPLETIONS)) if len(word) >= 3 else []
    candidates = [c for c in dict.fromkeys(close + longer) if c != word]
    scored = [(SequenceMatcher(None, word, c).ratio(), index.rules_with(c), c) for c in candidates]
    scored.sort(key=lambda s: (-round(s[0], 3), -s[1], s[2]))
    return [(c, n) for _, n, c in scored[:PER_WORD] if n]
