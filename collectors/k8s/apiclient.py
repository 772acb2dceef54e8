"""Listing one resource type from the API server as raw JSON, with the API's own list semantics.

The official client's model deserialisation takes ~11 s for 10,000 pods; its ApiClient is still
used for everything else (kubeconfig auth, token refresh, TLS, proxies), but responses are read
raw (``_preload_content``-style ``call_api``) and parsed with orjson (~0.5 s).

What each status means for a run: 403 (forbidden) and 404 (API group not served) on one
resource type are a :class:`Problem`, so the run is partial and resolves nothing, while the
other types are still listed; a 404 on an optional custom resource (an operator that is not
installed) is an empty list; 401, connection and TLS failures and time-outs mean the cluster
cannot be read at all: :class:`CollectorError`. 410 Gone (the continue token expired) restarts
the list from the beginning; 429 waits as long as ``Retry-After`` says, a bounded number of times.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

from collectors.bounds import Bounds, LimitExceeded, OverCap, RunClock, read_capped, watching
from collectors.k8s.resources import Resource
from posture.records import CollectorError, Problem

PAGE_SIZE = 500  # kubectl's default chunk size
MAX_THROTTLE_RETRIES = 5
MAX_RETRY_AFTER = 30.0  # seconds; a longer Retry-After is capped, not obeyed blindly
MAX_LIST_RESTARTS = 3
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_MiB = 1 << 20
#: One answer's cap, one request's and one run's deadline. A page of 500 pods is about 3.5 MB; the
#: cap is what an API server ignoring ``limit`` could send for a whole large list (10,000 pods are
#: 66 MB) with room to spare. A resource type whose answer is over it is a Problem (the run is
#: partial); a request or run past its deadline fails the run, as an unreachable server does.
BOUNDS = Bounds(max_bytes=128 * _MiB, request_s=120.0, run_s=1800.0)


class _Restart(Exception):
    """The continue token expired (410 Gone): list again from the first page."""


@dataclass
class ListClient:
    """Lists resources through one configured ApiClient; ``label`` names the cluster in messages."""

    configuration: Configuration
    label: str
    timeout: float = 30.0
    page_size: int = PAGE_SIZE
    sleep: Callable[[float], None] = time.sleep
    #: The caps; the run's clock starts when the client is made.
    bounds: Bounds = BOUNDS

    def __post_init__(self) -> None:
        self._clock = RunClock(self.bounds.request_s, self.bounds.run_s)
        # urllib3 retries nothing: a read time-out retried would multiply the wait on a slow server,
        # and statuses (429 Retry-After, 410) are handled here with the API's meaning.
        self.configuration.retries = urllib3.Retry(
            connect=0, read=0, redirect=0, status=0, other=0, respect_retry_after_header=False, raise_on_status=False
        )
        self._api = ApiClient(self.configuration)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]  # the client is untyped

    def list_objects(self, resource: Resource) -> list[dict[str, Any]] | Problem:
        """Every object of ``resource`` with ``kind``/``apiVersion`` set, or why it could not be listed."""
        for _ in range(MAX_LIST_RESTARTS + 1):
            try:
                return self._list_pages(resource)
            except _Restart:
                continue
            except _Absent:
                return []
            except _Unlistable as exc:
                return Problem(f"{self.label}: cannot list {resource.plural}: {exc}")
        return Problem(f"{self.label}: cannot list {resource.plural}: the list kept expiring (410 Gone)")

    def served(self, group_version: str) -> frozenset[str] | Problem:
        """The resource names an API group version serves (none when the group is not installed).

        Discovery, not a list: authorization comes before existence, so a list of a resource this
        cluster does not have answers 403 to a collector whose ClusterRole predates it, which would
        make every run partial where nothing is there to read. Discovery is readable by every
        authenticated user (the ``system:discovery`` role).
        """
        status, _, body = self._get(f"/apis/{group_version}", [])
        if status == 404:
            return frozenset()
        document = _parse(body) if status == 200 else None
        if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
            reason = _status_text(status, body) if status != 200 else "the answer is not an APIResourceList"
            return Problem(f"{self.label}: cannot tell whether {group_version} is installed: {reason}")
        return frozenset(r["name"] for r in document["resources"] if isinstance(r, dict) and "name" in r)

    def get_object(self, path: str) -> dict[str, Any] | str:
        """One object (``GET path``), or the API's reason it could not be read (``forbidden (403): …``).

        A 401 fails the collection here as on a list: the credentials are wrong for everything.
        """
        status, _, body = self._get(path, [])
        if status == 401:
            raise _rejected(self.label)
        document = _parse(body) if status == 200 else None
        if isinstance(document, dict):
            return document
        return _status_text(status, body) if status != 200 else "the answer is not a JSON object"

    def version(self) -> dict[str, Any] | None:
        """The server's ``/version`` (readable by any authenticated user), or None if it will not say."""
        status, _, body = self._get("/version", [])
        parsed = _parse(body) if status == 200 else None
        return parsed if isinstance(parsed, dict) else None

    def _list_pages(self, resource: Resource) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self._get_page(resource, token)
            for item in page.get("items") or ():
                _slim(item)
                item["kind"] = resource.kind
                item["apiVersion"] = resource.api_version
                items.append(item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def _get_page(self, resource: Resource, token: str) -> dict[str, Any]:
        query: list[tuple[str, Any]] = [("limit", self.page_size)]
        if token:
            query.append(("continue", token))
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            try:
                status, headers, body = self._get(resource.list_path, query, listing=True)
            except OverCap as exc:
                raise _Unlistable(str(exc)) from None
            if status == 200:
                page = _parse(body)
                if not isinstance(page, dict):
                    raise _Unlistable("the answer is not a JSON list object")
                return page
            if status == 429 or (status == 503 and headers.get("Retry-After") is not None):
                if attempt == MAX_THROTTLE_RETRIES:
                    break
                self.sleep(_retry_after(headers.get("Retry-After"), body))
                continue
            if status == 410 and token:
                raise _Restart
            if status == 401:
                raise _rejected(self.label)
            if status == 404 and resource.optional:
                raise _Absent
            raise _Unlistable(_status_text(status, body))
        raise _Unlistable(f"still throttled after {MAX_THROTTLE_RETRIES} retries (429)")

    def _get(self, path: str, query: list[tuple[str, Any]], *, listing: bool = False) -> tuple[int, Any, bytearray]:
        """Status, headers and body of ``GET path``. A list's page over the cap raises :class:`OverCap`
        (that resource type is then a Problem); anything else that fails fails the run with one line."""
        method, url, headers, body, post = self._api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        what = f"GET {path}"
        try:
            deadline = self._clock.deadline(what)
        except LimitExceeded as exc:
            raise CollectorError(f"{self.label}: {exc}") from None
        for attempt in (1, 2):
            try:
                wait = min(self.timeout, deadline.left())
                with watching(deadline):
                    response = self._api.call_api(method, url, headers, body, post, _request_timeout=(wait, wait))
                    raw = response.response
                    try:
                        data = read_capped(raw, self.bounds.max_bytes, deadline, what)
                    except BaseException:
                        raw.close()  # the rest of the body is unread: this connection is not reused
                        raise
                    finally:
                        raw.release_conn()
                return int(response.status), response.headers, data
            except LimitExceeded as exc:
                if listing and isinstance(exc, OverCap):
                    raise
                raise CollectorError(f"{self.label}: {exc}") from None
            except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
                if deadline.passed():  # the socket waited only as long as the deadline allowed
                    raise CollectorError(f"{self.label}: {deadline.message}") from None
                if attempt == 1 and _dropped(exc):
                    continue  # a kept-alive connection the server (or a load balancer) closed meanwhile
                problem = _transport_problem(exc, self.configuration.host, self.timeout)
                raise CollectorError(f"{self.label}: {problem}") from None
        raise AssertionError("unreachable")


class _Unlistable(Exception):
    """This resource type cannot be listed (forbidden, not served, a server error): the run is partial."""


class _Absent(Exception):
    """An optional custom resource this cluster does not serve: there is nothing of it to list."""


def _rejected(label: str) -> CollectorError:
    return CollectorError(f"{label}: the API server rejected the credentials (401 Unauthorized)")


def _slim(item: dict[str, Any]) -> None:
    """Drop what no rule reads and what weighs most: field ownership and kubectl's copy of the spec."""
    metadata = item.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            for key in _DROPPED_ANNOTATIONS:
                annotations.pop(key, None)


def _parse(body: bytes | bytearray) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _status_text(status: int, body: bytes | bytearray) -> str:
    """The API server's own ``Status`` message (untrusted text, kept to one short line)."""
    parsed = _parse(body)
    message = parsed.get("message") if isinstance(parsed, dict) else None
    if not isinstance(message, str):
        message = body[:200].decode("utf-8", "replace")
    reason = {403: "forbidden", 404: "not served by this cluster"}.get(status, "error")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in message).split())[:300]
    return f"{reason} ({status}): {text}" if text else f"{reason} ({status})"


