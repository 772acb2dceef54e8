"""A small estate collected through the real pipeline in two runs, for the TUI and report tests.

Every lifecycle phase and source is present and joined by one image digest (IMAGE_A): a scanner
report states its CVEs, a registry tag points to it, a Docker container and a Kubernetes workload
and pod run it (the workload exposed by a LoadBalancer Service and an Ingress). Between run 1 and
run 2 a CVE is fixed, a new one appears and a workload finding gets more severe, so the diff and
"changes" have one of each. Some names are hostile: markup, an OSC 52 escape and a bidi override.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from posture.db import write_session
from posture.model import score_table
from posture.pipeline import collect
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
from posture.rules.base import Hit, Reference, Rule, RuleRegistry, Snapshot
from posture.taxonomy import CIS_DOCKER, CIS_K8S, Phase, Severity

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
NOW = T1 + timedelta(hours=2)

HOSTILE_MARKUP = "[@click=app.quit]x[/]"
OSC52 = "\x1b]52;c;ZXZpbA==\x07"
BIDI = "invoice\u202egpj.exe"
IMAGE_A = "sha256:" + "a" * 64
IMAGE_B = "sha256:" + "b" * 64

ENGINE = AssetRef(AssetKind.DOCKER_ENGINE, "engine:test")
CLUSTER = AssetRef(AssetKind.CLUSTER, "prod")
NAMESPACE = AssetRef(AssetKind.NAMESPACE, "prod/Namespace/payments")
WORKLOAD = AssetRef(AssetKind.WORKLOAD, "prod/payments/Deployment/api")
POD = AssetRef(AssetKind.POD, "prod/payments/Pod/api-7d9f")
SERVICE = AssetRef(AssetKind.SERVICE, "prod/payments/Service/api")
INGRESS = AssetRef(AssetKind.INGRESS, "prod/payments/Ingress/api")
REGISTRY = AssetRef(AssetKind.REGISTRY, "registry.test")
REPOSITORY = AssetRef(AssetKind.REPOSITORY, "registry.test/shop/api")
TAG = AssetRef(AssetKind.TAG, "registry.test/shop/api:1.4")
IMAGE = AssetRef(AssetKind.IMAGE, IMAGE_A)


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("privileged"):
        yield Hit(evidence={"privileged": True})


def _root_workload(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("runAsRoot"):
        exposed = bool(asset.attributes.get("exposed"))
        yield Hit(
            evidence={"runAsNonRoot": False, "exposed": exposed}, severity=Severity.HIGH if exposed else Severity.MEDIUM
        )


def _insecure_registry(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("scheme") == "http":
        yield Hit(evidence={"scheme": "http"})


def _root_image(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    user = asset.attributes.get("config", {}).get("user")
    if user in ("", "root", "0"):
        yield Hit(evidence={"user": user})


RULES = RuleRegistry(
    [
        Rule(
            id="DKR-T01",
            title="Container runs privileged",
            severity=Severity.CRITICAL,
            phase=Phase.RUN,
            nist="3.4.3",
            remediation="Remove --privileged; grant only the capabilities the process needs.",
            references=(Reference(CIS_DOCKER, "5.5"),),
            kinds=frozenset({AssetKind.CONTAINER}),
            evaluate=_privileged,
        ),
        Rule(
            id="K8S-T01",
            title="Workload may run as root",
            severity=Severity.MEDIUM,
            phase=Phase.RUN,
            nist="3.3.4",
            remediation="Set runAsNonRoot: true in the pod security context.",
            references=(Reference(CIS_K8S, "5.2.6"),),
            kinds=frozenset({AssetKind.WORKLOAD}),
            evaluate=_root_workload,
        ),
        Rule(
            id="REG-T01",
            title="Registry served over plain HTTP",
            severity=Severity.HIGH,
            phase=Phase.DISTRIBUTE,
            nist="3.2.1",
            remediation="Serve the registry over TLS.",
            kinds=frozenset({AssetKind.REGISTRY}),
            evaluate=_insecure_registry,
        ),
        Rule(
            id="IMG-T01",
            title="Image runs as root",
            severity=Severity.LOW,
            phase=Phase.BUILD,
            nist="3.1.2",
            remediation="Set a non-root USER in the Dockerfile.",
            kinds=frozenset({AssetKind.IMAGE}),
            evaluate=_root_image,
        ),
        Rule(
            id="IMG-T02",
            title="Secret in image environment",
            severity=Severity.HIGH,
            phase=Phase.BUILD,
            nist="3.1.4",
            remediation="Pass secrets at run time, never in ENV.",
        ),
        Rule(
            id="VULN",
            title="Vulnerable package",
            severity=Severity.HIGH,
            phase=Phase.BUILD,
            nist="3.1.1",
            remediation="Upgrade the package.",
        ),
    ]
)


@dataclass
class ListCollector:
    """A source scope that yields fixed records."""

    ref: ScopeRef
    records: list[Record]

    @property
    def scope(self) -> ScopeRef:
        return self.ref

    def collect(self) -> Iterator[Record]:
        yield from self.records


def _docker() -> ListCollector:
    records: list[Record] = [AssetRecord(ENGINE.kind, ENGINE.key, "docker-host-1", Phase.RUN, {"rootless": False})]
    containers = [
        (
            "c1",
            "web",
            IMAGE_A,
            {
                "privileged": True,
                "user": "",
                "labels": {"team": "web-team"},
                "ports": [{"container_port": "80/tcp", "host_ip": "0.0.0.0", "host_port": "8080"}],
            },
        ),
        ("c2", HOSTILE_MARKUP, IMAGE_B, {"privileged": True, "labels": {"team": "web-team", "note": OSC52 + "clip"}}),
        ("c3", BIDI, IMAGE_B, {"privileged": False}),
    ]
    for cid, name, image, attrs in containers:
        ref = AssetRef(AssetKind.CONTAINER, f"{ENGINE.key}/{cid}")
        records.append(AssetRecord(ref.kind, ref.key, name, Phase.RUN, attrs, parent=ENGINE))
        records.append(RelationRecord(ref, "runs", AssetRef(AssetKind.IMAGE, image)))
    return ListCollector(ScopeRef(ScopeKind.DOCKER, "engine:test"), records)


def _kubernetes(run: int) -> ListCollector:
    ns = {"namespace": "payments"}
    records: list[Record] = [
        AssetRecord(CLUSTER.kind, CLUSTER.key, "prod", Phase.RUN, {"version": "1.30"}),
        AssetRecord(NAMESPACE.kind, NAMESPACE.key, "payments", Phase.RUN, {"labels": {"team": "payments"}}, CLUSTER),
        AssetRecord(
            WORKLOAD.kind,
            WORKLOAD.key,
            "payments/Deployment/api",
            Phase.RUN,
            {
                **ns,
                "labels": {"team": "payments"},
                "runAsRoot": True,
                "exposed": run > 1,
                "exposure": [{"via": "LoadBalancer", "path": ["payments/Service/api", "payments/Deployment/api"]}]
                if run > 1
                else [],
            },
            NAMESPACE,
        ),
        AssetRecord(POD.kind, POD.key, "payments/Pod/api-7d9f", Phase.RUN, {**ns, "phase": "Running"}, NAMESPACE),
        AssetRecord(
            SERVICE.kind,
            SERVICE.key,
            "payments/Service/api",
            Phase.RUN,
            {**ns, "type": "LoadBalancer", "exposed": True},
            NAMESPACE,
        ),
        AssetRecord(INGRESS.kind, INGRESS.key, "payments/Ingress/api", Phase.RUN, {**ns, "exposed": True}, NAMESPACE),
        RelationRecord(POD, "owned-by", WORKLOAD),
        RelationRecord(POD, "runs", IMAGE),
        RelationRecord(WORKLOAD, "runs", IMAGE),
        RelationRecord(SERVICE, "exposes", WORKLOAD),
        RelationRecord(INGRESS, "routes-to", SERVICE),
    ]
    return ListCollector(ScopeRef(ScopeKind.KUBERNETES, "prod"), records)


def _registry(run: int) -> ListCollector:
    records: list[Record] = [
        AssetRecord(REGISTRY.kind, REGISTRY.key, "registry.test", Phase.DISTRIBUTE, {"scheme": "http"}),
        AssetRecord(REPOSITORY.kind, REPOSITORY.key, "registry.test/shop/api", Phase.DISTRIBUTE, {}, REGISTRY),
        AssetRecord(TAG.kind, TAG.key, "registry.test/shop/api:1.4", Phase.DISTRIBUTE, {"digest": IMAGE_A}, REPOSITORY),
        RelationRecord(TAG, "points-to", IMAGE),
    ]
    if run > 1:
        records.append(Problem("registry.test: 403 listing the catalog"))
    return ListCollector(ScopeRef(ScopeKind.REGISTRY, "registry.test"), records)


def _report(run: int) -> ListCollector:
    cves = [("CVE-2024-0001", Severity.CRITICAL, True)]
    cves += [("CVE-2024-0002", Severity.MEDIUM, False)] if run == 1 else [("CVE-2024-0003", Severity.HIGH, True)]
    records: list[Record] = [
        AssetRecord(
            IMAGE.kind,
            IMAGE.key,
            "registry.test/shop/api:1.4",
            Phase.BUILD,
            {
                "config": {
                    "user": "",
                    "created": "2025-04-01T10:00:00Z",
                    "env_keys": ["API_TOKEN", "PATH"],
                    "healthcheck": None,
                },
                "secrets": [{"key": "API_TOKEN", "preview": "ghp_****7f"}],
            },
        ),
        ObservationRecord(
            "IMG-T02",
            IMAGE,
            "env:API_TOKEN",
            "Secret in image environment: API_TOKEN",
            Severity.HIGH,
            {"key": "API_TOKEN", "preview": "ghp_****7f", "hash": "hmac:1f2e"},
        ),
    ]
    for cve, severity, fix in cves:
        records.append(
            ObservationRecord(
                "VULN",
                IMAGE,
                f"{cve}|openssl|3.0.2",
                f"{cve} in openssl",
                severity,
                {
                    "package": "openssl",
                    "installed": "3.0.2",
                    "fix_available": fix,
                    "fixed_version": "3.0.14" if fix else None,
                },
            )
        )
    return ListCollector(ScopeRef(ScopeKind.REPORT, "trivy:api.json"), records)


SCORES = ((T0 - timedelta(days=1), 55.0, "F"), (T0, 61.0, "D"), (T1, 66.5, "D"))


def build_estate(engine: Engine) -> None:
    """Two collection rounds (T0, T1) of all four sources, then the score snapshots scoring would write."""
    for run, now in ((1, T0), (2, T1)):
        for collector in (_report(run), _registry(run), _docker(), _kubernetes(run)):
            collect(engine, collector, RULES, now=now)
    with write_session(engine) as session:
        session.execute(
            insert(score_table),
            [
                {"run_id": None, "taken_at": at, "score": score, "grade": grade, "counts": {}}
                for at, score, grade in SCORES
            ],
        )
