"""The collector and the CIS checks against a real dockerd (the estate of conftest.py)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from posture.records import AssetKind, AssetRef, ScopeKind
from posture.rules import docker as docker_rules
from posture.rules import image as image_rules
from posture.rules.base import RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.taxonomy import CIS_DOCKER, Severity
from tests.docker.estate import SECRETS, Collected, Estate

REGISTRY = RuleRegistry([*docker_rules.RULES, *image_rules.RULES])


def _verdicts(collected: Collected) -> list[Verdict]:
    assets = [r for r in collected.records if hasattr(r, "attributes")]
    snapshot = Snapshot(assets, collected.relations)  # type: ignore[arg-type]
    return list(evaluate_all(REGISTRY, snapshot, assets))  # type: ignore[arg-type]


def _ids(verdicts: list[Verdict]) -> set[str]:
    """CIS ids where the rule cites one, the rule id otherwise."""
    out: set[str] = set()
    for v in verdicts:
        cis = [r.id for r in v.rule.references if r.framework == CIS_DOCKER]
        out.update(cis or [v.rule.id])
    return out


@pytest.fixture(scope="module")
def verdicts(collected: Collected) -> list[Verdict]:
    return _verdicts(collected)


def _for(verdicts: list[Verdict], collected: Collected, name: str) -> list[Verdict]:
    ref = collected.container(name).ref
    return [v for v in verdicts if v.asset == ref]


@pytest.mark.parametrize(
    "name",
    [
        "pdk-privileged",
        "pdk-socket",
        "pdk-hostns",
        "pdk-etc",
        "pdk-caps",
        "pdk-seccomp",
        "pdk-port80",
        "pdk-nolimits",
        "pdk-misc",
        "pdk-userns",
    ],
)
def test_each_risky_container_gets_its_cis_check(
    estate: Estate, collected: Collected, verdicts: list[Verdict], name: str
) -> None:
    got = _ids(_for(verdicts, collected, name))
    assert set(estate.containers[name]) <= got, f"{name}: missing {set(estate.containers[name]) - got}"


def test_image_secrets_are_the_image_finding_not_every_container(collected: Collected, verdicts: list[Verdict]) -> None:
    runtime = [v for v in _for(verdicts, collected, "pdk-misc") if v.rule.id == "DKR-ENV-SECRET"]
    assert [v.hit.discriminator for v in runtime] == ["env:API_TOKEN"]
    inherited = [v for v in _for(verdicts, collected, "pdk-nolimits") if v.rule.id == "DKR-ENV-SECRET"]
    assert inherited == []  # DB_PASSWORD and the token label come from the image: reported there (4.10)
    assert collected.container("pdk-nolimits").attributes["labels"]["com.example.api-token"].startswith("<secret gh")


def test_hardened_container_gets_no_finding(collected: Collected, verdicts: list[Verdict]) -> None:
    assert [(v.rule.id, v.hit.evidence) for v in _for(verdicts, collected, "pdk-hardened")] == []
    hardened = collected.container("pdk-hardened").attributes
    assert hardened["running"] is True
    assert hardened["cap_drop"] == ["ALL"] and hardened["readonly_rootfs"] and hardened["no_new_privileges"]


def test_running_state_weighs_on_severity(collected: Collected, verdicts: list[Verdict]) -> None:
    socket = [v for v in _for(verdicts, collected, "pdk-socket") if v.rule.id == "DKR-RUNTIME-SOCKET"]
    privileged = [v for v in _for(verdicts, collected, "pdk-privileged") if v.rule.id == "DKR-PRIVILEGED"]
    assert socket[0].hit.evidence["running"] is True and socket[0].severity is Severity.CRITICAL
    # created, never started: still reported, one step lower, and the evidence says why
    assert privileged[0].hit.evidence["running"] is False and privileged[0].severity is Severity.HIGH


def test_engine_scope_relations_and_parents(estate: Estate, collected: Collected) -> None:
    [engine] = collected.assets(AssetKind.DOCKER_ENGINE)
    assert engine.attributes["transport"] == {"url": estate.url, "scheme": "unix", "tls": False, "client_cert": False}
    container = collected.container("pdk-nolimits")
    assert container.parent == engine.ref and container.key == f"{engine.key}/{container.attributes['id']}"
    runs = {(r.source, r.target) for r in collected.relations if r.relation == "runs"}
    assert (container.ref, AssetRef(AssetKind.IMAGE, estate.risky_image_id)) in runs
    assert container.attributes["image_id"] == estate.risky_image_id


def test_engine_scope_is_the_engine_id(estate: Estate, collected: Collected) -> None:
    from collectors.docker.collector import DockerCollector
    from collectors.docker.endpoint import from_url

    [engine] = collected.assets(AssetKind.DOCKER_ENGINE)
    scope = DockerCollector(from_url(estate.url), None).scope
    assert scope.kind is ScopeKind.DOCKER and scope.name == f"engine:{engine.key}"


def test_image_checks_and_layer_secrets(estate: Estate, collected: Collected, verdicts: list[Verdict]) -> None:
    risky = collected.image(estate.risky_image_id)
    hardened = collected.image(estate.hardened_image_id)
    by_image = {ref: {v.rule.id for v in verdicts if v.asset == ref} for ref in (risky.ref, hardened.ref)}
    assert {"IMG-ROOT-USER", "IMG-NO-HEALTHCHECK", "IMG-SECRET", "IMG-LATEST-TAG"} <= by_image[risky.ref]
    assert by_image[hardened.ref] == set()
    places = {(s["location"], s["key"]) for s in risky.attributes["secrets"]}
    assert ("env", "DB_PASSWORD") in places and ("label", "com.example.api-token") in places
    assert ("layer-deleted", "/root/.ssh/id_rsa") in places  # removed by a later RUN rm, still in the image
    assert any(loc == "history" for loc, _ in places)
    assert risky.attributes["config"]["env_keys"][-1] == "DB_PASSWORD"
    assert hardened.attributes["config"]["user"] == "1000:1000"


def test_no_secret_value_in_any_record(collected: Collected, verdicts: list[Verdict]) -> None:
    dumped = json.dumps([asdict(r) for r in collected.records], default=str)
    dumped += json.dumps([dict(v.hit.evidence) for v in verdicts], default=str)
    for value in SECRETS.values():
        assert value not in dumped
        assert value[4:-2] not in dumped  # not even most of it
    assert "<secret " in dumped  # the history line is kept, its secret replaced by the preview
