"""Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), control by control.

One rule per control of the Baseline and Restricted profiles, with the fields and allowed values the
official page lists, and the precedence the built-in Pod Security admission controller applies:
container-level values override pod-level ones, a container may leave ``runAsNonRoot`` or the
seccomp profile unset only when the pod level sets an allowed value, init and ephemeral containers
are checked like the others, and Restricted's Privilege Escalation, Seccomp and Capabilities
controls do not apply to Windows pods (``spec.os.name: windows``). A finding names the offending
container (its discriminator) or, for a pod-level field, the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from posture.facts.capabilities import dangerous as dangerous_capabilities
from posture.records import AssetRecord
from posture.rules.base import Hit, Reference, Rule, Snapshot
from posture.rules.k8s_common import POD_KINDS, containers, context, field_path, is_windows, pod_of, sub
from posture.taxonomy import CIS_K8S, KUBESCAPE, PSS, TRIVY, Phase, Severity

# Allowed values, as listed on the official page.
BASELINE_CAPABILITIES = frozenset(
    {
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
)
RESTRICTED_ADD_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",  # v1.32
        "net.ipv4.tcp_wmem",  # v1.32
    }
)
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",  # v1.33: whoever may run an image may mount it
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
#: Allowed values of the AppArmor annotation besides ``localhost/*``: empty means "not set".
_APPARMOR_ANNOTATION_VALUES = frozenset({"", "runtime/default"})
PodCheck = Callable[[Mapping[str, Any]], Iterator[Hit]]


def _rule(
    control: str,
    rule_id: str,
    title: str,
    severity: Severity,
    check: PodCheck,
    remediation: str,
    *,
    nist: str = "3.4.3",
    refs: Iterable[Reference] = (),
) -> Rule:
    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
        pod = pod_of(asset)
        return check(pod) if pod is not None else iter(())

    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        phase=Phase.RUN,
        nist=nist,
        remediation=remediation,
        references=(Reference(PSS, control), *refs),
        kinds=POD_KINDS,
        evaluate=evaluate,
        description=f"Pod Security Standards control {control}.",
    )


def _container_hit(container: Mapping[str, Any], suffix: str, value: Any, **extra: Any) -> Hit:
    return Hit(str(container.get("name", "")), {"field": field_path(container, suffix), "value": value, **extra})


# -- Baseline -------------------------------------------------------------------------------------
def host_process(pod: Mapping[str, Any]) -> Iterator[Hit]:
    if sub(context(pod), "windowsOptions").get("hostProcess") is True:
        yield Hit("", {"field": "spec.securityContext.windowsOptions.hostProcess", "value": True})
    for c in containers(pod):
        if sub(context(c), "windowsOptions").get("hostProcess") is True:
            yield _container_hit(c, "securityContext.windowsOptions.hostProcess", True)


def host_namespaces(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field) is True:
            yield Hit(field, {"field": f"spec.{field}", "value": True})


def privileged(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for c in containers(pod):
        if context(c).get("privileged") is True:
            yield _container_hit(c, "securityContext.privileged", True)


def _added(container: Mapping[str, Any]) -> list[str]:
    return [str(cap) for cap in sub(context(container), "capabilities").get("add") or ()]


def capabilities_baseline(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for c in containers(pod):
        extra = [cap for cap in _added(c) if cap not in BASELINE_CAPABILITIES]
        if extra:
            dangerous = bool(dangerous_capabilities(extra))
            hit = _container_hit(c, "securityContext.capabilities.add", extra)
            yield Hit(hit.discriminator, hit.evidence, severity=Severity.HIGH if dangerous else None)


def hostpath_volumes(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for volume in pod.get("volumes", ()):
        if volume.get("type") == "hostPath" or "hostPath" in volume.get("types", ()):
            yield Hit(
                str(volume.get("name", "")), {"field": "spec.volumes[*].hostPath", "path": volume.get("path", "")}
            )


def host_ports(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for c in containers(pod):
        ports = [p.get("hostPort") for p in c.get("ports", ()) if p.get("hostPort") not in (None, 0)]
        if ports:
            yield _container_hit(c, "ports[*].hostPort", ports)


def host_probes(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for c in containers(pod):
        hosts = c.get("probeHosts")
        if hosts:
            yield Hit(str(c.get("name", "")), {"fields": list(hosts)})


def apparmor(pod: Mapping[str, Any]) -> Iterator[Hit]:
    profile = sub(context(pod), "appArmorProfile").get("type")
    if profile is not None and profile not in APPARMOR_TYPES:
        yield Hit("", {"field": "spec.securityContext.appArmorProfile.type", "value": profile})
    for c in containers(pod):
        profile = sub(context(c), "appArmorProfile").get("type")
        if profile is not None and profile not in APPARMOR_TYPES:
            yield _container_hit(c, "securityContext.appArmorProfile.type", profile)
    for key, value in sorted(sub(pod, "annotations").items()):
        allowed = value in _APPARMOR_ANNOTATION_VALUES or value.startswith("localhost/")
        if key.startswith(_APPARMOR_ANNOTATION) and not allowed:
            yield Hit(key[len(_APPARMOR_ANNOTATION) :], {"field": f"metadata.annotations['{key}']", "value": value})


def _selinux_problems(options: Mapping[str, Any]) -> dict[str, Any]:
    bad: dict[str, Any] = {}
    if options.get("type") not in (None, *SELINUX_TYPES):
        bad["type"] = options["type"]
    for field in ("user", "role"):
        if options.get(field) not in (None, ""):
            bad[field] = options[field]
    return bad


def selinux(pod: Mapping[str, Any]) -> Iterator[Hit]:
    bad = _selinux_problems(sub(context(pod), "seLinuxOptions"))
    if bad:
        yield Hit("", {"field": "spec.securityContext.seLinuxOptions", "value": bad})
    for c in containers(pod):
        bad = _selinux_problems(sub(context(c), "seLinuxOptions"))
        if bad:
            yield _container_hit(c, "securityContext.seLinuxOptions", bad)


def proc_mount(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for c in containers(pod):
        value = context(c).get("procMount")
        if value not in (None, "Default"):
            yield _container_hit(c, "securityContext.procMount", value)


def seccomp_baseline(pod: Mapping[str, Any]) -> Iterator[Hit]:
    profile = sub(context(pod), "seccompProfile").get("type")
    if profile is not None and profile not in SECCOMP_TYPES:
        yield Hit("", {"field": "spec.securityContext.seccompProfile.type", "value": profile})
    for c in containers(pod):
        profile = sub(context(c), "seccompProfile").get("type")
        if profile is not None and profile not in SECCOMP_TYPES:
            yield _container_hit(c, "securityContext.seccompProfile.type", profile)


def sysctls(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for name in context(pod).get("sysctls", ()):
        if name not in SAFE_SYSCTLS:
            yield Hit(str(name), {"field": "spec.securityContext.sysctls[*].name", "value": name})


# -- Restricted -----------------------------------------------------------------------------------
def volume_types(pod: Mapping[str, Any]) -> Iterator[Hit]:
    for volume in pod.get("volumes", ()):
        kinds = volume.get("types") or ([volume["type"]] if volume.get("type") else [])
        # A volume naming no source is defaulted to emptyDir by the API server.
        disallowed = [k for k in kinds if k not in RESTRICTED_VOLUME_TYPES]
        if disallowed:
            yield Hit(str(volume.get("name", "")), {"field": "spec.volumes[*]", "value": disallowed})


def privilege_escalation(pod: Mapping[str, Any]) -> Iterator[Hit]:
    if is_windows(pod):
        return
    for c in containers(pod):
        value = context(c).get("allowPrivilegeEscalation")
        if value is not False:
            yield _container_hit(c, "securityContext.allowPrivilegeEscalation", value)


def run_as_non_root(pod: Mapping[str, Any]) -> Iterator[Hit]:
    pod_value = context(pod).get("runAsNonRoot")
    if pod_value is False:
        yield Hit("", {"field": "spec.securityContext.runAsNonRoot", "value": False})
    for c in containers(pod):
        value = context(c).get("runAsNonRoot")
        if value is False or (value is None and pod_value is not True):
            yield _container_hit(c, "securityContext.runAsNonRoot", value, pod_level=pod_value)


def run_as_user(pod: Mapping[str, Any]) -> Iterator[Hit]:
    if context(pod).get("runAsUser") == 0:
        yield Hit("", {"field": "spec.securityContext.runAsUser", "value": 0})
    for c in containers(pod):
        if context(c).get("runAsUser") == 0:
            yield _container_hit(c, "securityContext.runAsUser", 0)


def seccomp_restricted(pod: Mapping[str, Any]) -> Iterator[Hit]:
    if is_windows(pod):
        return
    pod_profile = sub(context(pod), "seccompProfile").get("type")
    if pod_profile is not None and pod_profile not in SECCOMP_TYPES:
        yield Hit("", {"field": "spec.securityContext.seccompProfile.type", "value": pod_profile})
    pod_set = pod_profile in SECCOMP_TYPES
    for c in containers(pod):
        profile = sub(context(c), "seccompProfile").get("type")
        if (profile is not None and profile not in SECCOMP_TYPES) or (profile is None and not pod_set):
            yield _container_hit(c, "securityContext.seccompProfile.type", profile, pod_level=pod_profile)


def capabilities_restricted(pod: Mapping[str, Any]) -> Iterator[Hit]:
    if is_windows(pod):
        return
    for c in containers(pod):
        caps = sub(context(c), "capabilities")
        dropped = [str(cap) for cap in caps.get("drop") or ()]
        added = [cap for cap in _added(c) if cap not in RESTRICTED_ADD_CAPABILITIES]
        if "ALL" not in dropped or added:
            yield _container_hit(
                c, "securityContext.capabilities", {"drop": dropped, "add": added}, drops_all="ALL" in dropped
            )


def _cis(number: str) -> Reference:
    return Reference(CIS_K8S, number)


RULES: list[Rule] = [
    _rule(
        "baseline/hostprocess",
        "K8S-PSS-HOSTPROCESS",
        "Windows HostProcess container",
        Severity.HIGH,
        host_process,
        "Leave windowsOptions.hostProcess unset or false on the pod and every container.",
        refs=(_cis("5.2.11"), Reference(TRIVY, "KSV103"), Reference(KUBESCAPE, "C-0202")),
    ),
    _rule(
        "baseline/host-namespaces",
        "K8S-PSS-HOST-NAMESPACES",
        "Pod shares a host namespace",
        Severity.HIGH,
        host_namespaces,
        "Remove hostNetwork, hostPID and hostIPC (or set them to false).",
        refs=(
            _cis("5.2.3"),
            _cis("5.2.4"),
            _cis("5.2.5"),
            Reference(TRIVY, "KSV008"),
            Reference(TRIVY, "KSV009"),
            Reference(TRIVY, "KSV010"),
            Reference(KUBESCAPE, "C-0038"),
            Reference(KUBESCAPE, "C-0041"),
        ),
    ),
    _rule(
        "baseline/privileged-containers",
        "K8S-PSS-PRIVILEGED",
        "Privileged container",
        Severity.HIGH,
        privileged,
        "Remove securityContext.privileged (or set it to false) on every container, including init and ephemeral ones.",
        refs=(_cis("5.2.2"), Reference(TRIVY, "KSV017"), Reference(KUBESCAPE, "C-0057")),
    ),
    _rule(
        "baseline/capabilities",
        "K8S-PSS-CAPABILITIES",
        "Container adds capabilities beyond the baseline set",
        Severity.MEDIUM,
        capabilities_baseline,
        "Add only capabilities from the baseline list (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, "
        "NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT).",
        refs=(_cis("5.2.9"), Reference(TRIVY, "KSV022"), Reference(KUBESCAPE, "C-0046")),
    ),
    _rule(
        "baseline/hostpath-volumes",
        "K8S-PSS-HOSTPATH",
        "hostPath volume",
        Severity.MEDIUM,
        hostpath_volumes,
        "Replace hostPath volumes with configMap, secret, emptyDir or persistent volumes.",
        nist="3.5.5",
        refs=(_cis("5.2.12"), Reference(TRIVY, "KSV023"), Reference(KUBESCAPE, "C-0048")),
    ),
    _rule(
        "baseline/host-ports",
        "K8S-PSS-HOST-PORTS",
        "Container binds a host port",
        Severity.MEDIUM,
        host_ports,
        "Remove hostPort (or set it to 0); expose the workload through a Service instead.",
        nist="3.4.2",
        refs=(_cis("5.2.13"), Reference(TRIVY, "KSV024"), Reference(KUBESCAPE, "C-0044")),
    ),
    _rule(
        "baseline/host-probes",
        "K8S-PSS-HOST-PROBES",
        "Probe or lifecycle hook targets another host",
        Severity.MEDIUM,
        host_probes,
        "Remove the host field of httpGet/tcpSocket probes and lifecycle hooks (it defaults to the pod IP).",
        nist="3.4.2",
    ),
    _rule(
        "baseline/apparmor",
        "K8S-PSS-APPARMOR",
        "AppArmor profile overridden or disabled",
        Severity.MEDIUM,
        apparmor,
        "Leave the AppArmor profile unset or use RuntimeDefault / Localhost "
        "(annotation: runtime/default or localhost/*).",
        refs=(Reference(TRIVY, "KSV002"),),
    ),
    _rule(
        "baseline/selinux",
        "K8S-PSS-SELINUX",
        "Custom SELinux options",
        Severity.MEDIUM,
        selinux,
        "Leave seLinuxOptions.user and .role unset and use only container_t, container_init_t, container_kvm_t or "
        "container_engine_t as the type.",
        refs=(Reference(TRIVY, "KSV025"),),
    ),
    _rule(
        "baseline/proc-mount-type",
        "K8S-PSS-PROC-MOUNT",
        "Unmasked /proc mount",
        Severity.MEDIUM,
        proc_mount,
        "Leave securityContext.procMount unset or Default.",
        refs=(Reference(TRIVY, "KSV027"),),
    ),
    _rule(
        "baseline/seccomp",
        "K8S-PSS-SECCOMP",
        "Seccomp disabled (Unconfined)",
        Severity.MEDIUM,
        seccomp_baseline,
        "Do not set seccompProfile.type to Unconfined; use RuntimeDefault or Localhost.",
        refs=(Reference(TRIVY, "KSV104"),),
    ),
    _rule(
        "baseline/sysctls",
        "K8S-PSS-SYSCTLS",
        "Unsafe sysctl",
        Severity.MEDIUM,
        sysctls,
        "Set only the safe, namespaced sysctls the baseline profile allows.",
        nist="3.5.2",
        refs=(Reference(TRIVY, "KSV026"),),
    ),
    _rule(
        "restricted/volume-types",
        "K8S-PSS-VOLUME-TYPES",
        "Volume type outside the restricted set",
        Severity.LOW,
        volume_types,
        "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and "
        "secret volumes.",
        refs=(Reference(TRIVY, "KSV028"),),
    ),
    _rule(
        "restricted/privilege-escalation",
        "K8S-PSS-PRIVILEGE-ESCALATION",
        "Privilege escalation allowed",
        Severity.MEDIUM,
        privilege_escalation,
        "Set securityContext.allowPrivilegeEscalation: false on every container.",
        refs=(_cis("5.2.6"), Reference(TRIVY, "KSV001"), Reference(KUBESCAPE, "C-0016")),
    ),
    _rule(
        "restricted/running-as-non-root",
        "K8S-PSS-RUN-AS-NON-ROOT",
        "Container may run as root",
        Severity.MEDIUM,
        run_as_non_root,
        "Set runAsNonRoot: true in the pod securityContext (or on every container).",
        refs=(_cis("5.2.7"), Reference(TRIVY, "KSV012"), Reference(KUBESCAPE, "C-0013")),
    ),
    _rule(
        "restricted/running-as-non-root-user",
        "K8S-PSS-RUN-AS-USER",
        "Container runs as UID 0",
        Severity.MEDIUM,
        run_as_user,
        "Set runAsUser to a non-zero UID or leave it unset.",
        refs=(_cis("5.2.7"), Reference(TRIVY, "KSV105")),
    ),
    _rule(
        "restricted/seccomp",
        "K8S-PSS-SECCOMP-RESTRICTED",
        "No RuntimeDefault or Localhost seccomp profile",
        Severity.LOW,
        seccomp_restricted,
        "Set securityContext.seccompProfile.type: RuntimeDefault at pod level (or on every container).",
        refs=(_cis("5.7.2"), Reference(TRIVY, "KSV030"), Reference(KUBESCAPE, "C-0210")),
    ),
    _rule(
        "restricted/capabilities",
        "K8S-PSS-CAPABILITIES-RESTRICTED",
        "Capabilities not dropped to the restricted set",
        Severity.LOW,
        capabilities_restricted,
        "Drop ALL capabilities on every container and add back at most NET_BIND_SERVICE.",
        refs=(_cis("5.2.10"), Reference(TRIVY, "KSV106"), Reference(TRIVY, "KSV003"), Reference(KUBESCAPE, "C-0201")),
    ),
]
