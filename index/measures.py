"""Which transforms make a predicate test a derived measure of its field, not its value.

A predicate's `transforms` name the functions the query wraps around the field, innermost
first. Most keep the value comparable with other rules' tests of the field: case folding
(`to_lower`, `lower`), casts (`to_double`, `to_string`, `to_ip`, `number`), extraction
(`grok`, `dissect`, `json_extract`, `coalesce`, `replace`, `substring`), Sigma's modifiers
(`all`, `windash`, `base64offset`, `re:i`, ...). Two kinds do not:

- a *size or position* of the field: `length` / `len` / `bit_length` / `byte_length`
  (named `length`), `mv_count` (`count`), `locate` / `indexOf` (`position`);
- *arithmetic*: `add`, `subtract`, `multiply`, `divide`, `modulo`, `pow`.

With either, the predicate's value is a threshold on a computed quantity
(`length(process.command_line) > 1000`, a ratio of special characters `>= 0.75`), not a
value of the field. Its `measure` names that quantity: the measuring transforms in order,
casts and the rest left out, repeats collapsed (`["replace", "length", "subtract",
"to_double", "divide"]` -> `length-subtract-divide`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

# A transform that measures the field -> the name the measure goes by.
SIZES = {"length": "length", "len": "length", "bit_length": "length", "byte_length": "length",
         "mv_count": "count", "locate": "position", "indexOf": "position"}
ARITHMETIC = frozenset({"add", "subtract", "multiply", "divide", "modulo", "pow"})
MEASURING = frozenset(SIZES) | ARITHMETIC


def measure(transforms: Iterable[str]) -> str | None:
    """The measure a predicate with these transforms tests, or None when it tests the value."""
    names = [SIZES.get(t, t) for t in transforms if t in MEASURING]
    chain = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    return "-".join(chain) or None


@lru_cache(maxsize=1024)
def stored_measure(transforms: str) -> str | None:
    """`measure` of a predicate's transforms as the catalog stores them (a JSON list)."""
    return None if transforms == "[]" else measure(json.loads(transforms))


def is_size(transforms: Iterable[str]) -> bool:
    """A measure of size or position only (no arithmetic): `length(f) > n` says it all."""
    names = set(transforms)
    return bool(names & SIZES.keys()) and not names & ARITHMETIC


def measured_sql(column: str) -> str:
    """SQL true when the JSON list in `column` holds a measuring transform."""
    names = ", ".join(f"'{name}'" for name in sorted(MEASURING))
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({names}))"
