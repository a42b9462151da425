r"""Predicates of real SigmaHQ rules, pinned by hand.

Each expected list was written from the rule file itself (its detection and condition),
following DESIGN.md's operator table: `contains` -> `*v*`, `endswith` -> `*v`, plain ->
`eq`, keywords -> `match`, `not` -> `exclude`, value-changing modifiers in `transforms`
with the value as written. A tuple is
(selection, vendor_field, operator, value, polarity, transforms).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rulecat.index.readers.sigma import read_sigma_file

D, X = "detect", "exclude"


def _predicates(sigma_corpus: Path, rel: str) -> list[tuple]:
    rules, rejections = read_sigma_file("sigma", sigma_corpus, sigma_corpus / rel)
    assert rejections == []
    assert len(rules) == 1
    rule = rules[0]
    assert rule.parsed, rule.unparsed_reason
    return [
        (p.selection, p.vendor_field, p.operator, p.value, p.polarity, tuple(p.transforms))
        for p in rule.predicates
    ]


def _same(actual: list[tuple], expected: list[tuple]) -> None:
    """Same predicates, each exactly once (order is the walk's, not pinned)."""
    assert Counter(actual) == Counter(expected)
    assert len(actual) == len(set(actual)), "duplicate predicates"


# --- the four T1559.001 rules ------------------------------------------------------------


def test_cmstp_process_access_tests_one_call_trace_substring(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/windows/process_access/proc_access_win_cmstp_execution_by_access.yml"
    )
    _same(got, [("selection", "CallTrace", "wildcard", "*cmlua.dll*", D, ())])


def test_regsvr32_dns_query_tests_the_image_suffix(sigma_corpus):
    got = _predicates(sigma_corpus, "rules/windows/dns_query/dns_query_win_regsvr32_dns_query.yml")
    _same(got, [("selection", "Image", "wildcard", r"*\regsvr32.exe", D, ())])


def test_regsvr32_network_activity_tests_initiated_and_image(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/network_connection/net_connection_win_regsvr32_network_activity.yml",
    )
    _same(
        got,
        [
            ("selection", "Initiated", "eq", "true", D, ()),
            ("selection", "Image", "wildcard", r"*\regsvr32.exe", D, ()),
        ],
    )


def test_dllhost_non_local_ip_excludes_every_cidr_filter(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules-threat-hunting/windows/network_connection/"
        "net_connection_win_dllhost_non_local_ip.yml",
    )
    local = ["::1/128", "10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
             "169.254.0.0/16", "fc00::/7", "fe80::/10"]
    ms = ["20.184.0.0/13", "20.192.0.0/10", "23.72.0.0/13", "51.10.0.0/15", "51.103.0.0/16",
          "51.104.0.0/15", "52.224.0.0/11", "150.171.0.0/19", "204.79.197.0/24"]
    _same(
        got,
        [
            ("selection", "Image", "wildcard", r"*\dllhost.exe", D, ()),
            ("selection", "Initiated", "eq", "true", D, ()),
        ]
        + [("filter_main_local_ranges", "DestinationIp", "cidr", c, X, ()) for c in local]
        + [("filter_main_msrange", "DestinationIp", "cidr", c, X, ()) for c in ms],
    )


# --- modifiers ---------------------------------------------------------------------------


def test_lodctr_windash_keeps_the_dash_as_written(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/process_creation/proc_creation_win_lodctr_performance_counter_tampering.yml",
    )
    _same(
        got,
        [
            ("selection_img", "Image", "wildcard", r"*\lodctr.exe", D, ()),
            ("selection_img", "OriginalFileName", "eq", "LODCTR.EXE", D, ()),
            ("selection_cli", "CommandLine", "wildcard", "* -r*", D, ("windash",)),
        ],
    )


def test_wmi_encoded_scripts_keep_base64offset_values_unencoded(sigma_corpus):
    got = _predicates(sigma_corpus, "rules/windows/wmi_event/sysmon_wmi_susp_encoded_scripts.yml")
    _same(
        got,
        [
            ("selection_destination", "Destination", "wildcard", v, D, ("base64offset",))
            for v in [
                "*WriteProcessMemory*",
                "*This program cannot be run in DOS mode*",
                "*This program must be run under Win32*",
            ]
        ],
    )


def test_frombase64string_reads_a_list_of_maps(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/process_creation/proc_creation_win_powershell_base64_frombase64string.yml",
    )
    _same(
        got,
        [("selection", "CommandLine", "wildcard", "*::FromBase64String*", D, ("base64offset",))]
        + [
            ("selection", "CommandLine", "wildcard", f"*{v}*", D, ())
            for v in [
                "OgA6AEYAcgBvAG0AQgBhAHMAZQA2ADQAUwB0AHIAaQBuAGcA",
                "oAOgBGAHIAbwBtAEIAYQBzAGUANgA0AFMAdAByAGkAbgBnA",
                "6ADoARgByAG8AbQBCAGEAcwBlADYANABTAHQAcgBpAG4AZw",
            ]
        ],
    )


def test_cve_2025_53770_keeps_wide_base64offset_and_base64_as_written(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules-emerging-threats/2025/Exploits/CVE-2025-53770/"
        "proc_creation_win_exploit_cve_2025_53770_indicators.yml",
    )
    wide64 = ("wide", "base64offset")
    paths = [
        r":\PROGRA~1\COMMON~1\MICROS~1\WEBSER~1\15\TEMPLATE\LAYOUTS",
        r":\PROGRA~1\COMMON~1\MICROS~1\WEBSER~1\16\TEMPLATE\LAYOUTS",
        r":\Program Files\Common Files\Microsoft Shared\Web Server Extensions\15\TEMPLATE\LAYOUTS",
        r":\Program Files\Common Files\Microsoft Shared\Web Server Extensions\16\TEMPLATE\LAYOUTS",
    ]
    _same(
        got,
        [
            ("selection_img", "ParentImage", "wildcard", r"*\w3wp.exe", D, ()),
            ("selection_encoded_aspx", "CommandLine", "wildcard", "*spinstall0.aspx*", D, wide64),
            ("selection_encoded_aspx", "CommandLine", "wildcard", "*spinstall0.aspx*", D,
             ("base64",)),
        ]
        + [("selection_encoded_path", "CommandLine", "wildcard", f"*{p}*", D, wide64)
           for p in paths]
        + [
            ("selection_ioc", "CommandLine", "wildcard",
             "*-EncodedCommand JABiAGEAcwBlADYANABTAHQAcgBpAG4AZwAgAD0*", D, ()),
            ("selection_ioc", "CommandLine", "wildcard",
             r"*TEMPLATE\LAYOUTS\spinstall0.aspx*", D, ()),
        ],
    )


def test_ipfs_credential_harvest_regex_is_case_sensitive_pattern_as_written(sigma_corpus):
    rel = "rules/web/proxy_generic/proxy_susp_ipfs_cred_harvest.yml"
    got = _predicates(sigma_corpus, rel)
    _same(
        got,
        [("selection", "cs-uri", "regex_match", r"(?i)(ipfs\.io/|ipfs\.io\s).+\..+@.+\.[a-z]+",
          D, ())],
    )
    rule = read_sigma_file("sigma", sigma_corpus, sigma_corpus / rel)[0][0]
    assert rule.predicates[0].case_sensitive is True


def test_registry_hive_creation_keeps_the_regex_i_flag_and_excludes_filters(sigma_corpus):
    rel = "rules/windows/file/file_event/file_event_win_susp_registry_hive_file_creation.yml"
    got = _predicates(sigma_corpus, rel)
    _same(
        got,
        [
            ("selection", "TargetFilename", "wildcard", r"*\UsrClass.dat", D, ()),
            ("selection", "TargetFilename", "wildcard", r"*\NTUSER.DAT", D, ()),
            ("filter_main_usrclass", "TargetFilename", "wildcard",
             r"*\AppData\Local\Microsoft\Windows\UsrClass.dat", X, ()),
            ("filter_main_ntuser", "TargetFilename", "regex_match",
             r"^C:\\Users\\[^\\]+\\NTUSER\.DAT$", X, ("re:i",)),
            ("filter_main_system", "TargetFilename", "wildcard", "C:\\Windows\\System32\\config\\*",
             X, ()),
            ("filter_main_system", "TargetFilename", "wildcard", "C:\\Windows\\SYSVOL\\*", X, ()),
            ("filter_main_system", "TargetFilename", "wildcard",
             "C:\\Windows\\ServiceProfiles\\*", X, ()),
        ],
    )
    rule = read_sigma_file("sigma", sigma_corpus, sigma_corpus / rel)[0][0]
    regex = [p for p in rule.predicates if p.operator == "regex_match"]
    assert [p.case_sensitive for p in regex] == [False]


def test_delete_own_image_compares_two_fields(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/windows/file/file_delete/file_delete_win_delete_own_image.yml"
    )
    _same(got, [("selection", "TargetFilename", "fieldref", "Image", D, ())])


def test_hotfix_enum_all_modifier_gives_one_predicate_per_value(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/windows/powershell/powershell_script/posh_ps_hotfix_enum.yml"
    )
    _same(
        got,
        [
            ("selection", "ScriptBlockText", "wildcard", "*Win32_QuickFixEngineering*", D,
             ("all",)),
            ("selection", "ScriptBlockText", "wildcard", "*HotFixID*", D, ("all",)),
        ],
    )


def test_userdomain_enumeration_keeps_the_expand_placeholder(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules-placeholder/windows/process_creation/"
        "proc_creation_win_userdomain_variable_enumeration.yml",
    )
    _same(
        got,
        [
            ("selection", "CommandLine", "wildcard", "*echo *", D, ()),
            ("selection", "CommandLine", "wildcard", "*%userdomain%*", D, ("expand",)),
        ],
    )


def test_baby_shark_url_resolves_the_escaped_question_mark(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/web/proxy_generic/proxy_hktl_baby_shark_default_agent_url.yml"
    )
    _same(got, [("selection", "c-uri", "wildcard", "*momyshark?key=*", D, ())])


def test_gpo_file_access_resolves_a_double_backslash(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/windows/file/file_access/file_access_win_susp_gpo_files.yml"
    )
    ends = ["audit.csv", "Files.xml", "GptTmpl.inf", "groups.xml", "Registry.pol",
            "Registry.xml", "scheduledtasks.xml", "scripts.ini", "services.xml"]
    starts = ["C:\\Program Files (x86)\\", "C:\\Program Files\\", "C:\\Windows\\system32\\",
              "C:\\Windows\\SysWOW64\\"]
    _same(
        got,
        [
            ("selection", "FileName", "wildcard", "\\*", D, ()),
            ("selection", "FileName", "wildcard", "*\\sysvol\\*", D, ("all",)),
            ("selection", "FileName", "wildcard", "*\\Policies\\*", D, ("all",)),
        ]
        + [("selection", "FileName", "wildcard", f"*{e}", D, ()) for e in ends]
        + [("filter_main_generic", "Image", "wildcard", f"{s}*", X, ()) for s in starts]
        + [("filter_main_explorer", "Image", "eq", "C:\\Windows\\explorer.exe", X, ())],
    )


# --- null, empty, numbers, keywords ------------------------------------------------------


def test_bucket_deleted_null_error_code_is_an_absent_field(sigma_corpus):
    got = _predicates(sigma_corpus, "rules/cloud/aws/cloudtrail/aws_cloudtrail_bucket_deleted.yml")
    _same(
        got,
        [
            ("selection_event_name", "eventName", "eq", "DeleteBucket", D, ()),
            ("selection_status_success", "errorCode", "eq", "Success", D, ()),
            ("selection_status_null", "errorCode", "exists", "false", D, ()),
        ],
    )


def test_gup_execution_not_1_of_filter_star_excludes_all_filters(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/process_creation/proc_creation_win_gup_arbitrary_binary_execution.yml",
    )
    _same(
        got,
        [
            ("selection", "ParentImage", "wildcard", r"*\gup.exe", D, ()),
            ("selection", "Image", "wildcard", r"*\explorer.exe", D, ()),
            ("filter", "Image", "wildcard", r"*\explorer.exe", X, ()),
            ("filter", "CommandLine", "wildcard", r"*\Notepad++\notepad++.exe*", X, ()),
            ("filter_parent", "ParentImage", "wildcard", "*\\Notepad++\\updater\\*", X, ()),
            ("filter_null", "CommandLine", "exists", "false", X, ()),
        ],
    )


def test_rundll32_uncommon_extension_excludes_null_empty_and_both_filter_groups(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/process_creation/proc_creation_win_rundll32_uncommon_dll_extension.yml",
    )
    contains = [".cpl ", ".cpl,", '.cpl"', ".cpl'", ".dll ", ".dll,", '.dll"', ".dll'",
                ".inf ", ".inf,", '.inf"', ".inf'"]
    edge = [":\\Users\\", "\\AppData\\Local\\Microsoft\\EdgeUpdate\\Install\\{", "\\EDGEMITMP_",
            ".tmp\\setup.exe", "--install-archive=", "--previous-version=",
            "--msedgewebview --verbose-logging --do-not-launch-msedge --user-level"]
    zzz = [":\\Windows\\Installer\\", ".tmp", "zzzzInvokeManagedCustomActionOutOfProc"]
    _same(
        got,
        [
            ("selection", "Image", "wildcard", r"*\rundll32.exe", D, ()),
            ("selection", "OriginalFileName", "eq", "RUNDLL32.EXE", D, ()),
            ("filter_main_null", "CommandLine", "exists", "false", X, ()),
            ("filter_main_empty", "CommandLine", "eq", "", X, ()),
        ]
        + [("filter_main_known_extension", "CommandLine", "wildcard", f"*{v}*", X, ())
           for v in contains]
        + [("filter_main_known_extension", "CommandLine", "wildcard", f"*{v}", X, ())
           for v in [".cpl", ".dll", ".inf"]]
        + [("filter_main_localserver", "CommandLine", "wildcard", "* -localserver *", X, ())]
        + [("filter_main_zzzzInvokeManagedCustomActionOutOfProc", "ParentImage", "wildcard",
            r"*\msiexec.exe", X, ())]
        + [("filter_main_zzzzInvokeManagedCustomActionOutOfProc", "CommandLine", "wildcard",
            f"*{v}*", X, ("all",)) for v in zzz]
        + [("filter_optional_EdgeUpdate", "ParentCommandLine", "wildcard", f"*{v}*", X,
            ("all",)) for v in edge],
    )


def test_newcredentials_logon_tests_numbers_as_text(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/builtin/security/account_management/"
        "win_security_susp_logon_newcredentials.yml",
    )
    _same(
        got,
        [
            ("selection", "EventID", "eq", "4624", D, ()),
            ("selection", "LogonType", "eq", "9", D, ()),
        ],
    )


def test_symlink_etc_passwd_keywords_are_field_less_matches(sigma_corpus):
    got = _predicates(sigma_corpus, "rules/linux/builtin/lnx_symlink_etc_passwd.yml")
    _same(
        got,
        [
            ("keywords", None, "match", "ln -s -f /etc/passwd", D, ()),
            ("keywords", None, "match", "ln -s /etc/passwd", D, ()),
        ],
    )


def test_cisco_input_capture_keywords_give_one_predicate_each(sigma_corpus):
    got = _predicates(sigma_corpus, "rules/network/cisco/aaa/cisco_cli_input_capture.yml")
    _same(
        got,
        [("keywords", None, "match", v, D, ())
         for v in ["show history", "show history all", "show logging"]],
    )


# --- parentheses and precedence ----------------------------------------------------------


def test_macos_scanning_parenthesised_not_only_negates_the_filter(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/macos/process_creation/proc_creation_macos_network_service_scanning.yml",
    )
    _same(
        got,
        [
            ("selection_1", "Image", "wildcard", "*/nc", D, ()),
            ("selection_1", "Image", "wildcard", "*/netcat", D, ()),
            ("selection_2", "Image", "wildcard", "*/nmap", D, ()),
            ("selection_2", "Image", "wildcard", "*/telnet", D, ()),
            ("filter", "CommandLine", "wildcard", "*l*", X, ()),
        ],
    )


def test_calc_uncommon_exec_negates_inside_parentheses(sigma_corpus):
    got = _predicates(
        sigma_corpus, "rules/windows/process_creation/proc_creation_win_calc_uncommon_exec.yml"
    )
    _same(
        got,
        [
            ("selection_1", "CommandLine", "wildcard", "*\\calc.exe *", D, ()),
            ("selection_2", "Image", "wildcard", r"*\calc.exe", D, ()),
        ]
        + [("filter_main_known_locations", "Image", "wildcard", f"*{v}*", X, ())
           for v in [":\\Windows\\System32\\", ":\\Windows\\SysWOW64\\", ":\\Windows\\WinSxS\\"]],
    )


def test_vsjitdebugger_not_of_an_or_group_excludes_both_and_keeps_inner_wildcard(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules/windows/process_creation/proc_creation_win_susp_use_of_vsjitdebugger_bin.yml",
    )
    _same(
        got,
        [
            ("selection", "ParentImage", "wildcard", r"*\vsjitdebugger.exe", D, ()),
            ("reduction1", "Image", "wildcard", r"*\vsimmersiveactivatehelper*.exe", X, ()),
            ("reduction2", "Image", "wildcard", r"*\devenv.exe", X, ()),
        ],
    )


def test_cve_2025_55182_nested_groups_dedupe_a_twice_used_selection(sigma_corpus):
    got = _predicates(
        sigma_corpus,
        "rules-emerging-threats/2025/Exploits/CVE-2025-55182/"
        "proc_creation_lnx_exploit_cve_2025_55182_susp_nodejs_server_child_process.yml",
    )
    parent_cli = ["--experimental-https", "--experimental-next-config-strip-types",
                  "/node_modules/next", "next dev", "next start", "node_modules/.bin",
                  "react-scripts start", "start-server.js"]
    child_img = ["/busybox", "/cat", "/curl", "/dash", "/dig", "/head", "/id", "/ifconfig",
                 "/ip", "/java", "/less", "/lua", "/more", "/nc", "/ncat", "/netcat",
                 "/netstat", "/nslookup", "/perl", "/ping", "/python", "/python2", "/ruby",
                 "/socat", "/tail", "/wget", "/whoami"]
    child_cli = ["/dev/tcp/", "/dev/udp/", "/etc/hosts", "/etc/passwd", "/etc/shadow",
                 "base64", "cat ", "curl", "dig", "ifconfig", "IO::Socket::INET", "java",
                 "less ", "lua", "mkfifo ", "more", "nc ", "ncat", "netcat", "netstat",
                 "nslookup", "perl", "php", "ping", "ps -ef", "ps aux", "python", "rcat",
                 "ruby", "sh -i 2>&1", "-c id", "socat", "uname", "wget", "whoami"]
    _same(
        got,
        [("selection_parent", "ParentImage", "wildcard", "*/node", D, ())]
        + [("selection_parent", "ParentCommandLine", "wildcard", f"*{v}*", D, ())
           for v in parent_cli]
        + [("selection_generic_child_img", "Image", "wildcard", f"*{v}", D, ())
           for v in child_img]
        + [("selection_generic_child_img", "Image", "wildcard", "*/python*", D, ())]
        + [("selection_generic_child_cli", "CommandLine", "wildcard", f"*{v}*", D, ())
           for v in child_cli]
        + [
            ("selection_specific_sh", "Image", "wildcard", "*/sh", D, ()),
            ("filter_main_default_shell_flag", "Image", "wildcard", "*-c", X, ()),
            ("selection_specific_cli", "Image", "wildcard", "*-c", D, ()),
        ],
    )


@pytest.mark.parametrize(
    "rel",
    [
        "rules/windows/process_creation/proc_creation_win_susp_use_of_vsjitdebugger_bin.yml",
        "rules/windows/process_creation/proc_creation_win_rundll32_uncommon_dll_extension.yml",
    ],
)
def test_plain_sigma_strings_compare_case_insensitively(sigma_corpus, rel):
    rule = read_sigma_file("sigma", sigma_corpus, sigma_corpus / rel)[0][0]
    assert rule.predicates and not any(p.case_sensitive for p in rule.predicates)


# --- hand-written rules: every condition and modifier form -------------------------------

FILES = Path(__file__).parent / "files" / "sigma"


def _file_predicates(name: str, with_case: bool = False) -> list[tuple]:
    rules, rejections = read_sigma_file("acme", FILES, FILES / name)
    assert rejections == []
    assert len(rules) == 1
    assert rules[0].parsed, rules[0].unparsed_reason
    return [
        (p.selection, p.vendor_field, p.operator, p.value, p.polarity, tuple(p.transforms))
        + ((p.case_sensitive,) if with_case else ())
        for p in rules[0].predicates
    ]


def test_nested_nots_flip_polarity_once_per_negation():
    _same(
        _file_predicates("cond_nested_not.yml"),
        [
            ("sel_a", "Image", "wildcard", r"*\a.exe", X, ()),
            ("sel_b", "CommandLine", "wildcard", "*b*", D, ()),
            ("sel_c", "User", "eq", "c", X, ()),
        ],
    )


def test_all_of_them_reads_every_selection():
    _same(
        _file_predicates("cond_all_of_them.yml"),
        [
            ("selection_img", "Image", "wildcard", r"*\x.exe", D, ()),
            ("selection_cli", "CommandLine", "wildcard", "* /y*", D, ()),
        ],
    )


def test_one_of_them_reads_every_selection():
    _same(
        _file_predicates("cond_1_of_them.yml"),
        [
            ("first", "Image", "wildcard", r"*\one.exe", D, ()),
            ("second", "Image", "wildcard", r"*\two.exe", D, ()),
        ],
    )


def test_not_1_of_filter_star_excludes_while_a_plain_filter_name_still_detects():
    _same(
        _file_predicates("cond_not_1_of_filter.yml"),
        [
            ("selection", "Image", "wildcard", r"*\tool.exe", D, ()),
            ("filter_kept", "User", "eq", "SYSTEM", D, ()),
            ("filter_main_path", "Image", "wildcard", "C:\\Program Files\\*", X, ()),
            ("filter_optional_parent", "ParentImage", "wildcard", r"*\explorer.exe", X, ()),
        ],
    )


def test_not_binds_tighter_than_and_and_or():
    _same(
        _file_predicates("cond_precedence.yml"),
        [
            ("sel_a", "A", "eq", "a", X, ()),
            ("sel_b", "B", "eq", "b", D, ()),
            ("sel_c", "C", "eq", "c", X, ()),
            ("sel_d", "D", "eq", "d", D, ()),
        ],
    )


def test_unused_selections_give_nothing_and_condition_lists_are_merged_without_duplicates():
    _same(
        _file_predicates("cond_unused_and_list.yml"),
        [
            ("selection", "Image", "wildcard", r"*\used.exe", D, ()),
            ("filter", "User", "eq", "admin", X, ()),
        ],
    )


def test_string_modifiers_render_wildcards_and_resolve_escapes():
    _same(
        _file_predicates("mod_strings.yml"),
        [
            ("selection", "Image", "wildcard", r"*\regsvr32.exe", D, ()),
            ("selection", "CommandLine", "wildcard", "*scrobj*", D, ()),
            ("selection", "ParentImage", "wildcard", "C:\\Users\\*", D, ()),
            ("selection", "OriginalFileName", "eq", "REGSVR32.EXE", D, ()),
            ("selection", "Description", "wildcard", "Micro*soft?", D, ()),
            ("selection", "Product", "eq", "literal * and ? here", D, ()),
            # a literal star inside a wildcard value reads like a wildcard (documented)
            ("selection", "Company", "wildcard", "*a*b*", D, ()),
            ("selection", "Hashes", "wildcard", "*already*", D, ()),
            ("selection", "Empty", "eq", "", D, ()),
            ("selection", "Number", "eq", "42", D, ()),
            ("selection", "Flag", "eq", "true", D, ()),
        ],
    )


def test_all_modifier_and_lists_of_maps_give_one_predicate_per_value():
    _same(
        _file_predicates("mod_all_and_lists.yml"),
        [
            ("selection_all", "CommandLine", "wildcard", "*vssadmin*", D, ("all",)),
            ("selection_all", "CommandLine", "wildcard", "*delete*", D, ("all",)),
            ("selection_all", "CommandLine", "wildcard", "*shadows*", D, ("all",)),
            ("selection_any", "Image", "wildcard", r"*\a.exe", D, ()),
            ("selection_any", "OriginalFileName", "eq", "A.EXE", D, ()),
            ("selection_any", "OriginalFileName", "eq", "B.EXE", D, ()),
        ],
    )


def test_regex_keeps_pattern_and_flags_and_is_case_sensitive_unless_i():
    _same(
        _file_predicates("mod_regex.yml", with_case=True),
        [
            ("selection", "CommandLine", "regex_match", r"\s-e(nc)?\s+[A-Za-z0-9+/=]{20,}", D,
             (), True),
            ("selection", "Image", "regex_match", r"\\ab*c\.exe$", D, ("re:i",), False),
            ("selection", "ParentCommandLine", "regex_match", "^line$", D, ("re:m",), True),
            ("selection", "User", "regex_match", "a.b", D, ("re:s",), True),
            ("selection", "Description", "regex_match", "x", D, ("re:i", "re:m", "re:s"),
             False),
        ],
    )


def test_cased_values_are_case_sensitive_and_plain_ones_are_not():
    _same(
        _file_predicates("mod_cased.yml", with_case=True),
        [
            ("selection", "CommandLine", "wildcard", "*SeDebugPrivilege*", D, ("cased",), True),
            ("selection", "Image", "eq", "C:\\Tools\\X.exe", D, ("cased",), True),
        ],
    )
    assert {p[-1] for p in _file_predicates("mod_strings.yml", with_case=True)} == {False}


def test_encoding_modifiers_keep_the_value_as_written_with_transforms():
    _same(
        _file_predicates("mod_encodings.yml"),
        [
            ("selection", "CommandLine", "wildcard", "*-enc*", D, ("windash",)),
            ("selection", "CommandLine", "wildcard", "* /nop*", D, ("windash",)),
            ("selection", "CommandLine", "wildcard", "*IEX*", D, ("base64offset",)),
            ("selection", "CommandLine", "eq", "whoami", D, ("base64",)),
            ("selection", "CommandLine", "wildcard", "http*", D, ("base64",)),
            ("selection", "CommandLine", "wildcard", "*u16*", D, ("utf16", "base64offset")),
            ("selection", "CommandLine", "wildcard", "*u16le*", D, ("utf16le", "base64offset")),
            ("selection", "CommandLine", "wildcard", "*u16be*", D, ("utf16be", "base64offset")),
            ("selection", "CommandLine", "wildcard", "*wide*", D, ("wide", "base64offset")),
            ("selection", "CommandLine", "wildcard", "*-w hidden", D, ("windash",)),
        ],
    )


def test_cidr_and_numeric_comparisons_keep_the_written_value():
    _same(
        _file_predicates("mod_network_numbers.yml"),
        [
            ("selection", "DestinationIp", "cidr", "10.0.0.0/8", D, ()),
            ("selection", "DestinationIp", "cidr", "fe80::/10", D, ()),
            ("selection", "DestinationPort", "gt", "1024", D, ()),
            ("selection", "SourcePort", "gte", "49152", D, ()),
            ("selection", "Count", "lt", "5", D, ()),
            ("selection", "Ratio", "lte", "0.5", D, ()),
        ],
    )


def test_exists_null_and_fieldref():
    _same(
        _file_predicates("mod_exists_null_fieldref.yml"),
        [
            ("selection", "CommandLine", "exists", "true", D, ()),
            ("selection", "ParentCommandLine", "exists", "false", D, ()),
            ("selection", "OriginalFileName", "exists", "false", D, ()),
            ("selection", "TargetFilename", "fieldref", "Image", D, ()),
            ("filter", "User", "exists", "false", X, ()),
        ],
    )


def test_neq_negates_and_a_negated_neq_detects_again():
    _same(
        _file_predicates("mod_neq.yml"),
        [
            ("selection", "Image", "wildcard", r"*\x.exe", D, ()),
            ("selection", "User", "eq", "SYSTEM", X, ()),
            ("filter", "IntegrityLevel", "eq", "High", D, ()),
        ],
    )


def test_keyword_lists_are_field_less_matches_one_per_value():
    _same(
        _file_predicates("keywords.yml"),
        [
            ("keywords", None, "match", "Accepted publickey", D, ()),
            ("keywords", None, "match", "session opened*root", D, ()),
            ("noise", None, "match", "CRON", X, ()),
        ],
    )


def test_extract_predicates_works_on_a_sigma_rule_directly():
    from sigma.rule import SigmaRule

    from rulecat.index.parsers.sigma_detection import extract_predicates

    rule = SigmaRule.from_yaml((FILES / "cond_nested_not.yml").read_text())
    assert [(p.selection, p.polarity) for p in extract_predicates(rule)] == [
        ("sel_a", X),
        ("sel_b", D),
        ("sel_c", X),
    ]


# --- property: polarity is the parity of the NOTs above a selection ----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_trees = st.recursive(
    st.just("leaf"),
    lambda inner: st.tuples(st.just("not"), inner)
    | st.tuples(st.sampled_from(["and", "or"]), inner, inner),
    max_leaves=8,
)


def _render_condition(tree, negations, leaves):
    """Condition text for `tree`; records each leaf's selection and expected polarity."""
    if tree == "leaf":
        name = f"sel_{len(leaves)}"
        leaves[name] = X if negations % 2 else D
        return name
    if tree[0] == "not":
        return f"not ({_render_condition(tree[1], negations + 1, leaves)})"
    left = _render_condition(tree[1], negations, leaves)
    right = _render_condition(tree[2], negations, leaves)
    return f"({left} {tree[0]} {right})"


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_polarity_is_the_parity_of_negations_on_the_path(tree):
    from sigma.rule import SigmaRule

    from rulecat.index.parsers.sigma_detection import extract_predicates

    leaves: dict[str, str] = {}
    condition = _render_condition(tree, 0, leaves)
    detection = {name: {f"F{i}": f"v{i}"} for i, name in enumerate(leaves)}
    detection["condition"] = condition
    rule = SigmaRule.from_dict(
        {"title": "t", "logsource": {"product": "windows"}, "detection": detection}
    )
    got = {p.selection: p.polarity for p in extract_predicates(rule)}
    assert got == leaves
