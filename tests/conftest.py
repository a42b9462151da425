"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rulecat.index.models import Predicate


# Valid arguments for every tool's required parameters, by name (real corpora): tests that
# call each listed tool take its required ones from here.
SAMPLE_ARGS: dict[str, Any] = {
    "technique_id": "T1559.001",
    "field": "Image",
    "rule_id": "sigma:3b4b232a-af90-427c-a22f-30b0c0837b95",
    "query": "regsvr32",
    "provider": "Sysmon",
    "event_id": 1,
    "a": "sigma",  # compare_sources
    "b": "elastic",
}


def predicate_rows(predicates: Iterable[Predicate]) -> list[str]:
    """Predicates as short lines for assertions: `selection +|! field operator 'value' [cs]
    [transforms]` (+ detect, ! exclude; cs when case-sensitive)."""
    rows = []
    for p in predicates:
        sign = "+" if p.polarity == "detect" else "!"
        text = f"{p.selection or '-'} {sign} {p.vendor_field} {p.operator} '{p.value}'"
        text += " cs" if p.case_sensitive else ""
        text += " [" + ",".join(p.transforms) + "]" if p.transforms else ""
        rows.append(text)
    return rows


def require(path: Path, what: str) -> Path:
    """Real input a test needs: missing, the test fails when CI is set and skips otherwise."""
    if not path.is_dir():
        message = f"{what} not found: {path} (set RULECAT_CORPORA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session", autouse=True)
def _not_the_users_own_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests (and the CLI they run) never read or write the user's own sources.toml, sync
    cache or catalog: a user who has run `rulecat sync` gets the same results."""
    home = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RULECAT_CONFIG", str(home / "sources.toml"))
        patch.setenv("RULECAT_CACHE", str(home / "cache"))
        patch.setenv("RULECAT_CATALOG", str(home / "catalog.sqlite"))
        yield


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The real corpora folder (`../shared/corpora` beside the clone)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "corpora"
    # Resolved, as build commands resolve their folders: `shared` may be a symlink.
    return require(Path(os.environ.get("RULECAT_CORPORA") or default).resolve(), "corpora folder")


@pytest.fixture(scope="session")
def sigma_corpus(corpora: Path) -> Path:
    """The SigmaHQ snapshot inside the corpora."""
    require(corpora / "sigma" / "rules", "Sigma corpus")
    return corpora / "sigma"


@pytest.fixture(scope="session")
def elastic_corpus(corpora: Path) -> Path:
    """The Elastic detection-rules snapshot inside the corpora."""
    require(corpora / "elastic" / "rules", "Elastic corpus")
    return corpora / "elastic"


@pytest.fixture(scope="session")
def catalog_path(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog built once per test session from the real corpora."""
    from rulecat.index.build import build_catalog, inputs_from_corpora

    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    build_catalog(inputs_from_corpora(corpora), path)
    return path


@pytest.fixture(scope="session")
def catalog(catalog_path: Path):  # -> rulecat.index.api.Catalog
    from rulecat.index.api import Catalog

    cat = Catalog(catalog_path)
    yield cat
    cat.close()


@pytest.fixture(scope="session")
def sigma_catalog(corpora: Path, tmp_path_factory: pytest.TempPathFactory):
    """A catalog of the real Sigma rules alone, so pinned counts do not move as vendors land."""
    from rulecat.index.api import Catalog
    from rulecat.index.build import SourceSpec, build_catalog, inputs_from_corpora

    inputs = inputs_from_corpora(corpora)
    inputs.sources = [SourceSpec(name="sigma", vendor="sigma", root=corpora / "sigma")]
    path = tmp_path_factory.mktemp("sigma-catalog") / "catalog.sqlite"
    build_catalog(inputs, path)
    cat = Catalog(path)
    yield cat
    cat.close()
