"""Real security_content detections read whole: each predicate list checked by hand.

Each entry is (vendor field, operator, value, polarity) in search order, read off the
detection's `search` after macro expansion (`process_rundll32` is
`(Processes.process_name=rundll32.exe OR Processes.original_file_name=RUNDLL32.EXE)`,
`drop_dm_object_name(X)` is `rename X.* AS *`, source macros such as `sysmon` only select
data and so add no predicate).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.models import RuleRecord
from rulecat.index.readers import splunk

from conftest import require


@pytest.fixture(scope="module")
def splunk_root(corpora: Path) -> Path:
    return require(corpora / "splunk" / "detections", "Splunk corpus").parent


def read(root: Path, rel: str) -> RuleRecord:
    rules, rejections = splunk.read_file("splunk", root, root / rel)
    assert rejections == []
    return rules[0]


PINNED: dict[str, list[tuple[str | None, str, str, str]]] = {
    "detections/endpoint/process_writing_dynamicwrapperx.yml": [
        ('Filesystem.file_name', 'eq', 'dynwrapx.dll', 'detect'),
    ],
    "detections/endpoint/windows_possible_credential_dumping.yml": [
        ('EventCode', 'eq', '10', 'detect'),
        ('TargetImage', 'wildcard', '*\\lsass.exe', 'detect'),
        ('granted_access', 'eq', '0x01000', 'detect'),
        ('granted_access', 'eq', '0x1010', 'detect'),
        ('granted_access', 'eq', '0x1038', 'detect'),
        ('granted_access', 'eq', '0x40', 'detect'),
        ('granted_access', 'eq', '0x1400', 'detect'),
        ('granted_access', 'eq', '0x1fffff', 'detect'),
        ('granted_access', 'eq', '0x1410', 'detect'),
        ('granted_access', 'eq', '0x143a', 'detect'),
        ('granted_access', 'eq', '0x1438', 'detect'),
        ('granted_access', 'eq', '0x1000', 'detect'),
        ('CallTrace', 'wildcard', '*dbgcore.dll*', 'detect'),
        ('CallTrace', 'wildcard', '*dbghelp.dll*', 'detect'),
        ('CallTrace', 'wildcard', '*ntdll.dll*', 'detect'),
        ('CallTrace', 'wildcard', '*kernelbase.dll*', 'detect'),
        ('CallTrace', 'wildcard', '*kernel32.dll*', 'detect'),
        ('SourceUser', 'eq', 'NT AUTHORITY\\SYSTEM', 'exclude'),
        ('SourceUser', 'eq', 'NT AUTHORITY\\NETWORK SERVICE', 'exclude'),
    ],
    "detections/endpoint/windows_process_injection_into_notepad.yml": [
        ('EventCode', 'eq', '10', 'detect'),
        ('TargetImage', 'wildcard', '*\\notepad.exe', 'detect'),
        ('SourceImage', 'wildcard', '*\\system32\\*', 'exclude'),
        ('SourceImage', 'wildcard', '*\\syswow64\\*', 'exclude'),
        ('SourceImage', 'wildcard', '*\\Program Files\\*', 'exclude'),
        ('GrantedAccess', 'eq', '0x40', 'detect'),
        ('GrantedAccess', 'eq', '0x1fffff', 'detect'),
    ],
    "detections/endpoint/windows_network_share_interaction_with_net.yml": [
        ('Processes.process_name', 'eq', 'net.exe', 'detect'),
        ('Processes.process_name', 'eq', 'net1.exe', 'detect'),
        ('Processes.orig_process_name', 'eq', 'net.exe', 'detect'),
        ('Processes.orig_process_name', 'eq', 'net1.exe', 'detect'),
        ('Processes.process', 'regex_match',
         'net[\\s\\.ex1]+view|net[\\s\\.ex1]+share|net[\\s\\.ex1]+use\\s', 'detect'),
    ],
    "detections/endpoint/detect_regasm_with_no_command_line_arguments.yml": [
        ('Processes.process_name', 'eq', 'regasm.exe', 'detect'),
        ('Processes.original_file_name', 'eq', 'RegAsm.exe', 'detect'),
        ('Processes.process', 'regex_match', '(?i)(regasm\\.exe.{0,4}$)', 'detect'),
    ],
    "detections/endpoint/detect_rtlo_in_process.yml": [
        ('Processes.process', 'eq', 'unknown', 'exclude'),
        ('Processes.action', 'eq', 'allowed', 'detect'),
        ('Processes.process', 'regex_match', '\\x{202E}', 'detect'),
    ],
    "detections/endpoint/windows_modify_registry_with_md5_reg_key_name.yml": [
        ('Registry.registry_path', 'wildcard', '*\\SOFTWARE\\*', 'detect'),
        ('Registry.registry_value_data', 'eq', 'Binary Data', 'detect'),
        ('validation_result', 'eq', 'md5', 'detect'),
        ('dropped_reg_path_split_count', 'lte', '5', 'detect'),
    ],
    "detections/endpoint/linux_ingress_tool_transfer_with_curl.yml": [
        ('Processes.process_name', 'eq', 'curl', 'detect'),
        ('Processes.process', 'regex_match', '(?i)(-O|-sO|-ksO|--output)', 'detect'),
    ],
    "detections/endpoint/rundll_loading_dll_by_ordinal.yml": [
        ('Processes.process_name', 'eq', 'rundll32.exe', 'detect'),
        ('Processes.original_file_name', 'eq', 'RUNDLL32.EXE', 'detect'),
        ('Processes.process', 'regex_match', 'rundll32.+\\#\\d+', 'detect'),
    ],
    "detections/network/detect_outbound_smb_traffic.yml": [
        ('All_Traffic.action', 'eq', 'allowed', 'detect'),
        ('All_Traffic.direction', 'eq', 'outbound', 'detect'),
        ('All_Traffic.dest_port', 'eq', '139', 'detect'),
        ('All_Traffic.dest_port', 'eq', '445', 'detect'),
        ('All_Traffic.app', 'eq', 'smb', 'detect'),
        ('match', 'eq', '0', 'detect'),
    ],
    "detections/endpoint/windows_known_abused_dll_created.yml": [
        ('Processes.parent_process_name', 'eq', 'unknown', 'exclude'),
        ('Processes.process_name', 'exists', 'true', 'detect'),
        ('Processes.process_guid', 'eq', 'null', 'exclude'),
        ('Filesystem.file_path', 'wildcard', '*\\users\\*', 'detect'),
        ('Filesystem.file_path', 'wildcard', '*\\Windows\\Temp\\*', 'detect'),
        ('Filesystem.file_path', 'wildcard', '*\\programdata\\*', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.dll', 'detect'),
        ('islibrary', 'eq', 'TRUE', 'detect'),
        ('excluded', 'eq', 'TRUE', 'exclude'),
        ('Filesystem.file_name', 'exists', 'true', 'detect'),
    ],
    "detections/endpoint/linux_auditd_service_started.yml": [
        ('type', 'eq', 'PROCTITLE', 'detect'),
        ('process_exec', 'wildcard', '*systemctl *', 'detect'),
        ('process_exec', 'wildcard', '*service *', 'detect'),
        ('process_exec', 'wildcard', '* start *', 'detect'),
        ('process_exec', 'wildcard', '* enable *', 'detect'),
    ],
    "detections/endpoint/windows_replication_through_removable_media.yml": [
        ('Filesystem.file_name', 'wildcard', '*.exe', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.dll', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.sys', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.com', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.vbs', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.vbe', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.js', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.bat', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.cmd', 'detect'),
        ('Filesystem.file_name', 'wildcard', '*.pif', 'detect'),
        ('root_drive', 'wildcard', '*:', 'detect'),
        ('dropped_file_path_split_count', 'eq', '2', 'detect'),
        ('root_drive', 'eq', 'C:', 'exclude'),
    ],
    "detections/endpoint/spoolsv_suspicious_loaded_modules.yml": [
        ('EventCode', 'eq', '7', 'detect'),
        ('Image', 'wildcard', '*\\spoolsv.exe', 'detect'),
        ('ImageLoaded', 'wildcard', '*\\Windows\\System32\\spool\\drivers\\x64\\*', 'detect'),
        ('ImageLoaded', 'wildcard', '*.dll', 'detect'),
        ('countImgloaded', 'gte', '3', 'detect'),
    ],
    "detections/endpoint/detect_regsvr32_application_control_bypass.yml": [
        ('Processes.process_name', 'eq', 'regsvr32.exe', 'detect'),
        ('Processes.original_file_name', 'eq', 'REGSVR32.EXE', 'detect'),
        ('Processes.process', 'wildcard', '*scrobj*', 'detect'),
    ],
    "detections/cloud/aws_ami_attribute_modification_for_exfiltration.yml": [
        ('eventName', 'eq', 'ModifyImageAttribute', 'detect'),
        ('requestParameters.launchPermission.add.items{}.userId', 'exists', 'true', 'detect'),
        ('requestParameters.launchPermission.add.items{}.group', 'eq', 'all', 'detect'),
    ],
    "detections/cloud/o365_added_service_principal.yml": [
        ('Workload', 'eq', 'AzureActiveDirectory', 'detect'),
        ('Operation', 'wildcard', '*Add service principal*', 'detect'),
        ('Operation', 'wildcard', '*principal*', 'detect'),
        ('action', 'eq', 'created', 'detect'),
    ],
    "detections/endpoint/detect_computer_changed_with_anonymous_account.yml": [
        ('EventCode', 'eq', '4624', 'detect'),
        ('EventCode', 'eq', '4742', 'detect'),
        ('TargetUserName', 'eq', 'ANONYMOUS LOGON', 'detect'),
        ('LogonType', 'eq', '3', 'detect'),
    ],
    "detections/endpoint/non_chrome_process_accessing_chrome_default_dir.yml": [
        ('EventCode', 'eq', '4663', 'detect'),
        ('ProcessName', 'wildcard', '*\\chrome.exe', 'exclude'),
        ('ProcessName', 'wildcard', '*\\explorer.exe', 'exclude'),
        ('ProcessName', 'wildcard', '*sql*', 'exclude'),
        ('ObjectName', 'wildcard', '*\\Google\\Chrome\\User Data\\Default*', 'detect'),
    ],
    "detections/endpoint/delete_shadowcopy_with_powershell.yml": [
        ('EventCode', 'eq', '4104', 'detect'),
        ('ScriptBlockText', 'wildcard', '*ShadowCopy*', 'detect'),
        ('ScriptBlockText', 'wildcard', '*Delete*', 'detect'),
        ('ScriptBlockText', 'wildcard', '*Remove*', 'detect'),
    ],
    "detections/network/detect_outbound_ldap_traffic.yml": [
        ('All_Traffic.dest_port', 'eq', '389', 'detect'),
        ('All_Traffic.dest_port', 'eq', '636', 'detect'),
        ('All_Traffic.dest_ip', 'cidr', '10.0.0.0/8', 'exclude'),
        ('All_Traffic.dest_ip', 'cidr', '192.168.0.0/16', 'exclude'),
        ('All_Traffic.dest_ip', 'cidr', '172.16.0.0/12', 'exclude'),
        ('All_Traffic.src_ip', 'fieldref', 'All_Traffic.dest_ip', 'exclude'),
    ],
    "detections/endpoint/potential_password_in_username.yml": [
        ('ut_shannon', 'gt', '3', 'detect'),
        ('Authentication.user', 'gte', '8', 'detect'),
        ('user', 'fieldref', 'incorrect_cred', 'exclude'),
    ],
    "detections/deprecated/detect_activity_related_to_pass_the_hash_attacks.yml": [
        ('EventCode', 'eq', '4624', 'detect'),
        ('Logon_Type', 'eq', '3', 'detect'),
        ('Logon_Process', 'eq', 'NtLmSsp', 'detect'),
        ('AccountName', 'eq', 'ANONYMOUS LOGON', 'exclude'),
        ('Logon_Type', 'eq', '9', 'detect'),
        ('Logon_Process', 'eq', 'seclogo', 'detect'),
    ],
    "detections/endpoint/create_remote_thread_into_lsass.yml": [
        ('EventID', 'eq', '8', 'detect'),
        ('TargetImage', 'wildcard', '*lsass.exe', 'detect'),
    ],
}


@pytest.mark.parametrize("rel", sorted(PINNED))
def test_real_detection_reads_into_the_predicates_checked_by_hand(splunk_root, rel):
    rule = read(splunk_root, rel)
    assert rule.parsed, rule.unparsed_reason
    assert [(p.vendor_field, p.operator, p.value, p.polarity)
            for p in rule.predicates] == PINNED[rel]


def test_tstats_detection_names_its_datamodel_grouping_and_subsearch(splunk_root):
    rule = read(splunk_root, "detections/endpoint/process_writing_dynamicwrapperx.yml")
    assert rule.indices == ["Endpoint.Processes", "Endpoint.Filesystem"]
    assert rule.predicates[0].selection == "join/tstats"
    assert rule.grouping_fields[:3] == ["Processes.process_id", "Processes.process_name",
                                        "Processes.dest"]
    assert rule.extra["expanded_search"].startswith(
        "| tstats summariesonly=false allow_old_summaries=true fillnull_value=null count")
    assert rule.extra["macros"] == ["security_content_summariesonly", "summariesonly_config",
                                    "oldsummaries_config", "fillnull_config",
                                    "drop_dm_object_name(1)", "security_content_ctime(1)"]


def test_compound_data_source_gives_both_sysmon_events(splunk_root):
    rule = read(splunk_root, "detections/endpoint/process_writing_dynamicwrapperx.yml")
    assert rule.data_sources == ["Sysmon EventID 1 AND Sysmon EventID 11"]
    assert [(e.provider, e.event_id, e.origin) for e in rule.events] == [
        ("Sysmon", 1, "data_source"), ("Sysmon", 11, "data_source")]
    # Both are needed: two requirements, one event each.
    assert [e.clauses for e in rule.events] == [0b01, 0b10]


def test_data_sources_are_alternatives_and_their_and_parts_requirements(splunk_root):
    # "Sysmon EventID 1 AND Sysmon EventID 12", "Sysmon EventID 1 AND Sysmon EventID 13":
    # Sysmon 1 is needed, with Sysmon 12 or 13.
    rule = read(splunk_root,
                "detections/endpoint/disable_defender_enhanced_notification.yml")
    assert [(e.provider, e.event_id, e.clauses) for e in rule.events] == [
        ("Sysmon", 1, 0b01), ("Sysmon", 12, 0b10), ("Sysmon", 13, 0b10)]
    # Listed data sources read the same way as the search's `EventCode=4624 OR ...`.
    either = read(splunk_root,
                  "detections/endpoint/detect_computer_changed_with_anonymous_account.yml")
    assert [e.clauses for e in either.events] == [1, 1]


def test_metadata_of_a_real_detection(splunk_root):
    rule = read(splunk_root, "detections/endpoint/process_writing_dynamicwrapperx.yml")
    assert (rule.id, rule.title, rule.rule_type, rule.status) == (
        "splunk:b0a078e4-2601-11ec-9aec-acde48001122", "Process Writing DynamicWrapperX",
        "Hunting", "production")
    assert (rule.date, rule.modified, rule.level, rule.deprecated) == (
        "2024-10-17", "2024-10-17", None, False)
    assert rule.techniques == ["T1059", "T1559.001"]
    assert rule.url == ("https://github.com/splunk/security_content/blob/develop/"
                        "detections/endpoint/process_writing_dynamicwrapperx.yml")
    assert rule.extra["analytic_story"] == ["Remcos"]
    assert rule.extra["stories"][0]["name"] == "Remcos"
    assert rule.extra["risk_score"] == 80
    assert "analytic_story:Remcos" in rule.tags


def test_raw_windows_search_relies_on_the_events_it_names(splunk_root):
    rule = read(splunk_root, "detections/endpoint/windows_possible_credential_dumping.yml")
    assert rule.indices == ["sourcetype=XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
                            "source=XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
                            "source=Syslog:Linux-Sysmon/Operational"]
    assert [(e.provider, e.event_id) for e in rule.events] == [("Sysmon", 10)]


def test_security_log_search_gets_events_from_its_eventcode_tests(splunk_root):
    rule = read(splunk_root,
                "detections/endpoint/detect_computer_changed_with_anonymous_account.yml")
    assert rule.data_sources == ["Windows Event Log Security 4624",
                                 "Windows Event Log Security 4742"]
    assert [(e.provider, e.event_id) for e in rule.events] == [
        ("Security", 4624), ("Security", 4742)]


def test_crowdstrike_data_source_is_an_event_of_its_own_provider(splunk_root):
    rule = read(splunk_root, "detections/endpoint/detect_regsvr32_application_control_bypass.yml")
    events = {(e.provider, e.title) for e in rule.events}
    assert ("CrowdStrike", "ProcessRollup2") in events
    assert ("Security", None) in events and ("Sysmon", None) in events


def test_deprecated_detection_is_read_and_flagged(splunk_root):
    rule = read(splunk_root,
                "detections/deprecated/detect_activity_related_to_pass_the_hash_attacks.yml")
    assert rule.deprecated is True and rule.parsed is True


def test_security_content_parses_whole_and_lists_what_did_not(splunk_root):
    rules = [r for path in splunk.rule_files(splunk_root)
             for r in splunk.read_file("splunk", splunk_root, path)[0]]
    summary = splunk.source_summary(splunk_root, rules)
    assert (summary.rules, summary.active) == (1711, 1613)
    assert summary.active_parsed / summary.active >= 0.99
    assert summary.active_parsed == 1613
    assert sorted(summary.unparsed) == [
        ("splunk:2a9b80d3-6340-4345-b5ad-290bf5d0dac4", "search grammar: unexpected ')'"),
        ("splunk:8d301246-fccf-45e2-a8e7-3655fd14379c", "search grammar: unexpected ')'"),
    ]
    assert summary.unresolved_macros == {}
    assert summary.problems == []
