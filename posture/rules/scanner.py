"""Observation rules: findings that scanners state themselves (CVEs, misconfigurations, secrets, CIS checks).

These rules have no ``evaluate``: the report collectors yield :class:`~posture.records.ObservationRecord`
values naming one of these ids, and the rule contributes what every finding needs and a scanner does not
say the same way twice (NIST area, phase, remediation). The scanner's own identifiers (CVE ids, Trivy
AVD ids, CIS check numbers) travel in each finding's evidence, because they differ per finding while the
references here are the standard the whole rule belongs to; a finding that cites a concrete check
(CIS 5.4, Trivy KSV017) carries it as ``evidence["references"]`` in the same ``{"framework", "id"}`` shape.
"""

from __future__ import annotations

from posture.rules.base import Rule
from posture.taxonomy import Phase, Severity

VULN = "VULN"
SCAN_MISCONFIG = "SCAN-MISCONFIG"
SCAN_MISCONFIG_IMAGE = "SCAN-MISCONFIG-IMAGE"
SCAN_SECRET = "SCAN-SECRET"
SCAN_RBAC = "SCAN-RBAC"
SCAN_CIS_DOCKER = "SCAN-CIS-DOCKER"
SCAN_CIS_K8S = "SCAN-CIS-K8S"

RULES: list[Rule] = [
    Rule(
        id=VULN,
        title="Known vulnerability in an image package",
        severity=Severity.MEDIUM,
        phase=Phase.BUILD,
        nist="3.1.1",
        remediation=(
            "Rebuild the image with the fixed package version (or a patched base image) and redeploy every "
            "container and pod running it; where no fix exists, reduce exposure or accept the risk with a reason."
        ),
        description="A scanner (Trivy, Grype, trivy-operator, a CycloneDX VEX document) lists this vulnerability.",
    ),
    Rule(
        id=SCAN_MISCONFIG_IMAGE,
        title="Image build configuration defect reported by a scanner",
        severity=Severity.MEDIUM,
        phase=Phase.BUILD,
        nist="3.1.2",
        remediation="Fix the Dockerfile as the check's resolution says and rebuild the image.",
        description="A Dockerfile or image-configuration check of a scanner failed.",
    ),
    Rule(
        id=SCAN_MISCONFIG,
        title="Workload configuration defect reported by a scanner",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Change the manifest or chart as the check's resolution says and redeploy.",
        description="A Kubernetes, Helm or other configuration check of a scanner failed.",
    ),
    Rule(
        id=SCAN_SECRET,
        title="Clear-text secret found by a scanner",
        severity=Severity.HIGH,
        phase=Phase.BUILD,
        nist="3.1.4",
        remediation=(
            "Revoke and rotate the secret, remove it from the file or image layer (a later layer does not "
            "erase it), and inject it at run time from a secret store."
        ),
        description="A scanner's secret detector matched a file; only a redacted preview and a keyed hash are kept.",
    ),
    Rule(
        id=SCAN_RBAC,
        title="Excessive RBAC permission reported by a scanner",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation="Narrow the role to the verbs and resources the workload needs.",
        description="A trivy-operator RBAC assessment check failed.",
    ),
    Rule(
        id=SCAN_CIS_DOCKER,
        title="CIS Docker Benchmark check failed (docker-bench-security)",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Apply the remediation docker-bench-security prints for the check.",
        description="docker-bench-security reported WARN; the CIS check number is in the evidence (cis_id).",
    ),
    Rule(
        id=SCAN_CIS_K8S,
        title="CIS Kubernetes Benchmark check failed (kube-bench)",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.5",
        remediation="Apply the remediation kube-bench prints for the check on the node it ran on.",
        description="kube-bench reported FAIL or WARN; the CIS check number is in the evidence (cis_id).",
    ),
]
