"""Every allowed-value table of posture/rules/k8s_pss.py, pinned to what the Pod Security admission
controller decides, and used entry by entry.

Source of the expected values: repository kubernetes/pod-security-admission (the published mirror of
kubernetes/kubernetes staging/src/k8s.io/pod-security-admission), tag v0.36.2 (Kubernetes 1.36),
files policy/check_*.go as named beside each table. Where a check is versioned, the expected set
is written as the admission controller builds it: the 1.0 set plus each later version's additions,
so a reader can compare it line by line. The values are written here by hand; no file is copied.

A table test asserts the exact set (an entry deleted or added fails); the behaviour tests then run
every entry through the rule, and one value just outside, so a table that is right but unused (or a
check that compares the wrong way) fails too.
"""

from __future__ import annotations

from typing import Any

import pytest

from posture.facts.capabilities import DANGEROUS_CAPABILITIES
from posture.records import AssetKind, AssetRecord
from posture.rules import k8s_pss
from posture.rules.base import Snapshot
from posture.taxonomy import Phase, Severity
from tests.k8s.pss_support import container, discriminators, pod, verdicts

RULES = {r.references[0].id: r for r in k8s_pss.RULES}

# policy/check_capabilities_baseline.go, capabilities_allowed_1_0 (MinimumVersion 1.0, unchanged since).
BASELINE_CAPABILITIES_1_0 = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
# policy/check_sysctls.go: sysctlsAllowedV1Dot0, then the unions of V1Dot27, V1Dot29 and V1Dot32.
SYSCTLS_1_0 = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
}
SYSCTLS_1_27 = {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SYSCTLS_1_32 = {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
# policy/check_seLinuxOptions.go: selinuxAllowedTypes1_0, and selinuxAllowedTypes1_31 adds container_engine_t.
SELINUX_TYPES_1_0 = {"", "container_t", "container_init_t", "container_kvm_t"}
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}
# policy/check_appArmorProfile.go, allowedProfileType: RuntimeDefault and Localhost.
APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}
# policy/check_seccompProfile_baseline.go, validSeccomp (1.19+; restricted's check uses the same two).
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
# policy/check_capabilities_restricted.go: capabilityNetBindService is the only one that may be added.
RESTRICTED_ADD_CAPABILITIES = {"NET_BIND_SERVICE"}
# policy/check_restrictedVolumes.go, restrictedVolumes_1_0: the sources that `continue` (image since
# Kubernetes 1.33, commit "Allow ImageVolume for Restricted PSA profiles") ...
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
# ... and the sources it names as restricted.
RESTRICTED_VOLUME_SOURCES = [
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
]


def ctr(name: str = "app", **security: Any) -> dict[str, Any]:
    return container(name, **security)


def sysctl_pod(*names: str) -> dict[str, Any]:
    return pod(securityContext={"sysctls": [{"name": n, "value": "1"} for n in names]})


# -- the tables ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param(k8s_pss.BASELINE_CAPABILITIES, BASELINE_CAPABILITIES_1_0, id="baseline-capabilities"),
        pytest.param(k8s_pss.SAFE_SYSCTLS, SYSCTLS_1_0 | SYSCTLS_1_27 | SYSCTLS_1_29 | SYSCTLS_1_32, id="sysctls"),
        pytest.param(k8s_pss.SELINUX_TYPES, SELINUX_TYPES_1_31, id="selinux-types"),
        pytest.param(k8s_pss.APPARMOR_TYPES, APPARMOR_TYPES, id="apparmor-types"),
        pytest.param(k8s_pss.SECCOMP_TYPES, SECCOMP_TYPES, id="seccomp-types"),
        pytest.param(k8s_pss.RESTRICTED_ADD_CAPABILITIES, RESTRICTED_ADD_CAPABILITIES, id="restricted-add"),
        pytest.param(k8s_pss.RESTRICTED_VOLUME_TYPES, RESTRICTED_VOLUME_TYPES, id="restricted-volumes"),
    ],
)
def test_table_is_exactly_the_source(table: frozenset[str], expected: set[str]) -> None:
    assert set(table) == expected


