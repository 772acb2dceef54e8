"""Secret files inside image layers, including files a later layer deleted.

``docker rmi``-proof secrets: a ``COPY id_rsa`` followed by ``RUN rm id_rsa`` leaves the key in the
earlier layer, readable by anyone who can pull the image. ``GET /images/{id}/get`` streams the
image as a tar of layer tars; each layer is read in stream mode (nothing is written to disk) and
only small files whose name says "credential" are read, so the scan stays bounded. Images larger
than the byte budget are skipped (the caller decides the budget; 0 disables the scan), and a run
that skipped any image, or had no layer scan at all, judged no layer secret (:func:`layers_not_judged`).
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterator
from typing import IO, Any

from posture.coverage import Coverage
from posture.errors import SourceFailure
from posture.secrets import TOKEN_PATTERNS, SecretHit, SecretScanner

#: ``location`` of a secret file found in an image layer, and of one a later layer deleted.
LAYER = "layer"
LAYER_DELETED = "layer-deleted"

_MAX_FILE = 64 * 1024
_SECRET_NAMES = frozenset(
    {
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        ".env",
        "credentials",
        "credentials.json",
        "service-account.json",
        ".htpasswd",
        ".pgpass",
        ".my.cnf",
    }
)
_SECRET_SUFFIXES = (".pem", ".key", ".p8", ".env", ".ppk")
_SECRET_PATH_PARTS = ("/.aws/", "/.docker/config.json", "/.ssh/", "/.kube/config")
_PRIVATE_KEY = dict(TOKEN_PATTERNS)["private-key"]


def is_candidate(path: str) -> bool:
    name = posixpath.basename(path)
    full = "/" + path.lstrip("./")
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES) or any(p in full for p in _SECRET_PATH_PARTS)


def layers_not_judged(why: str) -> Coverage:
    """The coverage of a run that did not read every image's layers: a secret only a layer scan
    finds is not judged, so its absence resolves nothing (``why`` says which images went unread)."""
    return Coverage(
        skipped_locations=frozenset({LAYER, LAYER_DELETED}),
        notes=(f"{why}: secrets in image layers not judged",),
    )


class BudgetExhausted(SourceFailure, OSError):
    """The image's export stream outgrew the scan budget (its own error: an engine failure is an OSError too)."""


class _Budget(io.RawIOBase):
    """Reads the SDK's chunk stream as a file and stops at ``limit`` bytes."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            if self._left <= 0:
                raise BudgetExhausted("layer scan budget exhausted")
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            self._left -= len(self._buffer)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def scan_image_layers(
    client: Any, image_id: str, size: int, secrets: SecretScanner, max_bytes: int
) -> list[SecretHit] | None:
    """Secret files in every layer of ``image_id`` (``size`` bytes); None when the image was not read
    whole because it exceeds ``max_bytes`` (or its export stream does), so its layers were not judged."""
    if size > max_bytes:
        return None
    if size <= 0:
        return []
    stream = io.BufferedReader(_Budget(iter(client.get_image(image_id, chunk_size=1 << 20)), max_bytes * 2))
    found: list[tuple[str, SecretHit]] = []
    deleted: set[str] = set()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                if not member.isfile() or not _is_layer(member.name):
                    continue
                layer = outer.extractfile(member)
                if layer is not None:
                    _scan_layer(layer, secrets, found, deleted)
    except BudgetExhausted:
        return None
    return [_mark_deleted(path, hit, deleted) for path, hit in found]


def _is_layer(name: str) -> bool:
    # Docker's legacy save format names layers <id>/layer.tar; the OCI layout stores them as blobs.
    return name.endswith("layer.tar") or name.startswith("blobs/sha256/")


def _scan_layer(
    layer: IO[bytes], secrets: SecretScanner, found: list[tuple[str, SecretHit]], deleted: set[str]
) -> None:
    try:
        with tarfile.open(fileobj=layer, mode="r|*") as inner:
            _scan_members(inner, secrets, found, deleted)
    except tarfile.TarError:
        return  # a config or manifest blob, not a layer


def _scan_members(
    inner: tarfile.TarFile, secrets: SecretScanner, found: list[tuple[str, SecretHit]], deleted: set[str]
) -> None:
    for member in inner:
        path = "/" + member.name.lstrip("./")
        name = posixpath.basename(path)
        if name == ".wh..wh..opq":  # opaque directory: everything below it in earlier layers is hidden
            deleted.add(posixpath.dirname(path))
            continue
        if name.startswith(".wh."):
            deleted.add(posixpath.join(posixpath.dirname(path), name[len(".wh.") :]))
            continue
        if not member.isfile() or member.size > _MAX_FILE or not is_candidate(path):
            continue
        handle = inner.extractfile(member)
        if handle is None:
            continue
        text = handle.read(_MAX_FILE).decode("utf-8", "replace")
        if _PRIVATE_KEY.search(text):
            preview, digest = secrets.redact(text.strip())
            found.append((path, SecretHit(LAYER, path, "private-key", preview, digest)))
            continue
        for hit in secrets.scan_text(LAYER, text):
            found.append((path, SecretHit(hit.location, path, hit.detector, hit.preview, hit.fingerprint)))


def _mark_deleted(path: str, hit: SecretHit, deleted: set[str]) -> SecretHit:
    """A file removed by a later layer is still in the image: say so, it is the surprising case."""
    if path in deleted or any(path.startswith(d.rstrip("/") + "/") for d in deleted):
        return SecretHit(LAYER_DELETED, hit.key, hit.detector, hit.preview, hit.fingerprint)
    return hit