def _retry_after(header: str | None, body: bytes | bytearray) -> float:
    """Seconds to wait: ``Retry-After`` as seconds or an HTTP date, else the Status details, capped."""
    seconds: float | None = None
    if header:
        try:
            seconds = float(header)
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = None
    if seconds is None:
        parsed = _parse(body)
        details = parsed.get("details") if isinstance(parsed, dict) else None
        value = details.get("retryAfterSeconds") if isinstance(details, dict) else None
        seconds = float(value) if isinstance(value, int | float) else 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _dropped(exc: BaseException) -> bool:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(reason, urllib3.exceptions.ProtocolError)


def _transport_problem(exc: BaseException, host: str, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    # NewConnectionError subclasses urllib3's ConnectTimeoutError: test it before time-outs.
    if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return f"cannot connect to {host} (connection refused or unreachable)"
    if isinstance(reason, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"{host} did not answer within {timeout:g} s"
    if isinstance(reason, urllib3.exceptions.SSLError) or (
        isinstance(reason, ApiException) and "SSLError" in str(reason.reason)
    ):
        detail = str(reason.reason) if isinstance(reason, ApiException) else str(reason)
        return f"TLS failure talking to {host}: {' '.join(detail.split())[-160:]}"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return f"the connection to {host} was closed before an answer (is the URL's scheme right?)"
    return f"{host}: {' '.join(str(reason).split())[:200]}"
