r"""EQL queries to predicates: real Elastic rules pinned by hand, each construct, robustness.

A predicate is written as one row, `"<selection> <+|!> <field> <operator> '<value>'[ cs]
[ [transforms]]"`: `-` for no selection, `+` detect, `!` exclude, `cs` when the value
compares case-sensitively. Every pinned list below was checked against the rule's query
text, following the decisions in `rulecat.index.parsers.eql`'s docstring.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.parsers import ParsedQuery, QueryParseError
from rulecat.index.parsers.eql import parse_eql

from conftest import predicate_rows


def _rows(parsed: ParsedQuery) -> list[str]:
    return predicate_rows(parsed.predicates)


def _eql(query: str) -> list[str]:
    return _rows(parse_eql(query))


def _rule(corpus: Path, rel: str) -> dict:
    return tomllib.loads((corpus / rel).read_text(encoding="utf-8"))


def _parse(corpus: Path, rel: str) -> ParsedQuery:
    rule = _rule(corpus, rel)["rule"]
    assert rule["language"] == "eql"
    return parse_eql(rule["query"])


def _rules(corpus: Path) -> list[tuple[str, dict]]:
    """Every rule file of the corpus: (path relative to it, parsed TOML)."""
    return [
        (path.relative_to(corpus).as_posix(), tomllib.loads(path.read_text(encoding="utf-8")))
        for folder in ("rules", "rules_building_block")
        for path in sorted((corpus / folder).rglob("*.toml"))
    ]


def _eql_rules(corpus: Path) -> list[tuple[str, dict]]:
    return [(rel, data) for rel, data in _rules(corpus) if data["rule"].get("language") == "eql"]


# --- the whole corpus ----------------------------------------------------------------------


def test_every_eql_rule_in_the_corpus_parses_whole_and_fast(elastic_corpus):
    rules = _eql_rules(elastic_corpus)
    assert len(rules) >= 1000
    failures = []
    slowest = 0.0
    for rel, data in rules:
        started = time.perf_counter()
        try:
            parse_eql(data["rule"]["query"])
        except QueryParseError as error:
            failures.append((rel, error.reason))
        slowest = max(slowest, time.perf_counter() - started)
    assert failures == []
    assert slowest < 1.0


def test_the_twelve_t1559_001_rules_are_production_eql_and_parse(elastic_corpus):
    tagged = []
    for rel, data in _rules(elastic_corpus):
        ids = [
            sub["id"]
            for threat in data["rule"].get("threat", [])
            for technique in threat.get("technique", [])
            for sub in technique.get("subtechnique", [])
        ]
        if "T1559.001" in ids:
            tagged.append(rel)
            assert data["rule"]["language"] == "eql"
            assert data["metadata"]["maturity"] == "production"
            assert parse_eql(data["rule"]["query"]).predicates
    assert len(tagged) == 12


# --- real rules, pinned by hand --------------------------------------------------------------


def test_outlook_mailbox_via_com_keeps_each_step_and_its_by_keys(elastic_corpus):
    """T1559.001: a two-step sequence; `by` keys are grouping fields, not predicates."""
    parsed = _parse(elastic_corpus, "rules/windows/collection_email_outlook_mailbox_via_com.toml")
    assert _rows(parsed) == [
        "step1 + event.category eq 'process' cs",
        "step1 + host.os.type eq 'windows' cs",
        "step1 + event.action eq 'start' cs",
        "step1 + process.name eq 'rundll32.exe'",
        "step1 + process.name eq 'mshta.exe'",
        "step1 + process.name eq 'powershell.exe'",
        "step1 + process.name eq 'pwsh.exe'",
        "step1 + process.name eq 'cmd.exe'",
        "step1 + process.name eq 'regsvr32.exe'",
        "step1 + process.name eq 'cscript.exe'",
        "step1 + process.name eq 'wscript.exe'",
        "step1 + process.code_signature.trusted eq 'false'",
        "step1 + process.code_signature.exists eq 'false'",
        "step1 + process.Ext.relative_file_creation_time lte '500'",
        "step1 + process.Ext.relative_file_name_modify_time lte '500'",
        (
            r"step1 ! process.executable wildcard '?:\Windows\System32\WindowsPowerShell\v1.0\power"
            "shell.exe'"
        ),
        (
            r"step1 ! process.parent.executable wildcard '?:\Program Files (x86)\CyberCNSAgent\cybe"
            "rcnsagent.exe'"
        ),
        "step1 ! user.id eq 'S-1-5-18' cs",
        "step2 + event.category eq 'process' cs",
        "step2 + host.os.type eq 'windows' cs",
        "step2 + event.action eq 'start' cs",
        "step2 + process.name eq 'OUTLOOK.EXE'",
        "step2 + process.Ext.effective_parent.name exists 'true'",
    ]
    assert parsed.grouping_fields == ["process.entity_id", "process.Ext.effective_parent.entity_id"]


def test_dcom_hta_sequence_tests_mshta_then_high_ports(elastic_corpus):
    """T1559.001: numeric `>` and `!=` per step; shared `by` keys kept once."""
    parsed = _parse(elastic_corpus, "rules/windows/lateral_movement_dcom_hta.toml")
    assert _rows(parsed) == [
        "step1 + event.category eq 'process' cs",
        "step1 + host.os.type eq 'windows' cs",
        "step1 + event.type eq 'start' cs",
        "step1 + process.name eq 'mshta.exe'",
        "step1 + process.args eq '-Embedding'",
        "step2 + event.category eq 'network' cs",
        "step2 + host.os.type eq 'windows' cs",
        "step2 + event.type eq 'start' cs",
        "step2 + process.name eq 'mshta.exe'",
        "step2 + network.direction eq 'incoming'",
        "step2 + network.direction eq 'ingress'",
        "step2 + network.transport eq 'tcp' cs",
        "step2 + source.port gt '49151'",
        "step2 + destination.port gt '49151'",
        "step2 ! source.ip eq '127.0.0.1' cs",
        "step2 ! source.ip eq '::1' cs",
    ]
    assert parsed.grouping_fields == ["host.id", "process.entity_id"]


def test_xwizard_com_object_strips_the_optional_marker(elastic_corpus):
    """T1559.001: `?field`, `: "{*}"` globs, `!= null` is a detect of presence."""
    parsed = _parse(elastic_corpus, "rules/windows/execution_com_object_xwizard.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'start' cs",
        "- + process.name eq 'xwizard.exe'",
        "- + process.pe.original_file_name eq 'xwizard.exe'",
        "- + process.args eq 'RunWizard'",
        "- + process.args wildcard '{*}'",
        "- + process.executable exists 'true'",
        r"- ! process.executable eq 'C:\Windows\SysWOW64\xwizard.exe'",
        r"- ! process.executable eq 'C:\Windows\System32\xwizard.exe'",
        r"- ! process.executable wildcard '\Device\HarddiskVolume*\Windows\SysWOW64\xwizard.exe'",
        r"- ! process.executable wildcard '\Device\HarddiskVolume*\Windows\System32\xwizard.exe'",
    ]
    assert parsed.grouping_fields == []


def test_clipup_uac_bypass_tests_the_com_interface_clsid(elastic_corpus):
    """T1559.001: `:` without wildcards is a case-insensitive `eq`."""
    parsed = _parse(elastic_corpus, "rules/windows/privilege_escalation_uac_bypass_com_clipup.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'start' cs",
        "- + process.name eq 'Clipup.exe'",
        r"- ! process.executable eq 'C:\Windows\System32\ClipUp.exe'",
        "- + process.parent.name eq 'dllhost.exe'",
        "- + process.parent.args eq '/Processid:{BD54C901-076B-434E-B6C7-17C531F4AB41}'",
    ]
    assert parsed.grouping_fields == []


def test_okta_mfa_bombing_labels_the_until_step(elastic_corpus):
    """`any where` adds no category; `with runs=5` adds nothing; the until step is `until`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/okta/"
        "credential_access_okta_mfa_bombing_via_push_notifications.toml",
    )
    assert _rows(parsed) == [
        "step1 + data_stream.dataset eq 'okta.system' cs",
        "step1 + okta.event_type eq 'user.mfa.okta_verify.deny_push' cs",
        "step1 + okta.event_type eq 'user.authentication.auth_via_mfa' cs",
        "step1 + okta.debug_context.debug_data.factor eq 'OKTA_VERIFY_PUSH' cs",
        "step1 + okta.outcome.reason eq 'INVALID_CREDENTIALS' cs",
        "until + data_stream.dataset eq 'okta.system' cs",
        "until + okta.event_type eq 'user.authentication.sso' cs",
        "until + okta.event_type eq 'user.authentication.auth_via_mfa' cs",
        "until + okta.event_type eq 'user.authentication.verify' cs",
        "until + okta.event_type eq 'user.session.start' cs",
        "until + okta.outcome.result eq 'SUCCESS' cs",
    ]
    assert parsed.grouping_fields == ["okta.actor.id"]


