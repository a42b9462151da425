r"""ES|QL queries to predicates: real Elastic rules pinned by hand, each construct, robustness.

A predicate is written as one row, `"- <+|!> <field> <operator> '<value>'[ cs][ [transforms]]"`
(`+` detect, `!` exclude, `cs` when the value compares case-sensitively; ES|QL has no
steps, so the selection is always `-`). Every pinned list below was checked against the
rule's query text, following the decisions in `rulecat.index.parsers.esql`'s docstring.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecat.index.parsers import ParsedQuery, QueryParseError
from rulecat.index.parsers.esql import parse_esql

from conftest import predicate_rows


def _rows(parsed: ParsedQuery) -> list[str]:
    return predicate_rows(parsed.predicates)


def _esql(query: str) -> list[str]:
    return _rows(parse_esql(query))


def _parse(corpus: Path, rel: str) -> ParsedQuery:
    rule = tomllib.loads((corpus / rel).read_text(encoding="utf-8"))["rule"]
    assert rule["language"] == "esql"
    return parse_esql(rule["query"])


def _esql_rules(corpus: Path) -> list[tuple[str, str]]:
    """(path relative to the corpus, query) of every ES|QL rule."""
    rules = []
    for folder in ("rules", "rules_building_block"):
        for path in sorted((corpus / folder).rglob("*.toml")):
            rule = tomllib.loads(path.read_text(encoding="utf-8"))["rule"]
            if rule.get("language") == "esql":
                rules.append((path.relative_to(corpus).as_posix(), rule["query"]))
    return rules


# --- the whole corpus ----------------------------------------------------------------------


def test_every_esql_rule_in_the_corpus_parses_whole_and_fast(elastic_corpus):
    rules = _esql_rules(elastic_corpus)
    assert len(rules) >= 200
    failures = []
    slowest = 0.0
    for rel, query in rules:
        started = time.perf_counter()
        try:
            parse_esql(query)
        except QueryParseError as error:
            failures.append((rel, error.reason))
        slowest = max(slowest, time.perf_counter() - started)
    assert failures == []
    assert slowest < 1.0


def test_rmm_vendor_case_alias_resolves_to_every_process_name_branch(elastic_corpus):
    """`eval v = case(name like/== ..., "Vendor", ..., "")` then `where v != ""`."""
    parsed = _parse(
        elastic_corpus, "rules/windows/command_and_control_multiple_rmm_vendors_same_host.toml"
    )
    rows = _rows(parsed)
    names = [row for row in rows if " process.name.caseless " in row]
    assert len(names) == 147
    assert names[0] == "- + process.name.caseless wildcard 'aa_v*.exe' cs"
    assert "- + process.name.caseless eq 'anydesk.exe' cs" in names
    assert names[-1] == "- + process.name.caseless eq 'zohoursservice.exe' cs"
    # `is not NULL` passes the default "" too, so that test keeps the alias.
    assert rows[-1] == "- + Esql.rmm_vendor exists 'true' [eval]"
    assert parsed.grouping_fields == ["host.name", "host.id"]


# --- real rules, pinned by hand --------------------------------------------------------------


def test_widespread_malware_alerts_group_by_rule_and_code(elastic_corpus):
    """`in` gives one `eq` per value; the `where` on an aggregate is a threshold."""
    parsed = _parse(
        elastic_corpus,
        "rules/cross-platform/"
        "execution_potential_widespread_malware_infection.toml",
    )
    assert _rows(parsed) == [
        "- + event.code eq 'malicious_file' cs",
        "- + event.code eq 'memory_signature' cs",
        "- + event.code eq 'shellcode_thread' cs",
        "- + rule.name exists 'true'",
    ]
    assert parsed.grouping_fields == ["rule.name", "event.code"]
    assert parsed.indices == ["logs-endpoint.alerts-*"]


def test_bedrock_phantom_user_like_is_a_case_sensitive_wildcard(elastic_corpus):
    """Upper-case keywords; `LIKE "BedrockAPIKey-*"`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/aws/"
        "privilege_escalation_bedrock_phantom_user_credentials_added.toml",
    )
    assert _rows(parsed) == [
        "- + event.provider eq 'iam.amazonaws.com' cs",
        "- + event.action eq 'CreateAccessKey' cs",
        "- + event.action eq 'CreateLoginProfile' cs",
        "- + event.action eq 'UpdateLoginProfile' cs",
        "- + event.outcome eq 'success' cs",
        "- + user.target.name wildcard 'BedrockAPIKey-*' cs",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-aws.cloudtrail-*"]


def test_cobalt_strike_beacon_rlike_resolves_string_escapes(elastic_corpus):
    """Two `where` commands; the RLIKE string's escaped backslashes become regex escapes."""
    parsed = _parse(elastic_corpus, "rules/network/command_and_control_cobalt_strike_beacon.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'network' cs",
        "- + event.category eq 'network_traffic' cs",
        "- + network.protocol eq 'tls' cs",
        "- + network.protocol eq 'http' cs",
        "- + data_stream.dataset eq 'network_traffic.tls' cs",
        "- + data_stream.dataset eq 'network_traffic.http' cs",
        r"- + destination.domain regex_match '[a-z]{3}\.stage\.[0-9]{8}\..*' cs",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["packetbeat-*", "filebeat-*", "logs-network_traffic.*"]


def test_agent_spoofing_tests_presence_and_groups_by_agent(elastic_corpus):
    """`is not null` is `exists true`; `stats ... by agent.id`."""
    parsed = _parse(
        elastic_corpus,
        "rules/cross-platform/"
        "defense_evasion_agent_spoofing_multiple_hosts.toml",
    )
    assert _rows(parsed) == [
        "- + event.agent_id_status exists 'true'",
        "- + agent.id exists 'true'",
    ]
    assert parsed.grouping_fields == ["agent.id"]
    assert parsed.indices == ["logs-endpoint.*"]


def test_bedrock_without_guardrails_reads_is_null_as_absent(elastic_corpus):
    """`is null` is `exists false`; the aggregate threshold adds nothing."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/aws_bedrock/"
        "aws_bedrock_execution_without_guardrails.toml",
    )
    assert _rows(parsed) == [
        "- + gen_ai.guardrail_id exists 'false'",
        "- + user.id exists 'true'",
    ]
    assert parsed.grouping_fields == ["user.id"]
    assert parsed.indices == ["logs-aws_bedrock.invocation-*"]


def test_svchost_masquerading_folds_case_through_to_lower(elastic_corpus):
    """`match()`; `not to_lower(f) in/like` excluded case-insensitively; LIKE escapes."""
    parsed = _parse(elastic_corpus, "rules/windows/defense_evasion_masquerading_as_svchost.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + event.type eq 'start' cs",
        "- + process.name match 'svchost.exe'",
        r"- ! process.executable eq 'c:\windows\syswow64\svchost.exe' [to_lower]",
        r"- ! process.executable eq 'c:\windows\system32\svchost.exe' [to_lower]",
        (
            r"- ! process.executable wildcard '\device\harddiskvolume*\windows\system32\svchost.exe"
            "' [to_lower]"
        ),
        (
            r"- ! process.executable wildcard '\device\harddiskvolume*\windows\syswow64\svchost.exe"
            "' [to_lower]"
        ),
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == [
        "logs-endpoint.events.process-*",
        "logs-windows.sysmon_operational-*",
        "logs-system.security-*",
        "logs-windows.*",
        "winlogbeat-*",
    ]


def test_dhcp_starvation_reads_each_coalesced_field(elastic_corpus):
    """`to_lower(coalesce(a, b))` aliases test both fields, case-insensitively."""
    parsed = _parse(
        elastic_corpus,
        "rules/network/"
        "impact_dhcp_starvation_high_client_mac_cardinality.toml",
    )
    assert _rows(parsed) == [
        "- + network_traffic.dhcpv4.option.message_type eq 'discover' [coalesce,to_lower]",
        "- + dhcpv4.option.message_type eq 'discover' [coalesce,to_lower]",
        "- + network_traffic.dhcpv4.client_mac exists 'true' [coalesce]",
        "- + dhcpv4.client_mac exists 'true' [coalesce]",
        "- + host.name exists 'true' [coalesce]",
        "- + observer.hostname exists 'true' [coalesce]",
    ]
    assert parsed.grouping_fields == ["@timestamp", "host.name", "observer.hostname"]
    assert parsed.indices == ["logs-network_traffic.dhcpv4-*", "packetbeat-*"]


def test_graph_user_agent_alias_resolves_to_the_lowered_field(elastic_corpus):
    """`eval x = to_lower(f)` then `where x like ...` tests `f` with `to_lower`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/azure/"
        "discovery_aad_graph_suspicious_user_agent.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'azure.aadgraphactivitylogs' cs",
        "- + azure.aadgraphactivitylogs.properties.actor_type eq 'User' cs",
        "- + user_agent.original exists 'true'",
        "- + user_agent.original wildcard '*fasthttp*' [to_lower]",
        "- + user_agent.original wildcard '*aiohttp*' [to_lower]",
        "- + user_agent.original wildcard '*hound*' [to_lower]",
        "- + user_agent.original wildcard '*aadinternals*' [to_lower]",
        "- + user_agent.original wildcard '*go-http-client*' [to_lower]",
        "- + user_agent.original wildcard 'python*' [to_lower]",
        "- + user_agent.original wildcard '*curl/*' [to_lower]",
        "- + user_agent.original wildcard '*okhttp*' [to_lower]",
        "- + user_agent.original wildcard '*axios*' [to_lower]",
        "- + user_agent.original wildcard '*node-fetch*' [to_lower]",
        "- + user_agent.original wildcard '*go-resty*' [to_lower]",
        "- + user_agent.original wildcard '*bav2ropc*' [to_lower]",
        "- + user_agent.original wildcard '*undici*' [to_lower]",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-azure.aadgraphactivitylogs-*"]


def test_ml_jobs_by_entity_applies_not_to_the_kql_predicates(elastic_corpus):
    """`not KQL(...)` excludes the KQL predicate; a `by` key tested after `stats` stays."""
    parsed = _parse(
        elastic_corpus,
        "rules/cross-platform/"
        "multiple_machine_learning_jobs_by_entity.toml",
    )
    assert _rows(parsed) == [
        "- + kibana.alert.rule.type eq 'machine_learning' cs",
        "- ! kibana.alert.rule.tags eq 'Rule Type: Higher-Order Rule'",
        "- ! influencers.influencer_field_values eq 'root' cs",
        "- ! influencers.influencer_field_values eq 'SYSTEM' cs",
    ]
    assert parsed.grouping_fields == [
        "influencers.influencer_field_values",
        "process.name",
        "host.name",
    ]
    assert parsed.indices == [".alerts-security.*"]


def test_posh_char_arrays_match_operator_and_a_counted_pattern(elastic_corpus):
    """`f : "char"` is `match`; `length(t) - length(replace(t, ...))` reads one field."""
    parsed = _parse(
        elastic_corpus,
        "rules/windows/"
        "defense_evasion_posh_obfuscation_char_arrays.toml",
    )
    assert _rows(parsed) == [
        "- + event.code eq '4104' cs",
        "- + powershell.file.script_block_text match 'char'",
        "- + powershell.file.script_block_text gte '1' [replace,length,subtract]",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-windows.powershell_operational*"]


def test_github_workflow_injection_match_on_a_cast_field(elastic_corpus):
    """`match(f::STRING, "...")` is `match` with the transform `to_string`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/github/"
        "initial_access_github_actions_workflow_injection_blocked.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'github.audit' cs",
        "- + event.action eq 'protected_branch.rejected_ref_update' cs",
        "- + github.category eq 'protected_branch' cs",
        "- + github.reasons.code eq 'workflow_updates' cs",
        (
            "- + github.reasons.message match 'refusing to allow a GitHub App to create or update "
            "workflow' [to_string]"
        ),
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-github.audit-*"]


def test_admin_bruteforce_cidr_match_on_a_cast_address(elastic_corpus):
    """`not cidr_match(TO_IP(f), ...)` excludes each network; by keys resolve `date_trunc`."""
    parsed = _parse(elastic_corpus, "rules/windows/credential_access_bruteforce_admin_account.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'authentication' cs",
        "- + host.os.type eq 'windows' cs",
        "- + event.action eq 'logon-failed' cs",
        "- + winlog.logon.type eq 'Network' cs",
        "- + source.ip exists 'true'",
        "- + winlog.computer_name exists 'true'",
        "- ! source.ip cidr '127.0.0.0/8' [to_ip]",
        "- ! source.ip cidr '::1' [to_ip]",
        "- + winlog.event_data.TargetUserName wildcard '*admin*' [to_lower]",
        "- ! winlog.event_data.Status eq '0xc000015b' cs",
        "- ! winlog.event_data.Status eq '0xc000005e' cs",
        "- ! winlog.event_data.Status eq '0xc0000133' cs",
        "- ! winlog.event_data.Status eq '0xc0000192' cs",
        "- ! winlog.event_data.Status eq '0xc00000dc' cs",
    ]
    assert parsed.grouping_fields == [
        "winlog.computer_name",
        "source.ip",
        "@timestamp",
        "winlog.logon.type",
    ]
    assert parsed.indices == ["logs-system.security*", "logs-windows.forwarded*", "winlogbeat-*"]


def test_arc_proxy_secret_access_starts_with_and_not_in(elastic_corpus):
    """`STARTS_WITH` is `x*`; `NOT IN` excludes; a time test on an aggregate adds nothing."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/kubernetes/"
        "credential_access_azure_arc_proxy_secret_configmap_access.toml",
    )
    assert _rows(parsed) == [
        "- + kubernetes.audit.user.username wildcard 'system:serviceaccount:azure-arc:*' cs",
        "- + kubernetes.audit.objectRef.resource eq 'secrets' cs",
        "- + kubernetes.audit.objectRef.resource eq 'configmaps' cs",
        "- + kubernetes.audit.verb eq 'get' cs",
        "- + kubernetes.audit.verb eq 'list' cs",
        "- + kubernetes.audit.verb eq 'create' cs",
        "- + kubernetes.audit.verb eq 'update' cs",
        "- + kubernetes.audit.verb eq 'patch' cs",
        "- + kubernetes.audit.verb eq 'delete' cs",
        "- ! kubernetes.audit.objectRef.namespace eq 'azure-arc' cs",
        "- ! kubernetes.audit.objectRef.namespace eq 'azure-arc-release' cs",
        "- ! kubernetes.audit.objectRef.namespace eq 'kube-system' cs",
        "- ! kubernetes.audit.objectRef.name wildcard 'sh.helm.release.v1*' cs",
    ]
    assert parsed.grouping_fields == ["kubernetes.audit.impersonatedUser.username"]
    assert parsed.indices == ["logs-kubernetes.audit_logs-*"]


def test_actor_token_impersonation_not_like_and_rlike(elastic_corpus):
    """`not like`, `!=`, `rlike` with a `\\.` escape."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/azure/"
        "initial_access_entra_id_actor_token_user_impersonation_abuse.toml",
    )
    assert _rows(parsed) == [
        (
            "- + azure.auditlogs.properties.initiated_by.user.displayName eq 'Office 365 Exchange "
            "Online' cs"
        ),
        (
            "- + azure.auditlogs.properties.initiated_by.user.displayName eq 'Skype for Business O"
            "nline' cs"
        ),
        "- + azure.auditlogs.properties.initiated_by.user.displayName eq 'Dataverse' cs",
        (
            "- + azure.auditlogs.properties.initiated_by.user.displayName eq 'Office 365 SharePoin"
            "t Online' cs"
        ),
        (
            "- + azure.auditlogs.properties.initiated_by.user.displayName eq 'Microsoft Dynamics E"
            "RP' cs"
        ),
        "- ! azure.auditlogs.operation_name wildcard '*group*' cs",
        "- ! azure.auditlogs.operation_name eq 'Set directory feature on tenant' cs",
        (
            "- + azure.auditlogs.properties.initiated_by.user.userPrincipalName regex_match '.+@[A"
            r"-Za-z0-9.]+\.[A-Za-z]{2,}' cs"
        ),
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-azure.auditlogs-*"]


def test_rare_webdav_destination_resolves_a_grok_column(elastic_corpus):
    """`grok ... (?<name>...)` outputs resolve to the source field with `grok`; `like (list)`."""
    parsed = _parse(elastic_corpus, "rules/windows/credential_access_rare_webdav_destination.toml")
    assert _rows(parsed) == [
        "- + event.category eq 'process' cs",
        "- + event.type eq 'start' cs",
        "- + process.name eq 'rundll32.exe' cs",
        "- + process.command_line wildcard '*DavSetCookie*' cs",
        "- + process.command_line exists 'true' [grok,to_lower]",
        "- ! process.command_line eq 'www.google.com' [grok,to_lower]",
        "- ! process.command_line eq 'www.elastic.co' [grok,to_lower]",
        "- ! process.command_line eq 'google.com' [grok,to_lower]",
        "- ! process.command_line eq 'github.com' [grok,to_lower]",
        "- ! process.command_line eq 'www.github.com' [grok,to_lower]",
        "- ! process.command_line eq 'sharepoint.com' [grok,to_lower]",
        "- ! process.command_line eq 'live.net' [grok,to_lower]",
        "- ! process.command_line wildcard '*.live.net' [grok,to_lower]",
        "- ! process.command_line wildcard '*.sharepoint.com' [grok,to_lower]",
        (
            r"- ! process.command_line regex_match '(10\.(\d{1,3}\.){2}\d{1,3}|172\.(1[6-9]|2\d|3[0"
            r"-1])\.(\d{1,3}\.)\d{1,3}|192\.168\.(\d{1,3}\.)\d{1,3})' [grok,to_lower]"
        ),
    ]
    assert parsed.grouping_fields == ["process.command_line"]
    assert parsed.indices == [
        "logs-endpoint.events.process-*",
        "logs-windows.sysmon_operational-*",
        "logs-system.security-*",
        "logs-windows.*",
        "winlogbeat-*",
        "logs-crowdstrike.fdr*",
        "logs-m365_defender.event-*",
    ]


def test_audit_policy_disabled_keeps_a_time_window_test(elastic_corpus):
    """`inline stats` keeps fields; `@timestamp < NOW() - 5m` keeps its value as text."""
    parsed = _parse(
        elastic_corpus,
        "rules/windows/"
        "defense_evasion_audit_policy_disabled_winlog.toml",
    )
    assert _rows(parsed) == [
        "- + host.os.type eq 'windows' cs",
        "- + event.code eq '4719' cs",
        "- + winlog.event_data.AuditPolicyChangesDescription eq 'Success removed' cs",
        "- + winlog.event_data.AuditPolicyChangesDescription eq 'Success Added' cs",
        "- + winlog.event_data.SubCategory eq 'Logon' cs",
        "- + winlog.event_data.SubCategory eq 'Audit Policy Change' cs",
        "- + winlog.event_data.SubCategory eq 'Process Creation' cs",
        "- + winlog.event_data.SubCategory eq 'Other System Events' cs",
        "- + winlog.event_data.SubCategory eq 'Security Group Management' cs",
        "- + winlog.event_data.SubCategory eq 'User Account Management' cs",
        "- + @timestamp lt 'now() - 5 m'",
    ]
    assert parsed.grouping_fields == ["host.id", "winlog.event_data.SubCategory", "@timestamp"]
    assert parsed.indices == ["logs-windows.forwarded*", "logs-system.security*"]


def test_roadrecon_enumeration_resolves_a_case_alias_to_its_branches(elastic_corpus):
    """`where case_alias != "other"` (the default) is the `or` of every branch condition."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/azure/"
        "discovery_aad_graph_roadrecon_aiohttp_enumeration.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'azure.aadgraphactivitylogs' cs",
        "- + user_agent.original wildcard '*aiohttp*' [to_lower]",
        "- + url.path wildcard '*/eligibleRoleAssignments*' cs",
        "- + url.path wildcard '*/roleAssignments*' cs",
        "- + url.path wildcard '*/users*' cs",
        "- + url.path wildcard '*/groups*' cs",
        "- + url.path wildcard '*/servicePrincipals*' cs",
        "- + url.path wildcard '*/applications*' cs",
        "- + url.path wildcard '*/devices*' cs",
        "- + url.path wildcard '*/directoryRoles*' cs",
        "- + url.path wildcard '*/roleDefinitions*' cs",
        "- + url.path wildcard '*/administrativeUnits*' cs",
        "- + url.path wildcard '*/contacts*' cs",
        "- + url.path wildcard '*/oauth2PermissionGrants*' cs",
        "- + url.path wildcard '*/authorizationPolicy*' cs",
        "- + url.path wildcard '*/settings*' cs",
        "- + url.path wildcard '*/policies*' cs",
        "- + url.path wildcard '*/tenantDetails*' cs",
    ]
    assert parsed.grouping_fields == ["user.id", "azure.tenant_id", "@timestamp"]
    assert parsed.indices == ["logs-azure.aadgraphactivitylogs-*"]


def test_nfs_destructive_burst_reads_json_extracted_fields(elastic_corpus):
    """`json_extract(_source, "a.b")` reads `a.b`; the `case` evals feed only aggregates."""
    parsed = _parse(
        elastic_corpus,
        "rules/network/"
        "impact_potential_nfs_destructive_operation_burst.toml",
    )
    assert _rows(parsed) == [
        "- + network_traffic.nfs.opcode eq 'WRITE' [json_extract,coalesce,to_upper]",
        "- + nfs.opcode eq 'WRITE' [json_extract,coalesce,to_upper]",
        "- + network_traffic.nfs.opcode eq 'REMOVE' [json_extract,coalesce,to_upper]",
        "- + nfs.opcode eq 'REMOVE' [json_extract,coalesce,to_upper]",
        "- + network_traffic.nfs.opcode eq 'RENAME' [json_extract,coalesce,to_upper]",
        "- + nfs.opcode eq 'RENAME' [json_extract,coalesce,to_upper]",
        "- + network_traffic.nfs.status eq 'NFS_OK' [json_extract,coalesce,to_upper]",
        "- + nfs.status eq 'NFS_OK' [json_extract,coalesce,to_upper]",
        "- + source.ip exists 'true'",
        "- + destination.ip exists 'true'",
    ]
    assert parsed.grouping_fields == ["@timestamp", "source.ip", "destination.ip"]
    assert parsed.indices == ["logs-network_traffic.nfs-*", "packetbeat-*"]


def test_genai_descendant_inlines_boolean_eval_aliases(elastic_corpus):
    """`eval b = to_lower(f) in (...)` then `where ... or b` inlines the condition."""
    parsed = _parse(
        elastic_corpus,
        "rules/cross-platform/"
        "initial_access_elastic_defend_alert_genai_utility_descendant.toml",
    )
    assert _rows(parsed) == [
        "- + process.Ext.ancestry exists 'true'",
        "- + data_stream.dataset eq 'endpoint.alerts' cs",
        "- + process.parent.name eq 'claude' [to_lower]",
        "- + process.parent.name eq 'claude.exe' [to_lower]",
        "- + process.parent.name eq 'cursor' [to_lower]",
        "- + process.parent.name eq 'cursor.exe' [to_lower]",
        "- + process.parent.name eq 'cursor helper' [to_lower]",
        "- + process.parent.name eq 'cursor helper (plugin)' [to_lower]",
        "- + process.parent.name eq 'codex' [to_lower]",
        "- + process.parent.name eq 'codex.exe' [to_lower]",
        "- + process.parent.name eq 'cody' [to_lower]",
        "- + process.parent.name eq 'cody.exe' [to_lower]",
        "- + process.parent.name eq 'copilot' [to_lower]",
        "- + process.parent.name eq 'copilot.exe' [to_lower]",
        "- + process.parent.name eq 'gemini-cli' [to_lower]",
        "- + process.parent.name eq 'gemini-cli.exe' [to_lower]",
        "- + process.parent.name eq 'openai' [to_lower]",
        "- + process.parent.name eq 'openai.exe' [to_lower]",
        "- + process.parent.name eq 'ollama' [to_lower]",
        "- + process.parent.name eq 'ollama.exe' [to_lower]",
        "- + process.parent.name eq 'llm' [to_lower]",
        "- + process.parent.name eq 'llm.exe' [to_lower]",
        "- + process.parent.name eq 'aider' [to_lower]",
        "- + process.parent.name eq 'aider.exe' [to_lower]",
        "- + process.parent.name eq 'cline' [to_lower]",
        "- + process.parent.name eq 'cline.exe' [to_lower]",
        "- + process.parent.name eq 'continue' [to_lower]",
        "- + process.parent.name eq 'continue.exe' [to_lower]",
        "- + process.parent.name eq 'zed' [to_lower]",
        "- + process.parent.name eq 'zed.exe' [to_lower]",
        "- + process.parent.name eq 'windsurf' [to_lower]",
        "- + process.parent.name eq 'windsurf.exe' [to_lower]",
        "- + process.parent.name eq 'tabnine' [to_lower]",
        "- + process.parent.name eq 'tabnine.exe' [to_lower]",
        "- + process.parent.name eq 'codeium' [to_lower]",
        "- + process.parent.name eq 'codeium.exe' [to_lower]",
        "- + process.parent.name eq 'bolt' [to_lower]",
        "- + process.parent.name eq 'bolt.exe' [to_lower]",
        "- + process.parent.name eq 'devin' [to_lower]",
        "- + process.parent.name eq 'devin.exe' [to_lower]",
        "- + process.parent.name eq 'replit' [to_lower]",
        "- + process.parent.name eq 'replit.exe' [to_lower]",
        "- + process.parent.name eq 'ghostwriter' [to_lower]",
        "- + process.parent.name eq 'ghostwriter.exe' [to_lower]",
        "- + process.parent.name eq 'bito' [to_lower]",
        "- + process.parent.name eq 'bito.exe' [to_lower]",
        "- + process.parent.name eq 'node' cs",
        "- + process.parent.name eq 'node.exe' cs",
        "- + process.parent.command_line wildcard '*openclaw*' cs",
        "- + process.parent.command_line wildcard '*moltbot*' cs",
        "- + process.parent.command_line wildcard '*clawdbot*' cs",
        "- ! rule.name eq 'Persistence via GenAI Tool' cs",
        "- ! rule.name eq 'Code Editor Untrusted or Unsigned Child Process Execution' cs",
        "- ! rule.name eq 'Suspicious Credential Access via GenAI Tool' cs",
        "- ! rule.name eq 'Credential Access via GenAI Tool Descendant' cs",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-endpoint.alerts-*", "logs-endpoint.events.process-*"]


def test_discovery_api_calls_read_true_in_a_list_of_conditions(elastic_corpus):
    """`where true in (starts_with(...), ...)` is the `or` of the conditions."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/aws/"
        "discovery_multiple_discovery_api_calls_via_cli.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'aws.cloudtrail' cs",
        "- + source.ip exists 'true'",
        "- + aws.cloudtrail.session_credential_from_console exists 'false'",
        "- + event.provider eq 'iam.amazonaws.com' cs",
        "- + event.provider eq 'ec2.amazonaws.com' cs",
        "- + event.provider eq 's3.amazonaws.com' cs",
        "- + event.provider eq 'rds.amazonaws.com' cs",
        "- + event.provider eq 'lambda.amazonaws.com' cs",
        "- + event.provider eq 'dynamodb.amazonaws.com' cs",
        "- + event.provider eq 'kms.amazonaws.com' cs",
        "- + event.provider eq 'cloudfront.amazonaws.com' cs",
        "- + event.provider eq 'elasticloadbalancing.amazonaws.com' cs",
        "- + event.provider eq 'cloudtrail.amazonaws.com' cs",
        "- + event.provider eq 'sts.amazonaws.com' cs",
        "- + event.provider eq 'ses.amazonaws.com' cs",
        "- + event.provider eq 'organizations.amazonaws.com' cs",
        "- ! aws.cloudtrail.user_identity.type eq 'AWSService' cs",
        "- + user_agent.name eq 'aws-cli' cs",
        "- ! event.action eq 'DescribeCapacityReservations' cs",
        "- ! user.name eq 'AWSServiceRoleForConfig' cs",
        "- + event.action wildcard 'Describe*' cs",
        "- + event.action wildcard 'Get*' cs",
        "- + event.action wildcard 'List*' cs",
        "- + event.action wildcard 'Generate*' cs",
    ]
    assert parsed.grouping_fields == ["@timestamp", "aws.cloudtrail.user_identity.arn"]
    assert parsed.indices == ["logs-aws.cloudtrail-*"]


def test_deprecated_m365_brute_force_rlike_through_to_lower(elastic_corpus):
    """Deprecated rule: `to_lower(f) rlike ...` is case-insensitive."""
    parsed = _parse(
        elastic_corpus,
        "rules/_deprecated/"
        "credential_access_entra_signin_brute_force_microsoft_365_repeat_source.toml",
    )
    assert _rows(parsed) == [
        "- + event.dataset eq 'azure.signinlogs' cs",
        "- + event.category eq 'authentication' cs",
        (
            "- + azure.signinlogs.properties.resource_display_name regex_match '(.*)365(.*)' [to_l"
            "ower]"
        ),
        "- + azure.signinlogs.category eq 'NonInteractiveUserSignInLogs' cs",
        "- + azure.signinlogs.category eq 'SignInLogs' cs",
        "- ! event.outcome eq 'success' cs",
    ]
    assert parsed.grouping_fields == ["source.ip"]
    assert parsed.indices == ["logs-azure.signinlogs*"]


def test_gke_csr_self_approval_ignores_per_aggregate_filters(elastic_corpus):
    """`count(*) where ...` in `stats` adds nothing; a `replace(f)` by key resolves to `f`."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/gcp/"
        "persistence_gcp_gke_certificate_signing_request_self_approved.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'gcp.audit' cs",
        "- + service.name eq 'k8s.io' cs",
        "- + event.outcome eq 'success' cs",
        "- + event.action eq 'io.k8s.certificates.v1.certificatesigningrequests.create' cs",
        (
            "- + event.action eq 'io.k8s.certificates.v1.certificatesigningrequests.approval.updat"
            "e' cs"
        ),
        "- + client.user.email exists 'true'",
        "- + gcp.audit.resource_name exists 'true'",
        "- ! client.user.email eq 'system:gcp-controller-manager' cs",
        "- ! client.user.email eq 'system:kube-controller-manager' cs",
        "- ! client.user.email eq 'system:serviceaccount:kube-system:certificate-controller' cs",
        "- ! client.user.email eq 'kubelet-bootstrap' cs",
        "- ! client.user.email eq 'kubelet-nodepool-bootstrap' cs",
        "- ! client.user.email wildcard 'system:node:*' cs",
    ]
    assert parsed.grouping_fields == ["client.user.email", "gcp.audit.resource_name"]
    assert parsed.indices == ["logs-gcp.audit-*"]


def test_multi_cloud_secrets_resolves_a_case_default_test(elastic_corpus):
    """`where vendor != "unknown"` (the `case` default) is the `or` of the branch conditions."""
    parsed = _parse(
        elastic_corpus,
        "rules/cross-platform/"
        "credential_access_multi_could_secrets_via_api.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'aws.cloudtrail' cs",
        "- + event.action eq 'GetSecretValue' cs",
        "- + data_stream.dataset eq 'azure.platformlogs' cs",
        "- + event.action eq 'SecretGet' cs",
        "- + event.action eq 'KeyGet' cs",
        "- + data_stream.dataset eq 'googlecloud.audit' cs",
        "- + data_stream.dataset eq 'gcp.audit' cs",
        (
            "- + event.action eq 'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretV"
            "ersion' cs"
        ),
        (
            "- + event.action eq 'google.cloud.secretmanager.v1.SecretManagerService.GetSecretRequ"
            "est' cs"
        ),
        "- + data_stream.dataset eq 'kubernetes.audit_logs' cs",
        "- + kubernetes.audit.objectRef.resource eq 'secrets' cs",
        "- + kubernetes.audit.verb eq 'get' cs",
        "- + kubernetes.audit.verb eq 'list' cs",
        "- + source.ip exists 'true'",
    ]
    assert parsed.grouping_fields == ["source.ip"]
    assert parsed.indices == [
        "logs-azure.platformlogs-*",
        "logs-aws.cloudtrail-*",
        "logs-gcp.audit-*",
        "logs-kubernetes.audit_logs-*",
    ]


def test_s3_static_site_ends_with_on_a_dissected_column(elastic_corpus):
    """`ends_with` on a column dissected twice from one field."""
    parsed = _parse(
        elastic_corpus,
        "rules/integrations/aws/"
        "impact_s3_static_site_js_file_uploaded.toml",
    )
    assert _rows(parsed) == [
        "- + data_stream.dataset eq 'aws.cloudtrail' cs",
        "- + event.provider eq 's3.amazonaws.com' cs",
        "- + event.action eq 'PutObject' cs",
        "- + event.outcome eq 'success' cs",
        "- + aws.cloudtrail.user_identity.type eq 'IAMUser' cs",
        "- + aws.cloudtrail.user_identity.type eq 'AssumedRole' cs",
        "- + aws.cloudtrail.request_parameters wildcard '*static/js/*.js*' cs",
        "- ! user_agent.original wildcard '*Terraform*' cs",
        "- ! user_agent.original wildcard '*Ansible*' cs",
        "- ! user_agent.original wildcard '*Pulumi*' cs",
        "- + aws.cloudtrail.request_parameters wildcard '*.js' cs [dissect,dissect]",
    ]
    assert parsed.grouping_fields == []
    assert parsed.indices == ["logs-aws.cloudtrail*"]


# --- each construct, hand-written ------------------------------------------------------------


def test_from_lists_the_indices_and_metadata_adds_nothing():
    parsed = parse_esql('from logs-a-*, "logs-b", .alerts-* metadata _id, _index | where a == 1')
    assert parsed.indices == ["logs-a-*", "logs-b", ".alerts-*"]
    assert _rows(parsed) == ["- + a eq '1'"]
    assert parse_esql("FROM logs-*").predicates == []


def test_comparisons_are_case_sensitive_for_strings_and_swap_constants_to_the_right():
    query = 'from i | where a == "X" and b != "y" and c > 1 and 2 >= d and e < -3.5 and f <= 4'
    assert _esql(query) == [
        "- + a eq 'X' cs",
        "- ! b eq 'y' cs",
        "- + c gt '1'",
        "- + d lte '2'",
        "- + e lt '-3.5'",
        "- + f lte '4'",
    ]


def test_like_globs_only_with_a_wildcard_and_resolves_its_own_escapes():
    query = (
        'from i | where a like "x*" and b like "y" and c like "C:\\\\\\\\W\\\\\\\\*"'
        ' and d like "p\\\\*" and e like "*" and f like ("m?", "n")'
    )
    assert _esql(query) == [
        "- + a wildcard 'x*' cs",
        "- + b eq 'y' cs",
        r"- + c wildcard 'C:\W\*' cs",
        "- + d eq 'p*' cs",
        "- + e exists 'true'",
        "- + f wildcard 'm?' cs",
        "- + f eq 'n' cs",
    ]


def test_not_like_not_rlike_and_not_in_are_negations():
    query = 'from i | where a not like "x*" and b not rlike "y.+" and c not in ("p", "q")'
    assert _esql(query) == [
        "- ! a wildcard 'x*' cs",
        "- ! b regex_match 'y.+' cs",
        "- ! c eq 'p' cs",
        "- ! c eq 'q' cs",
    ]


def test_in_lists_give_one_predicate_per_value_and_null_means_absent():
    assert _esql('from i | where a in ("x", 2, null)') == [
        "- + a eq 'x' cs",
        "- + a eq '2'",
        "- + a exists 'false'",
    ]


def test_is_null_and_is_not_null_read_as_field_presence():
    query = "from i | where a is null and b IS NOT NULL and not c is not null"
    assert _esql(query) == [
        "- + a exists 'false'",
        "- + b exists 'true'",
        "- ! c exists 'true'",
    ]


def test_to_lower_and_to_upper_fold_case_and_stay_as_transforms():
    query = 'from i | where to_lower(a) == "x" and TO_UPPER(b) like "Y*" and length(c) > 3'
    assert _esql(query) == [
        "- + a eq 'x' [to_lower]",
        "- + b wildcard 'Y*' [to_upper]",
        "- + c gt '3' [length]",
    ]


def test_full_text_match_operator_and_function_are_match_predicates():
    query = 'from i | where a : "word" and match(b, "two words", {"fuzziness": 1})'
    assert _esql(query) == ["- + a match 'word'", "- + b match 'two words'"]


def test_condition_functions_become_wildcards_and_networks():
    query = (
        'from i | where starts_with(a, "x") and not ends_with(b, ".exe")'
        ' and cidr_match(to_ip(c), "10.0.0.0/8", "::1")'
    )
    assert _esql(query) == [
        "- + a wildcard 'x*' cs",
        "- ! b wildcard '*.exe' cs",
        "- + c cidr '10.0.0.0/8' [to_ip]",
        "- + c cidr '::1' [to_ip]",
    ]


def test_field_against_field_is_a_fieldref():
    assert _esql("from i | where a == b and c != to_lower(d) and e > f") == [
        "- + a fieldref 'b' cs",
        "- ! c fieldref 'd' cs [ref:to_lower]",
        "- + e fieldref 'f' [gt]",
    ]


def test_eval_aliases_resolve_to_their_field_with_the_wrappers():
    query = """from i
        | eval x = a, y = to_lower(b), z = to_upper(x)
        | where x == "1" and y like "*p*" and z == "Q" and length(y) > 2"""
    assert _esql(query) == [
        "- + a eq '1' cs",
        "- + b wildcard '*p*' [to_lower]",
        "- + a eq 'Q' [to_upper]",
        "- + b gt '2' [to_lower,length]",
    ]


def test_each_where_sees_the_alias_as_defined_before_it():
    query = """from i | eval x = a | where x == "1"
        | eval x = to_lower(b) | where x == "2" """
    assert _esql(query) == ["- + a eq '1' cs", "- + b eq '2' [to_lower]"]


def test_an_alias_of_several_fields_keeps_its_name_with_the_eval_transform():
    query = 'from i | eval c = concat(a, b), d = case(a == "1", "one") | where c == "x" and d == 1'
    assert _esql(query) == ["- + c eq 'x' cs [eval]", "- + d eq '1' [eval]"]
    assert _esql('from i | where concat(a, b) == "x"') == [
        "- + concat(a, b) eq 'x' cs [eval]"
    ]


def test_a_boolean_alias_is_inlined_with_the_negations_above_it():
    query = 'from i | eval s = a in ("x", "y") and b like "z*" | where not s and c == 1'
    assert _esql(query) == [
        "- ! a eq 'x' cs",
        "- ! a eq 'y' cs",
        "- ! b wildcard 'z*' cs",
        "- + c eq '1'",
    ]


def test_a_case_alias_test_reads_the_branches_whose_value_passes():
    case = 'eval v = case(a == "1", "one", b like "t*", "two", "other")'
    assert _esql(f'from i | {case} | where v != "other"') == [
        "- + a eq '1' cs",
        "- + b wildcard 't*' cs",
    ]
    assert _esql(f'from i | {case} | where v in ("two")') == ["- + b wildcard 't*' cs"]
    assert _esql(f"from i | {case} | where v is not null") == ["- + v exists 'true' [eval]"]
    no_default = 'eval w = case(a == "1", true, false) | where not w'
    assert _esql(f"from i | {no_default}") == ["- ! a eq '1' cs"]


def test_coalesce_tests_each_field():
    query = 'from i | eval u = to_lower(coalesce(a, b, "none")) | where u == "x"'
    assert _esql(query) == [
        "- + a eq 'x' [coalesce,to_lower]",
        "- + b eq 'x' [coalesce,to_lower]",
    ]


def test_rename_follows_the_column_in_both_syntaxes():
    query = """from i | eval x = to_lower(a) | rename x as y, b as c | rename d = c
        | where y == "1" and d == "2" """
    assert _esql(query) == ["- + a eq '1' [to_lower]", "- + b eq '2' cs"]


def test_stats_keys_group_and_tests_on_aggregates_are_thresholds():
    query = """from i
        | stats n = count(*), m = max(b), count_distinct(c) by a, k = to_lower(d)
        | where n > 5 and m < 3 and `count_distinct(c)` >= 2 and a == "x" and k == "y" """
    parsed = parse_esql(query)
    assert _rows(parsed) == ["- + a eq 'x' cs", "- + d eq 'y' [to_lower]"]
    assert parsed.grouping_fields == ["a", "d"]


def test_inline_stats_keeps_the_other_columns_and_its_filters_add_nothing():
    query = """from i | eval x = to_lower(a)
        | inline stats n = count(*) where b == "no" by h
        | where n > 1 and x == "y" and c == "z" """
    parsed = parse_esql(query)
    assert _rows(parsed) == ["- + a eq 'y' [to_lower]", "- + c eq 'z' cs"]
    assert parsed.grouping_fields == ["h"]


def test_grok_and_dissect_outputs_resolve_to_their_source_field():
    query = r"""from i
        | grok a "%{WORD:w} (?<host.x>[a-z]+)"
        | dissect b "%{p}/%{?skip}/%{+q}"
        | where w == "1" and host.x == "2" and p == "3" and q == "4" and skip == "5" """
    assert _esql(query) == [
        "- + a eq '1' cs [grok]",
        "- + a eq '2' cs [grok]",
        "- + b eq '3' cs [dissect]",
        "- + b eq '4' cs [dissect]",
        "- + skip eq '5' cs",
    ]


def test_kql_predicates_take_the_negations_above_the_call():
    query = 'from i | where not kql("a : x and not b : y") and KQL("""c : *""")'
    assert _esql(query) == [
        "- ! a eq 'x'",
        "- + b eq 'y'",
        "- + c exists 'true'",
    ]


def test_casts_json_extract_and_constant_expressions():
    query = """from i metadata _source
        | where a::string == "1" and to_lower(json_extract(_source, "$.x.y")) == "2"
        and @timestamp > now() - 1 hour and b == "7" + "" """
    assert _esql(query) == [
        "- + a eq '1' cs [to_string]",
        "- + x.y eq '2' [json_extract,to_lower]",
        "- + @timestamp gt 'now() - 1 hour'",
        "- + b eq '\"7\" + \"\"'",
    ]


def test_a_boolean_constant_in_a_list_of_conditions_is_their_or():
    query = 'from i | where true in (starts_with(a, "x"), b == "y") and false in (c == "z")'
    assert _esql(query) == ["- + a wildcard 'x*' cs", "- + b eq 'y' cs", "- ! c eq 'z' cs"]


def test_keywords_read_in_any_case_and_comments_and_raw_strings_are_kept():
    query = 'FROM i // note\n| WHERE a == """C:\\x""" /* block */ AND NOT b RLIKE "\\\\d+"'
    assert _esql(query) == [r"- + a eq 'C:\x' cs", r"- ! b regex_match '\d+' cs"]


def test_later_commands_add_no_predicates():
    query = """from i | where a == 1 | keep a, b.* | drop c | sort a desc nulls last
        | limit 10 | mv_expand b | eval z = 1"""
    assert _esql(query) == ["- + a eq '1'"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "unexpected end of query"),
        ("where a == 1", "line 1:1: unexpected 'where'"),
        ("from i | lookup join j on k", "unexpected 'lookup'"),
        ("from i | where a ==", "unexpected end of query"),
        ('from i | where a == "open', "unexpected character"),
        ("from i | where 1", "not a condition"),
        ("from i | where kql(a)", "kql() takes one string"),
        ('from i | where kql("a :")', "in kql():"),
        ("from i | where starts_with(a, b)", "cannot read the argument b of starts_with"),
        ("from i | where a > null", "cannot compare a > null"),
    ],
)
def test_queries_that_cannot_be_read_whole_say_where_and_why(query, reason):
    with pytest.raises(QueryParseError) as caught:
        parse_esql(query)
    assert reason in caught.value.reason


