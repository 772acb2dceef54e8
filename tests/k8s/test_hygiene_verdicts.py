"""Each rule of posture/rules/k8s_hygiene.py on both sides of each of its conditions, and its catalogue.

Pods go through the real normalizer (tests.k8s.pss_support), so a container's ``kind``, its
``imageRef`` and its ``resources`` have the shapes the rules read in production. Assets the
normalizer does not build with a pod summary (a pod owned by a workload) are written directly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from collectors.k8s.podspec import summarize_pod
from posture.attributes.k8s import ContainerSummary
from posture.facts.sockets import reachable_sockets
from posture.records import AssetKind, AssetRecord
from posture.rules import k8s_hygiene
from posture.rules.base import Snapshot
from posture.rules.k8s_hygiene import ESCAPE_CVES, node_components, parse_version
from posture.taxonomy import CIS_K8S, KUBESCAPE, NIST, TRIVY, Phase, Severity
from tests.k8s.pss_support import container, pod, snapshot_of, verdicts

RULES = {r.id: r for r in k8s_hygiene.RULES}
POD = frozenset({AssetKind.WORKLOAD, AssetKind.POD})
EMPTY = Snapshot([])

# The catalogue users and channels see: id → (title, severity, kinds, NIST SP 800-190 section, peer references).
# Peer ids: Trivy's KSV checks (trivy-checks, kubernetes/) and Kubescape's controls (C-xxxx) for the same
# check; CIS Kubernetes Benchmark 5.2.1 is "at least one active policy control mechanism in place".
CATALOGUE: dict[str, tuple[str, Severity, frozenset[AssetKind], str, tuple[tuple[str, str], ...]]] = {
    "K8S-IMAGE-LATEST": (
        "Image uses the latest tag or no tag",
        Severity.MEDIUM,
        POD,
        "3.1.5",
        ((TRIVY, "KSV013"),),
    ),
    "K8S-IMAGE-DIGEST": ("Image not pinned by digest", Severity.INFO, POD, "3.1.5", ()),
    "K8S-LIMITS-CPU": (
        "Container has no CPU limit",
        Severity.LOW,
        POD,
        "3.4.3",
        ((TRIVY, "KSV011"), (KUBESCAPE, "C-0009")),
    ),
    "K8S-LIMITS-MEMORY": (
        "Container has no memory limit",
        Severity.LOW,
        POD,
        "3.4.3",
        ((TRIVY, "KSV018"), (KUBESCAPE, "C-0009")),
    ),
    "K8S-REQUESTS": (
        "Container has no CPU or memory request",
        Severity.INFO,
        POD,
        "3.4.3",
        ((TRIVY, "KSV015"), (TRIVY, "KSV016")),
    ),
    "K8S-READONLY-ROOTFS": (
        "Container root filesystem is writable",
        Severity.LOW,
        POD,
        "3.4.3",
        ((TRIVY, "KSV014"), (KUBESCAPE, "C-0017")),
    ),
    "K8S-RUNTIME-SOCKET": (
        "Container runtime socket mounted",
        Severity.CRITICAL,
        POD,
        "3.4.3",
        ((TRIVY, "KSV006"), (KUBESCAPE, "C-0074")),
    ),
    "K8S-EXPOSED": ("Workload reachable from outside the cluster", Severity.INFO, POD, "3.4.2", ()),
    "K8S-NS-POD-SECURITY": (
        "Namespace does not enforce a Pod Security level",
        Severity.MEDIUM,
        frozenset({AssetKind.NAMESPACE}),
        "3.3.4",
        ((CIS_K8S, "5.2.1"), (KUBESCAPE, "C-0192")),
    ),
    "K8S-NODE-ESCAPE-CVE": (
        "Node runs a component with a known container-escape vulnerability",
        Severity.HIGH,
        frozenset({AssetKind.NODE}),
        "3.4.1",
        ((KUBESCAPE, "C-0087"), (KUBESCAPE, "C-0058")),
    ),
}


def test_the_catalogue_is_exactly_these_rules() -> None:
    assert [r.id for r in k8s_hygiene.RULES] == list(CATALOGUE)
    for rule in k8s_hygiene.RULES:
        title, severity, kinds, nist, refs = CATALOGUE[rule.id]
        assert (rule.title, rule.severity, rule.kinds, rule.nist, rule.phase) == (
            title,
            severity,
            kinds,
            nist,
            Phase.RUN,
        )
        assert tuple((r.framework, r.id) for r in rule.references) == refs
        assert rule.all_references[0].framework == NIST
        assert rule.remediation.strip() and rule.evaluate is not None


# -- images ----------------------------------------------------------------------------------------
DIGEST = "sha256:" + "a" * 64


def by_container(rule_id: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v.hit.discriminator: dict(v.hit.evidence) for v in verdicts(RULES[rule_id], [body])}


def test_latest_tag_flags_a_bare_or_latest_image_in_every_kind_of_container() -> None:
    body = pod(
        container("bare", image="nginx"),
        container("latest", image="nginx:latest"),
        container("fixed", image="nginx:1.27"),
        container("pinned-latest", image=f"nginx:latest@{DIGEST}"),
        container("digest", image=f"nginx@{DIGEST}"),
        init=[container("init-bare", image="busybox")],
        ephemeral=[container("debug", image="busybox:latest")],
    )
    assert by_container("K8S-IMAGE-LATEST", body) == {
        "bare": {"image": "nginx", "tag": None},
        "latest": {"image": "nginx:latest", "tag": "latest"},
        "init-bare": {"image": "busybox", "tag": None},
        "debug": {"image": "busybox:latest", "tag": "latest"},
    }
    assert by_container("K8S-IMAGE-DIGEST", body) == {
        "bare": {"image": "nginx"},
        "latest": {"image": "nginx:latest"},
        "fixed": {"image": "nginx:1.27"},
        "init-bare": {"image": "busybox"},
        "debug": {"image": "busybox:latest"},
    }


@pytest.mark.parametrize("check", [k8s_hygiene.latest_tag, k8s_hygiene.not_pinned])
def test_an_image_reference_that_did_not_parse_is_not_judged(check: Any) -> None:
    assert check({"name": "c", "image": "nginx", "imageRef": None}) is None
    assert check({"name": "c", "image": "nginx"}) is None


# -- resources -------------------------------------------------------------------------------------
def resourced(
    name: str, *, limits: dict[str, str] | None = None, requests: dict[str, str] | None = None
) -> dict[str, Any]:
    body = container(name)
    body["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests)) if v is not None}
    return body


def test_limits_are_read_per_resource_and_ephemeral_containers_are_not_judged() -> None:
    body = pod(
        resourced("both", limits={"cpu": "1", "memory": "1Gi"}),
        resourced("cpu-only", limits={"cpu": "1"}),
        resourced("memory-only", limits={"memory": "1Gi"}),
        resourced("requests-only", requests={"cpu": "1", "memory": "1Gi"}),
        container("none"),
        init=[resourced("init-cpu", limits={"cpu": "1"})],
        ephemeral=[container("debug")],  # ephemeral containers cannot declare resources
    )
    assert by_container("K8S-LIMITS-CPU", body) == {
        name: {"missing": "resources.limits.cpu"} for name in ("memory-only", "requests-only", "none")
    }
    assert by_container("K8S-LIMITS-MEMORY", body) == {
        name: {"missing": "resources.limits.memory"} for name in ("cpu-only", "requests-only", "none", "init-cpu")
    }


def test_requests_name_each_missing_resource() -> None:
    body = pod(
        resourced("both", requests={"cpu": "1", "memory": "1Gi"}),
        resourced("cpu-only", requests={"cpu": "1"}),
        resourced("memory-only", requests={"memory": "1Gi"}),
        resourced("limits-only", limits={"cpu": "1", "memory": "1Gi"}),
        init=[container("init-none")],
        ephemeral=[container("debug")],
    )
    both = ["resources.requests.cpu", "resources.requests.memory"]
    assert by_container("K8S-REQUESTS", body) == {
        "cpu-only": {"missing": ["resources.requests.memory"]},
        "memory-only": {"missing": ["resources.requests.cpu"]},
        "limits-only": {"missing": both},
        "init-none": {"missing": both},
    }


def summary(raw: dict[str, Any]) -> ContainerSummary:
    """The container summary the normalizer makes of a raw container spec."""
    return summarize_pod({}, {"containers": [raw]}, None, "team")[0]["containers"][0]


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        ({}, ["cpu", "memory"]),
        ({"resources": None}, ["cpu", "memory"]),
        ({"resources": {"requests": None}}, ["cpu", "memory"]),
        ({"resources": {"requests": {"cpu": "1"}}}, ["memory"]),
        ({"resources": {"requests": {"cpu": "1", "memory": "1"}}}, []),
    ],
)
def test_resource_checks_read_absent_sections_as_empty(raw: dict[str, Any], missing: list[str]) -> None:
    expected = {"missing": [f"resources.requests.{r}" for r in missing]} if missing else None
    assert k8s_hygiene.missing_requests(summary(raw)) == expected
    limits = summary({"resources": {"limits": (raw.get("resources") or {}).get("requests")}})
    assert k8s_hygiene._missing(limits, "limits", "memory") == (
        {"missing": "resources.limits.memory"} if "memory" in missing else None
    )


def test_writable_root_filesystem_unless_set_to_true() -> None:
    body = pod(
        container("ro", readOnlyRootFilesystem=True),
        container("rw", readOnlyRootFilesystem=False),
        container("unset"),
        init=[container("init-rw", readOnlyRootFilesystem=False)],
        ephemeral=[container("debug")],
    )
    assert by_container("K8S-READONLY-ROOTFS", body) == {
        "rw": {"readOnlyRootFilesystem": False},
        "unset": {"readOnlyRootFilesystem": None},
        "init-rw": {"readOnlyRootFilesystem": False},
        "debug": {"readOnlyRootFilesystem": None},
    }


# -- assets without a pod summary --------------------------------------------------------------------
@pytest.mark.parametrize("rule_id", [r for r, entry in CATALOGUE.items() if entry[2] == POD])
def test_a_pod_owned_by_a_workload_is_judged_through_its_workload_only(rule_id: str) -> None:
    owned = AssetRecord(
        AssetKind.POD,
        "c/apps/Pod/w-1",
        "apps/Pod/w-1",
        Phase.RUN,
        {"exposed": True, "exposure": [{"path": ["apps/Service/w"]}], "volumes": [{"name": "s", "path": "/"}]},
    )
    evaluate = RULES[rule_id].evaluate
    assert evaluate is not None
    assert list(evaluate(owned, EMPTY)) == []


# -- runtime sockets (which paths reach one: tests/facts/test_sockets.py) ---------------------------
def test_runtime_socket_hits_each_host_path_volume_that_reaches_a_socket() -> None:
    volumes = [
        {"name": "sock", "hostPath": {"path": "/run/crio/crio.sock"}},
        {"name": "var", "hostPath": {"path": "/var/run/"}},
        {"name": "logs", "hostPath": {"path": "/var/log"}},
        {"name": "blank", "hostPath": {"path": ""}},
        {"name": "scratch", "emptyDir": {}},
    ]
    found = {
        v.hit.discriminator: dict(v.hit.evidence) for v in verdicts(RULES["K8S-RUNTIME-SOCKET"], [pod(volumes=volumes)])
    }
    assert found == {
        "sock": {"path": "/run/crio/crio.sock", "sockets": ["/run/crio/crio.sock"]},
        "var": {"path": "/var/run/", "sockets": reachable_sockets("/var/run")},
    }
    assert len(found["var"]["sockets"]) == 9  # seven system defaults, then rootless Docker's and Podman's


# -- exposure --------------------------------------------------------------------------------------
def exposed_pod(exposed: Any, exposure: Any = None) -> AssetRecord:
    _, assets = snapshot_of([pod()])
    (asset,) = [a for a in assets if a.kind == AssetKind.POD]
    attributes = {**asset.attributes, "exposed": exposed}
    if exposure is not None:
        attributes["exposure"] = exposure
    return dataclasses.replace(asset, attributes=attributes)


def test_exposed_only_when_the_pod_is_marked_exposed() -> None:
    evaluate = k8s_hygiene.exposed
    path = [{"path": ["apps/Service/w", "apps/Pod/p"]}]
    (hit,) = evaluate(exposed_pod(True, path), EMPTY)
    assert (hit.discriminator, dict(hit.evidence), hit.title, hit.severity) == ("", {"exposure": path}, None, None)
    assert list(evaluate(exposed_pod(False, path), EMPTY)) == []
    assert list(evaluate(exposed_pod(None), EMPTY)) == []
    (bare,) = evaluate(exposed_pod(True), EMPTY)
    assert dict(bare.evidence) == {"exposure": []}


# -- Pod Security admission labels ------------------------------------------------------------------
def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


ENFORCE = "pod-security.kubernetes.io/enforce"
WARN = "pod-security.kubernetes.io/warn"


@pytest.mark.parametrize(
    ("labels", "hit"),
    [
        ({}, True),
        ({WARN: "restricted"}, True),  # warn and audit do not enforce anything
        ({ENFORCE: "privileged"}, True),
        ({ENFORCE: "baseline"}, False),
        ({ENFORCE: "restricted"}, False),
    ],
)
@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("kube-system", Severity.LOW),
        ("kube-public", Severity.LOW),
        ("kube-node-lease", Severity.LOW),
        ("default", Severity.MEDIUM),
        ("kube-flannel", Severity.MEDIUM),
    ],
)
def test_namespace_pod_security_level(labels: dict[str, str], hit: bool, name: str, severity: Severity) -> None:
    found = verdicts(RULES["K8S-NS-POD-SECURITY"], [namespace(name, **labels)])
    if not hit:
        assert found == []
        return
    (verdict,) = found
    enforce = labels.get(ENFORCE)
    title = (
        "Namespace enforces the privileged Pod Security level"
        if enforce
        else "Namespace does not enforce a Pod Security level"
    )
    levels = {k.rsplit("/", 1)[-1]: v for k, v in labels.items()}
    assert (verdict.hit.discriminator, verdict.title, verdict.severity) == ("", title, severity)
    assert dict(verdict.hit.evidence) == {"enforce": enforce, "labels": levels}


# -- node components and escape CVEs ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0", (0, 0, 0, 0, 0)),  # the table's "every version before" lower bound
        ("1.0.0-rc93", (1, 0, 0, 0, 93)),
        ("1.0.0-rc.2", (1, 0, 0, 0, 2)),
        ("1.1.12", (1, 1, 12, 1, 0)),
        ("v1.22", (1, 22, 0, 1, 0)),
        (" v1.29.0+k3s1 ", (1, 29, 0, 1, 0)),
        ("1.22.1-eks-1", (1, 22, 1, 1, 0)),
        ("2.3.4-1ubuntu1", (2, 3, 4, 1, 0)),
        ("", None),
        ("7", None),
        ("unknown", None),
    ],
)
def test_parse_version(text: str, parsed: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parsed


@pytest.mark.parametrize(
    ("attributes", "components"),
    [
        ({}, {}),
        (
            {"kubelet_version": "v1.30.1", "container_runtime_version": "containerd://1.6.8", "runc_version": "1.1.9"},
            {"kubelet": "v1.30.1", "containerd": "1.6.8", "runc": "1.1.9"},
        ),
        ({"container_runtime_version": "cri-o://1.23.1"}, {"cri-o": "1.23.1"}),
        ({"container_runtime_version": "containerd"}, {}),  # no scheme: the runtime is unknown
        ({"kubelet_version": "", "container_runtime_version": None, "runc_version": ""}, {}),
        ({"runc_version": "1.1.11"}, {"runc": "1.1.11"}),
    ],
)
def test_node_components(attributes: dict[str, Any], components: dict[str, str]) -> None:
    assert node_components(attributes) == components


def node(**attributes: str) -> AssetRecord:
    return AssetRecord(AssetKind.NODE, "c/Node/n", "Node/n", Phase.RUN, attributes)


def test_escape_cve_hit_carries_the_component_version_fix_and_severity() -> None:
    hits = list(
        k8s_hygiene.escape_cves(
            node(kubelet_version="v1.21.4", container_runtime_version="containerd://1.4.2", runc_version="1.1.11"),
            EMPTY,
        )
    )
    table = {e.cve: e for e in ESCAPE_CVES}
    assert [h.discriminator for h in hits] == ["CVE-2024-21626", "CVE-2022-23648", "CVE-2020-15257", "CVE-2021-25741"]
    expected = {
        "CVE-2024-21626": ("runc", "1.1.11", "1.1.12", Severity.HIGH, None),
        "CVE-2022-23648": ("containerd", "1.4.2", "1.4.13", Severity.HIGH, "C-0087"),
        "CVE-2020-15257": ("containerd", "1.4.2", "1.4.3", Severity.MEDIUM, None),
        "CVE-2021-25741": ("kubelet", "v1.21.4", "1.21.5", Severity.HIGH, "C-0058"),
    }
    for hit in hits:
        component, version, fixed, severity, kubescape = expected[hit.discriminator]
        evidence = {
            "component": component,
            "version": version,
            "fixed_in": fixed,
            "summary": table[hit.discriminator].summary,
        }
        if kubescape:
            evidence["kubescape"] = kubescape
        assert dict(hit.evidence) == evidence
        assert hit.severity == severity
        assert hit.title == f"{component} {version} is vulnerable to {hit.discriminator} (container escape)"


def test_a_node_with_only_some_components_known_is_judged_on_those() -> None:
    assert [h.discriminator for h in k8s_hygiene.escape_cves(node(kubelet_version="v1.19.3"), EMPTY)] == [
        "CVE-2021-25741"
    ]
    assert [h.discriminator for h in k8s_hygiene.escape_cves(node(runc_version="1.0.0-rc95"), EMPTY)] == [
        "CVE-2024-21626"
    ]
    assert list(k8s_hygiene.escape_cves(node(kubelet_version="v1.30.0", runc_version="1.1.12"), EMPTY)) == []
    assert list(k8s_hygiene.escape_cves(node(kubelet_version="garbage"), EMPTY)) == []
    assert list(k8s_hygiene.escape_cves(node(), EMPTY)) == []


def test_the_hit_names_the_fix_of_the_range_the_version_is_in() -> None:
    for version, fixed in (("1.19.0", "1.19.6"), ("1.22.2", "1.22.3"), ("1.23.1", "1.23.2")):
        (hit,) = k8s_hygiene.escape_cves(node(container_runtime_version=f"cri-o://{version}"), EMPTY)
        assert (hit.discriminator, hit.evidence["fixed_in"]) == ("CVE-2022-0811", fixed)


# Severities from each advisory (NVD / the project's GHSA); Kubescape's controls C-0087 (CVE-2022-23648)
# and C-0058 (CVE-2021-25741); the others have none.
def test_escape_cve_severities_summaries_and_kubescape_controls() -> None:
    assert {e.cve: (e.severity, e.kubescape) for e in ESCAPE_CVES} == {
        "CVE-2022-0811": (Severity.CRITICAL, None),
        "CVE-2024-21626": (Severity.HIGH, None),
        "CVE-2022-23648": (Severity.HIGH, "C-0087"),
        "CVE-2020-15257": (Severity.MEDIUM, None),
        "CVE-2021-25741": (Severity.HIGH, "C-0058"),
    }
    assert all(e.summary.strip() for e in ESCAPE_CVES)
    assert len({e.summary for e in ESCAPE_CVES}) == len(ESCAPE_CVES)
    # Every bound of every range parses, so no range is silently skipped.
    assert all(parse_version(v) is not None for e in ESCAPE_CVES for r in e.ranges for v in r)
    # The entries are immutable values.
    with pytest.raises(dataclasses.FrozenInstanceError):
        ESCAPE_CVES[0].severity = Severity.LOW  # type: ignore[misc]