# -- baseline/capabilities -------------------------------------------------------------------------
@pytest.mark.parametrize("cap", sorted(BASELINE_CAPABILITIES_1_0))
def test_each_baseline_capability_may_be_added(cap: str) -> None:
    rule = RULES["baseline/capabilities"]
    body = pod(ctr(capabilities={"add": [cap]}), init=[ctr("setup", capabilities={"add": [cap]})])
    assert discriminators(rule, body) == set()


@pytest.mark.parametrize("cap", ["NET_RAW", "SYS_NICE", "CAP_CHOWN", "chown", "LEASE"])  # SYS_TIME is dangerous
def test_a_capability_just_outside_the_baseline_is_medium(cap: str) -> None:
    (verdict,) = verdicts(RULES["baseline/capabilities"], [pod(ctr(capabilities={"add": ["CHOWN", cap]}))])
    assert (verdict.hit.discriminator, verdict.hit.evidence["value"]) == ("app", [cap])
    assert verdict.severity == Severity.MEDIUM


# Posture's own choice, not the admission controller's: the dangerous capabilities (posture/facts,
# pinned in tests/facts/test_capabilities.py) make the baseline finding high instead of medium.
@pytest.mark.parametrize("cap", sorted(DANGEROUS_CAPABILITIES))
def test_each_dangerous_capability_is_high_in_any_spelling(cap: str) -> None:
    for added in (cap, f"CAP_{cap}", f"cap_{cap.lower()}"):
        for where in LISTS:
            body = _one_container(where, capabilities={"add": ["NET_RAW", added]})
            (verdict,) = verdicts(RULES["baseline/capabilities"], [body])
            assert verdict.severity == Severity.HIGH, (where, added)


#: Where a container can sit, and the spec list that holds it.
LISTS = {"containers": "containers", "init": "initContainers", "ephemeral": "ephemeralContainers"}


def _one_container(where: str, beside: dict[str, Any] | None = None, **security: Any) -> dict[str, Any]:
    """A pod whose container with ``security`` sits in ``where``: "app" itself, or "other" beside an "app"
    whose security context is ``beside`` (a clean one for the control under test)."""
    if where == "containers":
        return pod(ctr("app", **security))
    return pod(ctr("app", **(beside or {})), **{where: [ctr("other", **security)]})


def _target(body: dict[str, Any], where: str) -> dict[str, Any]:
    """The container :func:`_one_container` put in ``where``."""
    container: dict[str, Any] = body["spec"][LISTS[where]][0]
    return container


# -- baseline/sysctls ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SYSCTLS_1_0 | SYSCTLS_1_27 | SYSCTLS_1_29 | SYSCTLS_1_32))
def test_each_safe_sysctl_passes_and_its_near_miss_fails(name: str) -> None:
    rule = RULES["baseline/sysctls"]
    assert discriminators(rule, sysctl_pod(name)) == set()
    near = name + "_x"
    assert discriminators(rule, sysctl_pod(name, near)) == {near}


@pytest.mark.parametrize("name", ["net.ipv4.ip_forward", "kernel.shm_rmid", "net.ipv4.tcp_mem", "vm.swappiness"])
def test_unsafe_sysctls_fail(name: str) -> None:
    (verdict,) = verdicts(RULES["baseline/sysctls"], [sysctl_pod("kernel.shm_rmid_forced", name)])
    assert verdict.hit.evidence == {"field": "spec.securityContext.sysctls[*].name", "value": name}


# -- baseline/selinux ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(SELINUX_TYPES_1_31))
def test_each_selinux_type_passes_at_pod_and_container_level(kind: str) -> None:
    rule = RULES["baseline/selinux"]
    options = {"type": kind, "user": "", "role": ""}
    body = pod(ctr(seLinuxOptions=options), ephemeral=[ctr("dbg", seLinuxOptions=options)])
    body["spec"]["securityContext"] = {"seLinuxOptions": options}
    assert discriminators(rule, body) == set()


