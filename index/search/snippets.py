"""Why a rule matched: the fields a query's terms were found in, and a short snippet.

Decision: both engines explain their hits here, in Python, from the rule's document as the
FTS5 table keeps it (`fts5.stored_documents`), so an answer reads the same whatever the
engine. A term is found where its words stand next to each other,
separated only by non-word characters, as the analyzer reads them. The snippet comes from
the field other than the title (shown anyway) where the most terms were found, a tie going
to the more readable field, cut to about `WIDTH` characters around the first match, matches
in **bold**.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .analyzer import Term
from .document import RuleDocument

WIDTH = 130
_WORD_CHAR = re.compile(r"[^\W_]")
# Tie-break between fields with as many terms found: the more readable, the better.
_READABLE = ("description", "tags", "field_values", "field_names", "query", "title")


def term_pattern(term: Term, ignore_case: bool = True) -> re.Pattern[str]:
    """The term's words separated by non-word characters, not followed by a word character.

    No leading look-behind (it would stop `re` from scanning for the literal): `_matches`
    checks the character before each match instead.
    """
    words = term.typed if ignore_case else term.words
    body = r"\W+".join(re.escape(w) for w in words)
    return re.compile(rf"{body}(?!\w)", re.IGNORECASE if ignore_case else 0)


class Explainer:
    """Explains hits for one query: its patterns are compiled once."""

    def __init__(self, terms: list[Term]) -> None:
        self.lowered = [(t, term_pattern(t, ignore_case=False)) for t in terms]
        self.patterns = [term_pattern(t) for t in terms]

    def explain(self, document: RuleDocument) -> tuple[list[str], str]:
        """(fields where terms were found, snippet) for one rule."""
        texts = document.texts()
        found = {name: _count(text.lower(), self.lowered) for name, text in texts.items()}
        matched_in = [name for name, n in found.items() if n]
        if not matched_in:
            return [], _cut(texts["description"] or texts["title"], [])
        # The title is shown beside the snippet: cut it from another field when one matched.
        other = [name for name in matched_in if name != "title"] or matched_in
        best = max(other, key=lambda name: (found[name], -_READABLE.index(name)))
        return matched_in, _cut(texts[best], self.patterns)


def _count(lowered: str, terms: list[tuple[Term, re.Pattern[str]]]) -> int:
    """How many terms stand in lower-cased text (a substring test first: it is cheaper)."""
    return sum(1 for term, pattern in terms
               if all(w in lowered for w in term.words) and _first(pattern, lowered))


def _matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Matches that start a word (not preceded by a word character)."""
    return (m for m in pattern.finditer(text)
            if m.start() == 0 or not _WORD_CHAR.match(text, m.start() - 1))


def _first(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return next(_matches(pattern, text), None)


def _cut(text: str, patterns: list[re.Pattern[str]]) -> str:
    """About WIDTH characters of `text` around the first match, with matches in bold."""
    text = " ".join(text.split())
    starts = [m.start() for p in patterns if (m := _first(p, text))]
    first = min(starts, default=0)
    start = 0 if first < WIDTH // 3 else text.rfind(" ", 0, first - WIDTH // 4) + 1
    end = start + WIDTH
    if end < len(text):
        end = max(text.rfind(" ", start, end), first + 1)
    return ("…" if start else "") + _bold(text[start:end], patterns) + (
        "…" if end < len(text) else "")


def _bold(piece: str, patterns: list[re.Pattern[str]]) -> str:
    """`piece` with every match of the patterns in **bold** (overlaps merged)."""
    spans = sorted((m.start(), m.end()) for p in patterns for m in _matches(p, piece))
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out += [piece[pos:start], "**", piece[start:end], "**"]
        pos = end
    return "".join(out) + piece[pos:]
