"""Every Pod Security Standards control, table-driven from the fields and values of the official page.

Each case is (pod, expected discriminators): an empty set means the control passes. Discriminators
name the offending container, or "" for a pod-level field (host namespaces name the field, volumes
and sysctls their name), so a case also pins *where* a violation is reported.
"""

from __future__ import annotations

from typing import Any

import pytest

from posture.rules import k8s_pss
from posture.rules.base import Rule
from posture.taxonomy import PSS, Severity
from tests.k8s.pss_support import container, discriminators, pod, verdicts

RULES = {r.references[0].id: r for r in k8s_pss.RULES}
Case = tuple[str, dict[str, Any], set[str]]


def cases(control: str, *rows: Case) -> list[Any]:
    return [pytest.param(RULES[control], body, expected, id=f"{control}:{name}") for name, body, expected in rows]


def ctr(name: str = "app", **security: Any) -> dict[str, Any]:
    return container(name, **security)


TABLE = [
    *cases(
        "baseline/hostprocess",
        ("unset", pod(), set()),
        ("pod-false", pod(securityContext={"windowsOptions": {"hostProcess": False}}), set()),
        ("pod-true", pod(securityContext={"windowsOptions": {"hostProcess": True}}, hostNetwork=True), {""}),
        ("container-true", pod(ctr(windowsOptions={"hostProcess": True})), {"app"}),
        ("init-true", pod(init=[ctr("setup", windowsOptions={"hostProcess": True})]), {"setup"}),
        ("ephemeral-true", pod(ephemeral=[ctr("debug", windowsOptions={"hostProcess": True})]), {"debug"}),
    ),
    *cases(
        "baseline/host-namespaces",
        ("unset", pod(), set()),
        ("all-false", pod(hostNetwork=False, hostPID=False, hostIPC=False), set()),
        ("network", pod(hostNetwork=True), {"hostNetwork"}),
        ("pid", pod(hostPID=True), {"hostPID"}),
        ("ipc", pod(hostIPC=True), {"hostIPC"}),
        ("all", pod(hostNetwork=True, hostPID=True, hostIPC=True), {"hostNetwork", "hostPID", "hostIPC"}),
    ),
    *cases(
        "baseline/privileged-containers",
        ("unset", pod(), set()),
        ("false", pod(ctr(privileged=False)), set()),
        ("container", pod(ctr(privileged=True), ctr("side")), {"app"}),
        ("init", pod(init=[ctr("setup", privileged=True)]), {"setup"}),
        ("ephemeral", pod(ephemeral=[ctr("debug", privileged=True)]), {"debug"}),
    ),
    *cases(
        "baseline/capabilities",
        ("none", pod(), set()),
        ("allowed-list", pod(ctr(capabilities={"add": sorted(k8s_pss.BASELINE_CAPABILITIES)})), set()),
        ("drop-anything", pod(ctr(capabilities={"drop": ["ALL", "NET_RAW"]})), set()),
        ("sys-admin", pod(ctr(capabilities={"add": ["SYS_ADMIN"]})), {"app"}),
        ("net-raw-not-in-list", pod(ctr(capabilities={"add": ["NET_RAW"]})), {"app"}),
        ("lowercase-is-not-listed", pod(ctr(capabilities={"add": ["chown"]})), {"app"}),
        ("init-all", pod(init=[ctr("setup", capabilities={"add": ["ALL"]})]), {"setup"}),
        ("ephemeral", pod(ephemeral=[ctr("debug", capabilities={"add": ["SYS_PTRACE"]})]), {"debug"}),
    ),
    *cases(
        "baseline/hostpath-volumes",
        ("emptydir", pod(volumes=[{"name": "scratch", "emptyDir": {}}]), set()),
        ("hostpath", pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]), {"logs"}),
    ),
    *cases(
        "baseline/host-ports",
        ("container-port-only", pod({**ctr(), "ports": [{"containerPort": 80}]}), set()),
        ("host-port-zero", pod({**ctr(), "ports": [{"containerPort": 80, "hostPort": 0}]}), set()),
        ("host-port", pod({**ctr(), "ports": [{"containerPort": 80, "hostPort": 8080}]}), {"app"}),
        ("init-host-port", pod(init=[{**ctr("setup"), "ports": [{"containerPort": 1, "hostPort": 9}]}]), {"setup"}),
    ),
    *cases(
        "baseline/host-probes",
        ("no-host", pod({**ctr(), "livenessProbe": {"httpGet": {"port": 8080}}}), set()),
        ("empty-host", pod({**ctr(), "readinessProbe": {"tcpSocket": {"port": 1, "host": ""}}}), set()),
        ("probe-host", pod({**ctr(), "livenessProbe": {"httpGet": {"port": 80, "host": "10.0.0.1"}}}), {"app"}),
        ("startup-host", pod({**ctr(), "startupProbe": {"tcpSocket": {"port": 22, "host": "node"}}}), {"app"}),
        ("hook-host", pod({**ctr(), "lifecycle": {"preStop": {"httpGet": {"port": 1, "host": "x"}}}}), {"app"}),
    ),
    *cases(
        "baseline/apparmor",
        ("unset", pod(), set()),
        ("runtime-default", pod(ctr(appArmorProfile={"type": "RuntimeDefault"})), set()),
        ("localhost", pod(securityContext={"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}}), set()),
        ("pod-unconfined", pod(securityContext={"appArmorProfile": {"type": "Unconfined"}}), {""}),
        ("container-unconfined", pod(ctr(appArmorProfile={"type": "Unconfined"})), {"app"}),
        (
            "annotation-runtime-default",
            pod(annotations={"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}),
            set(),
        ),
        (
            "annotation-localhost",
            pod(annotations={"container.apparmor.security.beta.kubernetes.io/app": "localhost/k8s-nginx"}),
            set(),
        ),
        (
            "annotation-unconfined",
            pod(annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
            {"app"},
        ),
    ),
    *cases(
        "baseline/selinux",
        ("unset", pod(), set()),
        (
            "allowed-types",
            pod(
                ctr(seLinuxOptions={"type": "container_engine_t"}),
                securityContext={"seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}},
            ),
            set(),
        ),
        ("empty-type", pod(ctr(seLinuxOptions={"type": ""})), set()),
        ("pod-type", pod(securityContext={"seLinuxOptions": {"type": "spc_t"}}), {""}),
        ("container-user", pod(ctr(seLinuxOptions={"user": "system_u"})), {"app"}),
        ("init-role", pod(init=[ctr("setup", seLinuxOptions={"role": "sysadm_r"})]), {"setup"}),
    ),
    *cases(
        "baseline/proc-mount-type",
        ("default", pod(ctr(procMount="Default")), set()),
        ("unmasked", pod(ctr(procMount="Unmasked")), {"app"}),
        ("ephemeral-unmasked", pod(ephemeral=[ctr("debug", procMount="Unmasked")]), {"debug"}),
    ),
    *cases(
        "baseline/seccomp",
        ("unset", pod(), set()),
        ("runtime-default", pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}), set()),
        ("localhost", pod(ctr(seccompProfile={"type": "Localhost", "localhostProfile": "x.json"})), set()),
        ("pod-unconfined", pod(securityContext={"seccompProfile": {"type": "Unconfined"}}), {""}),
        ("container-unconfined", pod(ctr(seccompProfile={"type": "Unconfined"})), {"app"}),
        ("init-unconfined", pod(init=[ctr("setup", seccompProfile={"type": "Unconfined"})]), {"setup"}),
    ),
    *cases(
        "baseline/sysctls",
        (
            "safe",
            pod(securityContext={"sysctls": [{"name": n, "value": "1"} for n in sorted(k8s_pss.SAFE_SYSCTLS)]}),
            set(),
        ),
        (
            "unsafe",
            pod(
                securityContext={
                    "sysctls": [
                        {"name": "kernel.msgmax", "value": "1"},
                        {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                    ]
                }
            ),
            {"kernel.msgmax"},
        ),
        (
            "core-pattern",
            pod(securityContext={"sysctls": [{"name": "kernel.core_pattern", "value": "|/x"}]}),
            {"kernel.core_pattern"},
        ),
        (
            "v1.32-tcp-buffers",
            pod(
                securityContext={
                    "sysctls": [
                        {"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"},
                        {"name": "net.ipv4.tcp_wmem", "value": "4096 16384 4194304"},
                    ]
                }
            ),
            set(),
        ),
        (
            "core-buffers-stay-unsafe",
            pod(securityContext={"sysctls": [{"name": "net.core.rmem_max", "value": "16777216"}]}),
            {"net.core.rmem_max"},
        ),
    ),
    *cases(
        "restricted/volume-types",
        ("allowed", pod(volumes=[{"name": t, t: {}} for t in sorted(k8s_pss.RESTRICTED_VOLUME_TYPES)]), set()),
        ("no-source-defaults-to-emptydir", pod(volumes=[{"name": "v"}]), set()),
        ("hostpath", pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), {"h"}),
        (
            "nfs-and-gitrepo",
            pod(
                volumes=[
                    {"name": "n", "nfs": {"server": "s", "path": "/"}},
                    {"name": "g", "gitRepo": {"repository": "r"}},
                ]
            ),
            {"n", "g"},
        ),
    ),
    *cases(
        "restricted/privilege-escalation",
        ("false", pod(ctr(allowPrivilegeEscalation=False), init=[ctr("setup", allowPrivilegeEscalation=False)]), set()),
        ("unset", pod(), {"app"}),
        ("true", pod(ctr(allowPrivilegeEscalation=True)), {"app"}),
        ("init-unset", pod(ctr(allowPrivilegeEscalation=False), init=[ctr("setup")]), {"setup"}),
        ("windows-exempt", pod(os={"name": "windows"}), set()),
    ),
    *cases(
        "restricted/running-as-non-root",
        ("pod-true", pod(securityContext={"runAsNonRoot": True}), set()),
        ("every-container-true", pod(ctr(runAsNonRoot=True), init=[ctr("setup", runAsNonRoot=True)]), set()),
        ("unset", pod(), {"app"}),
        ("run-as-user-alone-is-not-enough", pod(ctr(runAsUser=1000)), {"app"}),
        ("container-overrides-pod", pod(ctr(runAsNonRoot=False), securityContext={"runAsNonRoot": True}), {"app"}),
        ("pod-false-containers-true", pod(ctr(runAsNonRoot=True), securityContext={"runAsNonRoot": False}), {""}),
        ("init-not-covered", pod(ctr(runAsNonRoot=True), init=[ctr("setup")]), {"setup"}),
    ),
    *cases(
        "restricted/running-as-non-root-user",
        ("unset", pod(), set()),
        ("non-zero", pod(ctr(runAsUser=1000), securityContext={"runAsUser": 2000}), set()),
        ("pod-zero", pod(securityContext={"runAsUser": 0}), {""}),
        ("container-zero-overrides-pod", pod(ctr(runAsUser=0), securityContext={"runAsUser": 1000}), {"app"}),
        ("ephemeral-zero", pod(ephemeral=[ctr("debug", runAsUser=0)]), {"debug"}),
    ),
    *cases(
        "restricted/seccomp",
        ("pod-runtime-default", pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}), set()),
        (
            "pod-localhost",
            pod(securityContext={"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}}),
            set(),
        ),
        ("every-container", pod(ctr(seccompProfile={"type": "RuntimeDefault"})), set()),
        ("unset", pod(), {"app"}),
        (
            "container-unconfined-overrides-pod",
            pod(
                ctr(seccompProfile={"type": "Unconfined"}),
                securityContext={"seccompProfile": {"type": "RuntimeDefault"}},
            ),
            {"app"},
        ),
        (
            "pod-unconfined",
            pod(
                ctr(seccompProfile={"type": "RuntimeDefault"}),
                securityContext={"seccompProfile": {"type": "Unconfined"}},
            ),
            {""},
        ),
        ("init-not-covered", pod(ctr(seccompProfile={"type": "RuntimeDefault"}), init=[ctr("setup")]), {"setup"}),
        ("windows-exempt", pod(os={"name": "windows"}), set()),
    ),
    *cases(
        "restricted/capabilities",
        ("drop-all", pod(ctr(capabilities={"drop": ["ALL"]})), set()),
        ("drop-all-add-bind", pod(ctr(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})), set()),
        ("unset", pod(), {"app"}),
        ("drop-all-add-chown", pod(ctr(capabilities={"drop": ["ALL"], "add": ["CHOWN"]})), {"app"}),
        ("drop-is-exactly-ALL", pod(ctr(capabilities={"drop": ["all"]})), {"app"}),
        ("init-not-dropping", pod(ctr(capabilities={"drop": ["ALL"]}), init=[ctr("setup")]), {"setup"}),
        ("windows-exempt", pod(os={"name": "windows"}), set()),
    ),
]


@pytest.mark.parametrize(("rule", "body", "expected"), TABLE)
def test_control(rule: Rule, body: dict[str, Any], expected: set[str]) -> None:
    assert discriminators(rule, body) == expected


def test_every_control_has_one_rule_and_a_table() -> None:
    controls = {r.references[0].id for r in k8s_pss.RULES}
    baseline = {
        "hostprocess",
        "host-namespaces",
        "privileged-containers",
        "capabilities",
        "hostpath-volumes",
        "host-ports",
        "host-probes",
        "apparmor",
        "selinux",
        "proc-mount-type",
        "seccomp",
        "sysctls",
    }
    restricted = {
        "volume-types",
        "privilege-escalation",
        "running-as-non-root",
        "running-as-non-root-user",
        "seccomp",
        "capabilities",
    }
    assert controls == {f"baseline/{c}" for c in baseline} | {f"restricted/{c}" for c in restricted}
    assert all(r.references[0].framework == PSS for r in k8s_pss.RULES)
    assert {p.values[0].id for p in TABLE} == {r.id for r in k8s_pss.RULES}


def test_dangerous_capability_raises_severity() -> None:
    rule = RULES["baseline/capabilities"]
    (hit,) = verdicts(rule, [pod(ctr(capabilities={"add": ["SYS_ADMIN"]}))])
    (mild,) = verdicts(rule, [pod(ctr(capabilities={"add": ["NET_RAW"]}))])
    assert (hit.severity, mild.severity) == (Severity.HIGH, Severity.MEDIUM)


def _deployment(template_spec: dict[str, Any], kind: str = "Deployment") -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "w"}}, "spec": template_spec}
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "apps"}, "spec": spec}


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"]
)
def test_pod_templates_of_every_workload_kind(kind: str) -> None:
    body = _deployment({"containers": [container(privileged=True)]}, kind)
    (verdict,) = verdicts(RULES["baseline/privileged-containers"], [body])
    assert verdict.asset_name == f"apps/{kind}/w"
    assert verdict.hit.evidence["field"] == "spec.containers[app].securityContext.privileged"


def test_owned_pods_and_replicasets_are_not_reported_twice() -> None:
    spec = {"containers": [container(privileged=True)]}
    deployment = _deployment(spec)
    deployment["metadata"]["uid"] = "d-1"
    replicaset = _deployment(spec, "ReplicaSet")
    replicaset["metadata"].update(
        name="w-1", uid="rs-1", ownerReferences=[{"kind": "Deployment", "name": "w", "uid": "d-1", "controller": True}]
    )
    owned = pod(container(privileged=True), name="w-1-x")
    owned["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "w-1", "uid": "rs-1", "controller": True}]
    orphan = pod(container(privileged=True), name="orphan")
    orphan["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "gone", "uid": "rs-9", "controller": True}]
    names = {
        v.asset_name for v in verdicts(RULES["baseline/privileged-containers"], [deployment, replicaset, owned, orphan])
    }
    assert names == {"apps/Deployment/w", "apps/Pod/orphan"}