@pytest.mark.parametrize(
    ("options", "bad"),
    [
        ({"type": "spc_t"}, {"type": "spc_t"}),
        ({"type": "container_t", "user": "system_u"}, {"user": "system_u"}),
        ({"type": "container_t", "role": "system_r"}, {"role": "system_r"}),
        ({"user": "u", "role": "r", "type": "unconfined_t"}, {"user": "u", "role": "r", "type": "unconfined_t"}),
    ],
)
def test_selinux_outside_the_allowed_values_fails_where_it_is_set(options: dict[str, str], bad: dict[str, str]) -> None:
    rule = RULES["baseline/selinux"]
    (at_pod,) = verdicts(rule, [pod(securityContext={"seLinuxOptions": options})])
    assert (at_pod.hit.discriminator, at_pod.hit.evidence["value"]) == ("", bad)
    for where in LISTS:
        (hit,) = verdicts(rule, [_one_container(where, seLinuxOptions=options)])
        assert hit.hit.evidence["value"] == bad, where


# -- baseline/apparmor -----------------------------------------------------------------------------
_APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/"


@pytest.mark.parametrize("value", ["", "runtime/default", "localhost/", "localhost/k8s-nginx"])
def test_allowed_apparmor_annotation_values(value: str) -> None:
    assert discriminators(RULES["baseline/apparmor"], pod(annotations={_APPARMOR_KEY + "app": value})) == set()


@pytest.mark.parametrize("value", ["unconfined", "runtime/default2", "localhost", "Localhost/x", "docker/default"])
def test_apparmor_annotation_values_just_outside_fail(value: str) -> None:
    (verdict,) = verdicts(RULES["baseline/apparmor"], [pod(annotations={_APPARMOR_KEY + "app": value})])
    assert verdict.hit.discriminator == "app"
    assert verdict.hit.evidence == {"field": f"metadata.annotations['{_APPARMOR_KEY}app']", "value": value}


def test_other_annotations_never_fail_apparmor() -> None:
    """A team annotation and a seccomp annotation survive normalization; neither is an AppArmor profile."""
    annotations = {
        "team": "payments",
        "example.com/team": "unconfined",
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/app": "unconfined",
    }
    body = pod(annotations=annotations)
    assert discriminators(RULES["baseline/apparmor"], body) == set()
    body["metadata"]["annotations"][_APPARMOR_KEY + "app"] = "unconfined"
    assert discriminators(RULES["baseline/apparmor"], body) == {"app"}


@pytest.mark.parametrize("kind", sorted(APPARMOR_TYPES))
def test_each_apparmor_type_passes_everywhere(kind: str) -> None:
    profile = {"type": kind}
    body = pod(ctr(appArmorProfile=profile), init=[ctr("setup", appArmorProfile=profile)])
    body["spec"]["securityContext"] = {"appArmorProfile": profile}
    assert discriminators(RULES["baseline/apparmor"], body) == set()


@pytest.mark.parametrize("where", ["containers", "init", "ephemeral"])
def test_apparmor_type_outside_fails_in_every_container_list(where: str) -> None:
    body = _one_container(where, appArmorProfile={"type": "runtime/default"})
    (verdict,) = verdicts(RULES["baseline/apparmor"], [body])
    assert verdict.hit.evidence["value"] == "runtime/default"


# -- seccomp (baseline and restricted) -------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(SECCOMP_TYPES))
def test_each_seccomp_type_passes_both_profiles(kind: str) -> None:
    for control in ("baseline/seccomp", "restricted/seccomp"):
        at_pod = pod(ctr(), init=[ctr("setup")], securityContext={"seccompProfile": {"type": kind}})
        per_container = pod(ctr(seccompProfile={"type": kind}), init=[ctr("setup", seccompProfile={"type": kind})])
        assert discriminators(RULES[control], at_pod) == set(), control
        assert discriminators(RULES[control], per_container) == set(), control


