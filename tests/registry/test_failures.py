"""How the collector fails, against a scripted HTTP server: per registry, per repository, per tag.

A whole-registry failure is one :class:`CollectorError` line; a broken repository or tag is a
``Problem`` (the run is partial, so the store resolves nothing) and everything else still arrives.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collectors.registry import Policy, RegistryCollector, RegistryTarget
from collectors.registry.client import ClientSettings, repository_scope
from collectors.registry.credentials import Credentials
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, Record
from posture.secrets import SecretScanner
from tests.docker.docker_support import self_signed
from tests.registry.fake_server import Answer, FakeServer, Seen
from tests.registry.registry_helpers import OCI_MANIFEST, config_blob, digest, image_manifest, tiny_layer

SCANNER = SecretScanner(b"k" * 32)
FAST = ClientSettings(concurrency=4, backoff_s=0.01, max_retry_after_s=2.0)
PASSWORD = "pa55-w0rd-never-shown"


def json_answer(doc: object, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json.dumps(doc).encode(), {"Content-Type": "application/json", **headers})


def serve_image(server: FakeServer, repo: str, tag: str, arch: str = "amd64") -> tuple[str, str]:
    layer = tiny_layer()
    cfg = config_blob(layer, architecture=arch)
    body = image_manifest(cfg, layer)
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(body)}
    server.on("GET", f"/v2/{repo}/manifests/{tag}", Answer(200, body, headers))
    server.on("HEAD", f"/v2/{repo}/manifests/{tag}", Answer(200, body, headers))
    server.on("GET", f"/v2/{repo}/blobs/{digest(cfg)}", Answer(200, cfg))
    return digest(body), digest(cfg)


def serve_catalog(server: FakeServer, tags: dict[str, list[str]]) -> None:
    server.on("GET", "/v2/", json_answer({}))
    server.on("GET", "/v2/_catalog?n=1000", json_answer({"repositories": sorted(tags)}))
    server.on("GET", "/v2/_catalog?n=1", json_answer({"repositories": sorted(tags)[:1]}))
    for repo, names in tags.items():
        server.on("GET", f"/v2/{repo}/tags/list?n=1000", json_answer({"name": repo, "tags": names}))


def target(server: FakeServer, prefix: str = "") -> RegistryTarget:
    authority = server.url.removeprefix("http://")
    return RegistryTarget("http", authority, prefix=prefix, insecure=True)


def collect(server: FakeServer, creds: Credentials | None = None, **kw: object) -> list[Record]:
    collector = RegistryCollector(target(server), SCANNER, credentials=lambda: creds, settings=FAST, **kw)  # type: ignore[arg-type]
    return list(collector.collect())


def assets(records: list[Record], kind: AssetKind) -> dict[str, AssetRecord]:
    return {r.key: r for r in records if isinstance(r, AssetRecord) and r.kind is kind}


def problems(records: list[Record]) -> list[str]:
    return [r.message for r in records if isinstance(r, Problem)]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def test_broken_tags_are_problems_and_the_rest_arrives(server: FakeServer) -> None:
    serve_catalog(
        server,
        {
            "ok/app": ["1.0"],
            "big/app": ["1.0"],
            "huge/app": ["1.0"],
            "garbage/app": ["1.0"],
            "err/app": ["1.0"],
            "missing/app": ["1.0"],
            "badcfg/app": ["1.0"],
        },
    )
    serve_image(server, "ok/app", "1.0")
    mib = b"{" + b" " * (1024 * 1024 - 1)
    server.on(
        "GET", "/v2/big/app/manifests/1.0", lambda _r: Answer(200, iter([mib] * 20), {"Content-Type": OCI_MANIFEST})
    )
    server.on(
        "GET", "/v2/huge/app/manifests/1.0", Answer(200, b" " * (20 * 1024 * 1024), {"Content-Type": OCI_MANIFEST})
    )
    server.on(
        "GET", "/v2/garbage/app/manifests/1.0", Answer(200, b"<html>proxy error</html>", {"Content-Type": OCI_MANIFEST})
    )
    server.on("GET", "/v2/err/app/manifests/1.0", Answer(502, b"bad gateway"))
    _, cfg = serve_image(server, "badcfg/app", "1.0", arch="arm64")
    server.on("GET", f"/v2/badcfg/app/blobs/{cfg}", Answer(200, b'{"tampered": true}'))

    records = collect(server)

    assert set(assets(records, AssetKind.TAG)) == {f"{target(server).authority}/ok/app:1.0"}
    assert len(assets(records, AssetKind.IMAGE)) == 1
    assert len(assets(records, AssetKind.REPOSITORY)) == 7  # every repository is still stated
    found = "\n".join(problems(records))
    assert "big/app:1.0: GET /v2/big/app/manifests/1.0: the answer is over the 4 MiB cap" in found
    huge = "huge/app:1.0: GET /v2/huge/app/manifests/1.0: the answer declares 20971520 bytes, over the 4 MiB cap"
    assert huge in found
    assert "garbage/app:1.0: GET /v2/garbage/app/manifests/1.0: the manifest is not valid JSON" in found
    assert "err/app:1.0: GET /v2/err/app/manifests/1.0: server error (502)" in found
    assert "missing/app:1.0: GET /v2/missing/app/manifests/1.0: not found (404)" in found  # never "removed"
    assert f"badcfg/app:1.0: GET /v2/badcfg/app/blobs/{cfg}: content does not match digest" in found
    assert all(p.startswith(f"registry {target(server).authority}: ") and "\n" not in p for p in problems(records))
    assert server.paths("GET").count("/v2/err/app/manifests/1.0") == FAST.retries  # retried, then given up


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(503, b"down"), "GET /v2/_catalog: server error (503)"),
        (Answer(200, b"not json", {"Content-Type": "application/json"}), "catalog: the response is not valid JSON"),
        (Answer(200, b'{"repositories": "nope"}'), "catalog: the answer has no 'repositories' list of names"),
    ],
)
def test_an_unusable_catalog_fails_the_registry(server: FakeServer, answer: Answer, message: str) -> None:
    server.on("GET", "/v2/", json_answer({}))
    server.on("GET", "/v2/_catalog?n=1000", answer)
    with pytest.raises(CollectorError) as caught:
        collect(server)
    assert str(caught.value) == f"registry {target(server).authority}: {message}"


def test_connection_refused_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    collector = RegistryCollector(RegistryTarget("http", f"127.0.0.1:{port}", insecure=True), SCANNER, settings=FAST)
    with pytest.raises(CollectorError) as caught:
        list(collector.collect())
    assert str(caught.value) == f"registry 127.0.0.1:{port}: GET /v2/: connection refused"


def test_not_a_registry(server: FakeServer) -> None:
    with pytest.raises(CollectorError, match=r"no registry API here \(404\)"):
        collect(server)


def test_429_is_retried_after_the_asked_delay_and_then_a_problem(server: FakeServer) -> None:
    serve_catalog(server, {"a/app": ["1.0", "2.0"]})
    serve_image(server, "a/app", "1.0")
    serve_image(server, "a/app", "2.0", arch="arm64")
    ok = server.routes[("GET", "/v2/a/app/manifests/1.0")]
    calls: list[int] = []

    def flaky(request: Seen) -> Answer:
        calls.append(1)
        return Answer(429, b"slow down", {"Retry-After": "0"}) if len(calls) < 3 else ok(request)

    server.on("GET", "/v2/a/app/manifests/1.0", flaky)
    server.on("GET", "/v2/a/app/manifests/2.0", Answer(429, b"", {"Retry-After": "3600"}))
    records = collect(server)
    assert set(assets(records, AssetKind.TAG)) == {f"{target(server).authority}/a/app:1.0"}
    assert len(calls) == 3
    assert problems(records) == [
        f"registry {target(server).authority}: a/app:2.0: GET /v2/a/app/manifests/2.0: rate limited (429)"
    ]


def test_docker_hub_rate_limit_exhausted_stops_pulls(server: FakeServer) -> None:
    serve_catalog(server, {"a/app": ["1", "2", "3"]})
    for tag in ("1", "2", "3"):
        serve_image(server, "a/app", tag, arch=f"arch{tag}")
    first = server.routes[("GET", "/v2/a/app/manifests/3")]

    def last_pull(request: Seen) -> Answer:
        answer = first(request)
        return Answer(
            answer.status,
            answer.body,
            {**answer.headers, "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"},
        )

    server.on("GET", "/v2/a/app/manifests/3", last_pull)  # newest first: "3" is pulled first
    collector = RegistryCollector(
        target(server), SCANNER, credentials=lambda: None, settings=ClientSettings(concurrency=1, backoff_s=0.01)
    )
    records = list(collector.collect())
    assert set(assets(records, AssetKind.TAG)) == {f"{target(server).authority}/a/app:3"}
    assert sorted(problems(records)) == [
        f"registry {target(server).authority}: a/app:{t}: GET /v2/a/app/manifests/{t}: the registry's pull rate "
        "limit is exhausted"
        for t in ("1", "2")
    ]
    assert "/v2/a/app/manifests/1" not in server.paths("GET")


# --- authentication -----------------------------------------------------------------------------


def bearer_registry(server: FakeServer, realm: str, user: str = "alice") -> list[Seen]:
    """A registry that wants per-scope bearer tokens from ``realm``; returns the token requests."""
    token_requests: list[Seen] = []
    expected_basic = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    challenge = f'Bearer realm="{realm}",service="fake"'

    def token(request: Seen) -> Answer:
        token_requests.append(request)
        scope = request.path.partition("scope=")[2].replace("%3A", ":").replace("%2F", "/").replace("%2A", "*")
        who = "user" if request.headers.get("authorization") == expected_basic else "anonymous"
        return json_answer({"token": f"{who}|{scope}", "expires_in": 300})

    def guarded(route: Answer) -> object:
        def answer(request: Seen) -> Answer:
            scope = repository_scope(request.path)
            if request.headers.get("authorization") != f"Bearer user|{scope}":
                return Answer(401, b'{"errors":[]}', {"WWW-Authenticate": f'{challenge},scope="{scope}"'})
            return route

        return answer

    serve_catalog(server, {"a/app": ["1.0", "2.0"]})
    serve_image(server, "a/app", "1.0")
    serve_image(server, "a/app", "2.0", arch="arm64")
    for key, route in list(server.routes.items()):
        server.routes[key] = guarded(route(Seen(*key, {})))  # type: ignore[assignment]
    server.on("GET", "*", token)
    return token_requests


def test_bearer_flow_caches_one_token_per_scope(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token_requests = bearer_registry(server, f"{server.url}/token")
    records = collect(server, Credentials("alice", PASSWORD))
    assert problems(records) == []
    assert len(assets(records, AssetKind.TAG)) == 2
    user_scopes = sorted(r.path.partition("scope=")[2] for r in token_requests if "authorization" in r.headers)
    assert user_scopes == ["", "registry%3Acatalog%3A%2A", "repository%3Aa%2Fapp%3Apull"]  # once each
    registry = assets(records, AssetKind.REGISTRY)[target(server).authority].attributes
    assert registry["auth"] == "bearer" and registry["authenticated"] is True
    assert registry["anonymous_catalog"] is False and registry["anonymous_pull"] is False
    assert PASSWORD not in repr(records) + caplog.text


def test_credentials_are_withheld_from_a_token_realm_on_another_host(server: FakeServer) -> None:
    token_requests = bearer_registry(server, f"http://localhost:{server.port}/token")
    with pytest.raises(CollectorError) as caught:
        collect(server, Credentials("alice", PASSWORD))
    assert all("authorization" not in r.headers for r in token_requests)
    assert "credentials withheld from token realm localhost" in str(caught.value)
    assert "--registry-token-realm" in str(caught.value)


def basic_registry(server: FakeServer) -> None:
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    serve_catalog(server, {"a/app": ["1.0"]})
    serve_image(server, "a/app", "1.0")
    for key, route in list(server.routes.items()):
        fixed = route(Seen(*key, {}))
        server.routes[key] = lambda r, a=fixed: (
            a
            if r.headers.get("authorization") == expected
            else Answer(401, b"", {"WWW-Authenticate": 'Basic realm="fake"'})
        )


def test_wrong_or_missing_credentials_fail_the_registry(server: FakeServer) -> None:
    basic_registry(server)
    with pytest.raises(CollectorError) as wrong:
        collect(server, Credentials("alice", "wrong-password"))
    assert str(wrong.value) == f"registry {target(server).authority}: GET /v2/: access denied (401)"
    with pytest.raises(CollectorError) as missing:
        collect(server, None)
    assert "no credentials for" in str(missing.value) and "in the Docker config" in str(missing.value)
    assert "wrong-password" not in str(wrong.value)


def test_no_credential_follows_a_redirect_to_another_host(server: FakeServer) -> None:
    basic_registry(server)
    with FakeServer("127.0.0.1") as storage:
        _, cfg = serve_image(server, "a/app", "1.0")
        blob = server.routes[("GET", f"/v2/a/app/blobs/{cfg}")](Seen("GET", "", {}))
        storage.on("GET", "/blob", Answer(200, blob.body))
        expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        server.on(
            "GET",
            f"/v2/a/app/blobs/{cfg}",
            lambda r: (
                Answer(307, b"", {"Location": f"{storage.url}/blob"})
                if r.headers.get("authorization") == expected
                else Answer(401, b"", {})
            ),
        )
        records = collect(server, Credentials("alice", PASSWORD))
        assert problems(records) == []
        assert len(assets(records, AssetKind.IMAGE)) == 1
        assert storage.seen and all("authorization" not in s.headers for s in storage.seen)


# --- walking: pagination, scope, newest tags, indexes, referrers --------------------------------


def test_pagination_scope_newest_tags_and_referrers(server: FakeServer) -> None:
    server.on("GET", "/v2/", json_answer({}))
    server.on(
        "GET",
        "/v2/_catalog?n=1000",
        json_answer(
            {"repositories": ["team/app", "team/tmp-x"]}, Link='</v2/_catalog?last=team%2Ftmp-x&n=1000>; rel="next"'
        ),
    )
    server.on("GET", "/v2/_catalog?last=team%2Ftmp-x&n=1000", json_answer({"repositories": ["team/web", "other/x"]}))
    server.on("GET", "/v2/_catalog?n=1", json_answer({"repositories": []}))
    signed, _ = serve_image(server, "team/web", "2.0.0", arch="arm64")
    server.on(
        "GET",
        "/v2/team/app/tags/list?n=1000",
        json_answer({"tags": ["1.9.0", "1.10.0"]}, Link='</v2/team/app/tags/list?last=1.10.0&n=1000>; rel="next"'),
    )
    server.on("GET", "/v2/team/app/tags/list?last=1.10.0&n=1000", json_answer({"tags": ["0.1.0", "latest"]}))
    server.on("GET", "/v2/team/web/tags/list?n=1000", json_answer({"tags": ["2.0.0", f"sha256-{signed[7:]}"]}))
    for tag, arch in (("latest", "amd64"), ("1.10.0", "s390x"), ("1.9.0", "ppc64le"), ("0.1.0", "riscv64")):
        serve_image(server, "team/app", tag, arch=arch)
    server.on("GET", f"/v2/team/web/referrers/{signed}", Answer(404, b""))  # no referrers API: the tag schema
    server.on(
        "GET",
        f"/v2/team/web/manifests/sha256-{signed[7:]}",
        json_answer(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {"artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": digest(b"s")}
                ],
            }
        ),
    )
    authority = target(server).authority
    scoped = RegistryTarget(
        "http",
        authority,
        prefix="team",
        insecure=True,
        exclude=("*/tmp-*",),
        newest_tags=2,
        policy=Policy(require_signatures=True),
    )
    records = list(RegistryCollector(scoped, SCANNER, credentials=lambda: None, settings=FAST).collect())
    assert problems(records) == []
    assert set(assets(records, AssetKind.REPOSITORY)) == {f"{authority}/team/app", f"{authority}/team/web"}
    tags = assets(records, AssetKind.TAG)
    assert set(tags) == {f"{authority}/team/app:latest", f"{authority}/team/app:1.10.0", f"{authority}/team/web:2.0.0"}
    assert tags[f"{authority}/team/web:2.0.0"].attributes["signatures"] == ["referrer"]
    assert tags[f"{authority}/team/app:latest"].attributes["signatures"] == []
    assert assets(records, AssetKind.REPOSITORY)[f"{authority}/team/app"].attributes["tags"] == 4
    assert assets(records, AssetKind.REGISTRY)[authority].attributes["anonymous_catalog"] is False  # empty listing


def test_a_known_tag_costs_one_head_on_a_kept_alive_connection(server: FakeServer) -> None:
    """A HEAD response has no body, but closing it unread dropped the connection: one TCP
    connection per tag on an unchanged re-run."""
    serve_catalog(server, {"a/app": ["1.0", "1.1", "1.2"]})
    known = frozenset(serve_image(server, "a/app", tag)[0] for tag in ("1.0", "1.1", "1.2"))
    one_lane = ClientSettings(concurrency=1, backoff_s=0.01)
    records = list(RegistryCollector(target(server), SCANNER, credentials=lambda: None, settings=one_lane,
                                     known_digests=known).collect())
    assert len(assets(records, AssetKind.TAG)) == 3
    heads = set(server.paths("HEAD"))
    assert heads == {f"/v2/a/app/manifests/{tag}" for tag in ("1.0", "1.1", "1.2")}
    assert not any("/manifests/" in path for path in server.paths("GET"))
    assert len({s.peer for s in server.seen}) == 1


async def test_collect_works_inside_a_running_event_loop(server: FakeServer) -> None:
    serve_catalog(server, {"a/app": ["1.0"]})
    serve_image(server, "a/app", "1.0")
    records = collect(server)  # the TUI calls collectors from its workers, which may run a loop
    assert len(assets(records, AssetKind.IMAGE)) == 1


# --- --insecure-registry trusts the registry's origin only -------------------------------------


def self_signed_server(directory: Path) -> ssl.SSLContext:
    """A server context holding a fresh self-signed certificate for 127.0.0.1 (trusted by nobody)."""
    directory.mkdir()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(directory))
    return context


def test_insecure_registry_does_not_extend_to_a_redirect_host(tmp_path: Path) -> None:
    with (
        FakeServer(tls=self_signed_server(tmp_path / "registry")) as registry,
        FakeServer(tls=self_signed_server(tmp_path / "storage")) as storage,
    ):
        serve_catalog(registry, {"a/app": ["1.0"]})
        _, cfg = serve_image(registry, "a/app", "1.0")
        blob = registry.routes[("GET", f"/v2/a/app/blobs/{cfg}")](Seen("GET", "", {}))
        storage.on("GET", "/blob", blob)
        registry.on("GET", f"/v2/a/app/blobs/{cfg}", Answer(307, b"", {"Location": f"{storage.url}/blob"}))
        authority = registry.url.removeprefix("https://")
        insecure = RegistryTarget("https", authority, insecure=True)
        with pytest.raises(CollectorError) as caught:
            list(RegistryCollector(insecure, SCANNER, credentials=lambda: None, settings=FAST).collect())
        # The registry itself was reached unverified (its manifest was read); the storage host was not.
        assert registry.paths("GET").count(f"/v2/a/app/blobs/{cfg}") == 1
        assert str(caught.value).startswith(f"registry {authority}: TLS failure: certificate verify failed")
        assert storage.seen == []


def test_a_rate_limited_ping_is_retried_after_the_asked_delay(server: FakeServer) -> None:
    serve_catalog(server, {"a/app": ["1.0"]})
    serve_image(server, "a/app", "1.0")
    ok = server.routes[("GET", "/v2/")]
    pings: list[int] = []

    def limited(request: Seen) -> Answer:
        pings.append(1)
        return Answer(429, b"slow down", {"Retry-After": "1"}) if len(pings) == 1 else ok(request)

    server.on("GET", "/v2/", limited)
    started = time.monotonic()
    records = collect(server)
    assert time.monotonic() - started >= 1.0  # the asked second, not the 0.01 s backoff
    assert len(pings) == 2 and problems(records) == []
    assert len(assets(records, AssetKind.TAG)) == 1

    server.on("GET", "/v2/", Answer(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(CollectorError) as caught:
        collect(server)
    assert str(caught.value) == f"registry {target(server).authority}: GET /v2/: rate limited (429)"


async def test_an_insecure_registry_on_the_default_port_trusts_no_other_port_of_its_host() -> None:
    """httpx mounts a host without a port for every port: the registry on 443 must not lend its unverified
    TLS to a token service or storage on another port of the same name."""
    from collectors.registry.client import _OnePort

    def answering(name: str) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, text=name))

    one_port = _OnePort(443, answering("unverified"), answering("verified"))
    async with httpx.AsyncClient(mounts={"https://reg.example": one_port}) as client:
        assert (await client.get("https://reg.example/v2/")).text == "unverified"
        assert (await client.get("https://reg.example:443/v2/")).text == "unverified"
        assert (await client.get("https://reg.example:8443/token")).text == "verified"
