"""Agreement with the peers' own verdicts on the labelled manifests (tests/data/k8s-manifests/expected.json).

Each labelled file is collected alone (as ``posture collect --manifests FILE`` would) and evaluated
with every Kubernetes rule. A label maps to the rule (and, where a rule covers several labels, the
part of its evidence) that answers it. Labels outside Posture's scope are listed in
:data:`NOT_CHECKED`; the cases where Posture disagrees on purpose are in :data:`DELIBERATE`, each with
its reason, and the test fails if one of them stops disagreeing (so the list cannot go stale).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pss_support import SCANNER

from collectors.k8s.manifests import ManifestCollector
from posture.records import AssetRecord, Problem, RelationRecord
from posture.rules import k8s_cis, k8s_controlplane, k8s_hygiene, k8s_pss
from posture.rules.base import RuleRegistry, Snapshot, Verdict, evaluate_all

DATA = Path(__file__).parents[1] / "data" / "k8s-manifests"
EXPECTED = json.loads((DATA / "expected.json").read_text())
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

#: (file, object or "*", label, "flag" | "not") where Posture disagrees with the peer on purpose.
DELIBERATE: dict[tuple[str, str, str, str], str] = {
    **{
        (
            "kyverno-pss/baseline__disallow-host-ports-range__resource.yaml",
            obj,
            "host_port_outside_range",
            "not",
        ): "PSS Host Ports allows only 0/undefined; kyverno's range policy (5000-6000) is a site-specific known list"
        for obj in [
            *(
                f"{kind}/good{kind.lower()}{n:02d}"
                for kind in ("Pod", "Deployment", "CronJob")
                for n in (2, 3, 5, 6, 8, 9, 10)
            )
        ]
    },
    (
        "polaris/insecureCapabilities/success.all.yaml",
        "*",
        "capabilities_not_dropped",
        "not",
    ): "PSS restricted (and the Pod Security admission controller) require the exact value ALL; polaris accepts 'All'",
    (
        "polaris/sensitiveContainerEnvVar/failure.value_private_key.yaml",
        "*",
        "secret_in_env",
        "flag",
    ): "the value is a '---BEGIN OPENSSH PRIVATE KEY---' with three dashes; posture.secrets matches the real "
    "five-dash PEM armour only (raised with the owner of posture/secrets.py)",
}


def collect(path: Path) -> tuple[list[Verdict], list[Problem]]:
    records = list(ManifestCollector([path], secrets=SCANNER).collect())
    assets = [r for r in records if isinstance(r, AssetRecord)]
    snapshot = Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)])
    return list(evaluate_all(REGISTRY, snapshot, assets)), [r for r in records if isinstance(r, Problem)]


def object_of(verdict: Verdict) -> str:
    """``Kind/name`` of the verdict's asset (names are ``namespace/Kind/name`` or ``Kind/name``)."""
    parts = verdict.asset_name.split("/")
    return "/".join(parts[-2:])


def expectations() -> Iterator[Any]:
    for file, entry in sorted(EXPECTED["files"].items()):
        objects = entry.get("objects") or {"*": entry}
        for obj, labels in objects.items():
            secondary = labels.get("inspection_labels", [])
            for label in [*labels["must_flag"], *secondary]:
                if label in NOT_CHECKED:
                    continue
                yield pytest.param(file, obj, label, "flag", id=f"{file}:{obj}:{label}")
            for label in [*labels["must_not_flag"], *labels.get("inspection_not_present", [])]:
                if label in NOT_CHECKED:
                    continue
                yield pytest.param(file, obj, label, "not", id=f"{file}:{obj}:not-{label}")


_CACHE: dict[str, tuple[list[Verdict], list[Problem]]] = {}


@pytest.mark.parametrize(("file", "obj", "label", "expect"), list(expectations()))
def test_agrees_with_peer(file: str, obj: str, label: str, expect: str) -> None:
    if file not in _CACHE:
        _CACHE[file] = collect(DATA / file)
    found, problems = _CACHE[file]
    assert problems == []
    match = LABELS[label]
    flagged = any(match(v) for v in found if obj == "*" or object_of(v) == obj)
    agrees = flagged if expect == "flag" else not flagged
    reason = DELIBERATE.get((file, obj, label, expect))
    if reason is not None:
        assert not agrees, f"listed as a deliberate difference but now agrees: {reason}"
    else:
        assert agrees, f"{label} {'not reported' if expect == 'flag' else 'reported'} on {obj}"


def test_every_label_of_the_vocabulary_is_mapped_or_out_of_scope() -> None:
    assert set(EXPECTED["vocabulary"]) == set(LABELS) | NOT_CHECKED
