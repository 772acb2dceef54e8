"""An engine captured as a file of its own API responses, collected offline.

For a host the collector cannot reach (air-gapped, or a support bundle) and for ``posture demo``:
the file is one JSON object holding the engine's ``/info``, ``/version``, ``/networks``, the
``/images/{id}/json`` of each image with its ``/images/{id}/history`` under ``History``, and the
``/containers/{id}/json`` of each container. The same normalization as a live engine applies.

Identity comes from the snapshot's own ``/info``, as for a live engine, so a snapshot and a live
collection of one engine share a scope. A ``/info`` without ``Name`` and ``DockerRootDir`` cannot
tell the engine from another that shares its ID (dockerd's shared key file, a cloned VM), so
:meth:`DockerSnapshotCollector.check` refuses it before anything is stored. A snapshot holds no
layers, so its runs judge no layer secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from collectors.docker.layers import layers_not_judged
from collectors.docker.normalize import (
    container_record,
    engine_key,
    engine_record,
    engine_scope,
    image_record,
    legacy_engine_key,
)
from posture.attributes.docker import Transport
from posture.coverage import Coverage
from posture.filekinds import special_file
from posture.records import CollectorError, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner

MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024


class DockerSnapshotCollector:
    def __init__(self, path: Path, secrets: SecretScanner | None) -> None:
        self.path = path
        self._secrets = secrets
        self._data: Mapping[str, Any] | None = None

    def _load(self) -> Mapping[str, Any]:
        if self._data is None:
            problem = special_file(self.path)  # a FIFO would block the read forever
            if problem:
                raise CollectorError(f"docker snapshot {self.path}: {problem}")
            try:
                if self.path.stat().st_size > MAX_SNAPSHOT_BYTES:
                    raise CollectorError(f"docker snapshot {self.path}: larger than {MAX_SNAPSHOT_BYTES // 2**20} MiB")
                data = orjson.loads(self.path.read_bytes())
            except OSError as exc:
                raise CollectorError(f"docker snapshot {self.path}: cannot read ({exc.strerror})") from None
            except orjson.JSONDecodeError as exc:
                raise CollectorError(f"docker snapshot {self.path}: not JSON ({exc})") from None
            if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
                raise CollectorError(f"docker snapshot {self.path}: no engine /info")
            missing = [field for field in ("Name", "DockerRootDir") if not data["info"].get(field)]
            if missing:
                raise CollectorError(
                    f"docker snapshot {self.path}: /info has no {' or '.join(missing)} to tell this engine from "
                    "others sharing its ID; capture the engine's whole /info"
                )
            self._data = data
        return self._data

    def check(self) -> None:
        """Raises :class:`CollectorError` for a snapshot that cannot be read or identified, so the CLI
        refuses it up front instead of recording a run under a name that is not the engine's."""
        self._load()

    @property
    def scope(self) -> ScopeRef:
        try:
            data = self._load()
        except CollectorError:
            return ScopeRef(ScopeKind.DOCKER, f"snapshot:{self.path}", label=str(self.path))
        info, version = data["info"], data.get("version") or {}
        return engine_scope(engine_key(info, version), str(self.path), legacy_engine_key(info))

    def coverage(self) -> Coverage:
        """A snapshot holds no image layers: secrets only a layer scan finds are not judged."""
        return layers_not_judged("snapshot without layers")

    def collect(self) -> Iterator[Record]:
        data = self._load()
        transport: Transport = {"url": f"file://{self.path}", "scheme": "file", "tls": False, "client_cert": False}
        engine = engine_record(data["info"], data.get("version") or {}, data.get("networks"), transport)
        yield engine
        configs: dict[str, Any] = {}
        for inspect in _objects(data, "images"):
            record = image_record(inspect, _list(inspect.get("History")), self._secrets)
            configs[record.key] = inspect.get("Config") or {}
            yield record
        for inspect in _objects(data, "containers"):
            record, relation = container_record(
                inspect, engine, self._secrets, configs.get(str(inspect.get("Image") or ""), {})
            )
            yield record
            if relation is not None:
                yield relation


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _objects(data: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    yield from (item for item in _list(data.get(key)) if isinstance(item, dict))