@pytest.mark.parametrize("value", ["Unconfined", "runtime/default", "localhost"])
def test_seccomp_type_outside_fails_both_profiles(value: str) -> None:
    for control in ("baseline/seccomp", "restricted/seccomp"):
        body = pod(ctr(seccompProfile={"type": "RuntimeDefault"}), securityContext={"seccompProfile": {"type": value}})
        assert discriminators(RULES[control], body) == {""}, control


def test_restricted_seccomp_an_unset_container_under_a_bad_pod_value_fails_too() -> None:
    """The pod's Unconfined is reported once, and a container relying on it is not covered."""
    body = pod(ctr(), ctr("ok", seccompProfile={"type": "Localhost"}), securityContext={"seccompProfile": {}})
    assert discriminators(RULES["restricted/seccomp"], body) == {"app"}
    body["spec"]["securityContext"] = {"seccompProfile": {"type": "Unconfined"}}
    assert discriminators(RULES["restricted/seccomp"], body) == {"", "app"}
    assert discriminators(RULES["baseline/seccomp"], body) == {""}


# -- restricted/capabilities -----------------------------------------------------------------------
def test_restricted_capabilities_both_conditions() -> None:
    rule = RULES["restricted/capabilities"]
    assert (
        discriminators(rule, pod(ctr(capabilities={"drop": ["NET_RAW", "ALL"], "add": ["NET_BIND_SERVICE"]}))) == set()
    )
    (verdict,) = verdicts(rule, [pod(ctr(capabilities={"drop": ["NET_RAW"]}))])
    assert verdict.hit.evidence["value"] == {"drop": ["NET_RAW"], "add": []}
    assert verdict.hit.evidence["drops_all"] is False
    (verdict,) = verdicts(rule, [pod(ctr(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]}))])
    assert verdict.hit.evidence["value"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert verdict.hit.evidence["drops_all"] is True


@pytest.mark.parametrize("where", ["containers", "init", "ephemeral"])
def test_restricted_capabilities_in_every_container_list(where: str) -> None:
    rule = RULES["restricted/capabilities"]
    clean = {"capabilities": {"drop": ["ALL"]}}
    assert discriminators(rule, _one_container(where, clean, **clean)) == set()
    bad = _one_container(where, clean, capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})
    assert discriminators(rule, bad) == {"app" if where == "containers" else "other"}


# -- volumes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(RESTRICTED_VOLUME_TYPES))
def test_each_restricted_volume_type_passes(kind: str) -> None:
    body = pod(volumes=[{"name": "v", kind: {}}])
    assert discriminators(RULES["restricted/volume-types"], body) == set()
    assert discriminators(RULES["baseline/hostpath-volumes"], body) == set()


@pytest.mark.parametrize("kind", RESTRICTED_VOLUME_SOURCES)
def test_each_named_restricted_source_fails(kind: str) -> None:
    (verdict,) = verdicts(RULES["restricted/volume-types"], [pod(volumes=[{"name": "v", kind: {"x": "y"}}])])
    assert (verdict.hit.discriminator, verdict.hit.evidence["value"]) == ("v", [kind])


def test_hostpath_is_found_in_a_single_and_in_a_multi_source_volume() -> None:
    rule = RULES["baseline/hostpath-volumes"]
    single = {"name": "one", "hostPath": {"path": "/etc"}}
    multi = {"name": "two", "emptyDir": {}, "hostPath": {"path": "/var/run/docker.sock"}}
    clean_multi = {"name": "three", "emptyDir": {}, "configMap": {"name": "c"}}
    hits = {v.hit.discriminator: v.hit.evidence for v in verdicts(rule, [pod(volumes=[single, multi, clean_multi])])}
    assert hits == {
        "one": {"field": "spec.volumes[*].hostPath", "path": "/etc"},
        "two": {"field": "spec.volumes[*].hostPath", "path": "/var/run/docker.sock"},
    }
    (restricted,) = verdicts(RULES["restricted/volume-types"], [pod(volumes=[multi, clean_multi])])
    assert (restricted.hit.discriminator, restricted.hit.evidence["value"]) == ("two", ["hostPath"])


