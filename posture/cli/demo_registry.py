"""The demo's two registries, answered in-process from bundled manifests and config blobs.

The registry collector runs unchanged over an ``httpx.MockTransport`` that speaks just enough of
the Distribution API (``/v2/``, ``_catalog``, ``tags/list``, manifests, blobs) to serve the bundle:
one registry over HTTPS with basic auth, one legacy registry over plain HTTP open to anyone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from collectors.registry import RegistryCollector, parse_registry_url
from collectors.registry.credentials import Credentials
from posture.cli.sources import SourceContext
from posture.records import Collector

_DEMO_USER = ("demo", "demo-password")
_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _handler(registry: Mapping[str, Any]) -> Any:
    expected = "Basic " + base64.b64encode(":".join(_DEMO_USER).encode()).decode()

    def handle(request: httpx.Request) -> httpx.Response:
        if registry["auth"] == "basic" and request.headers.get("authorization") != expected:
            return httpx.Response(
                401, headers={"WWW-Authenticate": 'Basic realm="demo"'}, json={"errors": [{"code": "UNAUTHORIZED"}]}
            )
        path = request.url.path
        repos: Mapping[str, Mapping[str, str]] = registry["repositories"]
        if path == "/v2/":
            return httpx.Response(200, json={})
        if path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": sorted(repos)})
        repo, _, rest = path[len("/v2/") :].rpartition("/")
        repo, kind = repo.rsplit("/", 1) if "/" in repo else ("", repo)
        if kind == "tags" and rest == "list" and repo in repos:
            return httpx.Response(200, json={"name": repo, "tags": sorted(repos[repo])})
        if kind == "manifests" and repo in repos:
            digest = repos[repo].get(rest, rest)
            body = registry["manifests"].get(digest)
            if body is not None:
                headers = {"Content-Type": _MANIFEST_TYPE, "Docker-Content-Digest": digest}
                return httpx.Response(200, headers=headers, content=b"" if request.method == "HEAD" else body.encode())
        if kind == "blobs" and rest in registry["blobs"]:
            return httpx.Response(200, content=registry["blobs"][rest].encode())
        return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND"}]})

    return handle


def demo_registry_collectors(path: Path, context: SourceContext) -> list[Collector]:
    tree: dict[str, Any] = json.loads(path.read_text())
    collectors: list[Collector] = []
    for authority, registry in sorted(tree.items()):
        scheme = registry["scheme"]
        target = parse_registry_url(f"{scheme}://{authority}", insecure_hosts=[authority] if scheme == "http" else [])
        credentials = Credentials(*_DEMO_USER) if registry["auth"] == "basic" else None
        collectors.append(
            RegistryCollector(
                target,
                context.secrets,
                known_digests=context.known_digests,
                credentials=lambda c=credentials: c,  # type: ignore[misc]
                transport=httpx.MockTransport(_handler(registry)),
            )
        )
    return collectors
