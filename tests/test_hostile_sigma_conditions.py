"""Property tests: any condition over a fixed Sigma detection, read the way a build reads it.

Whatever the condition text (random characters, shuffled condition keywords, a list of
conditions, deep nesting), the Sigma reader answers with either one rule (parsed into
predicates of the detection's own selections, or kept unparsed with a reason) or one
rejection with a reason, quickly, and never raises. Conditions built only from valid
forms (names, `1 of x*`, `all of them`, `not`, `and`, `or`, parentheses) always parse, and
their predicates come from exactly the selections those forms name.

`test_sigma_predicates.py` already checks polarity as the parity of `not`s over and/or
trees; these tests are about robustness and quantifier expansion.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.models import RuleRecord
from rulecat.index.readers.sigma import read_sigma_file

DETECTION: dict[str, Any] = {
    "sel_a": {"Image|endswith": "\\a.exe"},
    "sel_b": {"CommandLine|contains": ["x", "y"]},
    "filter_1": {"User": "SYSTEM"},
    "filter_2": {"ParentImage": None},
    "keywords": ["evil"],
}
# A quantified form of the condition syntax -> the selections it names.
FORMS: dict[str, set[str]] = {
    **{name: {name} for name in DETECTION},
    "1 of sel_*": {"sel_a", "sel_b"},
    "all of filter_*": {"filter_1", "filter_2"},
    "1 of them": set(DETECTION),
    "all of them": set(DETECTION),
}
TOKENS = [*FORMS, "nothere", "sel_*", "them", "1 of", "all of", "any of", "of", "not",
          "and", "or", "AND", "NOT", "(", ")", "|", "count() > 5", "*", "1", "near", "by",
          "'", '"', "\\", "-", "\t"]
PER_RULE_S = 2.0
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rulecat-conditions-") as name:
        yield Path(name)


def read_with_condition(folder: Path, condition: Any) -> tuple[list[RuleRecord], list[str]]:
    """Write a rule with `condition` as YAML, read it as a build does, and time it."""
    rule = {"title": "Condition under test", "logsource": {"product": "windows"},
            "detection": {**DETECTION, "condition": condition}}
    path = folder / "rule.yml"
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    started = time.perf_counter()
    rules, rejections = read_sigma_file("t", folder, path)
    assert time.perf_counter() - started < PER_RULE_S, condition
    return rules, [r.reason for r in rejections]


def assert_clean_outcome(rules: list[RuleRecord], reasons: list[str]) -> None:
    """One rule (parsed into the detection's selections, or unparsed with a reason), or one
    rejection with a reason."""
    assert (len(rules), len(reasons)) in {(1, 0), (0, 1)}
    if reasons:
        assert reasons[0].strip()
        return
    rule = rules[0]
    if not rule.parsed:
        assert (rule.unparsed_reason or "").strip()
        return
    assert {p.selection for p in rule.predicates} <= set(DETECTION)
    assert {p.polarity for p in rule.predicates} <= {"detect", "exclude"}


token_conditions = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)
any_condition = st.one_of(
    st.text(max_size=300),
    token_conditions,
    st.lists(token_conditions, min_size=1, max_size=3),
    st.integers(min_value=1, max_value=400).map(lambda n: "(" * n + "sel_a" + ")" * n),
    st.integers(min_value=1, max_value=400).map(lambda n: "not " * n + "sel_a"),
    st.none() | st.integers() | st.dictionaries(st.text(max_size=5), token_conditions),
)


@PROPERTY
@given(any_condition)
def test_any_condition_gives_predicates_or_a_clean_refusal(folder: Path, condition: Any) -> None:
    assert_clean_outcome(*read_with_condition(folder, condition))


def _expressions() -> st.SearchStrategy[tuple[str, set[str]]]:
    """(condition text, selections it names) built only from valid forms."""
    leaves = st.sampled_from(sorted(FORMS)).map(lambda form: (form, FORMS[form]))

    def grow(inner: st.SearchStrategy[tuple[str, set[str]]]) -> Any:
        negated = inner.map(lambda e: (f"not ({e[0]})", e[1]))
        joined = st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: (f"({t[0][0]}) {t[1]} ({t[2][0]})", t[0][1] | t[2][1]))
        return negated | joined

    return st.recursive(leaves, grow, max_leaves=10)


@PROPERTY
@given(_expressions())
def test_valid_conditions_parse_into_the_selections_they_name(
    folder: Path, expression: tuple[str, set[str]]
) -> None:
    condition, named = expression
    rules, reasons = read_with_condition(folder, condition)
    assert reasons == [] and len(rules) == 1
    assert rules[0].parsed, rules[0].unparsed_reason
    assert {p.selection for p in rules[0].predicates} == named
