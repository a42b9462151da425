r"""Sigma detections to predicates: one `Predicate` per value a rule tests.

The walk follows the rule's *parsed condition* (pySigma's resolved tree for each
`condition:` entry), so only selections a condition uses produce predicates, and polarity
comes from the condition itself: a predicate is `exclude` when an odd number of
`ConditionNOT` nodes lie between the condition's root and the value (`not filter`,
`not 1 of filter_*`, a `|neq` item, or any nesting of them). Each leaf of that tree reuses
the value object of the detection item it came from, so a leaf is mapped back to its item,
its selection name and its written value by `id(leaf.value)`.

Values are rendered the way the rule wrote them, with the operator carrying the meaning
(DESIGN.md, "Predicates"):

* strings: `contains` -> `*v*`, `startswith` -> `v*`, `endswith` -> `*v`; operator
  `wildcard` when the value holds a Sigma wildcard, else `eq`. Sigma escapes are resolved
  to the literal text (`\*` -> `*`, `\\` -> `\`) and wildcards are rendered as `*` / `?`.
  So in a `wildcard` value a literal star or question mark (rare: `'momyshark\?key='`)
  reads like a wildcard; escaping it instead would make every folder prefix such as
  `'C:\Windows\'` + `*` ambiguous, which is far more common.
* value-changing modifiers (`windash`, `base64`, `base64offset`, `utf16*`, `wide`, `cased`,
  `all`, `expand`, regex flags as `re:i` / `re:m` / `re:s`) are listed in `transforms`, and
  the value is the one written, before any expansion or encoding.
* keywords (no field) -> `match`; `re` -> `regex_match` with the pattern as written;
  `cidr`; `gt`/`gte`/`lt`/`lte` with the number as text; `exists` (`true`/`false`, also
  `field: null` -> `false`); `fieldref` with the other field's name as value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sigma.conditions import (
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionValueExpression,
)
from sigma.modifiers import (
    SigmaWideModifier,
    modifier_mapping,
    reverse_modifier_mapping,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from ..errors import RulecatError
from ..models import Operator, Predicate
from . import dedupe


class SigmaExtractionError(RulecatError):
    """A detection holds something rulecat cannot turn into predicates."""


class SigmaUTF16LEModifier(SigmaWideModifier):
    """`utf16le`: the Sigma specification's other name for `wide` (missing in pySigma 1.5.1)."""


# pySigma 1.5.1 knows `wide` but not its spec alias `utf16le`; register it so such rules
# parse instead of failing with "Unknown modifier". Harmless where pySigma already has it.
if "utf16le" not in modifier_mapping:
    modifier_mapping["utf16le"] = SigmaUTF16LEModifier
    reverse_modifier_mapping[SigmaUTF16LEModifier.__name__] = "utf16le"

# Modifiers that change the value before matching: kept as transforms, value as written.
_TRANSFORMS = {
    "all": "all",
    "base64": "base64",
    "base64offset": "base64offset",
    "utf16": "utf16",
    "utf16le": "utf16le",
    "utf16be": "utf16be",
    "wide": "wide",
    "windash": "windash",
    "cased": "cased",
    "expand": "expand",
    "i": "re:i",
    "ignorecase": "re:i",
    "m": "re:m",
    "multiline": "re:m",
    "s": "re:s",
    "dotall": "re:s",
    "minute": "minute",
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
}

_COMPARE: dict[CompareOperators, Operator] = {
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
}

_WILDCARD_TEXT = {SpecialChars.WILDCARD_MULTI: "*", SpecialChars.WILDCARD_SINGLE: "?"}

# Selection name and detection item of every value object, keyed by id().
_ValueIndex = dict[int, tuple[str, SigmaDetectionItem, int]]


def extract_predicates(rule: SigmaRule) -> list[Predicate]:
    """Every value `rule`'s conditions test, as predicates in condition order, deduplicated.

    Raises `SigmaExtractionError` (or a pySigma `SigmaError` from parsing the condition)
    when the detection cannot be read whole.
    """
    index = _index_values(rule)
    predicates: list[Predicate] = []
    for condition in rule.detection.parsed_condition:
        for leaf, negations in _leaves(condition.parsed, 0):
            predicates.append(_leaf_predicate(leaf, negations % 2 == 1, index))
    return dedupe(predicates)


