"""Fault injection, Docker and Podman (issue 13): sources that once shared or split an identity, and a
narrower run after a wider one, replayed against real engines into one store.

- Two dockerd on one host read one ``/etc/docker/key.json``, so ``/info`` gives both the same ID. The
  second daemon is started here in a temp dir of its own (data root, exec root, pidfile, socket,
  ``--config-file``) and stopped by the PID started; the first is the shared test engine.
- Podman 4.3 answers a fresh ``/info`` ID on every call: three collections must stay one engine.
- A collection without ``--docker-layer-scan`` (or with an image over the budget) after one with it
  must not resolve a secret only the layer scan can see.

The invariant throughout: 0 false resolutions (nothing still on an engine is resolved), every
finding still present stays open, and what really disappeared is still resolved.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from posture.db import read_session
from posture.model import asset_table, scope_table
from posture.pipeline import collect
from posture.records import AssetKind
from posture.rules import docker as docker_rules
from posture.rules import image as image_rules
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.store.queries import FindingFilter, iter_findings
from posture.taxonomy import RunStatus
from tests.docker.docker_support import BUILD_ENV, DockerCli, podman_container
from tests.services import Dockerd, Podman

REGISTRY = RuleRegistry([*docker_rules.RULES, *image_rules.RULES])
SCANNER = SecretScanner(b"fleet-docker-tests-hash-key-32by")
LABEL = "posture.test=fleet-docker"
DOCKERD_ONLY = {"DKR-ROOTFUL-DAEMON", "DKR-NO-AUTHZ-PLUGIN", "DKR-NO-LIVE-RESTORE", "DKR-EXPERIMENTAL"}
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class SecondDockerd:
    url: str
    root: Path
    busybox_image: str  # copied from the shared engine


def _ping(url: str) -> bool:
    try:
        client = docker.APIClient(base_url=url, version="auto", timeout=2)
    except docker.errors.DockerException:
        return False
    client.close()
    return True


def _stop(process: subprocess.Popen[bytes], root: Path) -> None:
    """dockerd by the PID started; a containerd it left behind (killed daemon) by the PID in our exec root."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    pidfile = root / "exec" / "containerd" / "containerd.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if pid and cmdline.exists() and str(root) in cmdline.read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGTERM)
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root) + "/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def second_dockerd(dockerd: Dockerd) -> Iterator[SecondDockerd]:
    """A second dockerd on this host beside the shared one: its own directories, the host's key file.

    dockerd 20.10 reads its key (and so its ID) from the daemon config dir, ``/etc/docker/key.json``
    for root whatever ``--config-file`` says, so both daemons answer the same ID as on a real host.
    The busybox image is copied over with save/load (nothing can be pulled).
    """
    root = Path(tempfile.mkdtemp(prefix="pdk2-", dir="/tmp"))
    (root / "daemon.json").write_text("{}")
    url = f"unix://{root}/docker.sock"
    log = (root / "log").open("wb")
    process = subprocess.Popen(
        [
            *("dockerd", "--config-file", str(root / "daemon.json"), "--host", url),
            *("--data-root", str(root / "data"), "--exec-root", str(root / "exec")),
            *("--pidfile", str(root / "dockerd.pid"), "--storage-driver", "vfs"),
            *("--iptables=false", "--bridge=none", "--shutdown-timeout", "2"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ping(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"second dockerd did not answer within {START_TIMEOUT_S}s:\n{tail}")
            time.sleep(0.2)
        saved = subprocess.run(
            ["docker", "-H", dockerd.url, "save", dockerd.busybox_image], capture_output=True, check=True, timeout=120
        )
        load = ["docker", "-H", url, "load"]
        subprocess.run(load, input=saved.stdout, capture_output=True, check=True, timeout=120, env=BUILD_ENV)
        yield SecondDockerd(url, root, dockerd.busybox_image)
    finally:
        log.close()
        _stop(process, root)


def _info_id(url: str) -> str:
    client = docker.APIClient(base_url=url, version="auto", timeout=10)
    try:
        return str(client.info()["ID"])
    finally:
        client.close()


def _create(cli: DockerCli, image: str, name: str, *flags: str) -> str:
    return cli("create", "--label", LABEL, "--network", "none", "--name", name, *flags, image, "sleep", "60")


@dataclass(frozen=True)
class Finding:
    rule_id: str
    status: str
    asset_kind: str
    asset_key: str
    asset_name: str


def _findings(store: Engine) -> list[Finding]:
    with read_session(store) as session:
        return [
            Finding(r["rule_id"], r["status"], r["asset_kind"], r["asset_key"], r["asset_name"])
            for r in iter_findings(session, FindingFilter())
        ]


def _present(urls: list[str]) -> tuple[set[str], set[str]]:
    """Container IDs and image IDs that exist right now on any of the engines."""
    containers: set[str] = set()
    images: set[str] = set()
    for url in urls:
        client = docker.APIClient(base_url=url, version="auto", timeout=30)
        try:
            containers |= {str(c["Id"]) for c in client.containers(all=True)}
            images |= {str(i["Id"]) for i in client.images()}
        finally:
            client.close()
    return containers, images


def _false_resolutions(store: Engine, urls: list[str], planted: Iterable[str]) -> list[Finding]:
    """Resolved findings whose asset is still on an engine unchanged: an image (immutable by its ID),
    an engine, or a container this test planted (the shared engine also runs other tests' containers,
    whose state may really change between two runs: an exec session ending, a container stopping)."""
    containers, images = _present(urls)
    mine = containers & set(planted)

    def still_there(f: Finding) -> bool:
        if f.asset_kind == AssetKind.CONTAINER.value:
            return f.asset_key.rsplit("/", 1)[-1] in mine
        if f.asset_kind == AssetKind.IMAGE.value:
            return f.asset_key in images
        return f.asset_kind == AssetKind.DOCKER_ENGINE.value

    return [f for f in _findings(store) if f.status == "resolved" and still_there(f)]


def _collect(store: Engine, url: str, layer_scan_bytes: int = 0) -> dict[str, Any]:
    collector = DockerCollector(from_url(url), SCANNER, workers=4, layer_scan_bytes=layer_scan_bytes)
    result = collect(store, collector, REGISTRY)
    assert result.status is RunStatus.COMPLETE, result.error
    return dict(result.stats)


def _scopes(store: Engine) -> list[str]:
    with read_session(store) as session:
        return sorted(session.execute(select(scope_table.c.name).where(scope_table.c.kind == "docker")).scalars())


# --- two daemons, one key file -------------------------------------------------------------------


def test_two_daemons_sharing_one_key_file_never_resolve_each_other(
    dockerd: Dockerd, second_dockerd: SecondDockerd, sqlite_engine: Engine
) -> None:
    assert _info_id(dockerd.url) == _info_id(second_dockerd.url)  # the bug's precondition, on real daemons
    first, second = DockerCli(dockerd.url), DockerCli(second_dockerd.url)
    tag = uuid.uuid4().hex[:8]
    planted = {
        f"fleet-a-priv-{tag}": (first, ("--privileged",)),
        f"fleet-a-gone-{tag}": (first, ("--cap-add", "SYS_ADMIN")),
        f"fleet-b-priv-{tag}": (second, ("--privileged",)),
        f"fleet-b-caps-{tag}": (second, ("--cap-add", "SYS_ADMIN")),
    }
    ids = {name: _create(cli, dockerd.busybox_image, name, *flags) for name, (cli, flags) in planted.items()}
    urls = [dockerd.url, second_dockerd.url]
    try:
        for _ in range(3):
            for url in urls:
                _collect(sqlite_engine, url)
                assert _false_resolutions(sqlite_engine, urls, ids.values()) == []
        assert len(_scopes(sqlite_engine)) == 2  # two engines, two scopes
        mine = [f for f in _findings(sqlite_engine) if f.asset_name in ids]
        assert {f.status for f in mine} == {"open"}
        assert {(f.asset_name, f.rule_id) for f in mine} >= {
            (f"fleet-a-priv-{tag}", "DKR-PRIVILEGED"),
            (f"fleet-b-priv-{tag}", "DKR-PRIVILEGED"),
            (f"fleet-a-gone-{tag}", "DKR-CAP-ADD"),
            (f"fleet-b-caps-{tag}", "DKR-CAP-ADD"),
        }

        first("rm", "-f", ids.pop(f"fleet-a-gone-{tag}"))
        _collect(sqlite_engine, dockerd.url)
        _collect(sqlite_engine, second_dockerd.url)  # the other engine's run must not reopen or touch it
        after = [f for f in _findings(sqlite_engine) if f.asset_name.endswith(tag)]
        gone = {f.status for f in after if f.asset_name == f"fleet-a-gone-{tag}"}
        assert gone == {"resolved"}  # really removed: still resolved
        assert {f.status for f in after if f.asset_name in ids} == {"open"}
        assert _false_resolutions(sqlite_engine, urls, ids.values()) == []
    finally:
        for name, container_id in ids.items():
            planted[name][0]("rm", "-f", container_id, check=False)


# --- Podman: a fresh ID on every call --------------------------------------------------------------


def test_three_podman_collections_are_one_engine_without_dockerd_checks(podman: Podman, sqlite_engine: Engine) -> None:
    name = f"fleet-podman-{uuid.uuid4().hex[:8]}"
    with podman_container(podman.url, name, image=f"posture-test/fleet-podman-{name[-8:]}:latest"):
        for _ in range(3):
            stats = _collect(sqlite_engine, podman.url)
            assert stats["resolved"] == 0
        with read_session(sqlite_engine) as session:
            engines = session.execute(
                select(asset_table.c.key).where(asset_table.c.kind == AssetKind.DOCKER_ENGINE.value)
            ).all()
        assert len(engines) == 1 and str(engines[0][0]).startswith("podman@")
        assert _scopes(sqlite_engine) == [f"engine:{engines[0][0]}"]
        findings = _findings(sqlite_engine)
        fingerprints = [(f.asset_key, f.rule_id) for f in findings if f.rule_id != "IMG-SECRET"]
        assert len(fingerprints) == len(set(fingerprints))  # no duplicate finding
        privileged = [f for f in findings if f.asset_name == name and f.rule_id == "DKR-PRIVILEGED"]
        assert [f.status for f in privileged] == ["open"]
        assert not DOCKERD_ONLY & {f.rule_id for f in findings}


# --- layer scan on, then off ---------------------------------------------------------------------


@pytest.fixture
def deleted_secret_image(second_dockerd: SecondDockerd, tmp_path: Path) -> Iterator[str]:
    """An image whose private key a later layer deletes, on the private daemon (no other test touches it)."""
    cli = DockerCli(second_dockerd.url)
    (tmp_path / "id_rsa").write_text(PRIVATE_KEY)
    base = second_dockerd.busybox_image
    tag = f"posture-test/fleet-layers:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {base}\nCOPY id_rsa /root/.ssh/id_rsa\nRUN rm /root/.ssh/id_rsa\nCMD [\"sh\"]\n"
    image_id = cli.build(tag, tmp_path, dockerfile)
    yield image_id
    cli("rmi", "-f", image_id, check=False)


def _layer_secrets(store: Engine, image_id: str) -> list[str]:
    return [f.status for f in _findings(store) if f.asset_key == image_id and f.rule_id == "IMG-SECRET"]


def test_a_run_without_the_layer_scan_keeps_the_deleted_layer_secret(
    second_dockerd: SecondDockerd, deleted_secret_image: str, sqlite_engine: Engine
) -> None:
    url = second_dockerd.url
    _collect(sqlite_engine, url, layer_scan_bytes=64 * 2**20)
    assert _layer_secrets(sqlite_engine, deleted_secret_image) == ["open"]

    off = _collect(sqlite_engine, url)
    assert off["resolved"] == 0
    assert _layer_secrets(sqlite_engine, deleted_secret_image) == ["open"]

    size = int(docker.APIClient(base_url=url, version="auto").inspect_image(deleted_secret_image)["Size"])
    over_budget = _collect(sqlite_engine, url, layer_scan_bytes=size // 2)  # the image is not read whole
    assert over_budget["resolved"] == 0
    assert _layer_secrets(sqlite_engine, deleted_secret_image) == ["open"]


def test_a_layer_scan_after_a_layer_scan_still_resolves_a_secret_really_gone(
    second_dockerd: SecondDockerd, deleted_secret_image: str, sqlite_engine: Engine
) -> None:
    url = second_dockerd.url
    _collect(sqlite_engine, url, layer_scan_bytes=64 * 2**20)
    assert _layer_secrets(sqlite_engine, deleted_secret_image) == ["open"]
    again = _collect(sqlite_engine, url, layer_scan_bytes=64 * 2**20)
    assert (again["new"], again["resolved"]) == (0, 0)

    DockerCli(url)("rmi", "-f", deleted_secret_image)
    gone = _collect(sqlite_engine, url, layer_scan_bytes=64 * 2**20)
    assert gone["resolved"] >= 1
    assert _layer_secrets(sqlite_engine, deleted_secret_image) == ["resolved"]


# --- a store made by the previous release --------------------------------------------------------


def _as_previous_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key engines as the previous release did: the bare /info ID, a scope without label or legacy name."""
    from collectors.docker import collector as collector_module
    from collectors.docker import normalize
    from posture.records import ScopeKind, ScopeRef

    def old_key(info: Any, version: Any) -> str:
        return normalize.legacy_engine_key(info)

    def old_scope(key: str, label: str, legacy_key: str | None = None) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, f"engine:{key}")

    monkeypatch.setattr(normalize, "engine_key", old_key)
    monkeypatch.setattr(collector_module, "engine_key", old_key)
    monkeypatch.setattr(collector_module, "engine_scope", old_scope)


def test_an_upgraded_store_keeps_each_engines_findings(
    dockerd: Dockerd, second_dockerd: SecondDockerd, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous release kept both daemons in one scope; after the upgrade each keeps its own findings
    (the same finding rows, claimed through the legacy keys), and nothing still present is resolved."""
    first, second = DockerCli(dockerd.url), DockerCli(second_dockerd.url)
    tag = uuid.uuid4().hex[:8]
    planted = {f"fleet-up-a-{tag}": first, f"fleet-up-b-{tag}": second}
    ids = {name: _create(cli, dockerd.busybox_image, name, "--privileged") for name, cli in planted.items()}
    urls = [dockerd.url, second_dockerd.url]
    try:
        with monkeypatch.context() as previous:
            _as_previous_release(previous)
            _collect(sqlite_engine, second_dockerd.url)
            _collect(sqlite_engine, dockerd.url)  # one scope for both: B's findings resolved (the old bug)
            assert len(_scopes(sqlite_engine)) == 1
        before = {f.asset_name: f for f in _findings(sqlite_engine) if f.rule_id == "DKR-PRIVILEGED"}
        for _ in range(2):
            for url in urls:
                _collect(sqlite_engine, url)
        assert len(_scopes(sqlite_engine)) == 2
        after = [f for f in _findings(sqlite_engine) if f.rule_id == "DKR-PRIVILEGED" and f.asset_name in ids]
        assert sorted((f.asset_name, f.status) for f in after) == sorted((name, "open") for name in ids)
        assert before[f"fleet-up-a-{tag}"].asset_key in {f.asset_key for f in after}  # A's row, claimed
        assert _false_resolutions(sqlite_engine, urls, ids.values()) == []
    finally:
        for name, container_id in ids.items():
            planted[name]("rm", "-f", container_id, check=False)


def test_an_upgraded_store_keeps_a_single_engines_findings(
    second_dockerd: SecondDockerd, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One engine stored by the previous release: the upgrade adopts its scope and rows; nothing new or resolved."""
    cli = DockerCli(second_dockerd.url)
    name = f"fleet-up-one-{uuid.uuid4().hex[:8]}"
    container_id = _create(cli, second_dockerd.busybox_image, name, "--privileged")
    try:
        with monkeypatch.context() as previous:
            _as_previous_release(previous)
            _collect(sqlite_engine, second_dockerd.url)
        before = _findings(sqlite_engine)
        [old_scope] = _scopes(sqlite_engine)
        for _ in range(2):
            stats = _collect(sqlite_engine, second_dockerd.url)
            assert (stats["new"], stats["resolved"]) == (0, 0)
        [new_scope] = _scopes(sqlite_engine)
        assert new_scope != old_scope and new_scope.startswith(old_scope + "@")
        assert _findings(sqlite_engine) == before  # the same rows, keys and statuses
    finally:
        cli("rm", "-f", container_id, check=False)
