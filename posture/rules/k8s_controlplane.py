"""CIS Kubernetes Benchmark 1.2.x: kube-apiserver flags read from its static pod (v1.10 numbering).

Each check is a row of data: which flag, what makes it fail, and the peer ids. Unset flags take the
kube-apiserver defaults (anonymous auth on, authorization mode AlwaysAllow, profiling on), which is
why an unset flag can fail a check. A cluster configured through ``--authorization-config`` (the
structured authorization file) is not judged on ``--authorization-mode``, nor one configured through
``--authentication-config`` on an unset ``--anonymous-auth``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from posture.records import AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Rule, Snapshot, cis_k8s, kubescape
from posture.taxonomy import Phase, Severity

Flags = Mapping[str, str]


def _list(flags: Flags, name: str) -> list[str]:
    return [v.strip() for v in flags.get(name, "").split(",") if v.strip()]


def _authz_modes(flags: Flags) -> list[str] | None:
    """The authorization modes in effect, or None when a structured authorization config decides."""
    if "authorization-config" in flags:
        return None
    return _list(flags, "authorization-mode") or ["AlwaysAllow"]


def _anonymous_auth(flags: Flags) -> bool | None:
    """Whether anonymous requests are accepted, or None when a structured authentication config decides.

    ``--authentication-config`` may enable or disable anonymous access in its file (with conditions on
    the paths); the flag's default then says nothing. An explicit ``--anonymous-auth`` still decides:
    the API server refuses to start with both.
    """
    if "anonymous-auth" in flags:
        return flags["anonymous-auth"].lower() != "false"
    return None if "authentication-config" in flags else True


@dataclass(frozen=True)
class FlagCheck:
    rule_id: str
    cis: str
    title: str
    severity: Severity
    fails: Callable[[Flags], bool]
    remediation: str
    kubescape: str
    nist: str = "3.3.2"


CHECKS: tuple[FlagCheck, ...] = (
    FlagCheck(
        "K8S-APISERVER-ANONYMOUS-AUTH",
        "1.2.1",
        "API server accepts anonymous requests",
        Severity.MEDIUM,
        lambda f: _anonymous_auth(f) is True,
        "Set --anonymous-auth=false.",
        "C-0113",
    ),
    FlagCheck(
        "K8S-APISERVER-TOKEN-AUTH-FILE",
        "1.2.2",
        "API server uses a static token file",
        Severity.HIGH,
        lambda f: bool(f.get("token-auth-file")),
        "Remove --token-auth-file; use certificates or OIDC.",
        "C-0114",
    ),
    FlagCheck(
        "K8S-APISERVER-ALWAYS-ALLOW",
        "1.2.6",
        "API server authorization mode AlwaysAllow",
        Severity.CRITICAL,
        lambda f: "AlwaysAllow" in (_authz_modes(f) or []),
        "Set --authorization-mode=Node,RBAC.",
        "C-0118",
        "3.3.1",
    ),
    FlagCheck(
        "K8S-APISERVER-AUTHZ-NODE",
        "1.2.7",
        "API server authorization mode lacks Node",
        Severity.MEDIUM,
        lambda f: (m := _authz_modes(f)) is not None and "Node" not in m,
        "Include Node in --authorization-mode.",
        "C-0119",
        "3.3.5",
    ),
    FlagCheck(
        "K8S-APISERVER-AUTHZ-RBAC",
        "1.2.8",
        "API server authorization mode lacks RBAC",
        Severity.HIGH,
        lambda f: (m := _authz_modes(f)) is not None and "RBAC" not in m,
        "Include RBAC in --authorization-mode.",
        "C-0120",
        "3.3.1",
    ),
    FlagCheck(
        "K8S-APISERVER-ALWAYS-ADMIT",
        "1.2.10",
        "Admission plugin AlwaysAdmit enabled",
        Severity.HIGH,
        lambda f: "AlwaysAdmit" in _list(f, "enable-admission-plugins"),
        "Remove AlwaysAdmit from --enable-admission-plugins.",
        "C-0122",
    ),
    FlagCheck(
        "K8S-APISERVER-NODE-RESTRICTION",
        "1.2.14",
        "Admission plugin NodeRestriction not enabled",
        Severity.MEDIUM,
        lambda f: "NodeRestriction" not in _list(f, "enable-admission-plugins"),
        "Add NodeRestriction to --enable-admission-plugins.",
        "C-0127",
        "3.3.5",
    ),
    FlagCheck(
        "K8S-APISERVER-PROFILING",
        "1.2.15",
        "API server profiling enabled",
        Severity.LOW,
        lambda f: f.get("profiling", "true").lower() != "false",
        "Set --profiling=false.",
        "C-0129",
    ),
    FlagCheck(
        "K8S-APISERVER-AUDIT-LOG",
        "1.2.16",
        "API server audit log not configured",
        Severity.MEDIUM,
        lambda f: not f.get("audit-log-path"),
        "Set --audit-log-path (and an audit policy file).",
        "C-0130",
    ),
    FlagCheck(
        "K8S-APISERVER-ENCRYPTION",
        "1.2.27",
        "Secrets in etcd not encrypted (no encryption provider config)",
        Severity.HIGH,
        lambda f: not f.get("encryption-provider-config"),
        "Create an EncryptionConfiguration and set --encryption-provider-config.",
        "C-0141",
        "3.3.2",
    ),
)


def on_apiserver(fails: Callable[[Flags], bool]) -> Evaluate:
    """A check of the kube-apiserver's flags (other control-plane components are not judged here)."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
        if asset.attributes.get("component") != "kube-apiserver":
            return
        flags = asset.attributes.get("flags") or {}
        if fails(flags):
            yield Hit("", {"flags": {k: v for k, v in flags.items() if k in _RELEVANT}})

    return evaluate


_RELEVANT = frozenset(
    {
        "anonymous-auth",
        "token-auth-file",
        "authorization-mode",
        "authorization-config",
        "enable-admission-plugins",
        "disable-admission-plugins",
        "profiling",
        "audit-log-path",
        "audit-policy-file",
        "encryption-provider-config",
    }
)

RULES: list[Rule] = [
    Rule(
        id=c.rule_id,
        title=c.title,
        severity=c.severity,
        phase=Phase.RUN,
        nist=c.nist,
        remediation=c.remediation,
        references=(cis_k8s(c.cis), kubescape(c.kubescape)),
        kinds=frozenset({AssetKind.CONTROL_PLANE}),
        evaluate=on_apiserver(c.fails),
    )
    for c in CHECKS
]
