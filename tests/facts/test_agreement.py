"""Every layer that judges a shared fact agrees, on the real data in tests/data and on each table's edges.

Issue 22: these facts once lived in several homes and the copies disagreed (a runtime socket that raised
a finding but not the score, SYS_TIME dangerous for a container and not for a pod, ``root:0`` shown as not
root). Each now has one home in posture/facts; here the rules, the scorer and the trace screen are asked
the same question on the same inputs and must answer alike:

- runtime socket: DKR-RUNTIME-SOCKET, K8S-RUNTIME-SOCKET, the ``docker-socket`` privilege (container and
  pod), the trace's "mounts a runtime socket";
- root: IMG-ROOT-USER, the ``root`` privilege of a container running the image, the trace's build and run facts;
- dangerous capability: DKR-CAP-ADD and K8S-PSS-CAPABILITIES raised to high;
- image reference: DKR-MUTABLE-IMAGE-REF, K8S-IMAGE-LATEST and the registry host;
- team: the Kubernetes collector's ``team`` and the estate's team group, under a configured key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.docker.normalize import container_record
from collectors.k8s.manifests import ManifestCollector
from posture.facts.capabilities import DANGEROUS_CAPABILITIES
from posture.facts.references import parse_image, reference_registry
from posture.facts.sockets import RUNTIME_SOCKETS
from posture.facts.users import is_root_user
from posture.records import AssetKind, AssetRecord, RelationRecord
from posture.rules import default_registry
from posture.rules.base import Snapshot, evaluate_all
from posture.scoring.estate import AssetNode, Estate
from posture.scoring.traits import container_traits, kubernetes_traits
from posture.taxonomy import Phase, Severity
from tests.docker.rule_records import LSM_ENGINE, container, engine
from tests.facts.test_users import CASES as USER_CASES
from tests.k8s.pss_support import SCANNER, pod, snapshot_of
from tests.k8s.pss_support import container as k8s_container
from tui.screens.trace import build_facts, run_facts

DATA = Path(__file__).parents[1] / "data"
REGISTRY = default_registry()
HOST = engine(LSM_ENGINE)


def _fired(records: list[AssetRecord], rule_id: str, relations: list[RelationRecord] = ()) -> dict[str, Severity]:
    """Asset key → severity of ``rule_id`` over ``records`` (with the test engine in the snapshot)."""
    snapshot = Snapshot([*records, HOST], relations)
    return {v.asset.key: v.severity for v in evaluate_all(REGISTRY, snapshot, records) if v.rule.id == rule_id}


def _docker_corpus() -> list[AssetRecord]:
    files = sorted((DATA / "docker-inspect").glob("container-*.json"))
    return [container_record(json.loads(f.read_text()), HOST, None)[0] for f in files]


def _manifest_assets(team_label: str = "team") -> tuple[list[AssetRecord], list[RelationRecord]]:
    records = list(ManifestCollector([DATA / "k8s-manifests"], secrets=SCANNER, team_label=team_label).collect())
    return [r for r in records if isinstance(r, AssetRecord)], [r for r in records if isinstance(r, RelationRecord)]


# -- runtime sockets -------------------------------------------------------------------------------
SOCKET_PATHS = [
    *RUNTIME_SOCKETS, *(s.rsplit("/", 1)[0] for s in RUNTIME_SOCKETS), "/", "/var", "/run/user", "/run/user/1000",
    "/run/user/1000/podman/podman.sock", "/srv/podman.sock", "/srv/cri-dockerd.sock", "/srv/docker.socket",
    "/var/log", "/var/lib/docker", "/run/lock", "/srv/docker.sock.bak", "/etc", "/home/app", "/run/cri",
]


@pytest.mark.parametrize("path", SOCKET_PATHS)
def test_the_socket_rules_the_score_and_the_trace_agree_on_each_path(path: str) -> None:
    mount = {"Type": "bind", "Source": path, "Destination": "/host", "Mode": "", "RW": False, "Propagation": ""}
    docker = container({"Mounts": [mount]}, HOST)
    k8s_snapshot, k8s_assets = snapshot_of(
        [pod(volumes=[{"name": "h", "hostPath": {"path": path}}])])
    k8s_found = any(v.rule.id == "K8S-RUNTIME-SOCKET" for v in evaluate_all(REGISTRY, k8s_snapshot, k8s_assets))
    [k8s_pod] = [a for a in k8s_assets if a.kind == AssetKind.POD]
    verdicts = {
        "DKR-RUNTIME-SOCKET": bool(_fired([docker], "DKR-RUNTIME-SOCKET")),
        "K8S-RUNTIME-SOCKET": k8s_found,
        "container privilege": "docker-socket" in container_traits(docker.attributes, "app").privileges,
        "pod privilege": "docker-socket" in kubernetes_traits(k8s_pod.attributes).privileges,
        "container trace": "mounts a runtime socket" in run_facts("container", dict(docker.attributes), "app"),
        "pod trace": "mounts a runtime socket" in run_facts("k8s-pod", dict(k8s_pod.attributes), "app"),
    }
    assert len(set(verdicts.values())) == 1, verdicts


def test_the_docker_corpus_socket_verdicts_are_the_score_s() -> None:
    containers = _docker_corpus()
    fired = _fired(containers, "DKR-RUNTIME-SOCKET")
    privileged = {c.key for c in containers if "docker-socket" in container_traits(c.attributes, "app").privileges}
    assert set(fired) == privileged
    assert len(privileged) >= 2  # portainer and watchtower mount /var/run/docker.sock


def test_the_manifest_corpus_socket_verdicts_are_the_score_s() -> None:
    assets, relations = _manifest_assets()
    runners = [a for a in assets if a.kind in (AssetKind.POD, AssetKind.WORKLOAD)]
    fired = _fired(runners, "K8S-RUNTIME-SOCKET", relations)
    privileged = {a.key for a in runners if "docker-socket" in kubernetes_traits(a.attributes).privileges}
    assert set(fired) == privileged
    assert len(privileged) >= 3  # kubescape's docker- and containerd-socket pods, kubernetes-goat's scenarios


# -- root ------------------------------------------------------------------------------------------
def _corpus_users() -> set[str]:
    users = {user for user, _ in USER_CASES}
    for f in (DATA / "docker-inspect").glob("*.json"):
        config = json.loads(f.read_text()).get("Config")
        if isinstance(config, dict):
            users.add(str(config.get("User") or ""))
    return users


def _shown_as_root(shown: str) -> bool:
    """The trace writes a root user as ``root``, ``<user> (root)`` or ``root (no USER)``."""
    return shown.strip() == "root" or shown.endswith(("(root)", "(no USER)"))


@pytest.mark.parametrize("user", sorted(_corpus_users()))
def test_the_image_rule_the_score_and_the_trace_agree_on_root(user: str) -> None:
    image = AssetRecord(AssetKind.IMAGE, "sha256:" + "1" * 64, "app:1", Phase.BUILD, {"config": {"user": user}})
    verdicts = {
        "IMG-ROOT-USER": bool(_fired([image], "IMG-ROOT-USER")),
        "score (the image's user)": "root" in container_traits({"user": ""}, user).privileges,
        "score (the container's user)": "root" in container_traits({"user": user}, "app").privileges or not user,
        "trace run": "runs as root" in run_facts("container", {"user": ""}, user),
        "trace build": _shown_as_root(dict(build_facts({"config": {"user": user}}))["user"]),
        "fact": is_root_user(user),
    }
    assert len(set(verdicts.values())) == 1, verdicts


# -- capabilities ----------------------------------------------------------------------------------
#: Every capability of capabilities(7) (Linux 6.x), plus ALL.
LINUX_CAPABILITIES = [
    "ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
    "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT",
    "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "WAKE_ALARM",
]  # fmt: skip


def _raised(severity: Severity | None) -> bool:
    return severity in (Severity.HIGH, Severity.CRITICAL)


@pytest.mark.parametrize("cap", LINUX_CAPABILITIES)
def test_docker_and_kubernetes_agree_on_a_dangerous_capability(cap: str) -> None:
    docker = _fired([container({"HostConfig.CapAdd": [cap]}, HOST)], "DKR-CAP-ADD")
    body = pod(k8s_container(capabilities={"add": [f"CAP_{cap}"]}))
    k8s_snapshot, k8s_assets = snapshot_of([body])
    k8s = {v.severity for v in evaluate_all(REGISTRY, k8s_snapshot, k8s_assets) if v.rule.id == "K8S-PSS-CAPABILITIES"}
    dangerous = cap in DANGEROUS_CAPABILITIES
    assert _raised(next(iter(docker.values()), None)) is dangerous
    assert any(_raised(s) for s in k8s) is dangerous


# -- image references ------------------------------------------------------------------------------
def _corpus_references() -> Iterator[str]:
    for f in (DATA / "docker-inspect").glob("container-*.json"):
        yield str(json.loads(f.read_text())["Config"]["Image"])
    assets, _ = _manifest_assets()
    for asset in assets:
        for c in (asset.attributes.get("pod") or {}).get("containers", []):
            yield str(c.get("image") or "")
    for f in sorted((DATA / "reports").rglob("*.json")):
        yield from _named_images(json.loads(f.read_text(errors="replace") or "null"))


#: Where scanner reports name the image they scanned (Trivy ArtifactName and RepoTags, Grype userInput).
_IMAGE_KEYS = frozenset({"ArtifactName", "userInput", "RepoTags"})


def _named_images(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _IMAGE_KEYS:
                yield from (str(v) for v in (value if isinstance(value, list) else [value]))
            else:
                yield from _named_images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _named_images(item)


REFERENCES = sorted({r for r in _corpus_references() if r and parse_image(r) is not None})


def test_the_corpora_give_references_enough() -> None:
    assert len(REFERENCES) >= 40
    assert any(parse_image(r).registry != "docker.io" for r in REFERENCES)  # type: ignore[union-attr]


@pytest.mark.parametrize("reference", REFERENCES)
def test_docker_and_kubernetes_agree_on_a_mutable_reference_and_its_registry(reference: str) -> None:
    parsed = parse_image(reference)
    assert parsed is not None
    docker = bool(_fired([container({"Config.Image": reference}, HOST)], "DKR-MUTABLE-IMAGE-REF"))
    k8s_snapshot, k8s_assets = snapshot_of([pod(k8s_container(image=reference))])
    k8s = any(v.rule.id == "K8S-IMAGE-LATEST" for v in evaluate_all(REGISTRY, k8s_snapshot, k8s_assets))
    assert docker is k8s is parsed.uses_latest
    assert reference_registry(reference) == parsed.registry


# -- team ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("team_label", ["app", "team", "app.kubernetes.io/name"])
def test_the_collector_and_the_estate_name_the_same_team(team_label: str) -> None:
    assets, _ = _manifest_assets(team_label)
    nodes = [
        AssetNode(n, a.kind.value, a.key, a.name, a.parent.kind.value if a.parent else None,
                  a.parent.key if a.parent else None, a.attributes)
        for n, a in enumerate(assets)
    ]
    estate = Estate(nodes, [], team_label)
    collected = {n.id: n.attributes.get("team") for n in nodes if n.kind in ("k8s-workload", "k8s-pod")}
    grouped = {i: next(iter(estate.groups(i).get("team", frozenset())), None) for i in collected}
    assert grouped == collected
    if team_label == "app":
        assert sum(1 for t in collected.values() if t) >= 10  # the corpora label many workloads with app=