def test_deep_parentheses_parse_and_deep_negations_are_a_parse_error():
    assert _esql("from i | where " + "(" * 5000 + "a == 1" + ")" * 5000) == ["- + a eq '1'"]
    with pytest.raises(QueryParseError, match="nested too deeply"):
        parse_esql("from i | where " + "not " * 5000 + "a == 1")


# --- properties ------------------------------------------------------------------------------

_KEYWORDS = {
    "and", "or", "not", "in", "is", "like", "rlike", "null", "true", "false", "from", "where",
    "eval", "stats", "inline", "inlinestats", "by", "keep", "drop", "rename", "as", "sort",
    "asc", "desc", "nulls", "first", "last", "limit", "mv_expand", "grok", "dissect",
    "completion", "with", "metadata",
}
_TOKENS = [
    "from", "logs-*", "metadata", "_id", "|", "where", "eval", "stats", "inline", "by", "keep",
    "rename", "as", "grok", "dissect", "completion", "with", "=", "==", "!=", ">", ":", "::",
    "like", "rlike", "in", "not", "is", "null", "and", "or", "(", ")", "[", "]", "{", "}", ",",
    "a.b", "`c d`", '"x*"', '"""y"""', "1", "2 minutes", "to_lower(", "case(", "coalesce(",
    'kql("a:b")', "count(*)", "string", "?p", "//", "/*", "*/", "-",
]
_FIELDS = st.from_regex(r"[a-z][a-z0-9_]{0,5}(\.[a-z][a-z0-9_]{0,5}){0,2}", fullmatch=True).filter(
    lambda name: name not in _KEYWORDS and not name.startswith("_")
)
_VALUES = st.text(alphabet="abcXYZ09 -_./:*?", min_size=1, max_size=8)
_OPS = [
    "==", "!=", "like", "not like", "rlike", "not rlike", "in", "not in", "is null",
    "is not null", ":",
]


