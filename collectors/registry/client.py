"""An OCI Distribution (v2) HTTP client: pooled, bounded, authenticated, capped and polite.

One :class:`RegistryClient` talks to one registry. It owns every network decision so the walker
can think in repositories and manifests: bounded concurrency (a semaphore over a pooled
``httpx.AsyncClient``), retries of 5xx and transport errors, 429 ``Retry-After`` and Docker Hub's
``ratelimit-*`` headers, the auth handshake, redirects handled by hand (a credential never follows
a redirect to another origin), and size caps enforced while streaming, so a 20 MB "manifest" costs
4 MiB of reading at most. Every failure is a :class:`RegistryError` whose text is one line naming
the request and the problem, and never a credential.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from collectors.bounds import OverCap, PastDeadline, RunClock, check_declared, over_cap
from collectors.registry.auth import (
    Challenge,
    TokenCache,
    basic_header,
    parse_challenge,
    realm_may_receive_credentials,
    same_origin,
)
from collectors.registry.credentials import CredentialError, Credentials
from collectors.registry.target import RegistryTarget
from posture.errors import SourceFailure

log = logging.getLogger(__name__)

MiB = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_TOKEN_CAP = 1 * MiB


class RegistryError(SourceFailure):
    """A failed registry request. ``fatal`` errors make the whole registry unusable for this run."""

    fatal: ClassVar[bool] = False


class Unreachable(RegistryError):
    fatal = True


class TLSFailure(RegistryError):
    fatal = True


class AuthFailed(RegistryError):
    """401/403, a rejected credential or an unreadable Docker config."""


class NotFound(RegistryError):
    pass


class RateLimited(RegistryError):
    pass


class ServerError(RegistryError):
    pass


class TooLarge(RegistryError):
    pass


class TooSlow(RegistryError):
    """A request past its deadline, or the run past its own: the registry cannot be read in time."""

    fatal = True


class BadResponse(RegistryError):
    """Garbage JSON, a digest that does not match the content, a missing header."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    def json(self, what: str) -> object:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise BadResponse(f"{what}: the response is not valid JSON") from None


@dataclass(frozen=True, slots=True)
class ClientSettings:
    concurrency: int = 16
    timeout_s: float = 30.0
    retries: int = 3
    #: The longest ``Retry-After`` honoured; a registry asking for more is left alone (the item is a Problem).
    max_retry_after_s: float = 60.0
    backoff_s: float = 0.5
    #: Docker Hub's remaining-pull count under which requests are serialised.
    ratelimit_low_water: int = 10
    #: Seconds one request may take from sending to the last byte (``timeout_s`` bounds each read
    #: only: a trickle of one byte a second never trips it). Each request's own ``cap`` bounds its size.
    request_deadline_s: float = 120.0
    #: Seconds one run may spend on requests; a large registry's walk takes minutes, not hours.
    run_deadline_s: float = 3600.0


@dataclass
class Stats:
    """Request counts, for the benchmark and the run's evidence."""

    by_method: dict[str, int] = field(default_factory=dict)

    def count(self, method: str) -> None:
        self.by_method[method] = self.by_method.get(method, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_method.values())


