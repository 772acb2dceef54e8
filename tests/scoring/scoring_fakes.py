"""Two sources of one estate: a Docker engine running containers of an image, and a scanner report
that names the same image by its manifest digest (an alias), so scores must join across scopes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from posture.records import (
    AssetKind,
    AssetRecord,
    AssetRef,
    ObservationRecord,
    Record,
    RelationRecord,
    ScopeKind,
    ScopeRef,
)
from posture.rules.base import Hit, Rule, RuleRegistry, Snapshot
from posture.taxonomy import Phase, Severity

CONFIG_DIGEST = "sha256:" + "c" * 64
MANIFEST_DIGEST = "sha256:" + "m" * 64
ENGINE = AssetRef(AssetKind.DOCKER_ENGINE, "engine-1")


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("privileged"):
        yield Hit()


RULES = RuleRegistry([
    Rule(id="DKR-TEST-PRIV", title="Privileged container", severity=Severity.CRITICAL, phase=Phase.RUN,
         nist="3.4.3", remediation="Do not.",
         kinds=frozenset({AssetKind.CONTAINER}), evaluate=_privileged),
    Rule(id="VULN", title="Vulnerable package", severity=Severity.HIGH, phase=Phase.BUILD,
         nist="3.1.1", remediation="Upgrade."),
])


@dataclass
class Container:
    name: str
    privileged: bool = False
    published: bool = False
    running: bool = True
    team: str = ""


@dataclass
class DockerEngine:
    containers: list[Container] = field(default_factory=list)

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, "engine-1")

    def collect(self) -> Iterator[Record]:
        yield AssetRecord(ENGINE.kind, ENGINE.key, "build-host", Phase.RUN, {})
        yield AssetRecord(AssetKind.IMAGE, CONFIG_DIGEST, "app:1", Phase.BUILD, {"config": {"user": "app"}},
                          aliases=(MANIFEST_DIGEST,))
        for c in self.containers:
            ref = AssetRef(AssetKind.CONTAINER, f"{ENGINE.key}/{c.name}")
            ports = [{"container_port": "80/tcp", "host_ip": "0.0.0.0", "host_port": "80"}] if c.published else []
            attrs = {"name": c.name, "privileged": c.privileged, "running": c.running, "user": "", "ports": ports,
                     "labels": {"team": c.team} if c.team else {}}
            yield AssetRecord(ref.kind, ref.key, c.name, Phase.RUN, attrs, parent=ENGINE)
            yield RelationRecord(ref, "runs", AssetRef(AssetKind.IMAGE, CONFIG_DIGEST))


@dataclass
class ScanReport:
    """CVE id → (severity, CVSS score or None, fix available)."""

    cves: dict[str, tuple[Severity, float | None, bool]] = field(default_factory=dict)

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.REPORT, "trivy:app")

    def collect(self) -> Iterator[Record]:
        image = AssetRef(AssetKind.IMAGE, MANIFEST_DIGEST)
        yield AssetRecord(image.kind, image.key, "app@sha256:mmm", Phase.BUILD, {})
        for cve, (severity, cvss, fix) in sorted(self.cves.items()):
            evidence: dict[str, object] = {"vulnerability": cve, "fix_available": fix}
            if cvss is not None:
                evidence["cvss"] = {"source": "nvd", "score": cvss}
            yield ObservationRecord("VULN", image, f"{cve}|openssl|3.0.2", f"{cve} in openssl", severity, evidence)
