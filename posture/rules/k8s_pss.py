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

from collections.abc import Iterator, Mapping
from typing import Any

from posture.attributes.k8s import ContainerSummary, PodSummary
from posture.facts.capabilities import dangerous as dangerous_capabilities
from posture.rules.base import Hit, Rule, cis_k8s, kubescape, pss, trivy
from posture.rules.k8s_common import POD_KINDS, field_path, is_windows, on_pod, sub
from posture.taxonomy import Phase, Severity

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


def _container_hit(container: ContainerSummary, suffix: str, value: Any, **extra: Any) -> Hit:
    return Hit(container["name"], {"field": field_path(container, suffix), "value": value, **extra})


# -- Baseline -------------------------------------------------------------------------------------
def host_process(pod: PodSummary) -> Iterator[Hit]:
    if sub(pod["securityContext"], "windowsOptions").get("hostProcess") is True:
        yield Hit("", {"field": "spec.securityContext.windowsOptions.hostProcess", "value": True})
    for c in pod["containers"]:
        if sub(c["securityContext"], "windowsOptions").get("hostProcess") is True:
            yield _container_hit(c, "securityContext.windowsOptions.hostProcess", True)


def host_namespaces(pod: PodSummary) -> Iterator[Hit]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field) is True:
            yield Hit(field, {"field": f"spec.{field}", "value": True})


def privileged(pod: PodSummary) -> Iterator[Hit]:
    for c in pod["containers"]:
        if c["securityContext"].get("privileged") is True:
            yield _container_hit(c, "securityContext.privileged", True)


def _added(container: ContainerSummary) -> list[str]:
    return [str(cap) for cap in sub(container["securityContext"], "capabilities").get("add") or ()]


def capabilities_baseline(pod: PodSummary) -> Iterator[Hit]:
    for c in pod["containers"]:
        extra = [cap for cap in _added(c) if cap not in BASELINE_CAPABILITIES]
        if extra:
            dangerous = bool(dangerous_capabilities(extra))
            hit = _container_hit(c, "securityContext.capabilities.add", extra)
            yield Hit(hit.discriminator, hit.evidence, severity=Severity.HIGH if dangerous else None)


def hostpath_volumes(pod: PodSummary) -> Iterator[Hit]:
    for volume in pod["volumes"]:
        if volume["type"] == "hostPath" or "hostPath" in volume.get("types", ()):
            yield Hit(volume["name"], {"field": "spec.volumes[*].hostPath", "path": volume.get("path", "")})


def host_ports(pod: PodSummary) -> Iterator[Hit]:
    for c in pod["containers"]:
        ports = [p.get("hostPort") for p in c["ports"] if p.get("hostPort") not in (None, 0)]
        if ports:
            yield _container_hit(c, "ports[*].hostPort", ports)


def host_probes(pod: PodSummary) -> Iterator[Hit]:
    for c in pod["containers"]:
        hosts = c.get("probeHosts")
        if hosts:
            yield Hit(c["name"], {"fields": list(hosts)})


def apparmor(pod: PodSummary) -> Iterator[Hit]:
    profile = sub(pod["securityContext"], "appArmorProfile").get("type")
    if profile is not None and profile not in APPARMOR_TYPES:
        yield Hit("", {"field": "spec.securityContext.appArmorProfile.type", "value": profile})
    for c in pod["containers"]:
        profile = sub(c["securityContext"], "appArmorProfile").get("type")
        if profile is not None and profile not in APPARMOR_TYPES:
            yield _container_hit(c, "securityContext.appArmorProfile.type", profile)
    for key, value in sorted(pod["annotations"].items()):
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


def selinux(pod: PodSummary) -> Iterator[Hit]:
    bad = _selinux_problems(sub(pod["securityContext"], "seLinuxOptions"))
    if bad:
        yield Hit("", {"field": "spec.securityContext.seLinuxOptions", "value": bad})
    for c in pod["containers"]:
        bad = _selinux_problems(sub(c["securityContext"], "seLinuxOptions"))
        if bad:
            yield _container_hit(c, "securityContext.seLinuxOptions", bad)


