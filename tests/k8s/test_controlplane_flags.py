"""CIS Kubernetes Benchmark 1.2.x (v1.10 numbering, kube-bench cis-1.10/master.yaml): each kube-apiserver
flag check on both sides of its condition, with the defaults kube-apiserver applies to an unset flag.

The rules are evaluated on control-plane records as the Kubernetes normalizer stores them
(``component`` and the parsed ``flags``), through each rule's own ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError

import pytest

from posture.records import AssetKind, AssetRecord
from posture.rules.base import Snapshot
from posture.rules.k8s_controlplane import CHECKS, RULES
from posture.taxonomy import CIS_K8S, KUBESCAPE, Phase, Severity

BY_ID = {r.id: r for r in RULES}

#: Every flag the checks read, at its hardened value (CIS 1.2.x remediations).
HARDENED: dict[str, str] = {
    "anonymous-auth": "false",  # 1.2.1
    "authorization-mode": "Node,RBAC",  # 1.2.6-1.2.8
    "enable-admission-plugins": "NodeRestriction",  # 1.2.10, 1.2.14
    "profiling": "false",  # 1.2.15
    "audit-log-path": "/var/log/audit.log",  # 1.2.16
    "encryption-provider-config": "/etc/enc.yaml",  # 1.2.27
}


def record(flags: Mapping[str, str], component: str = "kube-apiserver") -> AssetRecord:
    return AssetRecord(
        AssetKind.CONTROL_PLANE,
        f"c/control-plane/{component}/cp",
        f"{component}@cp",
        Phase.RUN,
        {"component": component, "node": "cp", "pod": "kube-system/Pod/x", "flags": dict(flags)},
    )


def failing(flags: Mapping[str, str], component: str = "kube-apiserver") -> set[str]:
    asset = record(flags, component)
    snapshot = Snapshot([asset])
    return {rule.id for rule in RULES if list(rule.evaluate(asset, snapshot))}  # type: ignore[misc]


def with_(**changes: str | None) -> dict[str, str]:
    """HARDENED with flags changed (``None`` removes one); names use ``_`` for ``-``."""
    flags = dict(HARDENED)
    for name, value in changes.items():
        flags.pop(name.replace("_", "-"), None)
        if value is not None:
            flags[name.replace("_", "-")] = value
    return flags


def test_the_table_is_pinned_to_the_benchmark_and_kubescape() -> None:
    # rule id: (CIS Kubernetes 1.10 item, Kubescape control, NIST 800-190 section, severity)
    assert {c.rule_id: (c.cis, c.kubescape, c.nist, c.severity) for c in CHECKS} == {
        "K8S-APISERVER-ANONYMOUS-AUTH": ("1.2.1", "C-0113", "3.3.2", Severity.MEDIUM),
        "K8S-APISERVER-TOKEN-AUTH-FILE": ("1.2.2", "C-0114", "3.3.2", Severity.HIGH),
        "K8S-APISERVER-ALWAYS-ALLOW": ("1.2.6", "C-0118", "3.3.1", Severity.CRITICAL),
        "K8S-APISERVER-AUTHZ-NODE": ("1.2.7", "C-0119", "3.3.5", Severity.MEDIUM),
        "K8S-APISERVER-AUTHZ-RBAC": ("1.2.8", "C-0120", "3.3.1", Severity.HIGH),
        "K8S-APISERVER-ALWAYS-ADMIT": ("1.2.10", "C-0122", "3.3.2", Severity.HIGH),
        "K8S-APISERVER-NODE-RESTRICTION": ("1.2.14", "C-0127", "3.3.5", Severity.MEDIUM),
        "K8S-APISERVER-PROFILING": ("1.2.15", "C-0129", "3.3.2", Severity.LOW),
        "K8S-APISERVER-AUDIT-LOG": ("1.2.16", "C-0130", "3.3.2", Severity.MEDIUM),
        "K8S-APISERVER-ENCRYPTION": ("1.2.27", "C-0141", "3.3.2", Severity.HIGH),
    }


#: The flag each check's remediation tells the user to set (CIS 1.2.x remediation text).
REMEDIATION_FLAG = {
    "K8S-APISERVER-ANONYMOUS-AUTH": "--anonymous-auth=false",
    "K8S-APISERVER-TOKEN-AUTH-FILE": "--token-auth-file",
    "K8S-APISERVER-ALWAYS-ALLOW": "--authorization-mode=Node,RBAC",
    "K8S-APISERVER-AUTHZ-NODE": "--authorization-mode",
    "K8S-APISERVER-AUTHZ-RBAC": "--authorization-mode",
    "K8S-APISERVER-ALWAYS-ADMIT": "--enable-admission-plugins",
    "K8S-APISERVER-NODE-RESTRICTION": "--enable-admission-plugins",
    "K8S-APISERVER-PROFILING": "--profiling=false",
    "K8S-APISERVER-AUDIT-LOG": "--audit-log-path",
    "K8S-APISERVER-ENCRYPTION": "--encryption-provider-config",
}


def test_the_checks_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(FrozenInstanceError):
        CHECKS[0].cis = "9.9.9"  # type: ignore[misc]


def test_rules_carry_the_table_as_references_and_apply_to_control_plane_records() -> None:
    assert [r.id for r in RULES] == [c.rule_id for c in CHECKS]
    for check, rule in zip(CHECKS, RULES, strict=True):
        assert rule.references == (
            type(rule.references[0])(CIS_K8S, check.cis),
            type(rule.references[0])(KUBESCAPE, check.kubescape),
        )
        assert (rule.severity, rule.nist, rule.phase) == (check.severity, check.nist, Phase.RUN)
        assert rule.kinds == frozenset({AssetKind.CONTROL_PLANE})
        assert rule.title == check.title and check.title.startswith(("API server", "Admission plugin", "Secrets"))
        assert REMEDIATION_FLAG[rule.id] in rule.remediation == check.remediation


def test_hardened_passes_and_an_empty_command_line_fails_on_the_kube_apiserver_defaults() -> None:
    assert failing(HARDENED) == set()
    # unset: anonymous auth on, AlwaysAllow, no NodeRestriction, profiling on, no audit log, no encryption
    assert failing({}) == set(BY_ID) - {"K8S-APISERVER-TOKEN-AUTH-FILE", "K8S-APISERVER-ALWAYS-ADMIT"}


def test_other_control_plane_components_are_not_judged_on_api_server_flags() -> None:
    assert failing({}, component="etcd") == set()
    assert failing({}, component="kube-scheduler") == set()


def test_a_record_without_flags_is_judged_on_the_defaults() -> None:
    asset = AssetRecord(AssetKind.CONTROL_PLANE, "k", "kube-apiserver@cp", Phase.RUN, {"component": "kube-apiserver"})
    assert list(BY_ID["K8S-APISERVER-PROFILING"].evaluate(asset, Snapshot([asset])))  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "fails"),
    [
        ({"anonymous_auth": None}, True),  # 1.2.1: kube-apiserver defaults to --anonymous-auth=true
        ({"anonymous_auth": "true"}, True),
        ({"anonymous_auth": "false"}, False),
        ({"anonymous_auth": "FALSE"}, False),  # flag values are parsed case-insensitively (strconv.ParseBool)
        ({"anonymous_auth": "False"}, False),
        # --authentication-config: the structured file decides; an explicit flag still does
        ({"anonymous_auth": None, "authentication_config": "/etc/authn.yaml"}, False),
        ({"anonymous_auth": "true", "authentication_config": "/etc/authn.yaml"}, True),
        ({"anonymous_auth": "false", "authentication_config": "/etc/authn.yaml"}, False),
    ],
)
def test_anonymous_auth_1_2_1(changes: dict[str, str | None], fails: bool) -> None:
    assert ("K8S-APISERVER-ANONYMOUS-AUTH" in failing(with_(**changes))) is fails


@pytest.mark.parametrize(
    ("value", "fails"),
    [(None, False), ("/etc/tokens.csv", True), ("", False)],  # 1.2.2: an empty value names no file
)
def test_token_auth_file_1_2_2(value: str | None, fails: bool) -> None:
    assert ("K8S-APISERVER-TOKEN-AUTH-FILE" in failing(with_(token_auth_file=value))) is fails


# (authorization-mode, authorization-config) -> failing authorization rules (CIS 1.2.6, 1.2.7, 1.2.8)
AUTHZ_CASES = [
    (None, None, {"ALWAYS-ALLOW", "AUTHZ-NODE", "AUTHZ-RBAC"}),  # unset: AlwaysAllow
    ("", None, {"ALWAYS-ALLOW", "AUTHZ-NODE", "AUTHZ-RBAC"}),  # empty list: still the default
    (",", None, {"ALWAYS-ALLOW", "AUTHZ-NODE", "AUTHZ-RBAC"}),
    ("Node,RBAC", None, set()),
    ("Node, RBAC", None, set()),  # spaces after commas
    ("RBAC,Node", None, set()),
    ("Node,,RBAC", None, set()),
    ("RBAC", None, {"AUTHZ-NODE"}),
    ("Node", None, {"AUTHZ-RBAC"}),
    ("Node,RBAC,AlwaysAllow", None, {"ALWAYS-ALLOW"}),
    ("AlwaysAllow", None, {"ALWAYS-ALLOW", "AUTHZ-NODE", "AUTHZ-RBAC"}),
    ("Webhook", None, {"AUTHZ-NODE", "AUTHZ-RBAC"}),
    ("nodes,rbac", None, {"AUTHZ-NODE", "AUTHZ-RBAC"}),  # mode names are case-sensitive
    # --authorization-config: the structured file decides, --authorization-mode is not read
    (None, "/etc/authz.yaml", set()),
    ("AlwaysAllow", "/etc/authz.yaml", set()),
]


@pytest.mark.parametrize(("mode", "config", "fails"), AUTHZ_CASES)
def test_authorization_mode_1_2_6_to_1_2_8(mode: str | None, config: str | None, fails: set[str]) -> None:
    found = failing(with_(authorization_mode=mode, authorization_config=config))
    assert {r.removeprefix("K8S-APISERVER-") for r in found} == fails


@pytest.mark.parametrize(
    ("plugins", "fails"),
    [
        (None, {"NODE-RESTRICTION"}),  # 1.2.14: NodeRestriction is not on by default
        ("", {"NODE-RESTRICTION"}),
        ("NodeRestriction", set()),
        ("PodSecurity,NodeRestriction", set()),
        ("PodSecurity, NodeRestriction", set()),
        ("NodeRestriction,AlwaysAdmit", {"ALWAYS-ADMIT"}),  # 1.2.10
        ("NodeRestriction, AlwaysAdmit", {"ALWAYS-ADMIT"}),
        ("AlwaysAdmit", {"ALWAYS-ADMIT", "NODE-RESTRICTION"}),
        ("NodeRestrictionX,AlwaysAdmitX", {"NODE-RESTRICTION"}),  # whole names, not substrings
    ],
)
def test_admission_plugins_1_2_10_and_1_2_14(plugins: str | None, fails: set[str]) -> None:
    found = failing(with_(enable_admission_plugins=plugins))
    assert {r.removeprefix("K8S-APISERVER-") for r in found} == fails


@pytest.mark.parametrize(
    ("value", "fails"),
    [(None, True), ("true", True), ("", True), ("false", False), ("False", False), ("FALSE", False)],
)
def test_profiling_1_2_15(value: str | None, fails: bool) -> None:
    assert ("K8S-APISERVER-PROFILING" in failing(with_(profiling=value))) is fails


@pytest.mark.parametrize(
    ("flag", "rule_id"), [("audit_log_path", "AUDIT-LOG"), ("encryption_provider_config", "ENCRYPTION")]
)
@pytest.mark.parametrize(("value", "fails"), [(None, True), ("", True), ("/etc/x.yaml", False)])
def test_audit_log_1_2_16_and_encryption_1_2_27(flag: str, rule_id: str, value: str | None, fails: bool) -> None:
    assert (f"K8S-APISERVER-{rule_id}" in failing(with_(**{flag: value}))) is fails


def test_evidence_keeps_exactly_the_flags_the_checks_read() -> None:
    relevant = {
        "anonymous-auth": "true",
        "token-auth-file": "/etc/tokens.csv",
        "authorization-mode": "Node,RBAC",
        "authorization-config": "/etc/authz.yaml",
        "enable-admission-plugins": "NodeRestriction",
        "disable-admission-plugins": "PodSecurity",
        "profiling": "false",
        "audit-log-path": "/var/log/audit.log",
        "audit-policy-file": "/etc/audit.yaml",
        "encryption-provider-config": "/etc/enc.yaml",
    }
    asset = record({**relevant, "etcd-servers": "https://127.0.0.1:2379", "tls-private-key-file": "/k"})
    (hit,) = BY_ID["K8S-APISERVER-TOKEN-AUTH-FILE"].evaluate(asset, Snapshot([asset]))  # type: ignore[misc]
    assert (hit.discriminator, hit.evidence) == ("", {"flags": relevant})