def test_pid_file_execution_keeps_the_raw_regex_case_insensitive(elastic_corpus):
    """`regex~` with a triple-quoted (raw) pattern."""
    parsed = _parse(
        elastic_corpus,
        "rules/linux/"
        "execution_process_started_from_process_id_file.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'linux' cs",
        "- + event.type eq 'start' cs",
        "- + user.id eq '0' cs",
        r"- + process.executable regex_match '/var/run/\w+\.(pid|lock|reboot)'",
    ]
    assert parsed.grouping_fields == []


def test_unquoted_service_path_keeps_a_case_sensitive_regex(elastic_corpus):
    """`regex` is case-sensitive; `?:` in a `:` value is a wildcard."""
    parsed = _parse(elastic_corpus, "rules/windows/privilege_escalation_unquoted_service_path.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'start' cs",
        r"- + process.executable wildcard '?:\Program.exe'",
        (
            r"- + process.executable regex_match '(C:\\Program Files \(x86\)\\|C:\\Program Files\\)"
            r"\w+.exe' cs"
        ),
    ]
    assert parsed.grouping_fields == []


def test_bifrost_console_reads_like_and_in_case_insensitively(elastic_corpus):
    """`like~` without wildcards and `in~` are case-insensitive `eq`s."""
    parsed = _parse(
        elastic_corpus,
        "rules/macos/"
        "lateral_movement_credential_access_kerberos_bifrostconsole.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'macos' cs",
        "- + event.type eq 'start' cs",
        "- + event.type eq 'process_started' cs",
        "- + process.args eq '-action'",
        "- + process.args eq '-kerberoast'",
        "- + process.args eq 'askhash'",
        "- + process.args eq 'asktgs'",
        "- + process.args eq 'asktgt'",
        "- + process.args eq 's4u'",
        "- + process.args eq '-ticket'",
        "- + process.args eq 'ptt'",
        "- + process.args eq 'dump'",
        "- + process.args eq 'tickets'",
        "- + process.args eq 'keytab'",
    ]
    assert parsed.grouping_fields == []


