"""One Docker (or Podman) engine as a Posture scope: read-only API calls in, records out.

Calls made: ``/version``, ``/info``, ``/networks``, ``/images/json``, ``/images/{id}/json``,
``/images/{id}/history``, ``/containers/json?all=1``, ``/containers/{id}/json``, for running
containers ``/containers/{id}/top`` and ``/exec/{id}/json`` (see :mod:`collectors.docker.runtime`)
and, only when a layer-scan budget is given, ``/images/{id}/get``. Nothing is created, started or changed.

Inspect calls run on a bounded thread pool: one engine answers a few hundred inspects per second
per connection, so 500 containers take seconds instead of tens of seconds, while ``workers``
keeps a busy production daemon from being flooded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker.errors

from collectors.bounds import Bounds
from collectors.docker.client import BOUNDS, SSH_WORKERS, collector_error, connect, describe
from collectors.docker.endpoint import DockerEndpoint
from collectors.docker.layers import layers_not_judged, scan_image_layers
from collectors.docker.normalize import (
    container_record,
    engine_key,
    engine_record,
    engine_scope,
    image_record,
    legacy_engine_key,
)
from collectors.docker.runtime import Observed, observe
from posture.attributes.docker import Transport
from posture.coverage import FULL, Coverage
from posture.records import AssetRecord, CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretHit, SecretScanner

R = TypeVar("R")


class DockerCollector:
    """Collects one engine; ``last_engine`` is the engine key last seen at this URL (from the store),
    so a run that cannot connect is recorded in that engine's history."""

    def __init__(
        self,
        endpoint: DockerEndpoint,
        secrets: SecretScanner | None,
        *,
        workers: int = 8,
        timeout: float = 30.0,
        layer_scan_bytes: int = 0,
        last_engine: str | None = None,
        bounds: Bounds = BOUNDS,
    ) -> None:
        self.endpoint = endpoint
        self._bounds = bounds
        self._last_engine = last_engine
        self._secrets = secrets
        self._workers = max(1, min(workers, SSH_WORKERS) if endpoint.scheme == "ssh" else workers)
        self._timeout = timeout
        self._layer_scan_bytes = layer_scan_bytes
        self._client: Any = None
        self._version: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self._error: CollectorError | None = None
        self._scope: ScopeRef | None = None
        #: Images whose layers the last run did not read (over the layer-scan budget).
        self._unscanned: list[str] = []

    @property
    def scope(self) -> ScopeRef:
        """Asks the engine for its identity once (see :func:`engine_key`), labelled by how it is reached.
        An unreachable engine is scoped as the engine last seen at this URL, or by the URL when none was;
        :meth:`collect` then raises, so the run is recorded failed."""
        if self._scope is None:
            label = self.endpoint.context or self.endpoint.url
            try:
                self._open()
                key = engine_key(self._info, self._version)
                self._scope = engine_scope(key, label, legacy_engine_key(self._info))
            except CollectorError as exc:
                self._error = exc
                self._scope = (
                    engine_scope(self._last_engine, label)
                    if self._last_engine
                    else ScopeRef(ScopeKind.DOCKER, f"endpoint:{self.endpoint.url}", label=label)
                )
        return self._scope

    def coverage(self) -> Coverage:
        """Full only when the layer scan read every image: otherwise a layer secret the store holds was
        not looked for, and a run without the scan must not resolve it."""
        if self._layer_scan_bytes <= 0 or self._secrets is None:
            return layers_not_judged("no layer scan (--docker-layer-scan)")
        if self._unscanned:
            budget = self._layer_scan_bytes // (1024 * 1024)
            return layers_not_judged(f"{len(self._unscanned)} image(s) over the {budget} MB layer-scan budget")
        return FULL

    def _open(self) -> None:
        if self._client is not None:
            return
        client, version = connect(
            self.endpoint, timeout=self._timeout, pool_size=self._workers * 2, bounds=self._bounds
        )
        try:
            info = client.info()
        except Exception as exc:  # any transport or API failure of the SDK
            client.close()
            raise collector_error(self.endpoint, exc) from None
        self._client, self._version, self._info = client, version, info

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def collect(self) -> Iterator[Record]:
        _ = self.scope
        if self._error is not None:
            raise self._error
        self._open()  # again after an earlier collect() closed the client
        try:
            yield from self._collect()
        except CollectorError:
            raise
        except Exception as exc:  # the engine went away mid-run: the whole run fails, nothing resolves
            raise collector_error(self.endpoint, exc) from None
        finally:
            self.close()

    def _collect(self) -> Iterator[Record]:
        client = self._client
        problems: list[Problem] = []
        self._unscanned = []
        networks: list[Mapping[str, Any]] | None
        try:
            networks = client.networks()
        except docker.errors.APIError as exc:
            networks = None
            problems.append(Problem(f"{self.endpoint.label}: cannot list networks ({describe(exc)})"))
        engine = engine_record(self._info, self._version, networks, self._transport())
        yield engine

        image_ids = sorted({str(i["Id"]) for i in client.images() if i.get("Id")})
        images = self._parallel(self._inspect_image, image_ids, problems, "image")
        config_by_image = {rec.key: config for rec, config in images}
        yield from (rec for rec, _ in images)

        container_ids = [str(c["Id"]) for c in client.containers(all=True) if c.get("Id")]
        inspected = self._parallel(self._inspect_container, container_ids, problems, "container")
        for raw, seen in inspected:
            image_config = config_by_image.get(str(raw.get("Image") or ""))
            record, relation = container_record(raw, engine, self._secrets, image_config, seen)
            yield record
            if relation is not None:
                yield relation
        yield from problems

    def _inspect_container(self, container_id: str) -> tuple[Mapping[str, Any], Observed]:
        """The inspect, and for a running container its processes and exec sessions (same pool slot)."""
        inspect = self._client.inspect_container(container_id)
        return inspect, observe(self._client, inspect)

    def _inspect_image(self, image_id: str) -> tuple[AssetRecord, Mapping[str, Any]]:
        """The image record, and its raw ``Config`` so containers can tell inherited settings from their own."""
        client = self._client
        inspect = client.inspect_image(image_id)
        history = client.history(image_id)
        layer_hits: list[SecretHit] | None = []
        if self._layer_scan_bytes > 0 and self._secrets is not None:
            size = int(inspect.get("Size") or 0)
            layer_hits = scan_image_layers(client, image_id, size, self._secrets, self._layer_scan_bytes)
            if layer_hits is None:
                self._unscanned.append(image_id)  # list.append is atomic: safe from the pool's threads
        return image_record(inspect, history, self._secrets, layer_hits or ()), inspect.get("Config") or {}

    def _parallel(self, call: Callable[[str], R], ids: Iterable[str], problems: list[Problem], what: str) -> list[R]:
        """``call`` over ``ids`` on the pool; a 404 (removed meanwhile) is skipped, other API errors are problems."""

        def guarded(ident: str) -> R | None:
            try:
                return call(ident)
            except docker.errors.NotFound:
                return None
            except docker.errors.APIError as exc:
                problems.append(Problem(f"{self.endpoint.label}: {what} {ident[:19]}: {describe(exc)}"))
                return None

        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="docker-inspect") as pool:
            return [r for r in pool.map(guarded, ids) if r is not None]

    def _transport(self) -> Transport:
        tls = self.endpoint.tls
        return {
            "url": self.endpoint.url,
            "scheme": self.endpoint.scheme,
            "tls": tls is not None,
            "client_cert": bool(tls and tls.client_cert),
        }