def _ssl_context(target: RegistryTarget) -> ssl.SSLContext:
    """Verified TLS for every host: the system CAs plus ``--registry-ca``."""
    context = ssl.create_default_context()
    if target.ca_file:
        try:
            context.load_verify_locations(cafile=target.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSFailure(f"cannot load the CA file {target.ca_file}: {exc}") from None
    return context


def _unverified_context(target: RegistryTarget) -> ssl.SSLContext | None:
    """``--insecure-registry`` lowers trust for the registry's own origin only (see ``RegistryClient._lane``)."""
    if target.scheme != "https" or target.verify_tls:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe_transport(exc: httpx.TransportError) -> str:
    """The meaningful cause in words (anyio hides ECONNREFUSED behind "All connection attempts failed")."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            if cause.reason == "WRONG_VERSION_NUMBER":
                return "the server does not speak TLS (a plain HTTP registry is http://HOST with --insecure-registry)"
            return f"{cause.reason or cause}".lower().replace("_", " ")
        if isinstance(cause, socket.gaierror):
            return "host name not found"
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def _is_tls_error(exc: httpx.TransportError) -> bool:
    return any(isinstance(c, ssl.SSLError) for c in _causes(exc))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _ratelimit_count(value: str | None) -> int | None:
    """Docker Hub's ``ratelimit-remaining: 76;w=21600`` → 76."""
    if not value:
        return None
    head = value.split(";", 1)[0].strip()
    return int(head) if head.isdigit() else None


def repository_scope(path: str) -> str:
    """The token scope a ``/v2/...`` path needs (``repository:<name>:pull`` or the catalog scope)."""
    rest = path.split("?", 1)[0].removeprefix("/v2/")
    if rest.startswith("_catalog"):
        return "registry:catalog:*"
    for marker in ("/manifests/", "/blobs/", "/tags/", "/referrers/"):
        if marker in rest:
            return f"repository:{rest.split(marker, 1)[0]}:pull"
    return ""


class RegistryClient:
    """One registry's HTTP session. Use as ``async with RegistryClient(...) as client``."""

    def __init__(
        self,
        target: RegistryTarget,
        credentials: Callable[[], Credentials | None],
        settings: ClientSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (the demo answers from bundled files in-process)."""
        self.target = target
        self.settings = settings or ClientSettings()
        self.stats = Stats()
        self._clock = RunClock(self.settings.request_deadline_s, self.settings.run_deadline_s)
        self.auth_mode = "none"  # "none" | "basic" | "bearer", learnt from the /v2/ challenge
        self.credentials_used = False
        self.ratelimit_exhausted = False
        self._load_credentials = credentials
        self._credentials: Credentials | None = None
        self._credentials_loaded = False
        self._credentials_lock = asyncio.Lock()
        self._realm_refused = False
        self._challenge: Challenge | None = None
        self._tokens = TokenCache()
        self._token_locks: dict[tuple[str, str, str, bool], asyncio.Lock] = {}
        self._throttle = asyncio.Lock()
        self._throttled = False
        # Concurrency is a fixed set of single-connection clients ("lanes") handed out through a
        # queue, rather than one client with a pool of N: httpcore's pool re-checks every pooled
        # connection on each request, which doubled the CPU per request at 16 connections (measured
        # with benchmarks/bench_registry.py); a lane checks only its own connection.
        verify = _ssl_context(target)  # one context (and one CA bundle load) for every lane
        timeout = httpx.Timeout(self.settings.timeout_s, connect=min(10.0, self.settings.timeout_s))
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        unverified = None if transport else _unverified_context(target)
        self._clients = [
            self._lane(verify, unverified, timeout, one, transport) for _ in range(self.settings.concurrency)
        ]
        self._lanes: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for lane in self._clients:
            self._lanes.put_nowait(lane)
        self._http = self._clients[0]  # for building requests only

    def _lane(
        self,
        verify: ssl.SSLContext,
        unverified: ssl.SSLContext | None,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        transport: httpx.AsyncBaseTransport | None,
    ) -> httpx.AsyncClient:
        """One single-connection client. An insecure registry's origin is mounted unverified; every
        other host (a blob redirect to storage, a token realm) keeps verified TLS: its certificate is
        all that says who it is, and the operator named only the registry."""
        mounts: dict[str, httpx.AsyncBaseTransport] | None = None
        if unverified is not None:
            url = httpx.URL(f"https://{self.target.api_authority}/")
            # Mounted for the host, then narrowed to its one port: an httpx pattern without a port (the
            # registry on 443) would match every port of the host, a token service on :8443 included.
            mounts = {
                f"https://{url.host}": _OnePort(
                    url.port or 443,
                    httpx.AsyncHTTPTransport(verify=unverified, limits=limits),
                    httpx.AsyncHTTPTransport(verify=verify, limits=limits),
                )
            }
        return httpx.AsyncClient(
            verify=verify,
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            transport=transport,
            mounts=mounts,
            headers={"User-Agent": "posture-registry-collector"},
        )

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for lane in self._clients:
            await lane.aclose()

    @property
    def base_url(self) -> str:
        return self.target.base_url

    # -- credentials and tokens ------------------------------------------------------------------

    async def _creds(self) -> Credentials | None:
        async with self._credentials_lock:
            if not self._credentials_loaded:
                try:
                    self._credentials = await asyncio.to_thread(self._load_credentials)
                except CredentialError as exc:
                    raise AuthFailed(f"Docker config: {exc}") from None
                self._credentials_loaded = True
        return self._credentials

    async def _authorization(self, scope: str, anonymous: bool) -> str | None:
        if self.auth_mode == "basic" and not anonymous:
            creds = await self._creds()
            if creds is None:
                return None
            self.credentials_used = True
            return basic_header(creds)
        if self.auth_mode == "bearer" and self._challenge is not None:
            return "Bearer " + await self._token(scope, anonymous)
        return None

    async def _token(self, scope: str, anonymous: bool, *, renew: bool = False) -> str:
        assert self._challenge is not None
        key = (self._challenge.realm, self._challenge.service, scope, anonymous)
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if renew:
                self._tokens.drop(key)
            cached = self._tokens.get(key)
            if cached is not None:
                return cached
            token, expires_in = await self._fetch_token(self._challenge, scope, anonymous)
            self._tokens.put(key, token, expires_in)
            return token

    async def _fetch_token(self, challenge: Challenge, scope: str, anonymous: bool) -> tuple[str, float | None]:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise AuthFailed(f"token realm {realm[:100]!r} is not an http(s) URL")
        creds = None if anonymous else await self._creds()
        if creds is not None and not realm_may_receive_credentials(
            realm, self.base_url, self.target.token_realms, insecure=self.target.insecure
        ):
            self._realm_refused = True
            creds = None
        params = {k: v for k, v in (("service", challenge.service), ("scope", scope)) if v}
        headers: dict[str, str] = {}
        request: httpx.Request
        if creds is not None and creds.identity_token:
            form = {**params, "grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": "posture"}
            request = self._http.build_request("POST", realm, data=form)
        else:
            if creds is not None:
                headers["Authorization"] = basic_header(creds)
            request = self._http.build_request("GET", realm, params=params, headers=headers)
        if creds is not None:
            self.credentials_used = True
        reply = await self._send_once(request, _TOKEN_CAP)
        if reply.status in (401, 403):
            raise AuthFailed(f"token service {urlsplit(realm).netloc} rejected the credentials ({reply.status})")
        if reply.status != 200:
            raise AuthFailed(f"token service {urlsplit(realm).netloc} answered {reply.status}")
        answer = reply.json("token service")
        if not isinstance(answer, dict):
            raise BadResponse("token service: the answer is not a JSON object")
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise BadResponse("token service: no token in the answer")
        expires = answer.get("expires_in")
        return token, float(expires) if isinstance(expires, (int, float)) else None

    def auth_hint(self) -> str:
        """Why authentication may have failed, for the one-line error (never a credential)."""
        if self._realm_refused:
            realm_host = urlsplit(self._challenge.realm).netloc if self._challenge else "?"
            return f"; credentials withheld from token realm {realm_host} (allow it with --registry-token-realm)"
        if self._credentials_loaded and self._credentials is None:
            return f"; no credentials for {self.target.authority} in the Docker config"
        return ""

    # -- sending -------------------------------------------------------------------------------

    async def _send_once(self, request: httpx.Request, cap: int, pull: bool = False) -> Reply:
        """One HTTP exchange under the concurrency bound, body read with a cap.

        ``pull`` marks requests Docker Hub counts against its pull limit: once the limit is spent
        they are not sent (checked after waiting for a slot, when the last answer is known).
        """
        what = f"{request.method} {request.url.path}"
        for attempt in range(self.settings.retries):
            lane = await self._lanes.get()
            try:
                if pull and self.ratelimit_exhausted:
                    raise RateLimited(f"{what}: the registry's pull rate limit is exhausted")
                if self._throttled:
                    async with self._throttle:
                        return await self._exchange(lane, request, cap, what)
                return await self._exchange(lane, request, cap, what)
            except httpx.TransportError as exc:
                if _is_tls_error(exc):
                    raise TLSFailure(f"TLS failure: {_describe_transport(exc)}") from None
                if attempt + 1 >= self.settings.retries:
                    raise Unreachable(f"{what}: {_describe_transport(exc)}") from None
            finally:
                self._lanes.put_nowait(lane)
            await asyncio.sleep(self.settings.backoff_s * (attempt + 1))
        raise AssertionError("unreachable")

    async def _exchange(self, lane: httpx.AsyncClient, request: httpx.Request, cap: int, what: str) -> Reply:
        """One request and its whole answer, by the request's deadline (and the run's)."""
        try:
            deadline = self._clock.deadline(what)
            async with asyncio.timeout(deadline.left()):
                return await self._read_reply(lane, request, cap, what)
        except TimeoutError:
            raise TooSlow(deadline.message) from None
        except PastDeadline as exc:
            raise TooSlow(str(exc)) from None
        except OverCap as exc:
            raise TooLarge(str(exc)) from None

    async def _read_reply(self, lane: httpx.AsyncClient, request: httpx.Request, cap: int, what: str) -> Reply:
        self.stats.count(request.method)
        response = await lane.send(request, stream=True)
        try:
            check_declared(response.headers.get("content-length"), cap, what)
            chunks: list[bytes] = []
            size = 0
            # Read to the end even for HEAD (no body: it ends at once): a response closed before its
            # end closes the connection, and one HEAD per tag then cost a TCP connection each.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise over_cap(cap, what)
                chunks.append(chunk)
        finally:
            await response.aclose()
        self._note_ratelimit(response.headers)
        return Reply(response.status_code, response.headers, b"".join(chunks), str(request.url))

    def _note_ratelimit(self, headers: httpx.Headers) -> None:
        remaining = _ratelimit_count(headers.get("ratelimit-remaining"))
        if remaining is None:
            return
        if remaining <= 0:
            self.ratelimit_exhausted = True
        if remaining <= self.settings.ratelimit_low_water and not self._throttled:
            log.warning(
                "registry %s: %d pulls left in the rate-limit window; slowing down", self.target.authority, remaining
            )
            self._throttled = True

    async def request(
        self,
        method: str,
        url: str,
        *,
        accept: str | None = None,
        cap: int = 1 * MiB,
        anonymous: bool = False,
        follow_redirects: bool = False,
        counts_as_pull: bool = False,
    ) -> Reply:
        """Send with auth, retries and (when asked) redirects; return a 2xx reply or raise.

        ``url`` is a path below the registry or an absolute URL on the registry's origin.
        ``counts_as_pull`` marks requests Docker Hub counts against the pull limit (manifest GETs).
        """
        if url.startswith("/"):
            url = self.base_url + url
        if not same_origin(url, self.base_url):
            raise BadResponse(f"refusing to follow {urlsplit(url).netloc}: not the registry's origin")
        path = urlsplit(url).path
        what = f"{method} {path}"
        scope = repository_scope(path)
        renewed = False
        attempt = 0
        while True:
            headers = {"Accept": accept} if accept else {}
            authorization = await self._authorization(scope, anonymous)
            if authorization:
                headers["Authorization"] = authorization
            reply = await self._follow(method, url, headers, cap, follow_redirects, counts_as_pull)
            status = reply.status
            if status == 401 and not renewed:
                renewed = True
                if await self._learn_challenge(reply, scope, anonymous):
                    continue
            if status in (401, 403):
                raise AuthFailed(f"{what}: access denied ({status}){'' if anonymous else self.auth_hint()}")
            if status == 404:
                raise NotFound(f"{what}: not found (404)")
            if status == 429 or status >= 500:
                attempt += 1
                await self._wait_to_retry(reply, attempt, what)
                continue
            if status >= 300:
                raise BadResponse(f"{what}: unexpected status {status}")
            return reply

    async def _wait_to_retry(self, reply: Reply, attempt: int, what: str) -> None:
        """Sleep before retrying a 429 or 5xx (``Retry-After`` honoured up to a limit), or raise when
        it is time to give up: a registry asking for hours is left alone, never waited for."""
        asked = retry_after_seconds(reply.headers.get("retry-after"))
        wait = self.settings.backoff_s * attempt if asked is None else asked
        if attempt >= self.settings.retries or wait > self.settings.max_retry_after_s:
            limited = reply.status == 429
            kind = RateLimited if limited else ServerError
            raise kind(f"{what}: {'rate limited' if limited else 'server error'} ({reply.status})")
        await asyncio.sleep(wait)

    async def _learn_challenge(self, reply: Reply, scope: str, anonymous: bool) -> bool:
        """On a 401, adopt the registry's challenge; True when retrying can help."""
        challenge = parse_challenge(reply.headers.get("www-authenticate", ""))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if anonymous:
                return False
            self.auth_mode = "basic"
            return await self._creds() is not None
        self.auth_mode = "bearer"
        self._challenge = Challenge("bearer", challenge.realm, challenge.service)
        wanted = scope or challenge.scope
        await self._token(wanted, anonymous, renew=True)
        return True

    async def _follow(
        self, method: str, url: str, headers: dict[str, str], cap: int, follow: bool, pull: bool = False
    ) -> Reply:
        """Send, following redirects by hand: Authorization goes only to the registry's own origin."""
        for _ in range(_MAX_REDIRECTS + 1):
            request = self._http.build_request(method, url, headers=headers)
            reply = await self._send_once(request, cap, pull)
            if reply.status not in _REDIRECTS or not follow:
                return reply
            location = reply.headers.get("location")
            if not location:
                raise BadResponse(f"{method} {urlsplit(url).path}: redirect without a Location")
            url = urljoin(url, location)
            if not same_origin(url, self.base_url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise BadResponse(f"{method} {urlsplit(url).path}: more than {_MAX_REDIRECTS} redirects")

    # -- API helpers -----------------------------------------------------------------------------

    async def ping(self) -> Reply:
        """``GET /v2/``: anonymously first, then with credentials if the registry challenges."""
        attempt = 0
        while True:
            first = await self._follow("GET", self.base_url + "/v2/", {}, 64 * 1024, False)
            if first.status != 429 and first.status < 500:
                break
            attempt += 1
            await self._wait_to_retry(first, attempt, "GET /v2/")
        if first.status == 200:
            return first
        if first.status == 404:
            raise NotFound("GET /v2/: no registry API here (404)")
        if first.status != 401:
            raise BadResponse(f"GET /v2/: unexpected status {first.status}")
        return await self.request("GET", "/v2/", cap=64 * 1024)

    @staticmethod
    def next_link(reply: Reply) -> str | None:
        """The ``Link: <…>; rel="next"`` URL of a paginated answer, resolved against the request."""
        link: str | None = reply.headers.get("link")
        if not link:
            return None
        for part in link.split(","):
            target, _, params = part.partition(";")
            if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
                return urljoin(reply.url, target.strip().strip("<>"))
        return None


class _OnePort(httpx.AsyncBaseTransport):
    """``unverified`` for requests to ``port`` of the mounted host, ``verified`` for any other port."""

    def __init__(self, port: int, unverified: httpx.AsyncBaseTransport, verified: httpx.AsyncBaseTransport) -> None:
        self._port, self._unverified, self._verified = port, unverified, verified

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chosen = self._unverified if (request.url.port or 443) == self._port else self._verified
        return await chosen.handle_async_request(request)

    async def aclose(self) -> None:
        await self._unverified.aclose()
        await self._verified.aclose()

