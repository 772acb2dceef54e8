"""``posture collect --docker …`` end to end against the real dockerd: the CLI, the store and the exit codes.

The engine is reached through a symlink to its socket, so a test can take that address away (or put
a refusing or too-old "engine" there) after a complete run and see how the failure is recorded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from posture.db import make_engine, read_session
from posture.model import run_table, scope_table
from tests.docker.docker_support import fake_engine, run_posture_at, store_scopes
from tests.docker.estate import Estate
from tests.services import Dockerd

#: CIS ids the hardened container must never get (every risky container's ids, and the image ones).
RISKY_CIS = {"5.4", "5.5", "5.6", "5.8", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15", "5.16", "5.17"}


@dataclass(frozen=True)
class Site:
    """A directory holding the database and a socket address that points at the test engine."""

    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "engine.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def db(self) -> str:
        return f"sqlite:///{self.root / 'posture.db'}"


def posture(site: Site, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_posture_at(site.root, *args, **env)


def findings(site: Site) -> list[dict[str, Any]]:
    result = posture(site, "findings", "--format", "json")
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def cis_ids(finding: dict[str, Any]) -> set[str]:
    return {r["id"] for r in finding["references"] if r["framework"].startswith("CIS Docker")}


def last_run(site: Site, scope: str) -> tuple[str, str | None]:
    engine = make_engine(site.db)
    try:
        with read_session(engine) as session:
            row = session.execute(
                select(run_table.c.status, run_table.c.error)
                .join(scope_table, scope_table.c.id == run_table.c.scope_id)
                .where(scope_table.c.kind + ":" + scope_table.c.name == scope)
                .order_by(run_table.c.id.desc())
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    return str(row.status), row.error


@pytest.fixture
def site(estate: Estate, dockerd: Dockerd, tmp_path: Path) -> Iterator[Site]:
    """A complete first collection of the estate, through the symlinked socket."""
    here = Site(tmp_path)
    here.socket.symlink_to(dockerd.socket_path)
    first = posture(here, "collect", "--docker", here.url)
    assert first.returncode == 0, first.stderr
    yield here


def engine_scope(site: Site) -> str:
    [scope] = store_scopes(site.root)
    return scope


def test_collect_then_findings_carry_the_cis_ids_of_each_container(estate: Estate, site: Site) -> None:
    by_container: dict[str, set[str]] = {}
    for finding in findings(site):
        if finding["asset"]["kind"] == "container":
            ids = cis_ids(finding) | {finding["rule_id"]}
            by_container.setdefault(finding["asset"]["name"], set()).update(ids)
    for name, expected in estate.containers.items():
        assert set(expected) <= by_container.get(name, set()), name
    assert {"5.5", "5.32"} <= by_container["pdk-privileged"] | by_container["pdk-socket"]
    assert not RISKY_CIS & by_container.get("pdk-hardened", set())


def _refusing(site: Site) -> Any:
    return fake_engine(site.socket, 403, {"message": "authorization denied by plugin opa: request rejected"})


def _too_old(site: Site) -> Any:
    return fake_engine(site.socket, 200, {"ApiVersion": "1.12", "Version": "1.0.1"})


class _Missing:
    def __init__(self, site: Site) -> None:
        self.site = site

    def __enter__(self) -> str:
        return self.site.url

    def __exit__(self, *_: object) -> None:
        return None


@pytest.mark.parametrize(
    ("make_failure", "problem"),
    [
        (_refusing, "permission denied by the engine (403: authorization denied by plugin opa: request rejected)"),
        (_too_old, "API version 1.12 is too old (Posture needs 1.25 or newer)"),
        (_Missing, "cannot connect (No such file or directory)"),
    ],
    ids=["403", "api-too-old", "missing-socket"],
)
def test_a_failed_run_is_recorded_on_the_engine_last_seen_at_the_address(
    site: Site, make_failure: Any, problem: str
) -> None:
    scope = engine_scope(site)
    assert scope.startswith("docker:engine:")
    before = findings(site)
    site.socket.unlink()
    with make_failure(site):
        result = posture(site, "collect", "--docker", site.url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"posture: docker {site.url}: {problem}"]
    assert last_run(site, scope) == ("failed", f"docker {site.url}: {problem}")
    assert findings(site) == before


def test_an_address_never_collected_fails_under_its_own_name(tmp_path: Path) -> None:
    nowhere = Site(tmp_path)
    result = posture(nowhere, "collect", "--docker", nowhere.url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"posture: docker {nowhere.url}: cannot connect (No such file or directory)"]
    assert last_run(nowhere, f"docker:endpoint:{nowhere.url}")[0] == "failed"


def test_docker_context_from_a_docker_config_dir(dockerd: Dockerd, estate: Estate, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"posture-test").hexdigest()
    meta.mkdir(parents=True)
    endpoint = {"Host": dockerd.url, "SkipTLSVerify": False}
    (meta / "meta.json").write_text(
        json.dumps({"Name": "posture-test", "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    here = Site(tmp_path)
    result = posture(here, "collect", "--docker-context", "posture-test", DOCKER_CONFIG=str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("docker:posture-test: complete,")  # the scope's label: the context
    assert engine_scope(here).startswith("docker:engine:")
    assert any("5.5" in cis_ids(f) for f in findings(here))


def test_docker_host_alone_is_collected_when_no_source_is_named(
    dockerd: Dockerd, estate: Estate, tmp_path: Path
) -> None:
    here = Site(tmp_path)
    result = posture(here, "collect", DOCKER_HOST=dockerd.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"docker:{dockerd.url}: complete,")
    assert engine_scope(here).startswith("docker:engine:")


def test_docker_host_is_ignored_when_another_source_is_named(dockerd: Dockerd, tmp_path: Path) -> None:
    here = Site(tmp_path)
    (tmp_path / "deploy.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
    result = posture(here, "collect", "--manifests", str(tmp_path / "deploy.yaml"), DOCKER_HOST=dockerd.url)
    assert result.returncode == 0, result.stderr
    assert "docker:" not in result.stdout


def test_nothing_to_collect_without_sources_or_docker_host(tmp_path: Path) -> None:
    result = posture(Site(tmp_path), "collect")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "posture: error: nothing to collect: give a source (--docker, --kube-context, --manifests, --registry, "
        "--report …) or set DOCKER_HOST; see posture collect --help"
    ]