@st.composite
def _leaf(draw: st.DrawFn) -> tuple:
    field = draw(_FIELDS)
    op = draw(st.sampled_from(_OPS))
    value = draw(_VALUES)
    wrap = draw(st.sampled_from(["", "to_lower", "alias"]))
    return ("leaf", field, op, value, wrap)


_TREES = st.recursive(
    _leaf(),
    lambda kids: st.one_of(
        st.tuples(st.just("not"), kids),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)


def _leaves(tree: tuple) -> list[tuple]:
    if tree[0] == "leaf":
        return [tree]
    kids = [tree[1]] if tree[0] == "not" else tree[1]
    return [leaf for kid in kids for leaf in _leaves(kid)]


def _alias(field: str) -> str:
    """A column name no generated field can have (fields are lower case)."""
    return "X" + field.replace(".", "Q")


def _render(tree: tuple) -> str:
    if tree[0] == "leaf":
        _, field, op, value, wrap = tree
        subject = {"": field, "to_lower": f"to_lower({field})", "alias": _alias(field)}[wrap]
        if op.endswith("null"):
            return f"{subject} {op}"
        if op.endswith("in"):
            return f'{subject} {op} ("{value}")'
        return f'{subject} {op} "{value}"'
    if tree[0] == "not":
        return f"not ({_render(tree[1])})"
    return "(" + f" {tree[0]} ".join(_render(kid) for kid in tree[1]) + ")"


def _expected(tree: tuple, negated: bool) -> list[str]:
    """The rows the decisions promise, computed independently of the parser."""
    if tree[0] == "not":
        return _expected(tree[1], not negated)
    if tree[0] != "leaf":
        return [row for kid in tree[1] for row in _expected(kid, negated)]
    _, field, op, value, wrap = tree
    negated = negated != (op in ("!=", "not like", "not rlike", "not in"))
    sensitive = not wrap
    if op.endswith("null"):
        operator, value, sensitive = "exists", str(op == "is not null").lower(), False
    elif op == ":":
        operator, sensitive = "match", False
    elif op.endswith("rlike"):
        operator = "regex_match"
    elif op.endswith("like") and value == "*":
        operator, value, sensitive = "exists", "true", False
    elif op.endswith("like") and ("*" in value or "?" in value):
        operator = "wildcard"
    else:
        operator = "eq"
    transforms = " [to_lower]" if wrap else ""
    mark = "!" if negated else "+"
    return [f"- {mark} {field} {operator} '{value}'" + (" cs" if sensitive else "") + transforms]


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_gives_predicates_or_a_parse_error(text):
    try:
        assert isinstance(parse_esql(text), ParsedQuery)
    except QueryParseError as error:
        assert error.reason


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map(" ".join))
def test_any_token_soup_gives_predicates_or_a_parse_error(text):
    for query in (text, f"from i | where {text}"):
        try:
            assert isinstance(parse_esql(query), ParsedQuery)
        except QueryParseError as error:
            assert error.reason


@settings(max_examples=200, deadline=2000)
@given(_TREES)
def test_generated_queries_round_trip_to_the_expected_predicates(tree):
    aliased = sorted({leaf[1] for leaf in _leaves(tree) if leaf[4] == "alias"})
    evals = "".join(f" | eval {_alias(field)} = to_lower({field})" for field in aliased)
    parsed = parse_esql(f"from logs-*{evals} | where {_render(tree)} | keep *")
    assert _rows(parsed) == list(dict.fromkeys(_expected(tree, False)))
    assert parsed.indices == ["logs-*"]
