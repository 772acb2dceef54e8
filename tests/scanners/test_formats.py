"""What each format yields: assets linked by digest, evidence, secrets kept only as hashes, format detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from collectors.scanners import FORMATS, ReportCollector
from collectors.scanners.detect import detect
from collectors.scanners.reader import load_documents, read_bytes
from posture.records import AssetKind, AssetRecord, ObservationRecord, Problem
from posture.secrets import SecretScanner

#: Secret values that appear in the fixtures' Code lines, matches or audit output.
SECRET_VALUES = (
    "ghp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",  # trivy/trivy-secrets.json, a Code line around the match
    "posture-test-secret-value-0123456789",  # crafted trivy k8s and trivy-operator matches
    "posture-test-not-a-real-token",  # crafted kube-bench actual_value
)


def _records(path: Path, secrets: SecretScanner, **kwargs: Any) -> list[Any]:
    return list(ReportCollector(str(path), secrets=secrets, **kwargs).collect())


def _observations(records: list[Any]) -> dict[tuple[str, str], ObservationRecord]:
    return {(r.rule_id, r.discriminator): r for r in records if isinstance(r, ObservationRecord)}


def _assets(records: list[Any]) -> dict[str, AssetRecord]:
    return {r.key: r for r in records if isinstance(r, AssetRecord)}


EXPECTED_FORMAT = {
    "trivy": "trivy",
    "grype": "grype",
    "sarif": "sarif",
    "cyclonedx": "cyclonedx",
    "trivy-operator": "trivy-operator",
}
CRAFTED_FORMAT = {
    "grype-alpine-39-same-image.json": "grype",
    "grype-alpine-39-ghsa-only.json": "grype",
    "trivy-alpine-39-vendor-ghsa.json": "trivy",
    "trivy-k8s-cluster.json": "trivy-k8s",
    "docker-bench.log.json": "docker-bench",
    "kube-bench.json": "kube-bench",
    "operator-list.yaml": "trivy-operator",
    "cyclonedx-vex.json": "cyclonedx",
}


def test_format_is_detected_from_content(data: Path) -> None:
    seen = set()
    for path in sorted(data.rglob("*")):
        if not path.is_file() or path.suffix in (".md", ".csv", ".gz") or path.name == "kev.json":
            continue
        want = CRAFTED_FORMAT[path.name] if path.parent.name == "crafted" else EXPECTED_FORMAT[path.parent.name]
        raw = read_bytes(str(path))
        assert detect(load_documents(raw, path.name), path.name) == want, path
        seen.add(want)
    assert seen == set(FORMATS)


def test_trivy_image_report_links_the_image_by_config_digest(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "trivy/trivy-alpine-39.json", secrets)
    image = _assets(records)["sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"]
    assert image.kind is AssetKind.IMAGE
    assert image.name == "ghcr.io/aquasecurity/trivy-test-images:alpine-39"
    assert image.attributes["os"] == "alpine 3.9.4"
    assert image.attributes["_unchanged"] is True  # a report never overwrites what the Docker collector stored
    vuln = _observations(records)[("VULN", "CVE-2019-1549|libcrypto1.1|1.1.1b-r1")]
    assert vuln.title == "CVE-2019-1549 in libcrypto1.1 1.1.1b-r1"
    assert vuln.severity.value == "medium"
    ev = vuln.evidence
    assert (ev["fixed"], ev["fix_available"], ev["installed"]) == ("1.1.1d-r0", True, "1.1.1b-r1")
    assert ev["cvss"] == {
        "source": "nvd",
        "version": "3.1",
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
        "score": 5.3,
    }
    assert ev["url"] == "https://avd.aquasec.com/nvd/cve-2019-1549"
    assert len(ev["description"]) <= 500
    assert ev["scanners"]["trivy"]["severity"] == "medium"


def test_no_fix_is_stated_as_such(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "trivy/trivy-centos-7.json", secrets)
    bash = _observations(records)[("VULN", "CVE-2019-18276|bash|4.2.46-31.el7")]
    assert bash.evidence["fix_available"] is False
    assert "fixed" not in bash.evidence
    assert bash.evidence["scanners"]["trivy"]["fix_state"] == "will_not_fix"
    openssl = _observations(records)[("VULN", "CVE-2019-1559|openssl-libs|1:1.0.2k-16.el7")]
    assert openssl.aliases == ("RHSA-2019:2304",)


def test_filesystem_reports_attach_to_the_scanned_artifact_and_fold_repeats(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "trivy/trivy-gomod.json", secrets, artifact_name="gomod")
    assert list(_assets(records)) == ["named:gomod"]
    # The old key named the given name: an upgraded store's row for it is adopted.
    assert _assets(records)["named:gomod"].legacy_keys == ("artifact:testdata/fixtures/repo/gomod",)
    gms = _observations(records)[("VULN", "GMS-2022-20|github.com/docker/distribution|v2.7.1+incompatible")]
    assert gms.evidence["scanners"]["trivy"]["locations"] == ["go.mod", "submod/go.mod", "submod2/go.mod"]


def test_misconfigurations_keep_check_ids_and_never_code(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "trivy/trivy-helm-testchart-misconfig.json", secrets, artifact_name="chart")
    found = _observations(records)
    ksv1 = found[("SCAN-MISCONFIG", "KSV001|templates/deployment.yaml")]
    assert ksv1.title == "KSV001: Can elevate its own privileges"
    assert ksv1.evidence["scanner_check_id"] == "KSV-0001"
    assert ksv1.evidence["lines"] == [[28, 57]]
    assert ksv1.evidence["references"] == [{"framework": "Trivy", "id": "KSV001"}]
    assert "\x1b" not in orjson.dumps([r.evidence for r in found.values()]).decode()
    dockerfile = _observations(_records(data / "trivy/trivy-dockerfile-misconfig.json", secrets, artifact_name="app"))
    assert list(dockerfile) == [("SCAN-MISCONFIG-IMAGE", "DS002|Dockerfile")]


@pytest.mark.parametrize(
    "name",
    [
        "trivy/trivy-secrets.json",
        "crafted/trivy-k8s-cluster.json",
        "crafted/operator-list.yaml",
        "crafted/kube-bench.json",
    ],
)
def test_secret_values_are_never_kept(data: Path, secrets: SecretScanner, name: str) -> None:
    records = _records(data / name, secrets, artifact_name="x", host="x")
    dumped = repr(records)
    for value in SECRET_VALUES:
        assert value not in dumped
    for record in records:
        if isinstance(record, ObservationRecord) and record.rule_id == "SCAN-SECRET":
            assert record.evidence["match"]["hash"].startswith("hmac-sha256:")
            assert "*" not in dumped  # not even Trivy's masked match line


def test_the_same_secret_seen_by_trivy_k8s_and_trivy_operator_is_one_finding(
    data: Path, secrets: SecretScanner
) -> None:
    k8s = _observations(_records(data / "crafted/trivy-k8s-cluster.json", secrets))
    operator = _observations(_records(data / "crafted/operator-list.yaml", secrets))
    k8s_secret = {k for k in k8s if k[0] == "SCAN-SECRET"}
    assert k8s_secret and k8s_secret == {k for k in operator if k[0] == "SCAN-SECRET"}


def test_trivy_k8s_attaches_checks_to_objects_and_packages_to_images(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "crafted/trivy-k8s-cluster.json", secrets)
    assets = _assets(records)
    assert assets["kind-posture/default/Deployment/web"].kind is AssetKind.WORKLOAD
    assert assets["kind-posture/ClusterRole/wildcard-admin"].kind is AssetKind.ROLE
    image = assets["sha256:" + "1" * 64]
    assert image.aliases == ("sha256:" + "2" * 64,)
    found = _observations(records)
    assert found[("SCAN-MISCONFIG", "KSV017|Deployment/web")].asset.key == "kind-posture/default/Deployment/web"
    assert found[("SCAN-RBAC", "KSV044|ClusterRole/wildcard-admin")].severity.value == "critical"
    assert ("SCAN-MISCONFIG", "KSV001|Deployment/web") not in found  # a PASS is not a finding
    assert found[("VULN", "CVE-2023-4911|libc6|2.36-9+deb12u1")].asset == image.ref


def test_trivy_operator_reports(data: Path, secrets: SecretScanner) -> None:
    audit = _records(data / "trivy-operator/configauditreport-pod.yaml", secrets, cluster="prod")
    pod = _assets(audit)["prod/default/Pod/my-pod"]
    assert pod.kind is AssetKind.POD
    ksv14 = _observations(audit)[("SCAN-MISCONFIG", "KSV014")]
    assert ksv14.severity.value == "high"
    assert ksv14.evidence["messages"] == [
        "Container 'app' of Pod 'my-pod' should set 'securityContext.readOnlyRootFilesystem' to true"
    ]
    rbac = _records(data / "trivy-operator/rbacassessmentreport-role.yaml", secrets, cluster="prod")
    assert list(_observations(rbac)) == [("SCAN-RBAC", "KSV113")]
    assert _assets(rbac)["prod/default/Role/proxy"].kind is AssetKind.ROLE
    coredns = _records(data / "trivy-operator/vulnerabilityreport-coredns.yaml", secrets)
    # No digest in this older report: the image is known by its normalized tag.
    assert list(_assets(coredns)) == ["k8s.gcr.io/coredns/coredns:v1.8.0"]


def test_docker_bench_warnings_carry_their_cis_ids(data: Path, secrets: SecretScanner) -> None:
    records = _records(data / "crafted/docker-bench.log.json", secrets, host="host1")
    found = _observations(records)
    assert set(found) == {("SCAN-CIS-DOCKER", "2.2"), ("SCAN-CIS-DOCKER", "5.5"), ("SCAN-CIS-DOCKER", "5.12")}
    privileged = found[("SCAN-CIS-DOCKER", "5.5")]
    assert privileged.evidence["items"] == ["web", "db"]
    assert privileged.evidence["references"] == [{"framework": "CIS Docker Benchmark 1.6.0", "id": "5.5"}]
    assert list(_assets(records)) == ["docker-bench:host:host1"]
    assert _assets(records)["docker-bench:host:host1"].legacy_keys == ()  # "docker-bench" named no host


def test_kube_bench_fail_and_warn(data: Path, secrets: SecretScanner) -> None:
    found = _observations(_records(data / "crafted/kube-bench.json", secrets, host="node-a"))
    assert {k: v.severity.value for k, v in found.items()} == {
        ("SCAN-CIS-K8S", "4.2.1"): "medium",
        ("SCAN-CIS-K8S", "4.2.7"): "low",
    }
    anonymous = found[("SCAN-CIS-K8S", "4.2.1")].evidence
    assert (anonymous["benchmark"], anonymous["node_type"], anonymous["scored"]) == ("cis-1.8", "node", True)
    assert "actual_value" not in anonymous and "audit" not in anonymous


def test_kube_bench_bare_list_shape(tmp_path: Path, data: Path, secrets: SecretScanner) -> None:
    doc = orjson.loads((data / "crafted/kube-bench.json").read_bytes())
    path = tmp_path / "node1.json"
    path.write_bytes(orjson.dumps(doc["Controls"]))
    records = _records(path, secrets, host="node1")
    assert len(_observations(records)) == 2
    assert list(_assets(records)) == ["kube-bench:host:node1"]
    assert _assets(records)["kube-bench:host:node1"].legacy_keys == ("kube-bench:node1",)  # node1.json named it


def test_sarif_reports(data: Path, secrets: SecretScanner) -> None:
    trivy = _records(data / "sarif/trivy-alpine-310.sarif", secrets)
    assert list(_assets(trivy)) == ["sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"]
    libssl = _observations(trivy)[("VULN", "CVE-2019-1549|libssl1.1|1.1.1c-r0")]
    assert libssl.evidence["fixed"] == "1.1.1d-r0"
    grype = _observations(_records(data / "sarif/grype-image.sarif", secrets))
    assert grype[("VULN", "CVE-1999-0002|package-2|2.2.2")].severity.value == "critical"


def test_cyclonedx_names_maven_packages_like_trivy(data: Path, secrets: SecretScanner) -> None:
    found = _observations(_records(data / "cyclonedx/trivy-pom.cdx.json", secrets, artifact_name="pom"))
    assert ("VULN", "CVE-2020-9548|com.fasterxml.jackson.core:jackson-databind|2.9.1") in found


def test_unknown_operator_kinds_are_counted_not_fatal(tmp_path: Path, secrets: SecretScanner, data: Path) -> None:
    extra = b"---\napiVersion: aquasecurity.github.io/v1alpha1\nkind: SbomReport\nmetadata: {name: x}\n"
    path = tmp_path / "mixed.yaml"
    path.write_bytes((data / "trivy-operator/rbacassessmentreport-role.yaml").read_bytes() + extra)
    records = _records(path, secrets)
    assert [r.message for r in records if isinstance(r, Problem)] == [
        f"{path}: 1 SbomReport resources (not a report kind Posture reads) skipped"
    ]
