"""What the CLI prints for people: files it cannot write, rules it could not read, tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BROKEN_ID = "acme:11111111-2222-3333-4444-555555555555"
BROKEN_RULE = r"""title: Broken Condition Rule
id: 11111111-2222-3333-4444-555555555555
status: test
description: The condition names a selection that does not exist.
tags:
    - attack.execution
    - attack.t1059.01
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\powershell.exe'
    condition: selectoin
level: medium
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rulecat.server.cli", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("command", [
    ["layer", "--out"], ["report", "T1559.001", "--html"], ["heatmap", "--html"],
])
@pytest.mark.parametrize("where", ["missing/folder/out.file", "."])
def test_an_output_path_that_cannot_be_written_is_a_plain_error(
    catalog_path: Path, tmp_path: Path, command: list[str], where: str
) -> None:
    target = tmp_path / where  # a folder that does not exist, or a folder itself
    done = _cli(*command, str(target), "--catalog", str(catalog_path))
    assert done.returncode == 2
    assert f"Cannot write {target}" in done.stderr and "Traceback" not in done.stderr
    assert "'-' for standard output" in done.stderr


@pytest.fixture(scope="module")
def broken(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A catalog of one own folder holding a rule whose condition cannot be read, and what
    its build printed."""
    folder = tmp_path_factory.mktemp("acme-broken")
    (folder / "broken.yml").write_text(BROKEN_RULE, encoding="utf-8")
    catalog = folder.parent / f"{folder.name}.sqlite"
    done = _cli("build", "--source", f"acme=sigma:{folder}", "--attack",
                str(corpora / "attack" / "enterprise-attack.json"), "--catalog", str(catalog))
    assert done.returncode == 0, done.stderr
    return catalog, done.stdout


def test_the_build_names_each_unparsed_rule_with_its_reason(broken) -> None:
    _, printed = broken
    assert (f"unparsed {BROKEN_ID} (broken.yml): SigmaConditionError: Detection 'selectoin' "
            "not defined") in " ".join(printed.split())
    assert f"bad tag {BROKEN_ID}: attack.t1059.01" in printed


def test_an_unparsed_rule_says_so_and_shows_its_tags(broken) -> None:
    catalog, _ = broken
    done = _cli("rule", BROKEN_ID, "--catalog", str(catalog))
    assert done.returncode == 0, done.stderr
    assert "unparsed SigmaConditionError: Detection 'selectoin'" in done.stdout
    assert "techniques: none (tags: attack.execution, attack.t1059.01)" in done.stdout


def test_a_missing_corpora_folder_is_named_as_such(tmp_path: Path) -> None:
    done = _cli("build", "--corpora", str(tmp_path / "nowhere"), "--catalog",
                str(tmp_path / "c.sqlite"))
    assert done.returncode == 2
    assert f"--corpora {tmp_path / 'nowhere'}: folder not found" in done.stderr


def test_values_with_brackets_are_shown_as_written(catalog_path: Path) -> None:
    """Rich reads `[APT]` as markup; the Antivirus APT rule's wildcard keeps it."""
    done = _cli("rule", "sigma:101a1877-2cf4-474d-abfd-7f6ac4788d1a", "--catalog",
                str(catalog_path))
    assert done.returncode == 0, done.stderr
    assert ["selection", "Signature", "wildcard", "*[APT]*", "1"] in [
        line.split() for line in done.stdout.splitlines()]


def test_a_value_starting_with_a_dash_gets_the_double_dash_hint(catalog_path: Path) -> None:
    out = _cli("rules-by-field", "--catalog", str(catalog_path), "CommandLine", "-enc")
    assert out.returncode == 2
    assert "No such option: -e" in out.stderr
    assert "goes after '--'" in out.stderr and "-- CommandLine -enc" in out.stderr
    # A misspelled long option gets click's suggestion, not the hint.
    out = _cli("coverage", "--limt", "3", "T1003")
    assert out.returncode == 2 and "Possible options: --limit" in out.stderr
    assert "goes after" not in out.stderr


def test_errors_and_notes_name_cli_commands_not_mcp_tools(catalog_path: Path) -> None:
    out = _cli("event", "--catalog", str(catalog_path), "Sysmon", "99")
    assert out.returncode == 2
    assert "`rulecat events` shows them all" in out.stderr and "list_events" not in out.stderr
    out = _cli("rule", "--catalog", str(catalog_path), "sigma:nope")
    assert "find ids with `rulecat coverage` or `rulecat rules-by-field`" in out.stderr
    out = _cli("rules-by-field", "--catalog", str(catalog_path), "Image", "--limit", "3")
    assert out.returncode == 0
    assert "pass --vendor for one vendor's" in " ".join(out.stdout.split())
    out = _cli("coverage", "--catalog", str(catalog_path), "T1003", "--limit", "0")
    assert out.returncode == 2 and "page with --offset." in out.stderr


def test_version() -> None:
    from importlib.metadata import version

    out = _cli("--version")
    assert out.returncode == 0 and out.stdout == f"rulecat {version('rulecat')}\n"
