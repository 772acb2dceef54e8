"""A small Kubernetes-shaped estate the timeline tests change run by run, and the rules over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from posture.records import (
    AssetKind,
    AssetRecord,
    AssetRef,
    ObservationRecord,
    Problem,
    Record,
    RelationRecord,
    ScopeKind,
    ScopeRef,
)
from posture.rules.base import Hit, Rule, RuleRegistry, Snapshot
from posture.taxonomy import Phase, Severity

CLUSTER = "prod-eu"


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    pod = asset.attributes.get("pod", {})
    for container in pod.get("containers", []):
        if container.get("securityContext", {}).get("privileged"):
            yield Hit(discriminator=container["name"], evidence={"container": container["name"]})


def _no_limits(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    yield Hit(evidence={})


RULES = RuleRegistry([
    Rule(id="K8S-TEST-PRIV", title="Privileged container", severity=Severity.CRITICAL, phase=Phase.RUN,
         nist="3.4.3", remediation="Drop privileged.",
         kinds=frozenset({AssetKind.WORKLOAD}), evaluate=_privileged),
    Rule(id="K8S-TEST-LIMITS", title="No resource limits", severity=Severity.LOW, phase=Phase.RUN,
         nist="3.4.3", remediation="Set limits.",
         kinds=frozenset({AssetKind.WORKLOAD}), evaluate=_no_limits),
    Rule(id="VULN", title="Vulnerable package", severity=Severity.HIGH, phase=Phase.BUILD,
         nist="3.1.1", remediation="Upgrade the package."),
])


@dataclass
class Workload:
    name: str
    namespace: str = "shop"
    privileged: bool = False
    exposed: bool = False
    team: str = "payments"
    image: str = "sha256:" + "1" * 64


@dataclass
class Cluster:
    """A cluster whose workloads, CVEs (image digest → CVE ids) and problems the test edits between runs."""

    workloads: list[Workload] = field(default_factory=list)
    cves: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    name: str = CLUSTER

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.KUBERNETES, self.name)

    def collect(self) -> Iterator[Record]:
        cluster = AssetRef(AssetKind.CLUSTER, self.name)
        yield AssetRecord(cluster.kind, cluster.key, self.name, Phase.RUN, {})
        for ns in sorted({w.namespace for w in self.workloads}):
            key = f"{self.name}/Namespace/{ns}"
            yield AssetRecord(AssetKind.NAMESPACE, key, f"Namespace/{ns}", Phase.RUN, {"name": ns, "labels": {}},
                              parent=cluster)
        for digest in sorted({w.image for w in self.workloads} | set(self.cves)):
            yield AssetRecord(AssetKind.IMAGE, digest, f"app@{digest[:19]}", Phase.BUILD, {"config": {"user": "app"}})
            for cve in self.cves.get(digest, ()):
                yield ObservationRecord("VULN", AssetRef(AssetKind.IMAGE, digest), f"{cve}|openssl|3.0.2",
                                        f"{cve} in openssl 3.0.2", Severity.CRITICAL,
                                        {"vulnerability": cve, "fix_available": True, "cvss": {"score": 9.8}})
        for w in self.workloads:
            ref = AssetRef(AssetKind.WORKLOAD, f"{self.name}/{w.namespace}/Deployment/{w.name}")
            pod = {
                "labels": {"app": w.name},
                "securityContext": {"runAsNonRoot": True},
                "containers": [{"name": "main", "image": "app:1", "securityContext": {"privileged": w.privileged},
                                "ports": []}],
                "volumes": [],
            }
            attrs = {"kind": "Deployment", "name": w.name, "namespace": w.namespace, "labels": {"team": w.team},
                     "team": w.team, "pod": pod, "replicas": 1}
            if w.exposed:
                attrs["exposed"] = True
            yield AssetRecord(ref.kind, ref.key, f"{w.namespace}/Deployment/{w.name}", Phase.RUN, attrs,
                              parent=AssetRef(AssetKind.NAMESPACE, f"{self.name}/Namespace/{w.namespace}"))
            yield RelationRecord(ref, "runs", AssetRef(AssetKind.IMAGE, w.image))
        for message in self.problems:
            yield Problem(message)
