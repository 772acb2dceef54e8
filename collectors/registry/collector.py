"""The registry source as a :class:`~posture.records.Collector`: one registry (or prefix) per scope.

The walk is asynchronous (hundreds of requests in flight over a few pooled connections) while the
collector contract is a plain iterator; :func:`run_coroutine` bridges the two, on a private thread
when the caller already runs an event loop (the TUI's workers). Records are produced after the
walk completes: a registry that fails half-way raises :class:`CollectorError` before the store
sees anything, so nothing earlier is lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx

from collectors.registry.client import ClientSettings, RegistryClient, RegistryError, Stats, TLSFailure
from collectors.registry.credentials import Credentials, DockerCredentials
from collectors.registry.oci_manifests import ImageManifest
from collectors.registry.records import describe_image, records
from collectors.registry.target import RegistryTarget
from collectors.registry.walker import KnownTags, Walker, WalkResult
from posture.records import CollectorError, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner

T = TypeVar("T")


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, whether or not a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class RegistryCollector:
    def __init__(
        self,
        target: RegistryTarget,
        secrets: SecretScanner,
        *,
        known_digests: frozenset[str] = frozenset(),
        known_tags: KnownTags | None = None,
        credentials: Callable[[], Credentials | None] | None = None,
        settings: ClientSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target
        self._secrets = secrets
        self._known = known_digests
        self._known_tags = known_tags
        lookup = DockerCredentials()
        self._credentials = credentials or (lambda: lookup.lookup(target.authority))
        self._settings = settings
        self._transport = transport
        #: Requests made by the last :meth:`collect` (for benchmarks and diagnostics).
        self.stats = Stats()

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.REGISTRY, self.target.scope_name)

    def collect(self) -> Iterator[Record]:
        walk, auth_mode, authenticated = run_coroutine(self._walk)
        yield from records(self.target, walk, auth_mode, authenticated)

    def _describe(self, document: Any, manifest: ImageManifest) -> dict[str, Any]:
        return describe_image(document, manifest, self._secrets)

    async def _walk(self) -> tuple[WalkResult, str, bool]:
        try:
            client = RegistryClient(self.target, self._credentials, self._settings, self._transport)
        except RegistryError as exc:
            raise CollectorError(self._message(exc)) from None
        async with client:
            self.stats = client.stats
            try:
                walk = await Walker(client, self.target, self._describe, self._known, self._known_tags).run()
            except RegistryError as exc:
                raise CollectorError(self._message(exc)) from None
            return walk, client.auth_mode, client.credentials_used

    def _message(self, exc: RegistryError) -> str:
        hint = ""
        if isinstance(exc, TLSFailure) and "certificate" in str(exc) and not self.target.insecure:
            hint = f" (trust its CA with --registry-ca, or accept it: --insecure-registry {self.target.authority})"
        return f"registry {self.target.scope_name}: {exc}{hint}"
