"""The rule-text analyzer and the reading of a user's query, shared by both engines.

Decision: rule text is cut into *words*, runs of Unicode letters and digits, lower-cased
(`WORD`); `_` separates words too, so `mimikatz` finds `mimikatz_windows.exe`. Both engines
index the same words: FTS5 with `unicode61`, Whoosh with `RegexTokenizer(WORD) |
LowercaseFilter()`. An identifier a person types is read as the
phrase of its words, so it is found as typed and its parts stay findable on their own:

    powershell.exe        -> "powershell exe"        (also found by `powershell`)
    process.command_line  -> "process command line"
    \\\\regsvr32.exe         -> "regsvr32 exe"           (path separators are not words)
    -EncodedCommand       -> "encodedcommand"         (a leading dash is not an operator)
    T1059.001             -> "t1059 001"              (matches the tag attack.t1059.001)

Query syntax is deliberately tiny: whitespace separates terms, `"double quotes"` group words
into one phrase, and every other character is text. No operator, field prefix or wildcard
exists, so no user text can break an engine's query syntax; each engine builds its query
from the words (FTS5 as quoted strings, Whoosh as query objects, never through a parser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ..errors import InvalidArgument

WORD = r"[^\W_]+"
MAX_QUERY_CHARS = 1000
MAX_TERMS = 32

_WORD = re.compile(WORD)
_CHUNK = re.compile(r'"([^"]*)"|([^\s"]+)')


def words(text: str) -> list[str]:
    """The analyzer: the lower-cased words of `text`, in order."""
    return [w.lower() for w in _WORD.findall(text)]


@dataclass(frozen=True)
class Term:
    """One query term: a single word, or a phrase of adjacent words.

    `typed` keeps the words as the person typed them (FTS5 folds case itself); `words` are
    lower-cased like the index (Whoosh, snippets, suggestions).
    """

    typed: tuple[str, ...]

    @cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(w.lower() for w in self.typed)

    def __str__(self) -> str:
        text = " ".join(self.words)
        return f'"{text}"' if len(self.typed) > 1 else text


def parse_query(query: str) -> list[Term]:
    """The query's distinct terms, in order; `InvalidArgument` when it is too long."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgument(
            f"query is {len(query):,} characters; keep it under {MAX_QUERY_CHARS}: a few "
            "words or identifiers, e.g. 'dcom lateral movement' or 'regsvr32.exe'.")
    terms: dict[tuple[str, ...], Term] = {}  # by lower-cased words: DCOM and dcom are one
    for quoted, bare in _CHUNK.findall(query):
        term = Term(tuple(_WORD.findall(quoted or bare)))
        if term.typed:
            terms.setdefault(term.words, term)
    if len(terms) > MAX_TERMS:
        raise InvalidArgument(
            f"query has {len(terms)} terms; use at most {MAX_TERMS}. Search for the few "
            "most telling words, then narrow with techniques, tactics, levels or vendors.")
    return list(terms.values())


def fts5_match(terms: list[Term], require_all: bool) -> str:
    """An FTS5 MATCH expression: each term one double-quoted string (quotes doubled)."""
    quoted = ('"' + " ".join(term.typed).replace('"', '""') + '"' for term in terms)
    return (" AND " if require_all else " OR ").join(quoted)