def test_sandboxed_office_zip_like_with_a_star_is_a_wildcard(elastic_corpus):
    """`like~ "~$*.zip"`."""
    parsed = _parse(
        elastic_corpus,
        "rules/macos/"
        "defense_evasion_sandboxed_office_app_suspicious_zip_file.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'file' cs",
        "- + host.os.type eq 'macos' cs",
        "- + event.action eq 'modification' cs",
        "- + event.action eq 'rename' cs",
        "- + file.name wildcard '~$*.zip'",
    ]
    assert parsed.grouping_fields == []


def test_ad_explorer_optional_field_compares_exactly(elastic_corpus):
    """`?process.pe.original_file_name == "AdExp"`: case-sensitive, marker dropped."""
    parsed = _parse(elastic_corpus, "rules/windows/discovery_ad_explorer_execution.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'start' cs",
        "- + process.name wildcard 'ADExplorer*.exe'",
        "- + process.pe.original_file_name eq 'AdExp' cs",
    ]
    assert parsed.grouping_fields == []


def test_null_session_pipes_length_is_a_transform(elastic_corpus):
    """`length(f) > 0` is `f gt 0` with the transform `length`."""
    parsed = _parse(
        elastic_corpus,
        "rules/windows/"
        "lateral_movement_defense_evasion_lanman_nullsessionpipe_modification.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'registry' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'change' cs",
        "- + registry.value eq 'NullSessionPipes'",
        "- + registry.data.strings gt '0' [length]",
        "- ! registry.data.strings eq '(empty)'",
    ]
    assert parsed.grouping_fields == []


def test_s3_replication_string_contains_becomes_a_wildcard(elastic_corpus):
    """`stringContains(f, "x")` is `*x*`, case-sensitive without `~`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/aws/"
        "exfiltration_s3_bucket_replicated_to_external_account.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'info' cs",
        "- + data_stream.dataset eq 'aws.cloudtrail' cs",
        "- + event.action eq 'PutBucketReplication' cs",
        "- + event.outcome eq 'success' cs",
        "- + aws.cloudtrail.request_parameters wildcard '*Account=*' cs",
    ]
    assert parsed.grouping_fields == []


def test_adidns_wildcard_starts_with_in_an_any_query(elastic_corpus):
    """`startsWith(f, "DC=*,")` is `DC=*,*` (the literal star reads as a wildcard)."""
    parsed = _parse(elastic_corpus, "rules/windows/credential_access_adidns_wildcard.toml")
    assert _rows(parsed) == [
        "- + host.os.type eq 'windows' cs",
        "- + event.code eq '5137' cs",
        "- + winlog.event_data.ObjectDN wildcard 'DC=*,*' cs",
    ]
    assert parsed.grouping_fields == []


def test_external_google_group_member_ends_with_another_field(elastic_corpus):
    """`not endsWith(a, b)`: an excluded `fieldref` with the function as transform."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/google_workspace/"
        "initial_access_external_user_added_to_google_workspace_group.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'iam' cs",
        "- + data_stream.dataset eq 'google_workspace.admin' cs",
        "- + event.action eq 'ADD_GROUP_MEMBER' cs",
        "- ! user.target.domain fieldref 'user.target.group.domain' cs [endsWith]",
    ]
    assert parsed.grouping_fields == []


