"""SPL macro expansion: arguments, filters, missing macros, comments and bounds."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rulecat.index.parsers.spl_macros import (
    MAX_DEPTH,
    Macro,
    MacroLibrary,
    split_arguments,
    strip_comments,
)

FIXTURE_MACROS = Path(__file__).parent / "files" / "splunk" / "macros"


def library(*macros: Macro) -> MacroLibrary:
    return MacroLibrary.from_macros(list(macros))


def test_a_macro_without_arguments_is_replaced_by_its_definition():
    lib = library(Macro("sysmon", "sourcetype=sysmon"))
    assert lib.expand("`sysmon` EventCode=1").text == "sourcetype=sysmon EventCode=1"


def test_arguments_replace_their_placeholders():
    lib = library(Macro("ctime", "convert ctime($field$)", ("field",)))
    expansion = lib.expand("x | `ctime(firstTime)`")
    assert expansion.text == "x | convert ctime(firstTime)"
    assert expansion.used == ["ctime(1)"]


def test_macros_are_keyed_by_name_and_arity():
    lib = library(Macro("m", "none"), Macro("m", "one $a$", ("a",)))
    assert lib.expand("`m` `m(x)`").text == "none one x"


def test_drop_dm_object_name_is_built_in_and_quotes_around_arguments_are_dropped():
    lib = library()
    assert lib.expand('`drop_dm_object_name("Web")`').text == "rename Web.* AS *"
    assert lib.expand(r'`drop_dm_object_name(\"Web\")`').text == "rename Web.* AS *"
    assert lib.expand("`drop_dm_object_name(Processes)`").text == "rename Processes.* AS *"


def test_a_source_definition_wins_over_a_built_in():
    lib = library(Macro("drop_dm_object_name", "rename $o$.x AS x", ("o",)))
    assert lib.expand("`drop_dm_object_name(P)`").text == "rename P.x AS x"


def test_nested_macros_expand_inside_definitions():
    lib = library(Macro("summaries", "summariesonly=`cfg`"), Macro("cfg", "false"))
    assert lib.expand("| tstats `summaries` count").text == "| tstats summariesonly=false count"


def test_filter_macros_add_nothing_and_are_not_reported():
    expansion = library().expand("x=1 | `some_detection_filter`")
    assert expansion.text == "x=1 | "
    assert expansion.unresolved == []


def test_a_missing_macro_is_reported_and_the_rest_is_kept():
    expansion = library().expand("`no_such_macro` x=1 | `other(a, b)`")
    assert expansion.text == " x=1 | "
    assert expansion.unresolved == ["no_such_macro", "other(2)"]


def test_a_macro_cycle_ends_as_an_unresolved_macro():
    lib = library(Macro("a", "x `b`"), Macro("b", "y `a`"))
    expansion = lib.expand("`a`")
    assert expansion.text.split() == ["x", "y"] * (MAX_DEPTH // 2)
    assert expansion.unresolved == [f"a (nested deeper than {MAX_DEPTH})"]


def test_a_macro_calling_itself_many_times_is_bounded():
    lib = library(Macro("a", " ".join(["`a`"] * 10)))
    started = time.perf_counter()
    expansion = lib.expand("`a`")
    assert time.perf_counter() - started < 2
    assert any("expansions" in u for u in expansion.unresolved)


def test_comments_are_removed_before_expansion():
    assert strip_comments("a ```note `m` ``` b") == "a   b"
    assert strip_comments("a ```unclosed") == "a  "
    assert library(Macro("m", "X")).expand("```c``` `m`").text == "  X"


def test_backticks_inside_double_quotes_are_literal():
    lib = library(Macro("m", "X"))
    assert lib.expand('eval p=replace(p, "`", "") `m`').text == 'eval p=replace(p, "`", "") X'


def test_arguments_split_at_top_level_commas_only():
    assert split_arguments('a, "b, c", f(d, e)') == ["a", "b, c", "f(d, e)"]
    assert split_arguments("  ") == []


def test_macro_files_load_and_bad_ones_are_noted(tmp_path):
    (tmp_path / "good.yml").write_text("name: good\ndefinition: x=$a$\narguments: [a]\n")
    (tmp_path / "flag.yml").write_text("name: flag\ndefinition: false\n")
    (tmp_path / "dup.yml").write_text("name: a\nname: b\ndefinition: x\n")
    (tmp_path / "none.yml").write_text("definition: x\n")
    lib = MacroLibrary.load(tmp_path)
    assert lib.get("good", 1) == Macro("good", "x=$a$", ("a",))
    assert lib.get("flag", 0).definition == "false"
    assert sorted(p.split(":")[0] for p in lib.problems) == ["dup.yml", "none.yml"]


def test_fixture_macros_expand_with_arguments():
    lib = MacroLibrary.load(FIXTURE_MACROS)
    expansion = lib.expand("`process_is(certutil.exe)`")
    assert expansion.text == "(Processes.process_name=certutil.exe OR " \
                             "Processes.original_file_name=certutil.exe)"


# --------------------------------------------------------------------------- properties

NAMES = st.sampled_from(["a", "b", "c", "d_filter"])
BODIES = st.lists(
    st.sampled_from(["x", " ", "`a`", "`b`", "`c(1)`", "`a(1, 2)`", "$p$", '"`"', "```",
                     "`", "(", ",", "\\", "`d_filter`"]),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    macros=st.lists(st.tuples(NAMES, BODIES, st.booleans()), max_size=6),
    search=BODIES | st.text(max_size=100),
)
def test_any_macros_and_search_expand_without_error_and_within_bounds(macros, search):
    lib = library(*(Macro(n, body, ("p",) if has_arg else ()) for n, body, has_arg in macros))
    started = time.perf_counter()
    expansion = lib.expand(search)
    assert isinstance(expansion.text, str)
    assert time.perf_counter() - started < 2
    assert all(isinstance(u, str) for u in expansion.unresolved)
