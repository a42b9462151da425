"""Field registry and predicate normalization (rulecat.index.normalize.fields)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rulecat.index.models import LogSource, Predicate, RuleRecord
from rulecat.index.normalize.fields import (
    FieldRegistry,
    UnmappedFields,
    normalize_predicate,
    normalize_rule,
)

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C parser when built
PROCESS_CREATION = LogSource(product="windows", category="process_creation")
PROCESS_ACCESS = LogSource(product="windows", category="process_access")
SECURITY = LogSource(product="windows", service="security")


@pytest.fixture(scope="module")
def registry() -> FieldRegistry:
    return FieldRegistry.load()


def normalized(
    registry: FieldRegistry,
    vendor: str,
    field: str | None,
    operator: str,
    value: str,
    logsource: LogSource | None = None,
    case_sensitive: bool = False,
) -> Predicate:
    pred = Predicate(
        vendor_field=field, operator=operator, value=value, case_sensitive=case_sensitive
    )
    normalize_predicate(pred, vendor, logsource, registry)
    return pred


# ----------------------------------------------------------------- Sigma aliases


def test_image_in_process_creation_is_process_executable(registry):
    assert registry.canonical("sigma", "Image", PROCESS_CREATION) == "process.executable"


def test_command_line_in_process_creation_is_process_command_line(registry):
    assert registry.canonical("sigma", "CommandLine", PROCESS_CREATION) == "process.command_line"


def test_original_file_name_follows_the_logsource(registry):
    image_load = LogSource(product="windows", category="image_load")
    assert (registry.canonical("sigma", "OriginalFileName", PROCESS_CREATION)
            == "process.pe.original_file_name")
    assert (registry.canonical("sigma", "OriginalFileName", image_load)
            == "dll.pe.original_file_name")


@pytest.mark.parametrize(
    ("category", "field", "expected"),
    [
        ("file_event", "TargetFilename", "file.path"),
        ("registry_set", "TargetObject", "registry.path"),
        ("registry_set", "Details", "registry.data.strings"),
        ("image_load", "ImageLoaded", "dll.path"),
        ("driver_load", "ImageLoaded", "file.path"),
        ("dns_query", "QueryName", "dns.question.name"),
        ("network_connection", "DestinationPort", "destination.port"),
        ("network_connection", "DestinationIp", "destination.ip"),
        ("process_access", "SourceImage", "process.executable"),
        ("process_access", "TargetImage", "target.process.executable"),
        ("process_creation", "ParentImage", "process.parent.executable"),
        ("process_creation", "User", "user.name"),
    ],
)
def test_sigma_fields_map_to_ecs_by_category(registry, category, field, expected):
    logsource = LogSource(product="windows", category=category)
    assert registry.canonical("sigma", field, logsource) == expected


def test_event_id_spellings_are_event_code(registry):
    assert registry.canonical("sigma", "EventID", SECURITY) == "event.code"
    assert registry.canonical("splunk", "EventCode", None) == "event.code"
    assert registry.canonical("elastic", "winlog.event_id", None) == "event.code"
    assert registry.canonical("elastic", "event.code", None) == "event.code"


def test_other_windows_fields_take_the_winlog_event_data_prefix(registry):
    assert (registry.canonical("sigma", "GrantedAccess", PROCESS_ACCESS)
            == "winlog.event_data.GrantedAccess")
    assert (registry.canonical("sigma", "SubjectUserName", SECURITY)
            == "winlog.event_data.SubjectUserName")


def test_linux_process_creation_reads_the_same_sigma_taxonomy(registry):
    linux = LogSource(product="linux", category="process_creation")
    assert registry.canonical("sigma", "Image", linux) == "process.executable"
    assert registry.canonical("sigma", "CommandLine", linux) == "process.command_line"


def test_an_unknown_cloud_field_is_unmapped(registry):
    okta = LogSource(product="okta", service="okta")
    assert registry.canonical("sigma", "debugContext.debugData.requestUri", okta) is None


def test_sigma_lookups_ignore_case(registry):
    assert registry.canonical("sigma", "commandline", PROCESS_CREATION) == "process.command_line"


# ----------------------------------------------------------------- Splunk and Elastic


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Processes.process_name", "process.name"),
        ("process_name", "process.name"),
        ("Processes.process_path", "process.executable"),
        ("Processes.process", "process.command_line"),
        ("Processes.parent_process_name", "process.parent.name"),
        ("Processes.original_file_name", "process.pe.original_file_name"),
        ("Filesystem.file_path", "file.path"),
        ("Registry.registry_path", "registry.path"),
        ("Registry.registry_value_data", "registry.data.strings"),
        ("Network_Traffic.dest_port", "destination.port"),
        ("DNS.query", "dns.question.name"),
        ("Image", "process.executable"),
        ("CommandLine", "process.command_line"),
        ("TargetImage", "target.process.executable"),
    ],
)
def test_splunk_fields_map_to_ecs(registry, field, expected):
    assert registry.canonical("splunk", field, None) == expected


def test_elastic_fields_drop_multi_field_suffixes(registry):
    assert registry.canonical("elastic", "process.name.caseless", None) == "process.name"
    assert registry.canonical("elastic", "process.command_line.text", None) == (
        "process.command_line"
    )


def test_elastic_winlog_event_data_joins_through_the_sigma_name(registry):
    assert registry.canonical("elastic", "winlog.event_data.TargetImage", None) == (
        "target.process.executable"
    )
    assert registry.canonical("elastic", "winlog.event_data.SubjectUserSid", None) == (
        "winlog.event_data.SubjectUserSid"
    )


def test_unknown_elastic_fields_are_their_own_canonical_name(registry):
    assert registry.canonical("elastic", "process.Ext.token.integrity_level_name", None) == (
        "process.Ext.token.integrity_level_name"
    )


# ----------------------------------------------------------------- lookups for tools


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Image", "process.executable"),
        ("process.name", "process.name"),
        ("PROCESS.NAME", "process.name"),
        ("process_name", "process.name"),
        ("Processes.process_name", "process.name"),
        ("TargetFilename", "file.path"),
        ("QueryName", "dns.question.name"),
        ("process.executable.caseless", "process.executable"),
    ],
)
def test_resolve_any_accepts_every_vendors_spelling(registry, name, expected):
    assert registry.resolve_any(name) == expected


def test_resolve_any_returns_none_for_an_unknown_name(registry):
    assert registry.resolve_any("no_such_field_anywhere") is None


def test_closest_suggests_canonical_names_for_a_typo(registry):
    assert "process.command_line" in registry.closest("proces.command_lin")
    assert "process.name" in registry.closest("proces_name")
    assert len(registry.closest("process", n=3)) == 3


def test_aliases_list_every_vendors_spelling(registry):
    aliases = registry.aliases("process.executable")
    assert ("sigma", "Image") in aliases
    assert ("splunk", "Processes.process_path") in aliases
    assert ("elastic", "process.executable") in aliases


def test_stats_count_derived_and_hand_added_aliases(registry):
    stats = registry.stats()
    assert stats["derived"]["sigma"] > 100
    assert stats["derived"]["splunk"] > 10
    assert stats["hand"]["total"] > 0
    assert stats["overridden_by_hand"] > 0
    assert stats["windows_prefix"] == "winlog.event_data."


def test_load_is_cached():
    assert FieldRegistry.load() is FieldRegistry.load()


# ----------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("field", "family"),
    [
        ("process.executable", "process.name"),
        ("process.name", "process.name"),
        ("process.parent.executable", "process.parent.name"),
        ("file.path", "file.name"),
        ("dll.path", "dll.name"),
        ("process.command_line", "process.command_line"),
    ],
)
def test_path_and_name_of_one_object_share_a_family(registry, field, family):
    assert registry.family(field) == family


# ----------------------------------------------------------------- normalization


def test_an_endswith_image_folds_into_a_process_name_indicator(registry):
    pred = normalized(registry, "sigma", "Image", "wildcard", "*\\regsvr32.exe", PROCESS_CREATION)
    assert pred.field == "process.executable"
    assert (pred.ind_field, pred.ind_operator, pred.ind_value) == (
        "process.name", "eq", "regsvr32.exe"
    )


def test_sigma_and_elastic_regsvr32_tests_share_one_indicator(registry):
    sigma = normalized(registry, "sigma", "Image", "wildcard", "*\\REGSVR32.EXE", PROCESS_CREATION)
    elastic = normalized(registry, "elastic", "process.name", "eq", "regsvr32.exe")
    splunk = normalized(registry, "splunk", "Processes.process_name", "eq", "regsvr32.exe")
    keys = {(p.ind_field, p.ind_operator, p.ind_value) for p in (sigma, elastic, splunk)}
    assert keys == {("process.name", "eq", "regsvr32.exe")}


def test_a_linux_path_suffix_folds_too(registry):
    linux = LogSource(product="linux", category="process_creation")
    pred = normalized(registry, "sigma", "Image", "wildcard", "*/bash", linux)
    assert (pred.ind_field, pred.ind_operator, pred.ind_value) == ("process.name", "eq", "bash")


def test_a_parent_image_folds_into_the_parent_name(registry):
    pred = normalized(registry, "sigma", "ParentImage", "wildcard", "*\\cmd.exe", PROCESS_CREATION)
    assert (pred.ind_field, pred.ind_value) == ("process.parent.name", "cmd.exe")


@pytest.mark.parametrize("value", ["*\\Temp\\*", "*\\*.exe", "*regsvr32.exe", "C:\\x\\*.exe"])
def test_a_path_test_that_does_not_pin_a_name_keeps_the_path_field(registry, value):
    pred = normalized(registry, "sigma", "Image", "wildcard", value, PROCESS_CREATION)
    assert (pred.ind_field, pred.ind_operator) == ("process.executable", "wildcard")


def test_an_exact_full_path_keeps_the_path_field(registry):
    path = "C:\\Windows\\System32\\regsvr32.exe"
    pred = normalized(registry, "sigma", "Image", "eq", path, PROCESS_CREATION)
    assert (pred.ind_field, pred.ind_operator, pred.ind_value) == (
        "process.executable", "eq", path.lower()
    )


def test_values_are_case_folded_unless_case_sensitive(registry):
    folded = normalized(registry, "sigma", "CommandLine", "wildcard", "*-EncodedCommand*",
                        PROCESS_CREATION)
    exact = normalized(registry, "sigma", "CommandLine", "regex_match", "-[Ee]nc",
                       PROCESS_CREATION, case_sensitive=True)
    assert folded.ind_value == "*-encodedcommand*"
    assert exact.ind_value == "-[Ee]nc"
    assert folded.value == "*-EncodedCommand*"  # the value as written is kept


def test_numbers_become_canonical_text(registry):
    assert normalized(registry, "sigma", "EventID", "eq", "04688", SECURITY).ind_value == "4688"
    port = normalized(registry, "elastic", "destination.port", "gte", "1024.0")
    assert port.ind_value == "1024"


def test_a_sigma_value_pysigma_rewrites_for_ecs_is_rewritten(registry):
    network = LogSource(product="windows", category="network_connection")
    pred = normalized(registry, "sigma", "Initiated", "eq", "true", network)
    assert (pred.ind_field, pred.ind_value) == ("network.direction", "egress")


def test_a_keyword_has_no_field(registry):
    pred = normalized(registry, "sigma", None, "match", "Mimikatz")
    assert (pred.field, pred.ind_field, pred.ind_operator, pred.ind_value) == (
        None, None, "match", "mimikatz"
    )


def test_a_field_reference_names_the_other_canonical_field(registry):
    pred = normalized(registry, "sigma", "ParentImage", "fieldref", "Image", PROCESS_CREATION)
    assert pred.ind_value == "process.executable"


def test_an_unmapped_field_keeps_its_vendor_spelling_and_is_reported(registry):
    okta = LogSource(product="okta", service="okta")
    pred = Predicate(vendor_field="debugContext.debugData.requestUri", operator="eq", value="x")
    assert normalize_predicate(pred, "sigma", okta, registry) is False
    assert pred.field == "debugContext.debugData.requestUri"


def test_normalize_rule_collects_unmapped_fields(registry):
    rule = RuleRecord(
        source="sigma", vendor="sigma", native_id="r1", title="t", path="r.yml",
        logsource=LogSource(product="okta", service="okta"),
        predicates=[
            Predicate(vendor_field="debugContext.debugData.requestUri", operator="eq", value="a"),
            Predicate(vendor_field="debugContext.debugData.requestUri", operator="eq", value="b"),
            Predicate(vendor_field="eventType", operator="eq", value="user.session.start"),
        ],
    )
    unmapped = UnmappedFields()
    assert normalize_rule(rule, registry, unmapped) == 2
    [row] = unmapped.rows()
    assert (row.vendor, row.vendor_field, row.rules, row.predicates) == (
        "sigma", "debugContext.debugData.requestUri", 1, 2
    )
    assert rule.predicates[2].field == "okta.event_type"


# ----------------------------------------------------------------- real corpus


def _sigma_field_uses(root: Path) -> list[tuple[LogSource, str]]:
    """(logsource, field) for every field a Sigma rule's detection names, read with PyYAML."""
    uses: list[tuple[LogSource, str]] = []
    for path in sorted(root.glob("rules*/**/*.yml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER):
            if not isinstance(doc, dict) or not isinstance(doc.get("detection"), dict):
                continue
            ls = doc.get("logsource") or {}
            logsource = LogSource(**{k: ls.get(k) for k in ("product", "category", "service")})
            fields = set(_detection_fields(doc["detection"]))
            uses.extend((logsource, f) for f in sorted(fields))
    return uses


def _detection_fields(node: object) -> list[str]:
    if isinstance(node, list):
        return [f for item in node for f in _detection_fields(item)]
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        if key in ("condition", "timeframe"):
            continue
        if isinstance(value, (dict, list)) and key not in ("condition",) and not _values(value):
            found += _detection_fields(value)
        elif isinstance(key, str) and key.split("|")[0]:
            found.append(key.split("|")[0])
    return found


def _values(value: object) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def test_every_windows_field_and_most_others_in_the_sigma_corpus_map(registry, sigma_corpus):
    uses = _sigma_field_uses(sigma_corpus)
    unmapped = [(ls, f) for ls, f in uses if registry.canonical("sigma", f, ls) is None]
    assert len(uses) > 5000
    assert not [(ls, f) for ls, f in unmapped if ls.product == "windows"]
    # The rest are cloud and application logs pySigma's pipelines do not map.
    assert len(unmapped) / len(uses) < 0.07, sorted({f for _, f in unmapped})[:40]