def test_anonymous_pod_request_reads_null_as_absent(elastic_corpus):
    """`f == null` is `exists false`; `f == ""` stays an `eq`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/kubernetes/"
        "execution_anonymous_create_update_patch_pod_request.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'kubernetes.audit_logs' cs",
        "- + kubernetes.audit.user.username eq 'system:anonymous' cs",
        "- + kubernetes.audit.user.username eq 'system:unauthenticated' cs",
        "- + kubernetes.audit.user.username exists 'false'",
        "- + kubernetes.audit.user.username eq '' cs",
        "- + kubernetes.audit.level eq 'RequestResponse' cs",
        "- + kubernetes.audit.level eq 'ResponseComplete' cs",
        "- + kubernetes.audit.level eq 'Request' cs",
        "- + kubernetes.audit.verb eq 'create' cs",
        "- + kubernetes.audit.verb eq 'update' cs",
        "- + kubernetes.audit.verb eq 'patch' cs",
        "- + kubernetes.audit.objectRef.resource eq 'pods' cs",
    ]
    assert parsed.grouping_fields == []


def test_deprecated_non_standard_http_port_excludes_each_port(elastic_corpus):
    """Deprecated rule: `not in` with numbers, one excluded `eq` per value."""
    parsed = _parse(
        elastic_corpus,
        "rules/_deprecated/"
        "command_and_control_non_standard_http_port.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'network' cs",
        "- + process.name eq 'http'",
        "- + process.name eq 'https'",
        "- ! destination.port eq '80'",
        "- ! destination.port eq '443'",
        "- + event.action eq 'connection_attempted' cs",
        "- + event.action eq 'ipv4_connection_attempt_event' cs",
        "- + event.action eq 'connection_accepted' cs",
        "- + event.action eq 'ipv4_connection_accept_event' cs",
        "- ! destination.ip eq '127.0.0.1' cs",
    ]
    assert parsed.grouping_fields == []


def test_deprecated_rdp_bruteforce_ignores_runs_and_the_tail_pipe(elastic_corpus):
    """Deprecated rule: `with runs=10` and `| tail 1` add nothing."""
    parsed = _parse(
        elastic_corpus,
        "rules/_deprecated/"
        "credential_access_potential_successful_linux_rdp_bruteforce.toml",
    )
    assert _rows(parsed) == [
        "step1 + event.category eq 'authentication' cs",
        "step1 + host.os.type eq 'linux' cs",
        "step1 + event.action eq 'authenticated' cs",
        "step1 + auditd.data.terminal wildcard '*rdp*'",
        "step1 + event.outcome eq 'failure' cs",
        "step2 + event.category eq 'authentication' cs",
        "step2 + host.os.type eq 'linux' cs",
        "step2 + event.action eq 'authenticated' cs",
        "step2 + auditd.data.terminal wildcard '*rdp*'",
        "step2 + event.outcome eq 'success' cs",
    ]
    assert parsed.grouping_fields == ["host.id", "related.user"]


def test_forbidden_creation_request_unquotes_a_backquoted_field(elastic_corpus):
    """A backquoted field name is kept without its backquotes."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/kubernetes/"
        "execution_forbidden_creation_request.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'kubernetes.audit_logs' cs",
        "- + kubernetes.audit.verb eq 'create' cs",
        "- + kubernetes.audit.stage eq 'ResponseComplete' cs",
        "- + kubernetes.audit.annotations.authorization_k8s_io/decision eq 'forbid' cs",
    ]
    assert parsed.grouping_fields == []


