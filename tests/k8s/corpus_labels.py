"""The corpus labels' vocabulary mapped to Posture's rules: shared by the corpus agreement tests.

A label maps to the rule (and, where a rule covers several labels, the part of its evidence) that
answers it; :data:`NOT_CHECKED` lists the labels outside Posture's scope.
"""

from __future__ import annotations

from collections.abc import Callable

from posture.rules import k8s_cis, k8s_controlplane, k8s_hygiene, k8s_pss
from posture.rules.base import RuleRegistry, Verdict

REGISTRY = RuleRegistry([*k8s_pss.RULES, *k8s_cis.RULES, *k8s_hygiene.RULES, *k8s_controlplane.RULES])

Match = Callable[[Verdict], bool]


def rule(*ids: str) -> Match:
    return lambda v: v.rule.id in ids


def discriminated(rule_id: str, discriminator: str) -> Match:
    return lambda v: v.rule.id == rule_id and v.hit.discriminator == discriminator


def restricted_caps(part: str) -> Match:
    """The restricted Capabilities control reports both halves; the evidence says which one failed."""

    def match(v: Verdict) -> bool:
        if v.rule.id != "K8S-PSS-CAPABILITIES-RESTRICTED":
            return False
        return bool(v.hit.evidence["value"]["add"]) if part == "add" else not v.hit.evidence["drops_all"]

    return match


LABELS: dict[str, Match] = {
    "privileged": rule("K8S-PSS-PRIVILEGED"),
    "host_pid": discriminated("K8S-PSS-HOST-NAMESPACES", "hostPID"),
    "host_ipc": discriminated("K8S-PSS-HOST-NAMESPACES", "hostIPC"),
    "host_network": discriminated("K8S-PSS-HOST-NAMESPACES", "hostNetwork"),
    "host_namespace": rule("K8S-PSS-HOST-NAMESPACES"),
    "host_path": rule("K8S-PSS-HOSTPATH"),
    "runtime_socket_mount": rule("K8S-RUNTIME-SOCKET"),
    "host_port": rule("K8S-PSS-HOST-PORTS"),
    "host_port_outside_range": rule("K8S-PSS-HOST-PORTS"),
    "windows_host_process": rule("K8S-PSS-HOSTPROCESS"),
    "unmasked_proc_mount": rule("K8S-PSS-PROC-MOUNT"),
    "run_as_root": rule("K8S-PSS-RUN-AS-NON-ROOT", "K8S-PSS-RUN-AS-USER"),
    "run_as_user_zero": rule("K8S-PSS-RUN-AS-USER"),
    "run_as_non_root_not_set": rule("K8S-PSS-RUN-AS-NON-ROOT"),
    "allow_privilege_escalation": rule("K8S-PSS-PRIVILEGE-ESCALATION"),
    "dangerous_capabilities": rule("K8S-PSS-CAPABILITIES"),
    "added_capabilities": rule("K8S-PSS-CAPABILITIES"),
    "added_capabilities_restricted": restricted_caps("add"),
    "capabilities_not_dropped": restricted_caps("drop"),
    "net_raw_not_dropped": rule("K8S-NET-RAW"),
    "readonly_rootfs_missing": rule("K8S-READONLY-ROOTFS"),
    "seccomp_unconfined": rule("K8S-PSS-SECCOMP"),
    "seccomp_profile_missing": rule("K8S-PSS-SECCOMP-RESTRICTED"),
    "apparmor_profile_disallowed": rule("K8S-PSS-APPARMOR"),
    "selinux_options_disallowed": rule("K8S-PSS-SELINUX"),
    "unsafe_sysctls": rule("K8S-PSS-SYSCTLS"),
    "disallowed_volume_type": rule("K8S-PSS-VOLUME-TYPES"),
    "no_resource_limits": rule("K8S-LIMITS-CPU", "K8S-LIMITS-MEMORY"),
    "no_cpu_limit": rule("K8S-LIMITS-CPU"),
    "no_memory_limit": rule("K8S-LIMITS-MEMORY"),
    "no_resource_requests": rule("K8S-REQUESTS"),
    "no_cpu_request": lambda v: v.rule.id == "K8S-REQUESTS" and "resources.requests.cpu" in v.hit.evidence["missing"],
    "no_memory_request": lambda v: (
        v.rule.id == "K8S-REQUESTS" and "resources.requests.memory" in v.hit.evidence["missing"]
    ),
    "latest_tag": rule("K8S-IMAGE-LATEST"),
    "image_not_pinned_digest": rule("K8S-IMAGE-DIGEST"),
    "secret_in_env": rule("K8S-ENV-SECRET-LITERAL"),
    "secret_ref_in_env": rule("K8S-SECRET-ENV"),
    "automount_sa_token": rule("K8S-SA-TOKEN-AUTOMOUNT"),
    "default_namespace": rule("K8S-DEFAULT-NAMESPACE"),
    "rbac_wildcard": rule("K8S-RBAC-WILDCARD"),
    "rbac_cluster_admin_binding": rule("K8S-RBAC-CLUSTER-ADMIN"),
    "rbac_pod_exec_attach": rule("K8S-RBAC-EXEC"),
}

#: Peer checks about reliability or style rather than security posture; Posture has no rule for them.
NOT_CHECKED = frozenset(
    {"no_liveness_probe", "no_readiness_probe", "pull_policy_not_always", "low_user_or_group_id", "secret_in_configmap"}
)


def check_agreement(flagged: bool, expect: str, label: str, where: str, deliberate: str | None) -> None:
    """Posture flagged (or not) as the label says; a listed deliberate difference must still differ."""
    agrees = flagged if expect == "flag" else not flagged
    if deliberate is not None:
        assert not agrees, f"listed as a deliberate difference but now agrees: {deliberate}"
    else:
        assert agrees, f"{label} {'not reported' if expect == 'flag' else 'reported'} on {where}"