def proc_mount(pod: PodSummary) -> Iterator[Hit]:
    for c in pod["containers"]:
        value = c["securityContext"].get("procMount")
        if value not in (None, "Default"):
            yield _container_hit(c, "securityContext.procMount", value)


def seccomp_baseline(pod: PodSummary) -> Iterator[Hit]:
    profile = sub(pod["securityContext"], "seccompProfile").get("type")
    if profile is not None and profile not in SECCOMP_TYPES:
        yield Hit("", {"field": "spec.securityContext.seccompProfile.type", "value": profile})
    for c in pod["containers"]:
        profile = sub(c["securityContext"], "seccompProfile").get("type")
        if profile is not None and profile not in SECCOMP_TYPES:
            yield _container_hit(c, "securityContext.seccompProfile.type", profile)


def sysctls(pod: PodSummary) -> Iterator[Hit]:
    for name in pod["securityContext"].get("sysctls", ()):
        if name not in SAFE_SYSCTLS:
            yield Hit(str(name), {"field": "spec.securityContext.sysctls[*].name", "value": name})


# -- Restricted -----------------------------------------------------------------------------------
def volume_types(pod: PodSummary) -> Iterator[Hit]:
    for volume in pod["volumes"]:
        kinds = volume.get("types") or ([volume["type"]] if volume["type"] else [])
        # A volume naming no source is defaulted to emptyDir by the API server.
        disallowed = [k for k in kinds if k not in RESTRICTED_VOLUME_TYPES]
        if disallowed:
            yield Hit(volume["name"], {"field": "spec.volumes[*]", "value": disallowed})


def privilege_escalation(pod: PodSummary) -> Iterator[Hit]:
    if is_windows(pod):
        return
    for c in pod["containers"]:
        value = c["securityContext"].get("allowPrivilegeEscalation")
        if value is not False:
            yield _container_hit(c, "securityContext.allowPrivilegeEscalation", value)


def run_as_non_root(pod: PodSummary) -> Iterator[Hit]:
    pod_value = pod["securityContext"].get("runAsNonRoot")
    if pod_value is False:
        yield Hit("", {"field": "spec.securityContext.runAsNonRoot", "value": False})
    for c in pod["containers"]:
        value = c["securityContext"].get("runAsNonRoot")
        if value is False or (value is None and pod_value is not True):
            yield _container_hit(c, "securityContext.runAsNonRoot", value, pod_level=pod_value)


def run_as_user(pod: PodSummary) -> Iterator[Hit]:
    if pod["securityContext"].get("runAsUser") == 0:
        yield Hit("", {"field": "spec.securityContext.runAsUser", "value": 0})
    for c in pod["containers"]:
        if c["securityContext"].get("runAsUser") == 0:
            yield _container_hit(c, "securityContext.runAsUser", 0)


def seccomp_restricted(pod: PodSummary) -> Iterator[Hit]:
    if is_windows(pod):
        return
    pod_profile = sub(pod["securityContext"], "seccompProfile").get("type")
    if pod_profile is not None and pod_profile not in SECCOMP_TYPES:
        yield Hit("", {"field": "spec.securityContext.seccompProfile.type", "value": pod_profile})
    pod_set = pod_profile in SECCOMP_TYPES
    for c in pod["containers"]:
        profile = sub(c["securityContext"], "seccompProfile").get("type")
        if (profile is not None and profile not in SECCOMP_TYPES) or (profile is None and not pod_set):
            yield _container_hit(c, "securityContext.seccompProfile.type", profile, pod_level=pod_profile)


def capabilities_restricted(pod: PodSummary) -> Iterator[Hit]:
    if is_windows(pod):
        return
    for c in pod["containers"]:
        caps = sub(c["securityContext"], "capabilities")
        dropped = [str(cap) for cap in caps.get("drop") or ()]
        added = [cap for cap in _added(c) if cap not in RESTRICTED_ADD_CAPABILITIES]
        if "ALL" not in dropped or added:
            yield _container_hit(
                c, "securityContext.capabilities", {"drop": dropped, "add": added}, drops_all="ALL" in dropped
            )