def test_identity_protection_then_device_registration_keeps_per_step_keys(elastic_corpus):
    """Per-step `by` keys (different fields) are all grouping fields."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/azure/"
        "persistence_identity_protect_alert_followed_by_device_reg.toml",
    )
    assert _rows(parsed) == [
        "step1 + data_stream.dataset eq 'azure.identity_protection' cs",
        "step2 + data_stream.dataset eq 'azure.auditlogs' cs",
        "step2 + event.action eq 'Register device' cs",
    ]
    assert parsed.grouping_fields == [
        "azure.identityprotection.properties.user_principal_name",
        "azure.auditlogs.properties.initiated_by.user.userPrincipalName",
    ]


def test_downloaded_shortcut_zone_identifier_is_greater_than_one(elastic_corpus):
    """`f > 1` is `gt`."""
    parsed = _parse(elastic_corpus, "rules/windows/execution_downloaded_shortcut_files.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'file' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.type eq 'creation' cs",
        "- + file.extension eq 'lnk' cs",
        "- + file.Ext.windows.zone_identifier gt '1'",
    ]
    assert parsed.grouping_fields == []


def test_rwx_memory_sample_excludes_each_network(elastic_corpus):
    """`sample by`: steps labelled, `not cidrmatch(f, ...)` excludes one `cidr` per network."""
    parsed = _parse(elastic_corpus, "rules/linux/execution_netcon_from_rwx_mem_region_binary.toml")
    assert _rows(parsed) == [
        "step1 + event.category eq 'process' cs",
        "step1 + host.os.type eq 'linux' cs",
        "step1 + auditd.data.syscall eq 'mprotect' cs",
        "step1 + auditd.data.a2 eq '7' cs",
        "step1 ! process.name eq 'httpd' cs",
        "step1 ! process.name eq 'java' cs",
        "step1 ! process.name eq 'node' cs",
        "step1 ! process.name eq 'code' cs",
        "step1 ! process.name eq 'apache2' cs",
        "step2 + event.category eq 'network' cs",
        "step2 + host.os.type eq 'linux' cs",
        "step2 + event.type eq 'start' cs",
        "step2 + event.action eq 'connection_attempted' cs",
        "step2 ! destination.ip cidr '127.0.0.0/8'",
        "step2 ! destination.ip cidr '169.254.0.0/16'",
        "step2 ! destination.ip cidr '224.0.0.0/4'",
        "step2 ! destination.ip cidr '::1'",
    ]
    assert parsed.grouping_fields == ["host.id", "process.pid", "process.name"]


def test_dollar_account_relay_compares_fields_through_functions(elastic_corpus):
    """`startswith~(a, substring(b, ...))` and `indexOf(...) == null`: wrappers as transforms."""
    parsed = _parse(elastic_corpus, "rules/windows/credential_access_dollar_account_relay.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'authentication' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.code eq '4624' cs",
        "- + event.code eq '4625' cs",
        "- + winlog.logon.type eq 'Network' cs",
        "- + winlog.event_data.AuthenticationPackageName eq 'NTLM' cs",
        "- + user.name wildcard '*$'",
        "- ! user.name eq '$' cs",
        "- + source.ip exists 'true'",
        "- ! source.ip eq '::1' cs",
        "- ! source.ip eq '127.0.0.1' cs",
        "- + host.name fieldref 'user.name' [startsWith,ref:substring]",
        "- + user.name fieldref 'host.name' [substring,startsWith]",
        "- + host.name fieldref 'user.name' [startsWith,ref:substring,ref:concat]",
        "- ! source.ip fieldref 'host.ip' cs [string,endsWith,ref:string]",
        "- + host.ip exists 'false' [string,indexOf]",
    ]
    assert parsed.grouping_fields == []


def test_remcos_iocs_question_marks_are_wildcards(elastic_corpus):
    """`like` and `:` with `?` are wildcards; `==` on event.category is a plain predicate."""
    parsed = _parse(elastic_corpus, "rules/windows/command_and_control_remcos_rat_iocs.toml")
    assert _rows(parsed) == [
        "- + host.os.type eq 'windows' cs",
        "- + event.category eq 'file' cs",
        "- + event.type eq 'deletion' cs",
        r"- + file.path wildcard '?:\Users\*\AppData\Local\Temp\TH????.tmp' cs",
        r"- + file.path wildcard '?:\Users\*\AppData\Roaming\remcos\logs.dat'",
        "- + event.category eq 'registry' cs",
        "- + registry.value eq 'Remcos'",
        "- + registry.value wildcard 'Rmc-??????'",
        "- + registry.value eq 'licence'",
        r"- + registry.path wildcard '*\Windows\CurrentVersion\Run\Remcos'",
        r"- + registry.path wildcard '*\Windows\CurrentVersion\Run\Rmc-??????'",
        r"- + registry.path wildcard '*\SOFTWARE\Remcos-*\licence'",
        r"- + registry.path wildcard '*\Software\Rmc-??????\licence'",
    ]
    assert parsed.grouping_fields == []


def test_bits_ingress_negated_length_is_an_excluded_threshold(elastic_corpus):
    """`not length(file.name) > 30` is an excluded `gt` with the transform `length`."""
    parsed = _parse(elastic_corpus, "rules/windows/command_and_control_ingress_transfer_bits.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'file' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.action eq 'rename' cs",
        "- + process.name eq 'svchost.exe'",
        "- + file.Ext.original.name wildcard 'BIT*.tmp'",
        "- + file.extension eq 'exe'",
        "- + file.extension eq 'zip'",
        "- + file.extension eq 'rar'",
        "- + file.extension eq 'bat'",
        "- + file.extension eq 'dll'",
        "- + file.extension eq 'ps1'",
        "- + file.extension eq 'vbs'",
        "- + file.extension eq 'vbe'",
        "- + file.extension eq 'wsh'",
        "- + file.extension eq 'wsf'",
        "- + file.extension eq 'sct'",
        "- + file.extension eq 'js'",
        "- + file.extension eq 'jse'",
        "- + file.extension eq 'hta'",
        "- + file.extension eq 'pif'",
        "- + file.extension eq 'scr'",
        "- + file.extension eq 'cmd'",
        "- + file.extension eq 'cpl'",
        "- + file.Ext.header_bytes wildcard '4d5a*'",
        r"- ! file.path wildcard '?:\Program Files\*'",
        r"- ! file.path wildcard '?:\Program Files (x86)\*'",
        r"- ! file.path wildcard '?:\Windows\*'",
        r"- ! file.path wildcard '?:\ProgramData\*\*'",
        "- ! file.name gt '30' [length]",
        r"- ! file.path wildcard '?:\Users\*\AppData\Local\Temp*\wct*.tmp'",
        r"- ! file.path wildcard '?:\Users\*\AppData\Local\Adobe\ARM\*\RdrServicesUpdater*.exe'",
        r"- ! file.path wildcard '?:\Users\*\AppData\Local\Adobe\ARM\*\AcroServicesUpdater*.exe'",
        r"- ! file.path wildcard '?:\Users\*\AppData\Local\Docker Desktop Installer\update-*.exe'",
    ]
    assert parsed.grouping_fields == []


def test_hex_payload_reads_an_optional_parent_and_a_long_command_line(elastic_corpus):
    """`?f != null`, escaped backslashes in a `:` pattern, `length(f) > 50`."""
    parsed = _parse(
        elastic_corpus,
        "rules/linux/"
        "defense_evasion_hex_payload_execution_via_commandline.toml",
    )
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + host.os.type eq 'linux' cs",
        "- + event.type eq 'start' cs",
        "- + event.action eq 'exec' cs",
        "- + event.action eq 'exec_event' cs",
        "- + event.action eq 'start' cs",
        "- + event.action eq 'ProcessRollup2' cs",
        "- + event.action eq 'executed' cs",
        "- + event.action eq 'process_started' cs",
        "- + process.parent.executable exists 'true'",
        r"- + process.command_line wildcard '*\x*\x*\x*\x*\x*\x*\x*\x*\x*\x*\x*\x*\x*\x*'",
        "- + process.command_line gt '50' [length]",
        "- ! process.name eq 'snap' cs",
        "- ! process.name eq 'printf' cs",
        "- ! process.name eq 'sed' cs",
    ]
    assert parsed.grouping_fields == []


# --- each construct, hand-written ------------------------------------------------------------


def test_event_category_is_a_predicate_except_for_any():
    assert _eql('process where a == "x"') == [
        "- + event.category eq 'process' cs",
        "- + a eq 'x' cs",
    ]
    assert _eql('any where a == "x"') == ["- + a eq 'x' cs"]


def test_double_equals_is_case_sensitive_and_colon_is_not():
    assert _eql('any where a == "X" and b : "Y"') == ["- + a eq 'X' cs", "- + b eq 'Y'"]


def test_colon_and_like_glob_only_with_a_wildcard_but_double_equals_never_globs():
    assert _eql('any where a : "x*" and b : "x" and c like "y?" and d like "y" and e == "z*"') == [
        "- + a wildcard 'x*'",
        "- + b eq 'x'",
        "- + c wildcard 'y?' cs",
        "- + d eq 'y' cs",
        "- + e eq 'z*' cs",
    ]


def test_a_lone_star_pattern_tests_that_the_field_exists():
    assert _eql('any where a : "*" and not b like~ "*"') == [
        "- + a exists 'true'",
        "- ! b exists 'true'",
    ]


def test_lists_give_one_predicate_per_value_with_the_operators_case_rule():
    assert _eql('any where a in ("x", "Y") and b in~ ("z") and c : ("p*", "q")') == [
        "- + a eq 'x' cs",
        "- + a eq 'Y' cs",
        "- + b eq 'z'",
        "- + c wildcard 'p*'",
        "- + c eq 'q'",
    ]
    assert _eql('any where a like~ ("x*", "y") and b regex ("r.*", "s")') == [
        "- + a wildcard 'x*'",
        "- + a eq 'y'",
        "- + b regex_match 'r.*' cs",
        "- + b regex_match 's' cs",
    ]


def test_not_in_and_not_like_are_negations():
    assert _eql('any where a not in ("x", "y") and b not like "z*"') == [
        "- ! a eq 'x' cs",
        "- ! a eq 'y' cs",
        "- ! b wildcard 'z*' cs",
    ]


def test_regex_is_case_sensitive_and_regex_tilde_is_not():
    assert _eql(r'any where a regex "^x\\d+$" and b regex~ """\w+"""') == [
        r"- + a regex_match '^x\d+$' cs",
        r"- + b regex_match '\w+'",
    ]


def test_polarity_counts_every_negation_on_the_path():
    query = 'any where not (a == "1" or not b == "2") and not c != "3" and d != "4"'
    assert _eql(query) == [
        "- ! a eq '1' cs",
        "- + b eq '2' cs",
        "- + c eq '3' cs",
        "- ! d eq '4' cs",
    ]


def test_null_reads_as_field_presence_and_not_equal_null_is_a_detect():
    query = 'any where a == null and b != null and not c == null and not d != null'
    assert _eql(query) == [
        "- + a exists 'false'",
        "- + b exists 'true'",
        "- ! c exists 'false'",
        "- ! d exists 'true'",
    ]
    assert _eql('any where a in ("x", null)') == ["- + a eq 'x' cs", "- + a exists 'false'"]


def test_numeric_comparisons_swap_when_the_constant_is_on_the_left():
    assert _eql("any where a > 1 and b >= -2 and c < 3.5 and 4 <= d and 5 == e") == [
        "- + a gt '1'",
        "- + b gte '-2'",
        "- + c lt '3.5'",
        "- + d gte '4'",
        "- + e eq '5'",
    ]


def test_booleans_and_numbers_are_not_case_sensitive_values():
    assert _eql("any where a == true and b == false and c == 7") == [
        "- + a eq 'true'",
        "- + b eq 'false'",
        "- + c eq '7'",
    ]


def test_field_against_field_is_a_fieldref():
    assert _eql("any where a == b and c != d and e : f and g < h") == [
        "- + a fieldref 'b' cs",
        "- ! c fieldref 'd' cs",
        "- + e fieldref 'f'",
        "- + g fieldref 'h' [lt]",
    ]


def test_pattern_functions_become_wildcards_with_their_case_rule():
    query = (
        'any where startsWith(a, "x") and endsWith~(b, "y", "z") and stringContains(c, "w")'
        ' and wildcard~(d, "p*q", "r") and startswith(e, "v")'
    )
    assert _eql(query) == [
        "- + a wildcard 'x*' cs",
        "- + b wildcard '*y'",
        "- + b wildcard '*z'",
        "- + c wildcard '*w*' cs",
        "- + d wildcard 'p*q'",
        "- + d eq 'r'",
        "- + e wildcard 'v*' cs",
    ]


def test_cidr_match_gives_one_cidr_per_network():
    assert _eql('any where not cidrMatch(ip, "10.0.0.0/8", "::1")') == [
        "- ! ip cidr '10.0.0.0/8'",
        "- ! ip cidr '::1'",
    ]


def test_wrapped_fields_keep_their_functions_innermost_first():
    query = 'any where length(a) > 3 and substring(string(b), 0, 2) : "ab" and 5 < length(c)'
    assert _eql(query) == [
        "- + a gt '3' [length]",
        "- + b eq 'ab' [string,substring]",
        "- + c gt '5' [length]",
    ]
    assert _eql("any where length(a) - 1 > 2") == ["- + a gt '2' [length,subtract]"]


def test_functions_on_both_sides_are_a_fieldref_with_ref_transforms():
    assert _eql("any where startsWith~(a, substring(b, 0, -1))") == [
        "- + a fieldref 'b' [startsWith,ref:substring]"
    ]
    assert _eql("any where indexOf(string(a), string(b)) == null") == [
        "- + a exists 'false' [string,indexOf]"
    ]


def test_a_bare_field_tests_true_and_a_bare_constant_tests_nothing():
    assert _eql("any where a and true") == ["- + a eq 'true'"]


def test_optional_markers_and_backquotes_are_dropped_from_field_names():
    query = 'any where ?a.b == "1" and `c.d/e` == "2" and f.`0`.g == "3" and `h``i` == "4"'
    assert _eql(query) == [
        "- + a.b eq '1' cs",
        "- + c.d/e eq '2' cs",
        "- + f.0.g eq '3' cs",
        "- + h`i eq '4' cs",
    ]


def test_strings_resolve_escapes_and_raw_strings_keep_them():
    query = r'any where a == "q\"b\\s\u{41}" and b == """c:\w"x""" and c == ?"d:\x"'
    assert _eql(query) == [
        "- + a eq 'q\"b\\sA' cs",
        r"""- + b eq 'c:\w"x' cs""",
        r"- + c eq 'd:\x' cs",
    ]


