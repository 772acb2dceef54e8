"""The fixed vocabulary every part of Posture speaks: severities, lifecycle phases, NIST areas.

Kept in one place so that rules, the store, scoring and the TUI can never disagree on spelling or
ordering (a severity compared as a string sorts "low" above "critical").
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """Finding severity, ordered by :attr:`rank` (higher is worse)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Accept the spellings scanners use ("CRITICAL", "Negligible", "unknown")."""
        lowered = text.strip().lower()
        return _SEVERITY_ALIASES.get(lowered) or cls(lowered)


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}
_SEVERITY_ALIASES = {
    "negligible": Severity.INFO,
    "unknown": Severity.INFO,
    "none": Severity.INFO,
    "informational": Severity.INFO,
    "moderate": Severity.MEDIUM,
    "important": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "error": Severity.HIGH,
    "note": Severity.LOW,
}


class Phase(StrEnum):
    """Lifecycle phase of an asset or finding (PRODUCT.md: build → distribute → run)."""

    BUILD = "build"
    DISTRIBUTE = "distribute"
    RUN = "run"


class Category(StrEnum):
    """NIST SP 800-190 section 3 risk area."""

    IMAGE = "image"
    REGISTRY = "registry"
    ORCHESTRATOR = "orchestrator"
    CONTAINER = "container"
    HOST = "host"


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ACCEPTED = "accepted"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


#: NIST SP 800-190 section 3 ids and their titles; every finding cites one of these.
NIST_SECTIONS: dict[str, tuple[Category, str]] = {
    "3.1.1": (Category.IMAGE, "Image vulnerabilities"),
    "3.1.2": (Category.IMAGE, "Image configuration defects"),
    "3.1.3": (Category.IMAGE, "Embedded malware"),
    "3.1.4": (Category.IMAGE, "Embedded clear-text secrets"),
    "3.1.5": (Category.IMAGE, "Use of untrusted images"),
    "3.2.1": (Category.REGISTRY, "Insecure connections to registries"),
    "3.2.2": (Category.REGISTRY, "Stale images in registries"),
    "3.2.3": (Category.REGISTRY, "Insufficient authentication and authorization restrictions"),
    "3.3.1": (Category.ORCHESTRATOR, "Unbounded administrative access"),
    "3.3.2": (Category.ORCHESTRATOR, "Unauthorized access"),
    "3.3.3": (Category.ORCHESTRATOR, "Poorly separated inter-container network traffic"),
    "3.3.4": (Category.ORCHESTRATOR, "Mixing of workload sensitivity levels"),
    "3.3.5": (Category.ORCHESTRATOR, "Orchestrator node trust"),
    "3.4.1": (Category.CONTAINER, "Vulnerabilities within the runtime software"),
    "3.4.2": (Category.CONTAINER, "Unbounded network access from containers"),
    "3.4.3": (Category.CONTAINER, "Insecure container runtime configurations"),
    "3.4.4": (Category.CONTAINER, "App vulnerabilities"),
    "3.4.5": (Category.CONTAINER, "Rogue containers"),
    "3.5.1": (Category.HOST, "Large attack surface"),
    "3.5.2": (Category.HOST, "Shared kernel"),
    "3.5.3": (Category.HOST, "Host OS component vulnerabilities"),
    "3.5.4": (Category.HOST, "Improper user access rights"),
    "3.5.5": (Category.HOST, "Host OS file system tampering"),
}

# Framework names, spelled exactly as the references contract requires.
NIST = "NIST SP 800-190"
CIS_DOCKER = "CIS Docker Benchmark 1.6.0"
CIS_K8S = "CIS Kubernetes Benchmark"
PSS = "Pod Security Standards"
TRIVY = "Trivy"
KUBESCAPE = "Kubescape"
