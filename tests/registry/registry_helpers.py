"""Building images without a build: blobs, configs, manifests and OCI layouts, pushed over the
Distribution API (monolithic upload) or written to disk for ``skopeo copy oci:DIR``.

Shared by the registry tests and ``benchmarks/bench_registry.py``. Nothing here needs runnable
binaries: a registry stores and serves whatever descriptors say, which is all the collector reads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Layer:
    compressed: bytes
    diff_id: str

    @property
    def digest(self) -> str:
        return digest(self.compressed)


def tiny_layer(name: str = "hello.txt", content: bytes = b"hello\n") -> Layer:
    """A gzip'd tar holding one file, byte-for-byte reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return Layer(gzip.compress(tar_bytes, mtime=0), digest(tar_bytes))


def config_blob(
    layer: Layer,
    *,
    user: str = "",
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    labels: Mapping[str, str] | None = None,
    healthcheck: Sequence[str] | None = None,
    created: str = "2024-01-02T03:04:05Z",
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    history: Sequence[str] = ("ADD hello.txt /",),
) -> bytes:
    config: dict[str, Any] = {"Env": list(env), "Cmd": ["/hello"]}
    if user:
        config["User"] = user
    if labels:
        config["Labels"] = dict(labels)
    if healthcheck:
        config["Healthcheck"] = {"Test": list(healthcheck), "Interval": 30_000_000_000}
    doc: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": created, "created_by": h} for h in history],
    }
    if variant:
        doc["variant"] = variant
    return canonical(doc)


def image_manifest(
    config: bytes, layer: Layer, *, docker: bool = False, annotations: Mapping[str, str] | None = None
) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [
            {"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": layer.digest, "size": len(layer.compressed)}
        ],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical(doc)


def index_manifest(entries: Sequence[tuple[bytes, str]]) -> bytes:
    """An OCI index of (manifest bytes, "os/arch[/variant]") entries."""
    manifests = []
    for body, platform in entries:
        os_, arch, *variant = platform.split("/")
        plat: dict[str, str] = {"os": os_, "architecture": arch}
        if variant:
            plat["variant"] = variant[0]
        manifests.append({"mediaType": OCI_MANIFEST, "digest": digest(body), "size": len(body), "platform": plat})
    return canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def signature_manifest() -> tuple[bytes, bytes, bytes]:
    """A cosign-style signature artifact: (manifest, config, payload layer)."""
    payload = b'{"critical":{"type":"cosign container image signature"}}'
    config = canonical(
        {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": [digest(payload)]}}
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": digest(payload),
                "size": len(payload),
                "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQDfake"},
            }
        ],
    }
    return canonical(doc), config, payload


# --- pushing over HTTP --------------------------------------------------------------------------


class Pusher:
    """Pushes blobs and manifests with the registry's monolithic upload (POST, then PUT ?digest=)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base = base_url.rstrip("/")

    async def blob(self, repo: str, data: bytes, *, check: bool = True) -> str:
        """Upload unless present (``check=False`` skips the HEAD for content known to be new)."""
        dgst = digest(data)
        if check and (await self.client.head(f"{self.base}/v2/{repo}/blobs/{dgst}")).status_code == 200:
            return dgst
        start = await self.client.post(f"{self.base}/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["location"]
        url = location if location.startswith("http") else self.base + location
        sep = "&" if "?" in url else "?"
        put = await self.client.put(
            f"{url}{sep}digest={dgst}", content=data, headers={"Content-Type": "application/octet-stream"}
        )
        put.raise_for_status()
        return dgst

    async def mount(self, repo: str, dgst: str, source: str) -> None:
        """Cross-repository blob mount: one request instead of an upload."""
        answer = await self.client.post(f"{self.base}/v2/{repo}/blobs/uploads/?mount={dgst}&from={source}")
        if answer.status_code != 201:
            raise RuntimeError(f"mount of {dgst} into {repo} answered {answer.status_code}")

    async def manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        put = await self.client.put(
            f"{self.base}/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )
        put.raise_for_status()
        return digest(body)

    async def image(
        self,
        repo: str,
        tag: str,
        config: bytes,
        layer: Layer,
        *,
        docker: bool = False,
        annotations: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """Push one image; returns (manifest digest, config digest)."""
        await self.blob(repo, layer.compressed)
        await self.blob(repo, config)
        body = image_manifest(config, layer, docker=docker, annotations=annotations)
        media = DOCKER_MANIFEST if docker else OCI_MANIFEST
        return await self.manifest(repo, tag, body, media), digest(config)

    async def signature(self, repo: str, signed_digest: str) -> str:
        body, config, payload = signature_manifest()
        await self.blob(repo, payload)
        await self.blob(repo, config)
        return await self.manifest(repo, signed_digest.replace(":", "-") + ".sig", body, OCI_MANIFEST)


# --- OCI layouts for skopeo ---------------------------------------------------------------------


def write_oci_layout(directory: Path, blobs: Sequence[bytes], index: bytes, ref_name: str) -> None:
    """An OCI image layout whose index.json names ``index`` (itself an index or a manifest) as ``ref_name``."""
    blob_dir = directory / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for data in (*blobs, index):
        (blob_dir / digest(data).removeprefix("sha256:")).write_bytes(data)
    media = json.loads(index).get("mediaType", OCI_MANIFEST)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": media,
                "digest": digest(index),
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(top))