def test_comments_are_ignored():
    query = 'process where /* note */ a == "x" // trailing\n and b == "y"'
    assert _eql(query)[1:] == ["- + a eq 'x' cs", "- + b eq 'y' cs"]


def test_sequences_label_steps_and_collect_every_by_key():
    query = """
        sequence by host.id with maxspan=30s
          [process where a == "1"] by process.entity_id
          [file where b == "2"] by process.entity_id with runs=3
          until [process where c == "3"] by ?process.parent.entity_id
        | head 5
    """
    parsed = parse_eql(query)
    assert _rows(parsed) == [
        "step1 + event.category eq 'process' cs",
        "step1 + a eq '1' cs",
        "step2 + event.category eq 'file' cs",
        "step2 + b eq '2' cs",
        "until + event.category eq 'process' cs",
        "until + c eq '3' cs",
    ]
    assert parsed.grouping_fields == ["host.id", "process.entity_id", "process.parent.entity_id"]


def test_a_missing_event_step_is_excluded():
    query = 'sequence with maxspan=1m [process where a == "1"] ![file where b == "2"]'
    assert _eql(query) == [
        "step1 + event.category eq 'process' cs",
        "step1 + a eq '1' cs",
        "step2 ! event.category eq 'file' cs",
        "step2 ! b eq '2' cs",
    ]


