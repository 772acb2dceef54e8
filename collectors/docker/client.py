"""Opening a read-only API client for one endpoint, and turning every failure into one line.

The Docker SDK reports failures as nested exceptions (a ``DockerException`` wrapping a requests
``ConnectionError`` wrapping a urllib3 error wrapping ``FileNotFoundError``); operators need the
innermost cause in words, e.g. ``docker unix:///x/docker.sock: cannot connect (No such file or
directory)``. The API version is negotiated here: the SDK's default is newer than many engines
(and Podman) speak, and an engine older than :data:`MIN_API_VERSION` lacks fields the checks read.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.tls
import requests.exceptions

from collectors.bounds import Bounds, LimitExceeded, PastDeadline, RunClock, read_capped, watching
from collectors.docker.endpoint import DockerEndpoint
from posture.records import CollectorError

#: ``PidsLimit``, ``NanoCpus``, ``Mounts`` and health state are all there from API 1.25 (Docker 1.13).
MIN_API_VERSION = "1.25"
#: The newest API this SDK release knows; newer engines answer older versions.
MAX_API_VERSION = "1.44"
_MAX_MESSAGE = 300
_MiB = 1 << 20

#: One answer's cap, one request's and one run's deadline. The largest answers are the container and
#: image lists (about 2 KiB per container: 64 MiB is over 30,000 containers); an image export
#: (``--docker-layer-scan``) is streamed and bounded by its own budget (:mod:`collectors.docker.layers`),
#: but its requests still end by the run's deadline.
BOUNDS = Bounds(max_bytes=64 * _MiB, request_s=120.0, run_s=1800.0)


class BoundedAPIClient(docker.APIClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's client with every answer read under :data:`BOUNDS` (or the bounds given).

    The SDK reads each answer whole (``response.json()``) with only a socket read time-out; here
    ``send``, which every SDK call goes through, asks for the body as a stream and reads it capped, the
    whole request (status line and headers too) by its deadline, then hands the SDK the bytes as if it
    had read them itself.
    """

    def __init__(self, *args: Any, bounds: Bounds, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = RunClock(bounds.request_s, bounds.run_s)
        self.bounds = bounds
        self.max_redirects = 0  # the Engine API never redirects: a redirect is not followed anywhere

    def send(self, request: Any, **kwargs: Any) -> Any:
        what = f"{request.method} {urlsplit(request.url).path}"
        deadline = self.clock.deadline(what)
        timeout = kwargs.get("timeout")
        read_timeout = float(timeout if isinstance(timeout, int | float) else self.timeout)
        kwargs["timeout"] = min(read_timeout, deadline.left())
        streamed = bool(kwargs.get("stream"))  # an image export: read by its consumer, under its own budget
        kwargs["stream"] = True
        with watching(deadline):
            try:
                response = super().send(request, **kwargs)
            except requests.exceptions.RequestException:
                if deadline.passed():  # the socket waited only as long as the deadline allowed
                    raise PastDeadline(deadline.message) from None
                raise
            if streamed:
                return response
            try:
                body = read_capped(response.raw, self.bounds.max_bytes, deadline, what)
            except BaseException:
                response.close()
                raise
        response._content = bytes(body)
        response._content_consumed = True
        response.raw.release_conn()
        return response


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def _tls_config(endpoint: DockerEndpoint) -> docker.tls.TLSConfig | None:
    if endpoint.tls is None:
        return None
    files = endpoint.tls
    client_cert = (files.client_cert, files.client_key) if files.client_cert and files.client_key else None
    # verify=True always: the CA bundle when given, the system store otherwise; never unverified TLS.
    return docker.tls.TLSConfig(client_cert=client_cert, ca_cert=files.ca_cert, verify=files.ca_cert or True)


#: Over ssh every API connection is an SSH session, and a stock sshd allows ten per connection
#: (``MaxSessions``). The SDK keeps one connection pool per request URL over ssh, so the sessions
#: open at once are about the pools kept plus the requests in flight: 4 + 4, one connection each.
SSH_WORKERS = 4
_SSH_POOLS = 4


def connect(
    endpoint: DockerEndpoint, *, timeout: float = 30.0, pool_size: int = 16, bounds: Bounds = BOUNDS
) -> tuple[Any, dict[str, Any]]:
    """An ``APIClient`` speaking a version the engine accepts, and the engine's ``/version``; the run's
    clock (``bounds.run_s``) starts here."""
    ssh = endpoint.scheme == "ssh"
    try:
        client = BoundedAPIClient(
            bounds=bounds,
            base_url=endpoint.url,
            version=MIN_API_VERSION,
            tls=_tls_config(endpoint),
            timeout=timeout,
            use_ssh_client=False,  # paramiko: known_hosts checked, unknown host keys rejected
            max_pool_size=1 if ssh else pool_size,
            num_pools=_SSH_POOLS if ssh else None,
        )
        if endpoint.tls is not None and endpoint.tls.ca_cert:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA bundle, so the
            # engine's own CA would be ignored wherever those are set; the engine's CA must win.
            client.trust_env = False
        version = client.version(api_version=False)
    except Exception as exc:  # the SDK raises anything from paramiko, urllib3, ssl or OSError here
        raise collector_error(endpoint, exc) from None
    server = str(version.get("ApiVersion") or "")
    if version_tuple(server) < version_tuple(MIN_API_VERSION):
        client.close()
        raise CollectorError(
            f"{endpoint.label}: API version {server or 'unknown'} is too old (Posture needs {MIN_API_VERSION} or newer)"
        )
    negotiated = min(server, MAX_API_VERSION, key=version_tuple)
    # The SDK only negotiates with version="auto", which would ask /version a second time (and, over
    # ssh, open a second connection); setting the attribute it reads is the same negotiation.
    client._version = negotiated
    return client, version


def collector_error(endpoint: DockerEndpoint, exc: BaseException) -> CollectorError:
    return CollectorError(f"{endpoint.label}: {describe(exc, endpoint)}")


def describe(exc: BaseException, endpoint: DockerEndpoint | None = None) -> str:
    """The innermost meaningful cause of ``exc`` as a short phrase on one line."""
    message = _describe(exc, endpoint)
    return " ".join(message.split())[:_MAX_MESSAGE]


def _describe(exc: BaseException, endpoint: DockerEndpoint | None) -> str:
    chain = list(_causes(exc))
    deepest_first = chain[::-1]
    limit = next((e for e in chain if isinstance(e, LimitExceeded)), None)
    if limit is not None:
        return str(limit)
    if any(isinstance(e, requests.exceptions.TooManyRedirects) for e in chain):
        return "the engine answered with a redirect (the Docker API never redirects; not followed)"
    api = next((e for e in chain if isinstance(e, docker.errors.APIError) and e.status_code is not None), None)
    if api is not None:
        return _api_error(api)
    if any(isinstance(e, PermissionError) for e in chain):
        return "permission denied (the user may not open the socket; is it in the docker group?)"
    tls = next((e for e in deepest_first if isinstance(e, ssl.SSLError | requests.exceptions.SSLError)), None)
    if tls is not None:
        alert = next((e.reason for e in chain if isinstance(e, ssl.SSLError) and e.reason in _CLIENT_REFUSED), None)
        if alert is not None:
            return _client_refused(alert, endpoint)
        hint = ""
        if endpoint is not None and endpoint.tls is not None and endpoint.tls.skip_verify_requested:
            hint = "; the context sets SkipTLSVerify but Posture always verifies: give the context its CA"
        return f"TLS verification failed ({_reason(tls)}{hint})"
    if any(isinstance(e, TimeoutError | requests.exceptions.Timeout) for e in chain):
        return "timed out"
    ssh = next((e for e in deepest_first if type(e).__module__.startswith("paramiko")), None)
    if ssh is not None:
        return f"ssh: {_reason(ssh)}"
    os_error = next((e for e in deepest_first if isinstance(e, OSError) and e.strerror), None)
    if isinstance(os_error, OSError):
        return f"cannot connect ({os_error.strerror})"
    refused = next(
        (e for e in deepest_first if isinstance(e, ConnectionError | requests.exceptions.ConnectionError)), None
    )
    if refused is not None:
        return f"cannot connect ({_reason(refused)})"
    return f"{type(exc).__name__}: {_reason(exc)}"


#: TLS alerts with which an engine started with --tlsverify turns away a client certificate (or its absence).
_CLIENT_REFUSED = frozenset({
    "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
})


def _client_refused(alert: str, endpoint: DockerEndpoint | None) -> str:
    """The engine verified the client, not the other way round: say which side to fix."""
    shown = alert.lower().replace("_", " ")
    if endpoint is None or endpoint.tls is None or not endpoint.tls.client_cert:
        return (f"the engine requires a client certificate ({shown}): give DOCKER_CERT_PATH, or the context, "
                "the cert.pem and key.pem its CA signed")
    return f"the engine refused the client certificate ({shown}): is it signed by the engine's CA?"


def _api_error(err: docker.errors.APIError) -> str:
    explanation = err.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    detail = str(explanation or err.response.reason if err.response is not None else explanation or "")
    if err.status_code in (401, 403):
        return f"permission denied by the engine ({err.status_code}: {detail})"
    return f"API error {err.status_code} ({detail})"


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: ``__cause__``, ``__context__`` and exceptions in ``args``."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        err = stack.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        stack.extend(a for a in err.args if isinstance(a, BaseException))
        reason = getattr(err, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (err.__cause__, err.__context__):
            if linked is not None:
                stack.append(linked)