def test_a_hostpath_without_a_path_is_still_a_hostpath() -> None:
    # ``hostPath: null`` names the source without its object (the API server refuses it; a manifest may not).
    (verdict,) = verdicts(RULES["baseline/hostpath-volumes"], [pod(volumes=[{"name": "bare", "hostPath": None}])])
    assert verdict.hit.evidence == {"field": "spec.volumes[*].hostPath", "path": ""}


# -- host ports, hostProcess, privileged, procMount ------------------------------------------------
@pytest.mark.parametrize("where", ["containers", "init", "ephemeral"])
def test_host_ports_in_every_container_list(where: str) -> None:
    body = _one_container(where)
    target = _target(body, where)
    target["ports"] = [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}]
    assert discriminators(RULES["baseline/host-ports"], body) == set()
    target["ports"] += [{"containerPort": 443, "hostPort": 8443}, {"containerPort": 22, "hostPort": 2222}]
    (verdict,) = verdicts(RULES["baseline/host-ports"], [body])
    assert verdict.hit.evidence["value"] == [8443, 2222]


@pytest.mark.parametrize("where", ["containers", "init", "ephemeral"])
@pytest.mark.parametrize(
    ("control", "security", "field"),
    [
        ("baseline/hostprocess", {"windowsOptions": {"hostProcess": True}}, "windowsOptions.hostProcess"),
        ("baseline/privileged-containers", {"privileged": True}, "privileged"),
        ("baseline/proc-mount-type", {"procMount": "Unmasked"}, "procMount"),
    ],
)
def test_container_flags_on_both_sides(where: str, control: str, security: dict[str, Any], field: str) -> None:
    (verdict,) = verdicts(RULES[control], [_one_container(where, **security)])
    name = "app" if where == "containers" else "other"
    assert verdict.hit.evidence["field"] == f"spec.{LISTS[where]}[{name}].securityContext.{field}"
    off = {"windowsOptions": {"hostProcess": False}, "privileged": False, "procMount": "Default"}
    assert discriminators(RULES[control], _one_container(where, **{k: off[k] for k in security})) == set()


def test_pod_level_host_process_true_only() -> None:
    rule = RULES["baseline/hostprocess"]
    assert discriminators(rule, pod(securityContext={"windowsOptions": {"runAsUserName": "x"}})) == set()
    (verdict,) = verdicts(rule, [pod(securityContext={"windowsOptions": {"hostProcess": True}})])
    assert verdict.hit.evidence == {"field": "spec.securityContext.windowsOptions.hostProcess", "value": True}


# -- restricted: pod-level and container-level precedence ------------------------------------------
@pytest.mark.parametrize(
    ("pod_value", "container_value", "expected"),
    [
        (None, None, {"app", "setup"}),
        (True, None, set()),
        (None, True, set()),
        (True, False, {"app", "setup"}),
        (False, True, {""}),
        (False, None, {"", "app", "setup"}),
        (False, False, {"", "app", "setup"}),
    ],
)
def test_run_as_non_root_precedence(pod_value: bool | None, container_value: bool | None, expected: set[str]) -> None:
    """``container_value`` is set on both containers (init and regular); ``None`` leaves it unset."""
    security = {} if container_value is None else {"runAsNonRoot": container_value}
    body = pod(ctr(**security), init=[ctr("setup", **security)])
    if pod_value is not None:
        body["spec"]["securityContext"] = {"runAsNonRoot": pod_value}
    assert discriminators(RULES["restricted/running-as-non-root"], body) == expected


@pytest.mark.parametrize(
    ("pod_uid", "container_uid", "expected"),
    [(None, None, set()), (1000, None, set()), (0, None, {""}), (0, 1000, {""}), (1000, 0, {"app"}), (None, 1, set())],
)
def test_run_as_user_zero_wherever_it_is_set(
    pod_uid: int | None, container_uid: int | None, expected: set[str]
) -> None:
    body = pod(ctr() if container_uid is None else ctr(runAsUser=container_uid))
    if pod_uid is not None:
        body["spec"]["securityContext"] = {"runAsUser": pod_uid}
    assert discriminators(RULES["restricted/running-as-non-root-user"], body) == expected