def test_samples_label_steps_like_sequences():
    parsed = parse_eql('sample by host.id [process where a == "1"] [network where b == "2"]')
    assert [row.split()[0] for row in _rows(parsed)] == ["step1"] * 2 + ["step2"] * 2
    assert parsed.grouping_fields == ["host.id"]


def test_identical_predicates_are_kept_once():
    assert _eql('any where (a == "x" and b == "y") or (a == "x" and c == "z")') == [
        "- + a eq 'x' cs",
        "- + b eq 'y' cs",
        "- + c eq 'z' cs",
    ]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "unexpected end of query"),
        ('process where a == "x" and', "unexpected end of query"),
        ('process where\n  a === "x"', "line 2:7: unexpected '='"),
        ('process where a == "x" | filter b', "unsupported pipe 'filter'"),
        ('process where a == "x" | head', "head takes one number"),
        ('sequence with speed=3 [process where true] [file where true]', "unknown option"),
        ('process where a == ("x", "y")', "a list needs in, :, like or regex"),
        ('process where a == "\\u{110000}"', "bad unicode escape"),
        ('process where "x" == ("x", a)', "cannot read"),
        ("process where a like null", "cannot compare a like null"),
        ('process where a == "unterminated', "unexpected character"),
    ],
)
def test_queries_that_cannot_be_read_whole_say_where_and_why(query, reason):
    with pytest.raises(QueryParseError) as caught:
        parse_eql(query)
    assert reason in caught.value.reason