RULES: list[Rule] = [
    Rule(
        id="K8S-PSS-HOSTPROCESS",
        title="Windows HostProcess container",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Leave windowsOptions.hostProcess unset or false on the pod and every container.",
        references=(pss("baseline/hostprocess"), cis_k8s("5.2.11"), trivy("KSV103"), kubescape("C-0202")),
        kinds=POD_KINDS,
        evaluate=on_pod(host_process),
        description="Pod Security Standards control baseline/hostprocess.",
    ),
    Rule(
        id="K8S-PSS-HOST-NAMESPACES",
        title="Pod shares a host namespace",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Remove hostNetwork, hostPID and hostIPC (or set them to false).",
        references=(
            pss("baseline/host-namespaces"),
            cis_k8s("5.2.3"),
            cis_k8s("5.2.4"),
            cis_k8s("5.2.5"),
            trivy("KSV008"),
            trivy("KSV009"),
            trivy("KSV010"),
            kubescape("C-0038"),
            kubescape("C-0041"),
        ),
        kinds=POD_KINDS,
        evaluate=on_pod(host_namespaces),
        description="Pod Security Standards control baseline/host-namespaces.",
    ),
    Rule(
        id="K8S-PSS-PRIVILEGED",
        title="Privileged container",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Remove securityContext.privileged (or set it to false) on every container, including init and "
        "ephemeral ones.",
        references=(pss("baseline/privileged-containers"), cis_k8s("5.2.2"), trivy("KSV017"), kubescape("C-0057")),
        kinds=POD_KINDS,
        evaluate=on_pod(privileged),
        description="Pod Security Standards control baseline/privileged-containers.",
    ),
    Rule(
        id="K8S-PSS-CAPABILITIES",
        title="Container adds capabilities beyond the baseline set",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Add only capabilities from the baseline list (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, "
        "KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT).",
        references=(pss("baseline/capabilities"), cis_k8s("5.2.9"), trivy("KSV022"), kubescape("C-0046")),
        kinds=POD_KINDS,
        evaluate=on_pod(capabilities_baseline),
        description="Pod Security Standards control baseline/capabilities.",
    ),
    Rule(
        id="K8S-PSS-HOSTPATH",
        title="hostPath volume",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.5.5",
        remediation="Replace hostPath volumes with configMap, secret, emptyDir or persistent volumes.",
        references=(pss("baseline/hostpath-volumes"), cis_k8s("5.2.12"), trivy("KSV023"), kubescape("C-0048")),
        kinds=POD_KINDS,
        evaluate=on_pod(hostpath_volumes),
        description="Pod Security Standards control baseline/hostpath-volumes.",
    ),
    Rule(
        id="K8S-PSS-HOST-PORTS",
        title="Container binds a host port",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Remove hostPort (or set it to 0); expose the workload through a Service instead.",
        references=(pss("baseline/host-ports"), cis_k8s("5.2.13"), trivy("KSV024"), kubescape("C-0044")),
        kinds=POD_KINDS,
        evaluate=on_pod(host_ports),
        description="Pod Security Standards control baseline/host-ports.",
    ),
    Rule(
        id="K8S-PSS-HOST-PROBES",
        title="Probe or lifecycle hook targets another host",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Remove the host field of httpGet/tcpSocket probes and lifecycle hooks (it defaults to the pod "
        "IP).",
        references=(pss("baseline/host-probes"),),
        kinds=POD_KINDS,
        evaluate=on_pod(host_probes),
        description="Pod Security Standards control baseline/host-probes.",
    ),
    Rule(
        id="K8S-PSS-APPARMOR",
        title="AppArmor profile overridden or disabled",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Leave the AppArmor profile unset or use RuntimeDefault / Localhost "
        "(annotation: runtime/default or localhost/*).",
        references=(pss("baseline/apparmor"), trivy("KSV002")),
        kinds=POD_KINDS,
        evaluate=on_pod(apparmor),
        description="Pod Security Standards control baseline/apparmor.",
    ),
    Rule(
        id="K8S-PSS-SELINUX",
        title="Custom SELinux options",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Leave seLinuxOptions.user and .role unset and use only container_t, container_init_t, "
        "container_kvm_t or container_engine_t as the type.",
        references=(pss("baseline/selinux"), trivy("KSV025")),
        kinds=POD_KINDS,
        evaluate=on_pod(selinux),
        description="Pod Security Standards control baseline/selinux.",
    ),
    Rule(
        id="K8S-PSS-PROC-MOUNT",
        title="Unmasked /proc mount",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Leave securityContext.procMount unset or Default.",
        references=(pss("baseline/proc-mount-type"), trivy("KSV027")),
        kinds=POD_KINDS,
        evaluate=on_pod(proc_mount),
        description="Pod Security Standards control baseline/proc-mount-type.",
    ),
    Rule(
        id="K8S-PSS-SECCOMP",
        title="Seccomp disabled (Unconfined)",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not set seccompProfile.type to Unconfined; use RuntimeDefault or Localhost.",
        references=(pss("baseline/seccomp"), trivy("KSV104")),
        kinds=POD_KINDS,
        evaluate=on_pod(seccomp_baseline),
        description="Pod Security Standards control baseline/seccomp.",
    ),
    Rule(
        id="K8S-PSS-SYSCTLS",
        title="Unsafe sysctl",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.5.2",
        remediation="Set only the safe, namespaced sysctls the baseline profile allows.",
        references=(pss("baseline/sysctls"), trivy("KSV026")),
        kinds=POD_KINDS,
        evaluate=on_pod(sysctls),
        description="Pod Security Standards control baseline/sysctls.",
    ),
    Rule(
        id="K8S-PSS-VOLUME-TYPES",
        title="Volume type outside the restricted set",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, "
        "projected and secret volumes.",
        references=(pss("restricted/volume-types"), trivy("KSV028")),
        kinds=POD_KINDS,
        evaluate=on_pod(volume_types),
        description="Pod Security Standards control restricted/volume-types.",
    ),
    Rule(
        id="K8S-PSS-PRIVILEGE-ESCALATION",
        title="Privilege escalation allowed",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
        references=(pss("restricted/privilege-escalation"), cis_k8s("5.2.6"), trivy("KSV001"), kubescape("C-0016")),
        kinds=POD_KINDS,
        evaluate=on_pod(privilege_escalation),
        description="Pod Security Standards control restricted/privilege-escalation.",
    ),
    Rule(
        id="K8S-PSS-RUN-AS-NON-ROOT",
        title="Container may run as root",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set runAsNonRoot: true in the pod securityContext (or on every container).",
        references=(pss("restricted/running-as-non-root"), cis_k8s("5.2.7"), trivy("KSV012"), kubescape("C-0013")),
        kinds=POD_KINDS,
        evaluate=on_pod(run_as_non_root),
        description="Pod Security Standards control restricted/running-as-non-root.",
    ),
    Rule(
        id="K8S-PSS-RUN-AS-USER",
        title="Container runs as UID 0",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set runAsUser to a non-zero UID or leave it unset.",
        references=(pss("restricted/running-as-non-root-user"), cis_k8s("5.2.7"), trivy("KSV105")),
        kinds=POD_KINDS,
        evaluate=on_pod(run_as_user),
        description="Pod Security Standards control restricted/running-as-non-root-user.",
    ),
    Rule(
        id="K8S-PSS-SECCOMP-RESTRICTED",
        title="No RuntimeDefault or Localhost seccomp profile",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault at pod level (or on every container).",
        references=(pss("restricted/seccomp"), cis_k8s("5.7.2"), trivy("KSV030"), kubescape("C-0210")),
        kinds=POD_KINDS,
        evaluate=on_pod(seccomp_restricted),
        description="Pod Security Standards control restricted/seccomp.",
    ),
    Rule(
        id="K8S-PSS-CAPABILITIES-RESTRICTED",
        title="Capabilities not dropped to the restricted set",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Drop ALL capabilities on every container and add back at most NET_BIND_SERVICE.",
        references=(
            pss("restricted/capabilities"),
            cis_k8s("5.2.10"),
            trivy("KSV106"),
            trivy("KSV003"),
            kubescape("C-0201"),
        ),
        kinds=POD_KINDS,
        evaluate=on_pod(capabilities_restricted),
        description="Pod Security Standards control restricted/capabilities.",
    ),
]
