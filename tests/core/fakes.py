"""A small, fully controllable collector and rule set for core tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from posture.coverage import FULL, Coverage
from posture.records import (
    AssetKind,
    AssetRecord,
    AssetRef,
    CollectorError,
    ObservationRecord,
    Problem,
    Record,
    RelationRecord,
    ScopeKind,
    ScopeRef,
)
from posture.rules.base import Hit, Rule, RuleRegistry, Snapshot
from posture.taxonomy import Phase, Severity

ENGINE = AssetRef(AssetKind.DOCKER_ENGINE, "engine-1")


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("privileged"):
        yield Hit(evidence={"privileged": True, "running": asset.attributes.get("running", False)})


RULES = RuleRegistry(
    [
        Rule(id="TEST-PRIV", title="Privileged container", severity=Severity.CRITICAL, phase=Phase.RUN,
             nist="3.4.3", remediation="Do not run privileged.",
             kinds=frozenset({AssetKind.CONTAINER}), evaluate=_privileged),
        Rule(id="VULN", title="Vulnerable package", severity=Severity.HIGH, phase=Phase.BUILD,
             nist="3.1.1", remediation="Upgrade the package."),
    ]
)


@dataclass
class FakeCollector:
    """Containers ``c0..cN`` on one engine, the privileged ones listed, plus optional CVEs on one image."""

    containers: int = 3
    privileged: frozenset[int] = frozenset({0})
    cves: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    fail: str | None = None
    fail_after: int | None = None
    scope_name: str = "engine-1"
    image_key: str = "sha256:" + "a" * 64
    image_aliases: tuple[str, ...] = ("sha256:" + "b" * 64,)
    extra: list[Record] = field(default_factory=list)
    label: str = ""
    legacy: tuple[str, ...] = ()
    #: Container keys are ``<container_prefix>/cN``; ``legacy_prefix`` states the same keys under an old prefix.
    container_prefix: str = ENGINE.key
    legacy_prefix: str | None = None
    first_container: int = 0
    stated_coverage: Coverage = FULL

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, self.scope_name, self.label, self.legacy)

    def coverage(self) -> Coverage:
        return self.stated_coverage

    def collect(self) -> Iterator[Record]:
        yield AssetRecord(AssetKind.DOCKER_ENGINE, ENGINE.key, "engine-1", Phase.RUN, {"version": "24.0"})
        image = AssetRef(AssetKind.IMAGE, self.image_key)
        yield AssetRecord(AssetKind.IMAGE, self.image_key, "app:1.0", Phase.BUILD, {"repo_tags": ["app:1.0"]},
                          aliases=self.image_aliases)
        for i in range(self.first_container, self.first_container + self.containers):
            if self.fail_after is not None and i - self.first_container == self.fail_after:
                raise CollectorError(f"docker {self.scope_name}: connection reset while listing containers")
            ref = AssetRef(AssetKind.CONTAINER, f"{self.container_prefix}/c{i}")
            attributes = {"privileged": i in self.privileged, "running": True}
            legacy = (f"{self.legacy_prefix}/c{i}",) if self.legacy_prefix else ()
            yield AssetRecord(ref.kind, ref.key, f"c{i}", Phase.RUN, attributes, parent=ENGINE, legacy_keys=legacy)
            yield RelationRecord(ref, "runs", image)
        for cve in self.cves:
            yield ObservationRecord("VULN", image, f"{cve}|openssl|3.0.2", f"{cve} in openssl", Severity.HIGH,
                                    {"fix_available": True})
        for message in self.problems:
            yield Problem(message)
        if self.fail:
            raise CollectorError(self.fail)
        yield from self.extra
