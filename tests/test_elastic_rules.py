"""Real Elastic rules, read whole: predicate lists checked by hand against each query.

Every list below was compared line by line with the rule's `query` (and `filters`) in the
corpus snapshot: field as written, operator, value with escapes resolved, and polarity
(`X` = excluded, under an odd number of `not`s; `D` = detected).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulecat.index.models import RuleRecord
from rulecat.index.readers.elastic import read_elastic_file

D, X = "detect", "exclude"
PINS: dict[str, tuple[str, list[tuple[object, ...]]]] = {}


@pytest.fixture(scope="module")
def elastic_root(elastic_corpus: Path) -> Path:
    return elastic_corpus


def read(root: Path, rel: str) -> RuleRecord:
    rules, rejections = read_elastic_file("elastic", root, root / rel)
    assert not rejections, rejections
    (rule,) = rules
    return rule


def rows(rule: RuleRecord) -> list[tuple[object, ...]]:
    return [(p.vendor_field, p.operator, p.value, p.polarity)
            + ((p.selection,) if p.selection else ()) for p in rule.predicates]


PINS["nested_field_query"] = (
    "rules/integrations/gcp/persistence_gcp_service_account_impersonation_role_grant.toml",
    [
        ('data_stream.dataset', 'eq', 'gcp.audit', D),
        ('event.action', 'wildcard', 'google.iam.admin.v*.SetIAMPolicy', D),
        ('event.outcome', 'eq', 'success', D),
        ('gcp.audit.service_data.policy_delta.binding_deltas.action', 'eq', 'ADD', D),
        ('gcp.audit.service_data.policy_delta.binding_deltas.role',
         'eq',
         'roles/iam.serviceAccountTokenCreator',
         D),
        ('gcp.audit.service_data.policy_delta.binding_deltas.role',
         'eq',
         'roles/iam.serviceAccountUser',
         D),
        ('gcp.audit.service_data.policy_delta.binding_deltas.role',
         'eq',
         'roles/iam.serviceAccountOpenIdTokenCreator',
         D),
    ],
)

PINS["okta_zone"] = (
    "rules/integrations/okta/defense_evasion_attempt_to_deactivate_okta_network_zone.toml",
    [
        ('data_stream.dataset', 'eq', 'okta.system', D),
        ('event.action', 'eq', 'zone.deactivate', D),
    ],
)

PINS["bpf_probe"] = (
    "rules/linux/persistence_bpf_probe_write_user.toml",
    [
        ('host.os.type', 'eq', 'linux', D),
        ('data_stream.dataset', 'eq', 'system.syslog', D),
        ('process.name', 'eq', 'kernel', D),
        ('message', 'eq', 'bpf_probe_write_user', D),
    ],
)

PINS["flow_log_deletion"] = (
    "rules/integrations/aws/defense_evasion_ec2_flow_log_deletion.toml",
    [
        ('data_stream.dataset', 'eq', 'aws.cloudtrail', D),
        ('event.provider', 'eq', 'ec2.amazonaws.com', D),
        ('event.action', 'eq', 'DeleteFlowLogs', D),
        ('event.outcome', 'eq', 'success', D),
    ],
)

PINS["rpm_install"] = (
    "rules/linux/persistence_rpm_package_installation_from_unusual_parent.toml",
    [
        ('host.os.type', 'eq', 'linux', D),
        ('event.category', 'eq', 'process', D),
        ('event.type', 'eq', 'start', D),
        ('event.action', 'eq', 'exec', D),
        ('process.name', 'eq', 'rpm', D),
        ('process.args', 'eq', '-i', D),
        ('process.args', 'eq', '--install', D),
    ],
)

PINS["credroaming"] = (
    "rules/windows/privilege_escalation_credroaming_ldap.toml",
    [
        ('event.code', 'eq', '5136', D),
        ('host.os.type', 'eq', 'windows', D),
        ('winlog.event_data.AttributeLDAPDisplayName', 'eq', 'msPKIAccountCredentials', D),
        ('winlog.event_data.OperationType', 'eq', '%%14674', D),
        ('winlog.event_data.SubjectUserSid', 'eq', 'S-1-5-18', X),
    ],
)

PINS["gke_reverse_shell"] = (
    "rules/integrations/gcp/execution_gcp_gke_pod_exec_potential_reverse_shell.toml",
    [
        ('data_stream.dataset', 'eq', 'gcp.audit', D),
        ('service.name', 'eq', 'k8s.io', D),
        ('event.outcome', 'eq', 'success', D),
        ('event.type', 'eq', 'start', D),
        ('event.action', 'eq', 'io.k8s.core.v1.pods.exec.create', D),
        ('event.action', 'eq', 'io.k8s.core.v1.pods.exec.get', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*/dev/tcp/*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*/dev/udp/*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*/inet/tcp/*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*0\\>&1*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*IO*Socket*INET*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*TCPSocket.new*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*bash*-i*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*fsockopen*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*import*pty*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*import*socket*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*mkfifo*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*nc*-c*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*nc*-e*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*netcat*-e*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*socat*exec*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*socat*pty*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*socket.socket*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*zsh/net/tcp*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*zsh/net/udp*', D),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*127.0.0.1*', X),
        ('gcp.audit.labels.command.gke.io/command', 'wildcard', '*localhost*', X),
    ],
)

PINS["telnet"] = (
    "rules/network/command_and_control_accepted_default_telnet_port_connection.toml",
    [
        ('data_stream.dataset', 'eq', 'fortinet_fortigate.log', D),
        ('data_stream.dataset', 'eq', 'network_traffic.flow', D),
        ('data_stream.dataset', 'eq', 'panw.panos', D),
        ('data_stream.dataset', 'eq', 'pfsense.log', D),
        ('data_stream.dataset', 'eq', 'sonicwall_firewall.log', D),
        ('data_stream.dataset', 'eq', 'suricata.eve', D),
        ('event.category', 'eq', 'network', D),
        ('event.category', 'eq', 'network_traffic', D),
        ('event.type', 'eq', 'connection', D),
        ('event.type', 'eq', 'denied', X),
        ('event.type', 'eq', 'end', X),
        ('event.action', 'eq', 'Reject', X),
        ('event.action', 'eq', 'client-rst', X),
        ('event.action', 'eq', 'connection-denied', X),
        ('event.action', 'eq', 'connection-end', X),
        ('event.action', 'eq', 'denied', X),
        ('event.action', 'eq', 'deny', X),
        ('event.action', 'eq', 'flow_denied', X),
        ('event.action', 'eq', 'flow_dropped', X),
        ('event.action', 'eq', 'flow_terminated', X),
        ('event.action', 'eq', 'network_flow', X),
        ('event.action', 'eq', 'server-rst', X),
        ('event.action', 'eq', 'timeout', X),
        ('event.action', 'eq', 'netflow_flow', X),
        ('network.packets', 'gt', '1', D),
        ('network.application', 'eq', 'stretchoid-scanning', X),
        ('network.application', 'eq', 'traceroute', X),
        ('destination.port', 'eq', '23', D),
        ('network.protocol', 'eq', 'telnet', D),
        ('network.protocol', 'exists', 'true', X),
        ('data_stream.dataset', 'eq', 'fortinet_fortigate.log', D),
    ],
)

PINS["s3_user_agent"] = (
    "rules/integrations/aws/exfiltration_s3_uncommon_client_user_agent.toml",
    [
        ('data_stream.dataset', 'eq', 'aws.cloudtrail', D),
        ('user_agent.original', 'wildcard', '*S3 Browser*', D),
        ('user_agent.original', 'wildcard', '*Cyberduck*', D),
        ('event.outcome', 'eq', 'success', D),
    ],
)

PINS["global_admin"] = (
    "rules/integrations/azure/persistence_entra_id_global_administrator_role_assigned.toml",
    [
        ('data_stream.dataset', 'eq', 'azure.auditlogs', D),
        ('azure.auditlogs.properties.category', 'eq', 'RoleManagement', D),
        ('azure.auditlogs.operation_name', 'eq', 'Add member to role', D),
        ('azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value',
         'eq',
         '"Global Administrator"',
         D),
    ],
)

PINS["ec2_keypair"] = (
    "rules/integrations/aws/persistence_new_terms_ec2_create_keypair_unusual_source_as.toml",
    [
        ('event.dataset', 'eq', 'aws.cloudtrail', D),
        ('event.provider', 'eq', 'ec2.amazonaws.com', D),
        ('event.action', 'eq', 'CreateKeyPair', D),
        ('event.outcome', 'eq', 'success', D),
        ('source.as.organization.name', 'exists', 'true', D),
        ('source.as.organization.name', 'eq', 'Amazon.com, Inc.', X),
        ('source.as.organization.name', 'wildcard', 'AMAZ*', X),
        ('source.as.organization.name', 'eq', 'Google LLC', X),
        ('source.as.organization.name', 'eq', 'Microsoft Corporation', X),
    ],
)

PINS["inbox_rule"] = (
    "rules/integrations/o365/defense_evasion_exchange_new_inbox_rule_delete_or_move.toml",
    [
        ('data_stream.dataset', 'eq', 'o365.audit', D),
        ('event.action', 'eq', 'New-InboxRule', D),
        ('event.action', 'eq', 'Set-InboxRule', D),
        ('event.outcome', 'eq', 'success', D),
        ('o365.audit.Parameters.BodyContainsWords', 'eq', '\x00', D),
        ('o365.audit.Parameters.WithinSizeRangeMinimum', 'lte', '1023', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*phish*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*hack*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*alert*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*malware*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*security*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*invoice*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*payment*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*wire*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*transfer*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*fraud*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*reset*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*unusual*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*protection*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*login*', D),
        ('o365.audit.Parameters.SubjectContainsWords', 'wildcard', '*suspicious*', D),
        ('o365.audit.Parameters.DeleteMessage', 'eq', 'True', D),
        ('o365.audit.Parameters.MoveToFolder', 'wildcard', '*Deleted*', D),
        ('o365.audit.Parameters.MoveToFolder', 'wildcard', '*Junk*', D),
        ('o365.audit.Parameters.MoveToFolder', 'wildcard', '*RSS*', D),
        ('o365.audit.Parameters.MoveToFolder', 'wildcard', '*Calendar*', D),
    ],
)

PINS["svchost_cmd"] = (
    "rules/windows/execution_command_shell_started_by_svchost.toml",
    [
        ('host.os.type', 'eq', 'windows', D),
        ('event.category', 'eq', 'process', D),
        ('event.type', 'eq', 'start', D),
        ('process.parent.name', 'eq', 'svchost.exe', D),
        ('process.name', 'eq', 'CMD.EXE', D),
        ('process.name', 'eq', 'Cmd.exe', D),
        ('process.name', 'eq', 'cmd.exe', D),
        ('process.command_line', 'exists', 'true', D),
        ('process.command_line', 'eq', '"cmd.exe" /C sc control hptpsmarthealthservice 211', X),
        ('process.args', 'eq', '.\\inetsrv\\iissetup.exe /keygen ', X),
        ('process.args', 'eq', 'C:\\Program', X),
        ('process.args',
         'eq',
         'C:\\Program Files (x86)\\Kaspersky Lab\\NetworkAgent\\klmover.exe',
         X),
        ('process.args', 'eq', 'C:\\Program Files (x86)\\Sentry\\SA\\adluminupdater.exe', X),
        ('process.args', 'eq', 'C:\\Program Files\\WinRAR', X),
        ('process.args', 'eq', 'C:\\Program Files\\WinRAR\\uninstall.exe', X),
        ('process.args', 'eq', 'hpdiags://BatteryStatusTest', X),
        ('process.args', 'eq', 'hptpsmarthealthservice', X),
        ('process.args', 'eq', 'icacls', X),
        ('process.args', 'eq', 'taskkill', X),
        ('process.args', 'eq', 'w32tm', X),
        ('process.args', 'wildcard', '*.BAT*', X),
        ('process.args', 'wildcard', '*.CMD*', X),
        ('process.args', 'wildcard', '*.bat*', X),
        ('process.args', 'wildcard', '*.cmd*', X),
    ],
)

PINS["k8s_denied"] = (
    "rules/integrations/kubernetes/discovery_denied_service_account_request.toml",
    [
        ('data_stream.dataset', 'eq', 'kubernetes.audit_logs', D),
        ('kubernetes.audit.user.username', 'wildcard', 'system:serviceaccount:*', D),
        ('kubernetes.audit.annotations.authorization_k8s_io/decision', 'eq', 'forbid', D),
        ('user_agent.original', 'exists', 'true', D),
        ('user_agent.original', 'wildcard', '*kubernetes/$Format', X),
        ('user_agent.original', 'eq', 'karpenter', X),
        ('user_agent.original', 'wildcard', 'csi-secrets-store*', X),
        ('user_agent.original', 'wildcard', 'OpenAPI-Generator*', X),
        ('user_agent.original', 'wildcard', 'Prometheus*', X),
        ('user_agent.original', 'wildcard', 'dashboard*', X),
        ('user_agent.original', 'wildcard', 'cilium-agent*', X),
    ],
)

PINS["ti_hash"] = (
    "rules/threat_intel/threat_intel_indicator_match_hash.toml",
    [
        ('file.hash.*', 'exists', 'true', D),
        ('process.hash.*', 'exists', 'true', D),
        ('dll.hash.*', 'exists', 'true', D),
    ],
)

PINS["alerts_tactics"] = (
    "rules/_deprecated/multiple_alerts_different_tactics_host.toml",
    [
        ('signal.rule.name', 'exists', 'true', D),
        ('kibana.alert.rule.threat.tactic.id', 'exists', 'true', D),
        ('host.id', 'exists', 'true', D),
        ('host.name', 'exists', 'true', D),
        ('event.dataset', 'exists', 'true', D),
        ('kibana.alert.risk_score', 'gt', '21', D),
        ('kibana.alert.rule.type', 'eq', 'threat_match', X),
        ('kibana.alert.rule.type', 'eq', 'machine_learning', X),
    ],
)

PINS["systemd"] = (
    "rules/linux/persistence_systemd_service_started.toml",
    [
        ('host.os.type', 'eq', 'linux', D),
        ('event.category', 'eq', 'process', D),
        ('event.type', 'eq', 'start', D),
        ('event.action', 'eq', 'exec', D),
        ('process.executable', 'eq', '/usr/bin/systemctl', D),
        ('process.args', 'eq', 'enable', D),
        ('process.args', 'eq', 'reenable', D),
        ('process.args', 'eq', 'start', D),
        ('process.entry_leader.entry_meta.type', 'exists', 'true', D),
        ('process.entry_leader.entry_meta.type', 'eq', 'container', X),
        ('process.entry_leader.entry_meta.type', 'eq', 'init', X),
        ('process.entry_leader.entry_meta.type', 'eq', 'unknown', X),
        ('process.parent.pid', 'eq', '1', X),
        ('process.parent.executable', 'eq', '/bin/adduser', X),
        ('process.parent.executable', 'eq', '/bin/dnf', X),
        ('process.parent.executable', 'eq', '/bin/dnf-automatic', X),
        ('process.parent.executable', 'eq', '/bin/dockerd', X),
        ('process.parent.executable', 'eq', '/bin/dpkg', X),
        ('process.parent.executable', 'eq', '/bin/microdnf', X),
        ('process.parent.executable', 'eq', '/bin/pacman', X),
        ('process.parent.executable', 'eq', '/bin/podman', X),
        ('process.parent.executable', 'eq', '/bin/rpm', X),
        ('process.parent.executable', 'eq', '/bin/snapd', X),
        ('process.parent.executable', 'eq', '/bin/sudo', X),
        ('process.parent.executable', 'eq', '/bin/useradd', X),
        ('process.parent.executable', 'eq', '/bin/yum', X),
        ('process.parent.executable', 'eq', '/usr/bin/dnf', X),
        ('process.parent.executable', 'eq', '/usr/bin/dnf-automatic', X),
        ('process.parent.executable', 'eq', '/usr/bin/dockerd', X),
        ('process.parent.executable', 'eq', '/usr/bin/dpkg', X),
        ('process.parent.executable', 'eq', '/usr/bin/microdnf', X),
        ('process.parent.executable', 'eq', '/usr/bin/pacman', X),
        ('process.parent.executable', 'eq', '/usr/bin/podman', X),
        ('process.parent.executable', 'eq', '/usr/bin/rpm', X),
        ('process.parent.executable', 'eq', '/usr/bin/snapd', X),
        ('process.parent.executable', 'eq', '/usr/bin/sudo', X),
        ('process.parent.executable', 'eq', '/usr/bin/yum', X),
        ('process.parent.executable', 'eq', '/usr/sbin/adduser', X),
        ('process.parent.executable', 'eq', '/usr/sbin/invoke-rc.d', X),
        ('process.parent.executable', 'eq', '/usr/sbin/useradd', X),
        ('process.parent.executable', 'wildcard', '/var/lib/dpkg/*', X),
        ('process.parent.executable', 'eq', '/opt/datadog-agent/embedded/bin/installer', X),
        ('process.parent.executable', 'wildcard', '/opt/saltstack/salt/bin/python*', X),
        ('process.parent.executable', 'eq', '/opt/puppetlabs/puppet/bin/puppet', X),
        ('process.parent.executable', 'eq', '/opt/splunkforwarder/bin/splunk', X),
        ('process.parent.executable', 'eq', '/opt/puppetlabs/puppet/bin/ruby', X),
        ('process.parent.executable', 'eq', '/opt/kaspersky/kesl/shared/kesl', X),
        ('process.parent.executable', 'eq', '/usr/local/bin/cloudflared', X),
        ('process.parent.executable', 'eq', '/usr/bin/puppet', X),
        ('process.parent.executable', 'eq', '/opt/sentinelone/bin/sentinelctl', X),
        ('process.args_count', 'gte', '5', X),
        ('process.parent.command_line', 'wildcard', '*ansible*', X),
    ],
)

PINS["syn_scan"] = (
    "rules/network/discovery_potential_syn_port_scan_detected.toml",
    [
        ('event.action', 'eq', 'network_flow', D),
        ('event.action', 'eq', 'flow_started', D),
        ('destination.port', 'exists', 'true', D),
        ('network.packets', 'lte', '2', D),
        ('source.ip', 'cidr', '10.0.0.0/8', D),
        ('source.ip', 'cidr', '172.16.0.0/12', D),
        ('source.ip', 'cidr', '192.168.0.0/16', D),
    ],
)

PINS["lsass_handle"] = (
    "rules/windows/credential_access_lsass_memdump_handle_access.toml",
    [
        ('host.os.type', 'eq', 'windows', D),
        ('event.code', 'eq', '4656', D),
        ('winlog.event_data.AccessMask', 'eq', '0x1fffff', D),
        ('winlog.event_data.AccessMask', 'eq', '0x1010', D),
        ('winlog.event_data.AccessMask', 'eq', '0x120089', D),
        ('winlog.event_data.AccessMask', 'eq', '0x1F3FFF', D),
        ('winlog.event_data.AccessMaskDescription', 'eq', 'READ_CONTROL', D),
        ('winlog.event_data.AccessMaskDescription', 'eq', 'Read from process memory', D),
        ('winlog.event_data.ObjectType', 'eq', 'Process', D),
        ('winlog.event_data.ObjectName', 'wildcard', '*\\Windows\\System32\\lsass.exe', D),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\wbem\\WmiPrvSE.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\SysWOW64\\wbem\\WmiPrvSE.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\dllhost.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\svchost.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\msiexec.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\explorer.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\Sysmon64.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\BTPass\\x64\\BTPassSvc.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\Sysmon.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\RtkAudUService64.exe', X),
        ('winlog.event_data.ProcessName', 'eq', 'C:\\Windows\\System32\\RtkAudUService64.exe', X),
        ('winlog.event_data.ProcessName',
         'wildcard',
         'C:\\Windows\\System32\\DriverStore\\FileRepository\\fn.inf_amd64_*\\driver\\tphkload.exe',
         X),
        ('winlog.event_data.ProcessName',
         'wildcard',
         'C:\\Program Files (x86)\\*.exe',
         X,
         'filters'),
        ('winlog.event_data.ProcessName', 'wildcard', 'C:\\Program Files\\*.exe', X, 'filters'),
        ('winlog.event_data.ProcessName',
         'wildcard',
         '?:\\ProgramData\\Microsoft\\Windows Defender\\*.exe',
         X,
         'filters'),
    ],
)

PINS["sts_caller"] = (
    "rules/integrations/aws/"
    "discovery_new_terms_sts_getcalleridentity_ec2_role_new_source_as.toml",
    [
        ('event.dataset', 'eq', 'aws.cloudtrail', D),
        ('event.provider', 'eq', 'sts.amazonaws.com', D),
        ('event.action', 'eq', 'GetCallerIdentity', D),
        ('event.outcome', 'eq', 'success', D),
        ('aws.cloudtrail.user_identity.type', 'eq', 'AssumedRole', D),
        ('user.id', 'wildcard', '*:i-*', D),
        ('source.as.organization.name', 'exists', 'true', D),
        ('source.as.organization.name', 'wildcard', 'AMAZON*', X),
        ('source.as.organization.name', 'wildcard', 'Amazon*', X),
        ('source.as.organization.name', 'wildcard', 'Google*', X),
        ('source.as.organization.name', 'eq', 'MongoDB, Inc.', X),
    ],
)

PINS["accounts_discovery"] = (
    "rules_building_block/discovery_of_accounts_or_groups_via_builtin_tools.toml",
    [
        ('event.category', 'eq', 'process', D),
        ('host.os.type', 'eq', 'linux', D),
        ('host.os.type', 'eq', 'macos', D),
        ('event.action', 'eq', 'exec', D),
        ('process.name', 'eq', 'dscl', D),
        ('process.args', 'wildcard', '/Active*Directory/*', D),
        ('process.args', 'wildcard', '/Users*', D),
        ('process.args', 'wildcard', '/Groups*', D),
        ('process.name', 'eq', 'dscacheutil', D),
        ('process.args', 'eq', 'user', D),
        ('process.args', 'eq', 'group', D),
        ('process.name', 'eq', 'getent', D),
        ('process.args', 'eq', 'passwd', D),
        ('process.args', 'eq', 'group', D),
        ('process.args_count', 'gte', '3', D),
        ('process.parent.executable', 'eq', '/usr/lib/ocf/resource.d/cyanconnode/mysql', X),
        ('process.parent.executable', 'wildcard', '/snap/*', X),
        ('process.parent.executable', 'eq', '/usr/bin/check_mk_agent', X),
        ('process.parent.executable', 'eq', '/usr/bin/cloudflared', X),
        ('process.parent.executable', 'wildcard', '/opt/puppetlabs/*', X),
        ('process.parent.executable', 'wildcard', '/var/lib/snapd/*', X),
        ('process.parent.executable', 'eq', '/usr/lib/google/guest_agent/core_plugin', X),
        ('process.parent.executable', 'eq', '/opt/rudder/bin/cf-agent', X),
        ('process.parent.executable', 'eq', '/opt/NinjaRMMAgent/programfiles/ninjarmm-linagent', X),
        ('process.working_directory', 'wildcard', '/var/snap/*', X),
        ('process.working_directory',
         'eq',
         '/Applications/NinjaRMMAgent/programfiles/ninjarmm-macagent',
         X),
        ('process.working_directory', 'eq', '/var/lib/nanitor/agent', X),
        ('process.working_directory', 'eq', '/var/ossec', X),
        ('process.working_directory', 'wildcard', '/opt/rapid7/*', X),
        ('process.working_directory', 'eq', '/opt/Tanium/TaniumClient', X),
    ],
)

PINS["runbook_deleted"] = (
    "rules/integrations/azure/defense_evasion_automation_runbook_deleted.toml",
    [
        ('data_stream.dataset', 'eq', 'azure.activitylogs', D),
        ('azure.activitylogs.operation_name',
         'eq',
         'MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/DELETE',
         D),
        ('event.outcome', 'eq', 'Success', D),
        ('event.outcome', 'eq', 'success', D),
    ],
)


@pytest.mark.parametrize("name", sorted(PINS))
def test_a_real_kql_rule_gives_its_hand_checked_predicates(elastic_root, name):
    path, expected = PINS[name]
    rule = read(elastic_root, path)
    assert rule.language == "kuery"
    assert rule.parsed, rule.unparsed_reason
    assert rows(rule) == expected


def test_at_least_twenty_kql_rules_are_pinned():
    assert len(PINS) >= 20


# --- the other rule types and languages --------------------------------------------------

LUCENE_RULE = "rules/_deprecated/privilege_escalation_setgid_bit_set_via_chmod.toml"


def test_the_one_lucene_rule_is_read_whole(elastic_root):
    rule = read(elastic_root, LUCENE_RULE)
    assert (rule.language, rule.rule_type, rule.parsed) == ("lucene", "query", True)
    assert rows(rule) == [
        ("event.category", "eq", "process", D),
        ("event.type", "eq", "start", D),
        ("event.type", "eq", "process_started", D),
        ("process.name", "eq", "chmod", D),
        ("process.args", "eq", "g+s", D),
        ("process.args", "regex_match", "2[0-9]{3}", D),
        ("user.name", "eq", "root", X),
    ]


def test_a_deprecated_rule_is_flagged_with_its_metadata(elastic_root):
    rule = read(elastic_root, LUCENE_RULE)
    assert rule.deprecated and rule.status == "deprecated"
    assert rule.native_id == "3a86e085-094c-412d-97ff-2439731e59cb"
    assert rule.title == "Setgid Bit Set via chmod"
    assert rule.extra["deprecation_date"] == "2021-03-16"
    # T1548 lists sub-technique T1548.001: the sub-technique is tagged, not the parent.
    assert rule.techniques == ["T1548.001"]
    assert rule.tactics == ["privilege-escalation", "persistence"]


def test_a_threshold_rule_groups_by_its_fields_instead_of_testing_them(elastic_root):
    rule = read(elastic_root, "rules/_deprecated/multiple_alerts_different_tactics_host.toml")
    assert rule.rule_type == "threshold"
    assert rule.grouping_fields == ["host.id", "host.name"]
    assert rule.extra["threshold"] == {
        "value": 2,
        "cardinality": [{"field": "kibana.alert.rule.threat.tactic.id", "value": 3}],
    }
    assert not {"host.id", "host.name"} & {
        p.vendor_field for p in rule.predicates if p.operator != "exists"}


def test_a_new_terms_rule_groups_by_its_new_terms_fields(elastic_root):
    rule = read(elastic_root, "rules/windows/execution_command_shell_started_by_svchost.toml")
    assert rule.rule_type == "new_terms"
    assert rule.grouping_fields == ["process.command_line"]
    assert rule.extra["new_terms_history_window_start"] == "now-5d"
    assert rule.parsed and len(rule.predicates) == 24


def test_a_machine_learning_rule_has_no_predicates_but_keeps_its_techniques(elastic_root):
    rule = read(elastic_root, "rules/ml/command_and_control_ml_dns_tunneling.toml")
    assert (rule.rule_type, rule.language) == ("machine_learning", None)
    assert rule.parsed and rule.predicates == [] and rule.unparsed_reason is None
    assert rule.extra["machine_learning_job_id"] == ["dns_tunneling_ea"]
    assert rule.extra["anomaly_threshold"] == 50
    assert rule.techniques == ["T1071.004", "T1572", "T1041"]
    assert rule.tactics == ["command-and-control", "exfiltration"]
    assert rule.events == []


def test_a_threat_match_rule_tests_its_query_and_keeps_the_indicator_side(elastic_root):
    rule = read(elastic_root, "rules/threat_intel/threat_intel_indicator_match_hash.toml")
    assert rule.rule_type == "threat_match" and rule.parsed
    assert [p.vendor_field for p in rule.predicates] == ["file.hash.*", "process.hash.*",
                                                          "dll.hash.*"]
    assert rule.extra["threat_index"] == ["filebeat-*", "logs-ti_*"]
    assert "threat.indicator.file.hash.*:*" in rule.extra["threat_query"]
    first = rule.extra["threat_mapping"][0]["entries"][0]
    assert first == {"field": "file.hash.md5", "type": "mapping",
                     "value": "threat.indicator.file.hash.md5"}


def test_kibana_filters_add_predicates_labelled_filters(elastic_root):
    rule = read(elastic_root, "rules/windows/credential_access_lsass_memdump_handle_access.toml")
    assert [r for r in rows(rule) if len(r) == 5] == [
        ("winlog.event_data.ProcessName", "wildcard", "C:\\Program Files (x86)\\*.exe", X,
         "filters"),
        ("winlog.event_data.ProcessName", "wildcard", "C:\\Program Files\\*.exe", X, "filters"),
        ("winlog.event_data.ProcessName", "wildcard",
         "?:\\ProgramData\\Microsoft\\Windows Defender\\*.exe", X, "filters"),
    ]


def test_a_record_carries_the_rules_metadata(elastic_root):
    rule = read(elastic_root, "rules/ml/command_and_control_ml_dns_tunneling.toml")
    assert rule.id == "elastic:91f02f01-969f-4167-8f66-07827ac3bdd9"
    assert (rule.title, rule.level, rule.status) == ("DNS Tunneling", "low", "production")
    assert (rule.date, rule.modified) == ("2020-03-25", "2026-07-27")
    assert rule.author == "Elastic" and rule.license == "Elastic License v2"
    assert rule.extra["risk_score"] == 21 and rule.extra["building_block"] is False
    assert rule.data_sources == ["Elastic Defend", "Network Packet Capture"]
    assert rule.url == ("https://github.com/elastic/detection-rules/blob/main/"
                        "rules/ml/command_and_control_ml_dns_tunneling.toml")
    assert rule.falsepositives[0].startswith("DNS domains that use large numbers")
    assert rule.raw.startswith("[metadata]")


def test_an_unquoted_value_across_lines_is_one_value_as_kibana_reads_it(elastic_root):
    # The rule forgot an `or` between two paths; KQL joins them into one value.
    rule = read(elastic_root, "rules/linux/"
                "credential_access_kubernetes_and_cloud_credential_paths_via_process_args.toml")
    values = [p.value for p in rule.predicates]
    assert ("*confluence/conf/server.xml\n  */.config/gcloud/application_default_credentials.json"
            in values)


def test_every_kuery_and_lucene_rule_of_the_corpus_parses_whole(elastic_root):
    from rulecat.index.readers.elastic import elastic_rule_files

    failed = []
    for path in elastic_rule_files(elastic_root):
        text = path.read_text(encoding="utf-8")
        if 'language = "kuery"' not in text and 'language = "lucene"' not in text:
            continue
        rule = read(elastic_root, path.relative_to(elastic_root).as_posix())
        if not rule.parsed:
            failed.append((rule.path, rule.unparsed_reason))
    assert failed == []
