r"""Shared helpers for query parsers: predicates from a field, an operator and a value.

Every query-language parser (KQL, Lucene, EQL, ES|QL, ...) ends the same way: a field as
the rule wrote it, a value with its escapes resolved, a count of the negations above it,
and a choice of operator. These helpers make that last step uniform (DESIGN.md,
"Predicates"):

* polarity: `exclude` when an odd number of negations lie above the predicate;
* a field-less term is `match`; `exists` values are `true` / `false`;
* a value is `wildcard` when it holds an *unescaped* wildcard character; which characters
  are wildcards depends on the language (KQL: `*` only; Lucene, EQL `like`: `*` and `?`),
  so callers say so. Escaped wildcards are rendered as the bare character, as the Sigma
  parser does: in a `wildcard` value a literal `*` reads like a wildcard (rare), while a
  value with only escaped ones stays `eq` and exact.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from ..models import Operator, Polarity, Predicate

DEFAULT_WILDCARDS = "*?"
COMPARISONS: Mapping[str, Operator] = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def polarity(negations: int) -> Polarity:
    """`exclude` for an odd number of negations on the path, else `detect`."""
    return "exclude" if negations % 2 else "detect"


def has_wildcard(text: str, wildcards: str = DEFAULT_WILDCARDS) -> bool:
    """True when `text` (already unescaped, no escape information) holds a wildcard."""
    return any(ch in text for ch in wildcards)


def unescape(
    text: str,
    escapes: Mapping[str, str],
    wildcards: str = "",
    keep_unknown: bool = True,
) -> tuple[str, bool]:
    r"""Resolve backslash escapes; return (text, holds an unescaped wildcard).

    `escapes` maps the character after a backslash to its replacement (`{"n": "\n",
    "*": "*"}`); an unknown escape keeps its backslash when `keep_unknown` (Windows paths
    written with single backslashes stay as written), else drops it. A trailing lone
    backslash is kept.
    """
    out: list[str] = []
    wildcard = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
            else:
                out.append(ch + nxt if keep_unknown else nxt)
            i += 2
            continue
        wildcard = wildcard or ch in wildcards
        out.append(ch)
        i += 1
    return "".join(out), wildcard


def is_cidr(value: str) -> bool:
    """True for an IPv4 / IPv6 network written `address/prefix` (`10.0.0.0/8`)."""
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return True


def is_ip_field(field: str | None) -> bool:
    """An ECS IP-typed field by name (`source.ip`, `client.ip`, `related.ip`, ...).

    Elasticsearch matches a term such as `10.0.0.0/8` on an `ip` field as a network, but
    as plain text on a keyword field (`...ipRanges.items.cidrIp`), so callers turn it
    into `cidr` only on these fields.
    """
    name = (field or "").lower()
    return name == "ip" or name.endswith(".ip")


def value_predicate(
    field: str | None,
    value: str,
    negations: int = 0,
    *,
    wildcard: bool | None = None,
    wildcards: str = DEFAULT_WILDCARDS,
    case_sensitive: bool = False,
    selection: str | None = None,
    transforms: Iterable[str] = (),
) -> Predicate:
    """`eq` / `wildcard` on a field, or `match` without one.

    `wildcard` says whether the value holds an unescaped wildcard; None means "look for
    any of `wildcards` in the value" (for languages without escapes in that position).
    """
    if wildcard is None:
        wildcard = has_wildcard(value, wildcards)
    operator: Operator = "match" if not field else "wildcard" if wildcard else "eq"
    return Predicate(
        vendor_field=field or None,
        operator=operator,
        value=value,
        polarity=polarity(negations),
        selection=selection,
        transforms=list(transforms),
        case_sensitive=case_sensitive,
    )


def comparison_predicate(
    field: str,
    symbol: str,
    value: str,
    negations: int = 0,
    *,
    selection: str | None = None,
) -> Predicate:
    """`gt` / `gte` / `lt` / `lte` from `>`, `>=`, `<`, `<=`; the value as written."""
    return Predicate(
        vendor_field=field,
        operator=COMPARISONS[symbol],
        value=value,
        polarity=polarity(negations),
        selection=selection,
    )


def exists_predicate(
    field: str, present: bool = True, negations: int = 0, *, selection: str | None = None
) -> Predicate:
    """`exists` with value `true` (field present) or `false` (absent)."""
    return Predicate(
        vendor_field=field,
        operator="exists",
        value="true" if present else "false",
        polarity=polarity(negations),
        selection=selection,
    )


def operator_predicate(
    field: str,
    operator: Operator,
    value: str,
    negations: int = 0,
    *,
    case_sensitive: bool = False,
    selection: str | None = None,
    transforms: Iterable[str] = (),
) -> Predicate:
    """Any other operator (`regex_match`, `cidr`, `fieldref`, ...) as given."""
    return Predicate(
        vendor_field=field,
        operator=operator,
        value=value,
        polarity=polarity(negations),
        selection=selection,
        transforms=list(transforms),
        case_sensitive=case_sensitive,
    )
