"""Against the real Debian docker-registry servers (plain HTTP + anonymous; TLS + htpasswd).

Images are pushed with skopeo (from the test dockerd and from a hand-made OCI layout holding a
two-platform index) and over the Distribution API; every test works under its own repository
prefix, so the shared registries may hold anything else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.registry import Policy, RegistryCollector, RegistryTarget
from posture.cli.collect import source_context
from posture.cli.main import cli
from posture.db import read_session
from posture.model import asset_table, finding_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, Record, RelationRecord
from posture.rules import image as image_rules
from posture.rules import registry as registry_rules
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from posture.secrets import SecretScanner
from posture.taxonomy import RunStatus
from tests.docker.docker_support import DockerCli
from tests.registry.registry_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Pusher,
    config_blob,
    digest,
    image_manifest,
    index_manifest,
    tiny_layer,
    write_oci_layout,
)
from tests.services import Dockerd, PlainRegistry, TlsRegistry

RULES = RuleRegistry([*registry_rules.RULES, *image_rules.RULES])
SCANNER = SecretScanner(b"live-test-key-0123456789")
#: Values that must never reach a record, the database, a log line or the CLI's output.
ENV_SECRET = "Sup3r-s3cret-DB-pa55word"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def push_plain(registry: PlainRegistry, repo: str, tag: str, config: bytes, **kw: Any) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        async with httpx.AsyncClient() as client:
            return await Pusher(client, registry.url).image(repo, tag, config, tiny_layer(), **kw)

    result: tuple[str, str] = run(go())
    return result


def push_index_plain(registry: PlainRegistry, repo: str, tag: str) -> str:
    """A two-platform OCI index over the Distribution API; returns the index digest."""
    layer = tiny_layer()
    configs = [config_blob(layer, architecture="amd64"), config_blob(layer, architecture="arm64", variant="v8")]
    manifests = [image_manifest(c, layer) for c in configs]

    async def go() -> str:
        async with httpx.AsyncClient() as client:
            pusher = Pusher(client, registry.url)
            for config, manifest in zip(configs, manifests, strict=True):
                await pusher.blob(repo, layer.compressed)
                await pusher.blob(repo, config)
                await pusher.manifest(repo, digest(manifest), manifest, OCI_MANIFEST)
            index = index_manifest(list(zip(manifests, ("linux/amd64", "linux/arm64/v8"), strict=True)))
            return await pusher.manifest(repo, tag, index, OCI_INDEX)

    result: str = run(go())
    return result


def sign_plain(registry: PlainRegistry, repo: str, signed: str) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await Pusher(client, registry.url).signature(repo, signed)

    run(go())


def skopeo(*args: str) -> None:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def by_kind(records: list[Record], kind: AssetKind) -> dict[str, AssetRecord]:
    return {r.key: r for r in records if isinstance(r, AssetRecord) and r.kind is kind}


@pytest.fixture
def prefix() -> str:
    return f"pt{secrets.token_hex(4)}"


def test_plain_registry_end_to_end(
    registry_plain: PlainRegistry, dockerd: Dockerd, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host = registry_plain.host
    # 1. A multi-arch index from an OCI layout, copied with skopeo --all.
    layer = tiny_layer()
    amd_cfg, arm_cfg = config_blob(layer, architecture="amd64"), config_blob(layer, architecture="arm64", variant="v8")
    amd, arm = image_manifest(amd_cfg, layer), image_manifest(arm_cfg, layer)
    index = index_manifest([(amd, "linux/amd64"), (arm, "linux/arm64/v8")])
    write_oci_layout(tmp_path / "layout", [layer.compressed, amd_cfg, arm_cfg, amd, arm], index, "multi")
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{tmp_path / 'layout'}:multi",
        f"docker://{host}/{prefix}/multi:2.0.0",
    )
    # 2. The test dockerd's busybox, copied with skopeo: its key must be Docker's own image id.
    skopeo(
        "copy",
        "--src-daemon-host",
        dockerd.url,
        "--dest-tls-verify=false",
        f"docker-daemon:{dockerd.busybox_image}",
        f"docker://{host}/{prefix}/busybox:1.36.1",
    )
    docker_id = json.loads(
        subprocess.run(
            ["docker", "-H", dockerd.url, "image", "inspect", dockerd.busybox_image],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )[0]["Id"]
    # 3. An image with secrets in env, label and history, no USER, no HEALTHCHECK, a foreign base,
    #    tagged 1.4.2 and latest, with a cosign-style signature tag.
    leaky = config_blob(
        layer,
        env=["PATH=/bin", f"DB_PASSWORD={ENV_SECRET}"],
        labels={"org.opencontainers.image.base.name": "quay.io/org/base:1", "ci.token": TOKEN},
        history=["ADD hello.txt /", f"RUN curl -H 'Authorization: token {TOKEN}' example.org"],
    )
    app_manifest, app_config = push_plain(registry_plain, f"{prefix}/app", "1.4.2", leaky)
    push_plain(registry_plain, f"{prefix}/app", "latest", leaky)
    sign_plain(registry_plain, f"{prefix}/app", app_manifest)

    target = RegistryTarget(
        "http",
        host,
        prefix=prefix,
        insecure=True,
        policy=Policy(require_signatures=True, allowed_base_registries=(host,)),
    )
    records = list(RegistryCollector(target, SCANNER).collect())

    assert [r for r in records if isinstance(r, Problem)] == []
    registry = by_kind(records, AssetKind.REGISTRY)[host].attributes
    assert (registry["scheme"], registry["tls_verify"], registry["auth"]) == ("http", False, "none")
    assert registry["anonymous_catalog"] is True and registry["anonymous_pull"] is True
    assert set(by_kind(records, AssetKind.REPOSITORY)) == {f"{host}/{prefix}/{r}" for r in ("app", "busybox", "multi")}
    tags = by_kind(records, AssetKind.TAG)
    assert set(tags) == {f"{host}/{prefix}/{t}" for t in ("app:1.4.2", "app:latest", "busybox:1.36.1", "multi:2.0.0")}

    multi = tags[f"{host}/{prefix}/multi:2.0.0"].attributes
    assert multi["digest"] == digest(index) and multi["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert multi["images"] == [
        {"platform": "linux/amd64", "manifest_digest": digest(amd)},
        {"platform": "linux/arm64/v8", "manifest_digest": digest(arm)},
    ]
    images = by_kind(records, AssetKind.IMAGE)
    assert images[digest(amd_cfg)].aliases == (digest(amd),)  # one image per platform, keyed by config
    assert images[digest(arm_cfg)].attributes["config"]["architecture"] == "arm64"
    assert images[digest(arm_cfg)].name == f"{host}/{prefix}/multi:2.0.0 (linux/arm64/v8)"
    assert digest(index) not in {a for i in images.values() for a in i.aliases}  # an index is nobody's alias
    assert docker_id in images  # joins with what the Docker collector reports for the same image
    assert images[app_config].aliases == (app_manifest,)
    points = {(r.source.key, r.target.key) for r in records if isinstance(r, RelationRecord)}
    assert (f"{host}/{prefix}/multi:2.0.0", digest(arm_cfg)) in points
    assert (f"{host}/{prefix}/app:latest", app_config) in points
    assert tags[f"{host}/{prefix}/app:1.4.2"].attributes["signatures"] == ["cosign-tag"]
    assert f"{host}/{prefix}/app:sha256-{app_manifest[7:]}.sig" not in tags  # a signature is not an image tag

    app = images[app_config].attributes
    assert app["config"]["env_keys"] == ["PATH", "DB_PASSWORD"]
    assert {s["key"] for s in app["secrets"]} >= {"DB_PASSWORD", "ci.token"}
    dumped = json.dumps([r.__repr__() for r in records]) + caplog.text
    assert ENV_SECRET not in dumped and TOKEN not in dumped

    verdicts = list(evaluate_all(RULES, Snapshot(records_of(records), relations_of(records)), records_of(records)))
    found = {(v.rule.id, v.asset.key) for v in verdicts}
    assert (
        ("REG-PLAIN-HTTP", host) in found and ("REG-ANON-CATALOG", host) in found and ("REG-ANON-PULL", host) in found
    )
    assert ("REG-UNSIGNED-IMAGE", f"{host}/{prefix}/multi:2.0.0") in found
    assert ("REG-UNSIGNED-IMAGE", f"{host}/{prefix}/app:1.4.2") not in found
    assert ("REG-LATEST-TAG", f"{host}/{prefix}/app:latest") in found
    assert ("REG-BASE-REGISTRY", app_config) in found
    # The Docker helper's image rules apply to registry images unchanged.
    assert {("IMG-ROOT-USER", app_config), ("IMG-NO-HEALTHCHECK", app_config), ("IMG-SECRET", app_config)} <= found


def records_of(records: list[Record]) -> list[AssetRecord]:
    return [r for r in records if isinstance(r, AssetRecord)]


def relations_of(records: list[Record]) -> list[RelationRecord]:
    return [r for r in records if isinstance(r, RelationRecord)]


def test_tag_drift_and_the_cost_of_a_second_run(
    registry_plain: PlainRegistry, dockerd: Dockerd, engine: Engine, prefix: str, tmp_path: Path
) -> None:
    layer = tiny_layer()
    first = config_blob(layer, created="2025-01-01T00:00:00Z", env=["PATH=/bin", f"API_TOKEN={ENV_SECRET}"])
    for tag in ("1.4.2", "latest", "main"):
        push_plain(registry_plain, f"{prefix}/app", tag, first)
    push_plain(registry_plain, f"{prefix}/other", "0.1.0", config_blob(layer, user="app"))
    push_index_plain(registry_plain, f"{prefix}/multi", "2.0.0")
    target = RegistryTarget("http", registry_plain.host, prefix=prefix, insecure=True)

    def collect_once() -> tuple[Any, RegistryCollector]:
        context = source_context(engine)
        collector = RegistryCollector(
            target, context.secrets, known_digests=context.known_digests, known_tags=context.known_tags
        )
        return collect(engine, collector, RULES), collector

    one, _ = collect_once()
    assert one.status is RunStatus.COMPLETE
    assert one.stats["assets_new"] == 13  # registry, 3 repos, 5 tags, 2 + 2 platform images

    two, collector = collect_once()  # nothing changed: one HEAD per tag (the index too), no GET of either
    assert two.status is RunStatus.COMPLETE
    # GET: /v2/, the catalog, three tag lists, the anonymous catalog probe; HEAD: 5 tags, the anonymous pull probe.
    assert collector.stats.by_method == {"GET": 1 + 1 + 3 + 1, "HEAD": 5 + 1}
    stats = two.stats
    assert (stats["assets_changed"], stats["assets_gone"], stats["new"], stats["resolved"]) == (0, 0, 0, 0)

    # The re-push: an image the real dockerd built, copied over 1.4.2 and latest with skopeo.
    local = f"posture-registry-drift:{prefix}"
    cli, context = DockerCli(dockerd.url), tmp_path / "build"
    context.mkdir()
    new_config = cli.build(local, context, f"FROM {dockerd.busybox_image}\nUSER 1000\nLABEL drift={prefix}\n")
    try:
        for tag in ("1.4.2", "latest"):
            skopeo(
                "copy",
                "--src-daemon-host",
                dockerd.url,
                "--dest-tls-verify=false",
                "--digestfile",
                str(tmp_path / f"digest-{tag}"),
                f"docker-daemon:{local}",
                f"docker://{registry_plain.host}/{prefix}/app:{tag}",
            )
    finally:
        cli("rmi", local)
    new_manifests = {(tmp_path / f"digest-{tag}").read_text().strip() for tag in ("1.4.2", "latest")}
    three, _ = collect_once()
    assert three.status is RunStatus.COMPLETE
    with read_session(engine) as session:
        rows = session.execute(
            select(finding_table.c.severity, finding_table.c.title, finding_table.c.discriminator).where(
                finding_table.c.rule_id == "REG-TAG-DRIFT"
            )
        ).all()
        stored = repr(session.execute(select(finding_table)).all()).encode()
        built = session.execute(select(asset_table.c.attributes).where(asset_table.c.key == new_config)).scalar_one()
    assert sorted(r.severity for r in rows) == ["high", "info"]  # 1.4.2 and latest moved; main did not
    assert {r.discriminator for r in rows} == new_manifests
    assert any("Release tag 1.4.2 was moved" in r.title for r in rows)
    assert ENV_SECRET.encode() not in (tmp_path / "posture.db").read_bytes() + stored
    assert built["config"]["user"] == "1000"  # the moved tags' image, keyed by Docker's id, collected in full


# --- TLS, htpasswd and the Docker config --------------------------------------------------------


def docker_config(directory: Path, host: str, user: str, password: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return directory


@pytest.fixture
def tls_image(registry_tls: TlsRegistry, prefix: str) -> str:
    async def go() -> str:
        verify = registry_tls.ssl_context()
        async with httpx.AsyncClient(verify=verify, auth=(registry_tls.username, registry_tls.password)) as client:
            manifest, _ = await Pusher(client, registry_tls.url).image(
                f"{prefix}/app", "1.0.0", config_blob(tiny_layer(), user="app"), tiny_layer()
            )
            return manifest

    result: str = run(go())
    return result


def tls_target(registry_tls: TlsRegistry, prefix: str, **kw: Any) -> RegistryTarget:
    return RegistryTarget("https", registry_tls.host, prefix=prefix, **kw)


def test_tls_registry_with_docker_config_credentials(
    registry_tls: TlsRegistry,
    tls_image: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    engine: Engine,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(
        "DOCKER_CONFIG",
        str(docker_config(tmp_path / "docker", registry_tls.host, registry_tls.username, registry_tls.password)),
    )
    target = tls_target(registry_tls, prefix, ca_file=registry_tls.ca_file)
    context = source_context(engine)
    result = collect(engine, RegistryCollector(target, context.secrets), RULES)
    assert result.status is RunStatus.COMPLETE, result.error
    with read_session(engine) as session:
        rules = {r.rule_id for r in session.execute(select(finding_table.c.rule_id))}
    # TLS verified, authenticated, nothing anonymous: no registry finding (the 2024 image is stale, though).
    assert {r for r in rules if r.startswith("REG-")} == {"REG-STALE-IMAGE"}
    records = list(RegistryCollector(target, SCANNER).collect())
    registry = by_kind(records, AssetKind.REGISTRY)[registry_tls.host].attributes
    assert (registry["auth"], registry["authenticated"], registry["tls_verify"]) == ("basic", True, True)
    assert (registry["anonymous_catalog"], registry["anonymous_pull"]) == (False, False)
    assert by_kind(records, AssetKind.TAG)[f"{registry_tls.host}/{prefix}/app:1.0.0"].attributes["digest"] == tls_image
    everything = repr(records) + caplog.text + (tmp_path / "posture.db").read_bytes().decode("latin-1")
    assert registry_tls.password not in everything
    assert base64.b64encode(f"{registry_tls.username}:{registry_tls.password}".encode()).decode() not in everything


def test_posture_collect_over_tls_with_htpasswd_never_shows_the_password(
    registry_tls: TlsRegistry,
    tls_image: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config_dir = docker_config(tmp_path / "docker", registry_tls.host, registry_tls.username, registry_tls.password)
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    db = tmp_path / "cli-tls.db"
    args = [
        "collect",
        "--db",
        f"sqlite:///{db}",
        "--registry",
        f"{registry_tls.url}/{prefix}",
        "--registry-ca",
        registry_tls.ca_file,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + result.stderr
    assert f"registry:{registry_tls.host}/{prefix}: complete" in result.stdout
    wrong = docker_config(tmp_path / "wrong", registry_tls.host, registry_tls.username, registry_tls.password + "x")
    monkeypatch.setenv("DOCKER_CONFIG", str(wrong))
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1 and "access denied (401)" in refused.stderr
    basic = base64.b64encode(f"{registry_tls.username}:{registry_tls.password}".encode()).decode()
    files = b"".join(p.read_bytes() for p in tmp_path.glob("cli-tls.db*"))  # the database, its WAL and journal
    for text in (result.stdout, result.stderr, refused.stdout, refused.stderr, caplog.text, files.decode("latin-1")):
        assert registry_tls.password not in text and basic not in text
    assert tls_image.encode() in files  # the run did store what it collected


def test_tls_failures_are_one_line(
    registry_tls: TlsRegistry, tls_image: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DOCKER_CONFIG",
        str(docker_config(tmp_path / "docker", registry_tls.host, registry_tls.username, registry_tls.password)),
    )
    with pytest.raises(CollectorError) as untrusted:  # the throw-away CA is not in the system store
        list(RegistryCollector(tls_target(registry_tls, prefix), SCANNER).collect())
    message = str(untrusted.value)
    assert message.startswith(f"registry {registry_tls.host}/{prefix}: TLS failure: ")
    assert "certificate verify failed" in message and "--registry-ca" in message and "\n" not in message

    # --insecure-registry: collected, and reported as a finding.
    records = list(RegistryCollector(tls_target(registry_tls, prefix, insecure=True), SCANNER).collect())
    verdicts = evaluate_all(RULES, Snapshot(records_of(records), relations_of(records)), records_of(records))
    assert "REG-TLS-UNVERIFIED" in {v.rule.id for v in verdicts}


def test_wrong_or_missing_credentials(
    registry_tls: TlsRegistry, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tls_target(registry_tls, prefix, ca_file=registry_tls.ca_file)
    monkeypatch.setenv(
        "DOCKER_CONFIG",
        str(docker_config(tmp_path / "wrong", registry_tls.host, registry_tls.username, "not-the-password")),
    )
    with pytest.raises(CollectorError) as wrong:
        list(RegistryCollector(target, SCANNER).collect())
    assert str(wrong.value) == f"registry {registry_tls.host}/{prefix}: GET /v2/: access denied (401)"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    with pytest.raises(CollectorError) as missing:
        list(RegistryCollector(target, SCANNER).collect())
    assert str(missing.value).endswith(f"no credentials for {registry_tls.host} in the Docker config")


def test_posture_collect_command(registry_plain: PlainRegistry, prefix: str, tmp_path: Path) -> None:
    push_plain(registry_plain, f"{prefix}/app", "1.0.0", config_blob(tiny_layer(), env=[f"DB_PASSWORD={ENV_SECRET}"]))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    url = f"{registry_plain.url}/{prefix}"
    args = ["collect", "--db", db, "--registry", url, "--insecure-registry", registry_plain.host]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert f"registry:{registry_plain.host}/{prefix}: complete, 4 assets" in first.output.replace("\n", " ")
    listing = CliRunner().invoke(cli, ["assets", "--db", db, "--format", "json"])
    assert prefix in listing.output
    assert ENV_SECRET not in first.output + listing.output
    assert ENV_SECRET.encode() not in (tmp_path / "cli.db").read_bytes()