@pytest.mark.parametrize("where", ["containers", "init", "ephemeral"])
def test_privilege_escalation_each_list_and_value(where: str) -> None:
    rule = RULES["restricted/privilege-escalation"]
    for value, failing in ((False, False), (True, True), (None, True)):
        security = {} if value is None else {"allowPrivilegeEscalation": value}
        body = _one_container(where, {"allowPrivilegeEscalation": False}, **security)
        hits = verdicts(rule, [body])
        assert len(hits) == failing, (where, value)
        if failing:
            assert hits[0].hit.evidence["value"] == value


@pytest.mark.parametrize(
    "control", ["restricted/privilege-escalation", "restricted/seccomp", "restricted/capabilities"]
)
def test_windows_exemption_needs_os_windows(control: str) -> None:
    assert discriminators(RULES[control], pod(os={"name": "windows"})) == set()
    assert discriminators(RULES[control], pod(os={"name": "linux"})) == {"app"}


# -- evidence: the field a finding points at and the value it saw ----------------------------------
def _probe(**probe: Any) -> dict[str, Any]:
    return pod({**ctr(), "livenessProbe": probe})


EVIDENCE = [
    (
        "baseline/hostprocess",
        pod(ctr(windowsOptions={"hostProcess": True}), securityContext={"windowsOptions": {"hostProcess": True}}),
        [
            ("", {"field": "spec.securityContext.windowsOptions.hostProcess", "value": True}),
            ("app", {"field": "spec.containers[app].securityContext.windowsOptions.hostProcess", "value": True}),
        ],
    ),
    ("baseline/host-namespaces", pod(hostPID=True), [("hostPID", {"field": "spec.hostPID", "value": True})]),
    (
        "baseline/privileged-containers",
        pod(init=[ctr("setup", privileged=True)]),
        [("setup", {"field": "spec.initContainers[setup].securityContext.privileged", "value": True})],
    ),
    (
        "baseline/capabilities",
        pod(ctr(capabilities={"add": ["CHOWN", "NET_RAW"]})),
        [("app", {"field": "spec.containers[app].securityContext.capabilities.add", "value": ["NET_RAW"]})],
    ),
    (
        "baseline/hostpath-volumes",
        pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]),
        [("logs", {"field": "spec.volumes[*].hostPath", "path": "/var/log"})],
    ),
    (
        "baseline/host-ports",
        pod({**ctr(), "ports": [{"containerPort": 80, "hostPort": 8080}]}),
        [("app", {"field": "spec.containers[app].ports[*].hostPort", "value": [8080]})],
    ),
    (
        "baseline/host-probes",
        _probe(httpGet={"port": 80, "host": "10.0.0.1"}),
        [("app", {"fields": [{"field": "livenessProbe.httpGet.host", "host": "10.0.0.1"}]})],
    ),
    (
        "baseline/apparmor",
        pod(ctr(appArmorProfile={"type": "Unconfined"}), securityContext={"appArmorProfile": {"type": "Unconfined"}}),
        [
            ("", {"field": "spec.securityContext.appArmorProfile.type", "value": "Unconfined"}),
            ("app", {"field": "spec.containers[app].securityContext.appArmorProfile.type", "value": "Unconfined"}),
        ],
    ),
    (
        "baseline/selinux",
        pod(ctr(seLinuxOptions={"user": "u"}), securityContext={"seLinuxOptions": {"type": "spc_t"}}),
        [
            ("", {"field": "spec.securityContext.seLinuxOptions", "value": {"type": "spc_t"}}),
            ("app", {"field": "spec.containers[app].securityContext.seLinuxOptions", "value": {"user": "u"}}),
        ],
    ),
    (
        "baseline/proc-mount-type",
        pod(ephemeral=[ctr("debug", procMount="Unmasked")]),
        [("debug", {"field": "spec.ephemeralContainers[debug].securityContext.procMount", "value": "Unmasked"})],
    ),
    (
        "baseline/seccomp",
        pod(ctr(seccompProfile={"type": "Unconfined"}), securityContext={"seccompProfile": {"type": "Unconfined"}}),
        [
            ("", {"field": "spec.securityContext.seccompProfile.type", "value": "Unconfined"}),
            ("app", {"field": "spec.containers[app].securityContext.seccompProfile.type", "value": "Unconfined"}),
        ],
    ),
    (
        "baseline/sysctls",
        sysctl_pod("kernel.msgmax"),
        [("kernel.msgmax", {"field": "spec.securityContext.sysctls[*].name", "value": "kernel.msgmax"})],
    ),
    (
        "restricted/volume-types",
        pod(volumes=[{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
        [("n", {"field": "spec.volumes[*]", "value": ["nfs"]})],
    ),
    (
        "restricted/privilege-escalation",
        pod(ctr(allowPrivilegeEscalation=True)),
        [("app", {"field": "spec.containers[app].securityContext.allowPrivilegeEscalation", "value": True})],
    ),
    (
        "restricted/running-as-non-root",
        pod(ctr(runAsNonRoot=False), securityContext={"runAsNonRoot": False}),
        [
            ("", {"field": "spec.securityContext.runAsNonRoot", "value": False}),
            (
                "app",
                {"field": "spec.containers[app].securityContext.runAsNonRoot", "value": False, "pod_level": False},
            ),
        ],
    ),
    (
        "restricted/running-as-non-root-user",
        pod(ctr(runAsUser=0), securityContext={"runAsUser": 0}),
        [
            ("", {"field": "spec.securityContext.runAsUser", "value": 0}),
            ("app", {"field": "spec.containers[app].securityContext.runAsUser", "value": 0}),
        ],
    ),
    (
        "restricted/seccomp",
        pod(ctr(seccompProfile={"type": "Unconfined"}), securityContext={"seccompProfile": {"type": "Unconfined"}}),
        [
            ("", {"field": "spec.securityContext.seccompProfile.type", "value": "Unconfined"}),
            (
                "app",
                {
                    "field": "spec.containers[app].securityContext.seccompProfile.type",
                    "value": "Unconfined",
                    "pod_level": "Unconfined",
                },
            ),
        ],
    ),
    (
        "restricted/capabilities",
        pod(ctr(capabilities={"drop": ["NET_RAW"]})),
        [
            (
                "app",
                {
                    "field": "spec.containers[app].securityContext.capabilities",
                    "value": {"drop": ["NET_RAW"], "add": []},
                    "drops_all": False,
                },
            )
        ],
    ),
]


@pytest.mark.parametrize(("control", "body", "expected"), [pytest.param(*e, id=e[0]) for e in EVIDENCE])
def test_evidence_names_the_field_and_the_value(
    control: str, body: dict[str, Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    assert [(v.hit.discriminator, v.hit.evidence) for v in verdicts(RULES[control], [body])] == expected


def test_every_control_has_an_evidence_case() -> None:
    assert {e[0] for e in EVIDENCE} == set(RULES)


# -- rule metadata: ids, severities, NIST sections and peer references are what reports and the
# corpus agreement join on; a reference dropped or renamed silently breaks the mapping.
METADATA = {
    "baseline/hostprocess": (
        "K8S-PSS-HOSTPROCESS",
        Severity.HIGH,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.11", "Kubescape C-0202", "Trivy KSV103"],
    ),
    "baseline/host-namespaces": (
        "K8S-PSS-HOST-NAMESPACES",
        Severity.HIGH,
        "3.4.3",
        [
            "CIS Kubernetes Benchmark 5.2.3",
            "CIS Kubernetes Benchmark 5.2.4",
            "CIS Kubernetes Benchmark 5.2.5",
            "Kubescape C-0038",
            "Kubescape C-0041",
            "Trivy KSV008",
            "Trivy KSV009",
            "Trivy KSV010",
        ],
    ),
    "baseline/privileged-containers": (
        "K8S-PSS-PRIVILEGED",
        Severity.HIGH,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.2", "Kubescape C-0057", "Trivy KSV017"],
    ),
    "baseline/capabilities": (
        "K8S-PSS-CAPABILITIES",
        Severity.MEDIUM,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.9", "Kubescape C-0046", "Trivy KSV022"],
    ),
    "baseline/hostpath-volumes": (
        "K8S-PSS-HOSTPATH",
        Severity.MEDIUM,
        "3.5.5",
        ["CIS Kubernetes Benchmark 5.2.12", "Kubescape C-0048", "Trivy KSV023"],
    ),
    "baseline/host-ports": (
        "K8S-PSS-HOST-PORTS",
        Severity.MEDIUM,
        "3.4.2",
        ["CIS Kubernetes Benchmark 5.2.13", "Kubescape C-0044", "Trivy KSV024"],
    ),
    "baseline/host-probes": ("K8S-PSS-HOST-PROBES", Severity.MEDIUM, "3.4.2", []),
    "baseline/apparmor": ("K8S-PSS-APPARMOR", Severity.MEDIUM, "3.4.3", ["Trivy KSV002"]),
    "baseline/selinux": ("K8S-PSS-SELINUX", Severity.MEDIUM, "3.4.3", ["Trivy KSV025"]),
    "baseline/proc-mount-type": ("K8S-PSS-PROC-MOUNT", Severity.MEDIUM, "3.4.3", ["Trivy KSV027"]),
    "baseline/seccomp": ("K8S-PSS-SECCOMP", Severity.MEDIUM, "3.4.3", ["Trivy KSV104"]),
    "baseline/sysctls": ("K8S-PSS-SYSCTLS", Severity.MEDIUM, "3.5.2", ["Trivy KSV026"]),
    "restricted/volume-types": ("K8S-PSS-VOLUME-TYPES", Severity.LOW, "3.4.3", ["Trivy KSV028"]),
    "restricted/privilege-escalation": (
        "K8S-PSS-PRIVILEGE-ESCALATION",
        Severity.MEDIUM,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.6", "Kubescape C-0016", "Trivy KSV001"],
    ),
    "restricted/running-as-non-root": (
        "K8S-PSS-RUN-AS-NON-ROOT",
        Severity.MEDIUM,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.7", "Kubescape C-0013", "Trivy KSV012"],
    ),
    "restricted/running-as-non-root-user": (
        "K8S-PSS-RUN-AS-USER",
        Severity.MEDIUM,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.7", "Trivy KSV105"],
    ),
    "restricted/seccomp": (
        "K8S-PSS-SECCOMP-RESTRICTED",
        Severity.LOW,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.7.2", "Kubescape C-0210", "Trivy KSV030"],
    ),
    "restricted/capabilities": (
        "K8S-PSS-CAPABILITIES-RESTRICTED",
        Severity.LOW,
        "3.4.3",
        ["CIS Kubernetes Benchmark 5.2.10", "Kubescape C-0201", "Trivy KSV003", "Trivy KSV106"],
    ),
}


def test_rule_metadata_is_pinned() -> None:
    found = {
        r.references[0].id: (r.id, r.severity, r.nist, sorted(f"{x.framework} {x.id}" for x in r.references[1:]))
        for r in k8s_pss.RULES
    }
    assert found == METADATA
    assert all(r.title and r.remediation for r in k8s_pss.RULES)


def test_each_pss_rule_s_description_names_its_control() -> None:
    """The description restates the first reference (the control): pinned so the two cannot drift apart."""
    for control, rule in RULES.items():
        assert rule.description == f"Pod Security Standards control {control}.", rule.id


def test_an_asset_without_a_pod_summary_is_not_judged() -> None:
    # A workload whose template was not collected (or a kind without one) carries no "pod": no verdict, no crash.
    bare = AssetRecord(AssetKind.WORKLOAD, "c/apps/Deployment/web", "web", Phase.RUN, {"kind": "Deployment"})
    for rule in k8s_pss.RULES:
        assert rule.evaluate is not None
        assert list(rule.evaluate(bare, Snapshot([bare]))) == [], rule.id
