"""The real services the integration tests stand on: each one answers and does its job.

These fail first when the harness (scripts/services.sh, tests/services.py) breaks, which tells a
broken environment apart from a broken collector.
"""

from __future__ import annotations

import secrets
import subprocess
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.services import Dockerd, PlainRegistry, Podman, TlsRegistry, temporary_database

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def engine_get(socket_url: str, path: str) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=socket_url.removeprefix("unix://"))
    with httpx.Client(transport=transport, base_url="http://engine", timeout=10) as client:
        return client.get(path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def skopeo_push(dockerd: Dockerd, destination: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Copies the busybox image from the test daemon to a registry (skopeo 1.9 ignores DOCKER_HOST)."""
    source = f"docker-daemon:{dockerd.busybox_image}"
    return run(
        "skopeo", "copy", "--quiet", "--src-daemon-host", dockerd.url, *options, source, f"docker://{destination}"
    )


def unique_repository() -> str:
    """Services outlive one test session when a developer keeps them up: never reuse a name."""
    return f"harness/busybox-{secrets.token_hex(4)}"


def test_dockerd_answers_ping(dockerd: Dockerd) -> None:
    response = engine_get(dockerd.url, "/_ping")

    assert response.status_code == 200
    assert response.text == "OK"


def test_busybox_image_runs_a_container(dockerd: Dockerd) -> None:
    inspect = run("docker", "-H", dockerd.url, "image", "inspect", "--format", "{{.Os}}", dockerd.busybox_image)
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.strip() == "linux"

    result = run("docker", "-H", dockerd.url, "run", "--rm", "--network", "none", dockerd.busybox_image, "echo", "hi")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"


def test_plain_registry_answers_anonymously(registry_plain: PlainRegistry) -> None:
    response = httpx.get(f"{registry_plain.url}/v2/", timeout=10)

    assert response.status_code == 200


def test_tls_registry_needs_credentials(registry_tls: TlsRegistry) -> None:
    with httpx.Client(verify=registry_tls.ssl_context(), timeout=10) as client:
        anonymous = client.get(f"{registry_tls.url}/v2/")
        wrong = client.get(f"{registry_tls.url}/v2/", auth=(registry_tls.username, "not-the-password"))
        authenticated = client.get(f"{registry_tls.url}/v2/", auth=(registry_tls.username, registry_tls.password))

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    assert wrong.status_code == 401
    assert authenticated.status_code == 200


def test_tls_registry_certificate_is_trusted_only_through_the_test_ca(registry_tls: TlsRegistry) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{registry_tls.url}/v2/", timeout=10)
    # The certificate names localhost too, so either spelling of loopback verifies.
    port = urlsplit(registry_tls.url).port
    response = httpx.get(f"https://localhost:{port}/v2/", verify=registry_tls.ssl_context(), timeout=10)
    assert response.status_code == 401


def test_skopeo_pushes_to_the_plain_registry(dockerd: Dockerd, registry_plain: PlainRegistry) -> None:
    repository = unique_repository()

    result = skopeo_push(dockerd, f"{registry_plain.host}/{repository}:1", "--dest-tls-verify=false")

    assert result.returncode == 0, result.stderr
    tags = httpx.get(f"{registry_plain.url}/v2/{repository}/tags/list", timeout=10).json()
    assert tags == {"name": repository, "tags": ["1"]}


def test_skopeo_pushes_to_the_tls_registry_with_credentials(dockerd: Dockerd, registry_tls: TlsRegistry) -> None:
    repository = unique_repository()
    destination = f"{registry_tls.host}/{repository}:1"
    trust = ("--dest-cert-dir", registry_tls.cert_dir)

    refused = skopeo_push(dockerd, destination, *trust, "--dest-no-creds")
    credentials = f"{registry_tls.username}:{registry_tls.password}"
    pushed = skopeo_push(dockerd, destination, *trust, "--dest-creds", credentials)

    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower()
    assert pushed.returncode == 0, pushed.stderr
    manifest = httpx.get(
        f"{registry_tls.url}/v2/{repository}/manifests/1",
        headers={"Accept": MANIFEST_TYPES},
        auth=(registry_tls.username, registry_tls.password),
        verify=registry_tls.ssl_context(),
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["docker-content-digest"].startswith("sha256:")


def test_postgres_accepts_connections_on_loopback(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_database(), host(inet_server_addr())").fetchone()

    assert row == ("posture_test", "127.0.0.1")


def test_fresh_postgres_db_is_a_new_empty_database(fresh_postgres_db: str, postgres_url: str) -> None:
    with psycopg.connect(fresh_postgres_db, connect_timeout=10) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()

    assert name is not None
    assert name[0] != urlsplit(postgres_url).path.lstrip("/")
    assert tables == (0,)


def test_temporary_database_is_dropped_even_while_in_use(postgres_url: str) -> None:
    with temporary_database(postgres_url) as url:
        name = urlsplit(url).path.lstrip("/")
        lingering = psycopg.connect(url, connect_timeout=10)
        lingering.execute("CREATE TABLE t (id int)")

    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        remaining = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()
    lingering.close()
    assert remaining == (0,)


def test_podman_answers_the_docker_api(podman: Podman) -> None:
    ping = engine_get(podman.url, "/_ping")
    version = engine_get(podman.url, "/version")

    assert ping.status_code == 200
    assert ping.text == "OK"
    assert "Podman Engine" in {component["Name"] for component in version.json()["Components"]}