def _index_values(rule: SigmaRule) -> _ValueIndex:
    index: _ValueIndex = {}

    def visit(selection: str, detection: SigmaDetection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                visit(selection, item)
            else:
                for position, value in enumerate(item.value):
                    index[id(value)] = (selection, item, position)

    for name, detection in rule.detection.detections.items():
        visit(name, detection)
    return index


def _leaves(node: Any, negations: int) -> Iterator[tuple[Any, int]]:
    """Leaves of a condition tree with the number of NOTs above each, left to right."""
    if node is None:  # an empty detection
        return
    if isinstance(node, (ConditionFieldEqualsValueExpression, ConditionValueExpression)):
        yield node, negations
    elif isinstance(node, ConditionItem):
        below = negations + 1 if isinstance(node, ConditionNOT) else negations
        for arg in node.args:
            yield from _leaves(arg, below)
    else:
        raise SigmaExtractionError(f"unexpected node in condition tree: {type(node).__name__}")


def _locate(leaf: Any, index: _ValueIndex) -> tuple[str | None, SigmaDetectionItem | None, int]:
    """Selection, detection item and value position a leaf came from."""
    found = index.get(id(leaf.value))
    if found is not None:
        return found
    # A value pySigma made up (an empty value list becomes a fresh SigmaNull): the parent
    # chain still holds the item and the identifier.
    item: SigmaDetectionItem | None = None
    selection: str | None = None
    for parent in leaf.parent_chain():
        if item is None and isinstance(parent, SigmaDetectionItem):
            item = parent
        if isinstance(parent, ConditionIdentifier):
            selection = parent.identifier
            break
    return selection, item, -1


def _leaf_predicate(leaf: Any, negated: bool, index: _ValueIndex) -> Predicate:
    selection, item, position = _locate(leaf, index)
    field = getattr(leaf, "field", None)
    modifiers = (
        [reverse_modifier_mapping.get(m.__name__, m.__name__) for m in item.modifiers]
        if item is not None
        else []
    )
    transforms = [_TRANSFORMS[m] for m in modifiers if m in _TRANSFORMS]
    original = None
    if item is not None and item.original_value is not None and 0 <= position:
        if len(item.original_value) == len(item.value):
            original = item.original_value[position]

    operator, value, case_sensitive = _operator_value(leaf.value, original, modifiers, field)
    return Predicate(
        vendor_field=field,
        operator=operator,
        value=value,
        polarity="exclude" if negated else "detect",
        selection=selection,
        transforms=transforms,
        case_sensitive=case_sensitive,
    )


def _operator_value(
    value: Any, original: Any, modifiers: list[str], field: str | None
) -> tuple[Operator, str, bool]:
    """(operator, value text, case sensitive) for one tested value."""
    if isinstance(value, SigmaNull):
        return "exists", "false", False
    if isinstance(value, SigmaExists):
        return "exists", "true" if value.exists else "false", False
    if isinstance(value, SigmaRegularExpression):
        pattern = original.original if isinstance(original, SigmaString) else str(value.regexp)
        return "regex_match", pattern, not ({"i", "ignorecase"} & set(modifiers))
    if isinstance(value, SigmaCIDRExpression):
        return "cidr", value.cidr, False
    if isinstance(value, SigmaCompareExpression):
        compare = _COMPARE.get(value.op)
        if compare is None:
            raise SigmaExtractionError(f"unsupported comparison {value.op.name}")
        return compare, str(value.number.number), False
    if isinstance(value, SigmaFieldReference):
        return "fieldref", value.field, False
    if isinstance(value, SigmaBool):
        return ("match" if field is None else "eq"), "true" if value.boolean else "false", False
    if isinstance(value, SigmaNumber):  # also SigmaTimestampPart (hour, day, ...)
        number = original.number if isinstance(original, SigmaNumber) else value.number
        if isinstance(value, SigmaTimestampPart):
            number = value.number
        return ("match" if field is None else "eq"), str(number), False
    if isinstance(value, (SigmaString, SigmaExpansion)):
        if isinstance(original, SigmaString):
            text = _position(original, modifiers)
        elif isinstance(value, SigmaString):
            text = value
        else:
            raise SigmaExtractionError("expanded value without its written form")
        wildcard = any(isinstance(part, SpecialChars) for part in text.s)
        if field is None:
            operator: Operator = "match"
        else:
            operator = "wildcard" if wildcard else "eq"
        rendered = _render(text)
        return operator, rendered, "cased" in modifiers
    raise SigmaExtractionError(f"unsupported Sigma value type {type(value).__name__}")


def _position(text: SigmaString, modifiers: list[str]) -> SigmaString:
    """Apply `contains` / `startswith` / `endswith` to the written value, as pySigma does."""
    multi = SpecialChars.WILDCARD_MULTI
    for modifier in modifiers:
        if modifier in ("contains", "endswith") and not text.startswith(multi):
            text = multi + text
        if modifier in ("contains", "startswith") and not text.endswith(multi):
            text = text + multi
    return text


def _render(text: SigmaString) -> str:
    parts: list[str] = []
    for part in text.s:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, SpecialChars):
            parts.append(_WILDCARD_TEXT[part])
        elif isinstance(part, Placeholder):
            parts.append(f"%{part.name}%")
        else:  # pragma: no cover - SigmaString holds nothing else
            raise SigmaExtractionError(f"unexpected string part {part!r}")
    return "".join(parts)