def test_deep_parentheses_parse_and_deep_negations_are_a_parse_error():
    assert _eql("any where " + "(" * 5000 + "a == 1" + ")" * 5000) == ["- + a eq '1'"]
    with pytest.raises(QueryParseError, match="nested too deeply"):
        parse_eql("any where " + "not " * 5000 + "a == 1")
    with pytest.raises(QueryParseError, match="nested too deeply"):
        parse_eql("any where " + "length(" * 5000 + "a" + ")" * 5000 + " > 1")


# --- properties ------------------------------------------------------------------------------

_KEYWORDS = {
    "and", "or", "not", "in", "like", "regex", "where", "by", "with", "until", "sequence",
    "sample", "true", "false", "null", "any",
}
_TOKENS = [
    "process", "any", "where", "sequence", "sample", "by", "with", "maxspan=1m", "runs=2",
    "until", "[", "]", "!", "(", ")", ",", "and", "or", "not", "==", "!=", ":", "<", ">=",
    "in", "in~", "like", "like~", "regex~", "a.b", "?c", "`d e`", '"x*"', '"y"', '"""z"""',
    "1", "-2", "null", "true", "length(", "startsWith~(", "|", "head", "tail", "/*", "*/",
]
_FIELDS = st.from_regex(r"[a-z][a-z0-9_]{0,5}(\.[a-z][a-z0-9_]{0,5}){0,2}", fullmatch=True).filter(
    lambda name: name not in _KEYWORDS
)
_VALUES = st.text(alphabet="abcXYZ09 -_./:*?", min_size=1, max_size=8)
_OPS = ["==", "!=", ":", "like", "like~", "in", "in~", "regex", ">"]


def _leaf(draw: st.DrawFn) -> tuple:
    field = draw(_FIELDS)
    op = draw(st.sampled_from(_OPS))
    value = draw(st.from_regex(r"[0-9]{1,4}", fullmatch=True) if op == ">" else _VALUES)
    return ("leaf", field, op, value)


_TREES = st.recursive(
    st.composite(_leaf)(),
    lambda kids: st.one_of(
        st.tuples(st.just("not"), kids),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)


def _render(tree: tuple) -> str:
    if tree[0] == "leaf":
        _, field, op, value = tree
        if op == ">":
            return f"{field} > {value}"
        if op.startswith("in"):
            return f'{field} {op} ("{value}")'
        return f'{field} {op} "{value}"'
    if tree[0] == "not":
        return f"not ({_render(tree[1])})"
    return "(" + f" {tree[0]} ".join(_render(kid) for kid in tree[1]) + ")"


def _expected(tree: tuple, negated: bool, selection: str) -> list[str]:
    """The rows the decisions promise, computed independently of the parser."""
    if tree[0] == "not":
        return _expected(tree[1], not negated, selection)
    if tree[0] != "leaf":
        return [row for kid in tree[1] for row in _expected(kid, negated, selection)]
    _, field, op, value = tree
    negated = negated != (op == "!=")
    sensitive = op in ("==", "!=", "like", "in", "regex")
    if op == ">":
        operator, sensitive = "gt", False
    elif op == "regex" and value:
        operator = "regex_match"
    elif op in (":", "like", "like~") and value == "*":
        operator, value, sensitive = "exists", "true", False
    elif op in (":", "like", "like~") and ("*" in value or "?" in value):
        operator = "wildcard"
    else:
        operator = "eq"
    mark = "!" if negated else "+"
    return [f"{selection} {mark} {field} {operator} '{value}'" + (" cs" if sensitive else "")]


def _unique(rows: list[str]) -> list[str]:
    return list(dict.fromkeys(rows))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_gives_predicates_or_a_parse_error(text):
    try:
        assert isinstance(parse_eql(text), ParsedQuery)
    except QueryParseError as error:
        assert error.reason


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map(" ".join))
def test_any_token_soup_gives_predicates_or_a_parse_error(text):
    try:
        assert isinstance(parse_eql(text), ParsedQuery)
    except QueryParseError as error:
        assert error.reason


@settings(max_examples=200, deadline=2000)
@given(_TREES)
def test_generated_event_queries_round_trip_to_the_expected_predicates(tree):
    rows = _eql(f"process where {_render(tree)}")
    expected = ["- + event.category eq 'process' cs", *_expected(tree, False, "-")]
    assert rows == _unique(expected)


@settings(max_examples=100, deadline=2000)
@given(st.lists(_TREES, min_size=2, max_size=3), st.lists(_FIELDS, min_size=1, max_size=2))
def test_generated_sequences_round_trip_step_by_step(trees, keys):
    steps = " ".join(f"[file where {_render(tree)}] by {keys[0]}" for tree in trees)
    parsed = parse_eql(f"sequence by {', '.join(keys)} with maxspan=5m {steps}")
    expected = []
    for number, tree in enumerate(trees, start=1):
        expected.append(f"step{number} + event.category eq 'file' cs")
        expected.extend(_expected(tree, False, f"step{number}"))
    assert _rows(parsed) == _unique(expected)
    assert parsed.grouping_fields == list(dict.fromkeys(keys))
