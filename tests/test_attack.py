"""ATT&CK loading and technique matching, on a tiny hand-written bundle and the real data.

Real-data values were checked by hand in shared/corpora/attack (per-object files).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rulecat.index.attack.matching import (
    Membership,
    describe,
    excerpt,
    memberships,
    parse_technique_tag,
    select,
    technique_flags,
)
from rulecat.index.attack.stix import Attack, load_attack, load_version_map

FILES = Path(__file__).parent / "files" / "attack"
MINI = FILES / "mini-bundle.json"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def attack(corpora: Path) -> Attack:
    return load_attack(
        corpora / "attack" / "enterprise-attack.json",
        index_json=corpora / "attack" / "attack-stix-data" / "index.json",
        version_map=corpora / "elastic" / "detection_rules" / "etc" / "attack-version-maps"
        / "attack_v18_to_v19.yaml",
    )


@pytest.fixture(scope="module")
def mini() -> Attack:
    return load_attack(MINI, version_map=FILES / "version-map.yaml")


def vias(rows: list[Membership]) -> dict[str, str]:
    """technique -> via, keeping the strongest row per technique."""
    return {m.technique_id: m.via for m in select(rows)}


# --------------------------------------------------------------------------- tag parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t1059.001", "T1059.001"),
        (" T1059.001 ", "T1059.001"),
        ("T1059", "T1059"),
        ("attack.t1059.001", "T1059.001"),
        ("T1059.1", None),
        ("T10591", None),
        ("attack.execution", None),
        ("TA0002", None),
        ("", None),
    ],
)
def test_technique_tags_are_normalized_or_rejected(text: str, expected: str | None) -> None:
    assert parse_technique_tag(text) == expected


# --------------------------------------------------------------------------- tiny bundle


def test_the_version_comes_from_the_bundles_collection_object(mini: Attack) -> None:
    assert mini.version == "2.3"


def test_the_bundles_collection_wins_over_index_json(tmp_path: Path) -> None:
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"collections": [
        {"name": "Enterprise ATT&CK", "versions": [{"version": "9.0"}]}]}))
    assert load_attack(MINI, index_json=index).version == "2.3"


def test_without_collection_or_index_the_version_is_unknown(tmp_path: Path) -> None:
    bundle = json.loads(MINI.read_text())
    bundle["objects"] = [o for o in bundle["objects"] if o["type"] != "x-mitre-collection"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert load_attack(path).version == "unknown"


def test_index_json_gives_the_newest_enterprise_version(tmp_path: Path) -> None:
    bundle = json.loads(MINI.read_text())
    bundle["objects"] = [o for o in bundle["objects"] if o["type"] != "x-mitre-collection"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"collections": [
        {"name": "Mobile ATT&CK", "versions": [{"version": "30.0"}]},
        {"name": "Enterprise ATT&CK", "versions": [{"version": "9.0"}, {"version": "10.1"}]},
    ]}))
    assert load_attack(path, index_json=index).version == "10.1"


def test_tactics_follow_the_matrix_order(mini: Attack) -> None:
    assert [t.shortname for t in mini.tactics.values()] == ["beta", "alpha"]
    assert mini.techniques["T9001"].tactics == ["beta", "alpha"]
    assert mini.get_tactic("TA9001").shortname == "alpha"


def test_sub_techniques_know_their_parent(mini: Attack) -> None:
    child = mini.techniques["T9001.001"]
    assert child.is_subtechnique and child.parent == "T9001"
    assert [t.id for t in mini.subtechniques_of("T9001")] == ["T9001.001"]


def test_revocation_chains_end_at_the_final_replacement(mini: Attack) -> None:
    assert mini.techniques["T9004"].revoked_by == "T9001.001"
    assert mini.revocation_chain("T9004") == ["T9003", "T9001.001"]


def test_objects_other_than_techniques_are_ignored(mini: Attack) -> None:
    assert set(mini.techniques) == {"T9001", "T9001.001", "T9002", "T9003", "T9004"}


def test_the_version_map_reads_dicts_strings_and_nulls() -> None:
    vm = load_version_map(FILES / "version-map.yaml")
    assert vm.new_id("T9001") == "T9900"
    assert vm.new_id("T9001.001") == "T9900.001"
    assert vm.is_dropped("T9002") and vm.new_id("T9002") is None
    assert vm.old_ids("T9900") == ["T9001"]
    assert vm.name_of("T9900") == "Renamed Parent Thing"


def test_a_dropped_id_is_flagged(mini: Attack) -> None:
    assert technique_flags("T9002", mini) == ["deprecated", "dropped_in_v3"]


def test_excerpts_drop_citations_and_link_targets(mini: Attack) -> None:
    text = mini.techniques["T9001"].description
    assert excerpt(text) == "A made-up parent technique. See Child Thing."
    assert excerpt("word " * 100, limit=20).endswith("…")


# --------------------------------------------------------------------------- real data


def test_the_real_bundle_loads_well_under_a_second(corpora: Path) -> None:
    start = time.perf_counter()
    load_attack(corpora / "attack" / "enterprise-attack.json")
    assert time.perf_counter() - start < 1.0


def test_the_version_comes_from_index_json(attack: Attack) -> None:
    assert attack.version == "18.1"


def test_the_real_counts_match_the_manifest(attack: Attack) -> None:
    techs = list(attack.techniques.values())
    active = [t for t in techs if t.active]
    assert len(techs) == 835
    assert len(active) == 691
    assert sum(t.revoked for t in techs) == 132
    assert sum(t.deprecated for t in techs) == 12
    assert sum(t.is_subtechnique for t in active) == 475
    assert len(attack.tactics) == 14


def test_component_object_model_is_an_execution_sub_technique(attack: Attack) -> None:
    tech = attack.get_technique("t1559.001")
    assert tech.name == "Component Object Model"
    assert tech.parent == "T1559" and tech.is_subtechnique
    assert tech.tactics == ["execution"]
    assert tech.platforms == ["Windows"]
    assert tech.url == "https://attack.mitre.org/techniques/T1559/001"


def test_tactics_of_a_technique_are_in_matrix_order(attack: Attack) -> None:
    # The JSON lists defense-evasion first; the matrix puts privilege-escalation first.
    assert attack.techniques["T1055.011"].tactics == ["privilege-escalation", "defense-evasion"]
    assert attack.tactics["execution"].id == "TA0002"
    assert next(iter(attack.tactics)) == "reconnaissance"


def test_t1059_has_thirteen_active_sub_techniques(attack: Attack) -> None:
    assert [t.id for t in attack.subtechniques_of("T1059")] == [
        f"T1059.{i:03d}" for i in range(1, 14)
    ]


def test_t1547_011_is_revoked_by_plist_file_modification(attack: Attack) -> None:
    tech = attack.techniques["T1547.011"]
    assert tech.revoked and tech.revoked_by == "T1647"
    assert attack.techniques["T1647"].name == "Plist File Modification"


def test_revoked_by_follows_chains(attack: Attack) -> None:
    assert attack.revocation_chain("T1150") == ["T1547.011", "T1647"]
    assert attack.techniques["T1073"].revoked_by == "T1574.001"


def test_nearest_ids_suggest_the_likely_sub_technique(attack: Attack) -> None:
    assert attack.nearest_ids("T1559.01")[:4] == ["T1559.001", "T1559.002", "T1559.003", "T1559"]
    assert attack.nearest_ids("T1559.009")[:4] == [
        "T1559.001", "T1559.002", "T1559.003", "T1559"
    ]


def test_nearest_ids_know_version_map_ids_and_names(attack: Attack) -> None:
    assert attack.nearest_ids("t1685.05")[0] == "T1685.005"
    assert attack.nearest_ids("Component Object Modle")[0] == "T1559.001"


def test_search_by_name_puts_exact_names_first(attack: Attack) -> None:
    assert attack.search_by_name("powershell")[0].id == "T1059.001"


# --------------------------------------------------------------------------- matching


def test_a_tag_lists_the_rule_under_its_own_id_exactly(attack: Attack) -> None:
    assert vias(memberships(["T1559.001"], attack))["T1559.001"] == "exact"


def test_a_sub_technique_tag_rolls_up_to_its_parent(attack: Attack) -> None:
    rows = memberships(["t1559.001"], attack)
    parent = [m for m in rows if m.technique_id == "T1559"]
    assert parent == [Membership(technique_id="T1559", via="subtechnique",
                                 tagged_id="T1559.001", rollup=True)]


def test_a_parent_only_tag_is_not_in_a_sub_techniques_answer(attack: Attack) -> None:
    assert set(vias(memberships(["T1559"], attack))) == {"T1559"}
    assert "T1562.001" not in vias(memberships(["T1562"], attack))


def test_a_revoked_tag_is_redirected_to_its_replacement(attack: Attack) -> None:
    got = vias(memberships(["T1547.011"], attack))
    assert got == {"T1547.011": "exact", "T1647": "revoked"}


def test_a_revoked_tag_reaches_every_replacement_on_the_chain(attack: Attack) -> None:
    got = vias(memberships(["T1150"], attack))
    assert got == {"T1150": "exact", "T1547.011": "revoked", "T1647": "revoked"}


def test_a_revoked_tag_rolls_up_through_its_replacements_parent(attack: Attack) -> None:
    rows = memberships(["T1574.002"], attack)
    assert Membership(technique_id="T1574", via="revoked", tagged_id="T1574.002",
                      rollup=True) in rows
    assert vias(rows)["T1574.001"] == "revoked"


def test_asking_an_old_id_lists_rules_tagged_with_its_new_id(attack: Attack) -> None:
    rows = memberships(["T1685.005"], attack)
    assert Membership(technique_id="T1070.001", via="renamed", tagged_id="T1685.005") in rows
    assert Membership(technique_id="T1070", via="renamed", tagged_id="T1685.005",
                      rollup=True) in rows


def test_asking_a_new_id_lists_rules_tagged_with_its_old_id(attack: Attack) -> None:
    rows = memberships(["T1070.001"], attack)
    assert Membership(technique_id="T1685.005", via="renamed", tagged_id="T1070.001") in rows
    assert vias(rows)["T1070"] == "subtechnique"
    assert vias(rows)["T1685"] == "renamed"


def test_every_old_id_of_a_merged_technique_lists_the_new_ids_rules(attack: Attack) -> None:
    got = vias(memberships(["T1685"], attack))
    assert got["T1562.001"] == "renamed" and got["T1562.006"] == "renamed"
    assert got["T1685"] == "exact"


def test_merged_siblings_do_not_list_each_others_rules(attack: Attack) -> None:
    got = vias(memberships(["T1562.001"], attack))
    assert got["T1685"] == "renamed"
    assert "T1562.006" not in got


def test_the_strongest_path_wins(attack: Attack) -> None:
    # T1547.011 reaches T1647 both by revocation and by the version map.
    got = memberships(["T1547.011"], attack)
    assert [m.via for m in got if m.technique_id == "T1647"] == ["revoked"]
    # A rule tagged with both a sub-technique and its parent is exact under the parent.
    assert vias(memberships(["T1059.001", "T1059"], attack))["T1059"] == "exact"


def test_a_direct_path_survives_beside_a_stronger_roll_up(attack: Attack) -> None:
    rows = memberships(["T1685", "T1562.001"], attack)
    assert vias(rows)["T1562"] == "subtechnique"
    direct = {m.technique_id: m for m in select(rows, include_subtechniques=False)}
    assert direct["T1562"].via == "renamed" and direct["T1562"].tagged_id == "T1685"


def test_without_sub_techniques_roll_ups_are_dropped(attack: Attack) -> None:
    rows = select(memberships(["T1559.001"], attack), include_subtechniques=False)
    assert [m.technique_id for m in rows] == ["T1559.001"]


def test_unknown_ids_are_kept_and_flagged(attack: Attack) -> None:
    got = vias(memberships(["T1690", "T1685.004"], attack))
    assert got == {"T1690": "exact", "T1685.004": "exact", "T1685": "subtechnique"}
    assert technique_flags("T1690", attack) == ["unknown_to_loaded_attack"]


def test_text_that_is_not_a_technique_id_is_skipped(attack: Attack) -> None:
    assert vias(memberships(["attack.execution", "T1059"], attack)) == {"T1059": "exact"}


def test_flags_describe_revocations_and_renames(attack: Attack) -> None:
    assert technique_flags("T1547.011", attack) == [
        "revoked", "revoked_by:T1647", "renamed_in_v19:T1647"
    ]
    assert technique_flags("T1070.001", attack) == ["renamed_in_v19:T1685.005"]
    assert technique_flags("T1685", attack) == [
        "unknown_to_loaded_attack", "renamed_from:T1562", "renamed_from:T1562.001",
        "renamed_from:T1562.006",
    ]
    assert technique_flags("T1053.004", attack) == ["deprecated"]
    assert technique_flags("T1559.001", attack) == []


def test_a_known_id_is_described_from_the_loaded_data(attack: Attack) -> None:
    info = describe("T1559.001", attack)
    assert info.name == "Component Object Model" and info.tactics == ["execution"]
    assert info.attack_version == "18.1" and info.known
    assert info.description.startswith("Adversaries may use the Windows Component Object")
    assert "(Citation" not in info.description


def test_an_unknown_id_takes_its_name_from_the_version_map(attack: Attack) -> None:
    info = describe("T1685.005", attack)
    assert not info.known and info.name == "Clear Windows Event Logs"
    assert info.parent == "T1685"
    assert "unknown_to_loaded_attack" in info.flags
    assert describe("T1690", attack).name is None
