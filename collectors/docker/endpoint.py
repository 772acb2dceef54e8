"""Where a Docker engine is and how to reach it: a URL, the environment, or a Docker CLI context.

Resolution follows the ``docker`` CLI so that ``posture collect`` reaches the same engine the
operator's ``docker ps`` does: ``DOCKER_HOST`` wins over ``DOCKER_CONTEXT``, which wins over the
config's ``currentContext``; contexts live in ``$DOCKER_CONFIG`` (or ``~/.docker``) under
``contexts/meta/<sha256(name)>/meta.json`` with their TLS material in ``contexts/tls/<sha256(name)>/docker``.

One deliberate difference: TLS here always verifies the server certificate. A context with
``SkipTLSVerify`` is still verified (its own CA is used when it has one); the connection error then
says why it failed instead of silently talking to whoever answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from posture.errors import SourceFailure

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_CONTEXT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$")


class EndpointError(SourceFailure, ValueError):
    """A URL, environment or context that does not describe a reachable engine; one line."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """TLS material; the server certificate is always verified (``ca_cert`` None = system CAs)."""

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    #: The context asked to skip verification; kept only to explain a verification failure.
    skip_verify_requested: bool = False


@dataclass(frozen=True, slots=True)
class DockerEndpoint:
    """One engine address: ``unix://``, ``tcp://`` (TLS when ``tls`` is set) or ``ssh://``."""

    url: str
    tls: TLSFiles | None = None
    context: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def label(self) -> str:
        """How errors name the source: ``docker unix:///run/docker.sock`` or ``docker context prod (tcp://…)``."""
        return f"docker context {self.context} ({self.url})" if self.context else f"docker {self.url}"


def from_url(url: str, tls: TLSFiles | None = None) -> DockerEndpoint:
    """Parse ``--docker URL``: ``unix:///path`` (or a bare path), ``tcp://``, ``https://`` (TLS), ``ssh://``."""
    text = url.strip()
    if text.startswith("/"):
        text = "unix://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        if not parts.path:
            raise EndpointError(f"docker {url}: a unix URL needs a socket path (unix:///var/run/docker.sock)")
        return DockerEndpoint(f"unix://{parts.path}", None)
    if scheme in ("tcp", "http", "https"):
        if not parts.hostname:
            raise EndpointError(f"docker {url}: a tcp URL needs a host (tcp://host:2376)")
        port = parts.port or (2376 if (tls is not None or scheme == "https") else 2375)
        if scheme == "https" and tls is None:
            tls = TLSFiles()
        return DockerEndpoint(f"tcp://{_host(parts.hostname)}:{port}", tls)
    if scheme == "ssh":
        if not parts.hostname:
            raise EndpointError(f"docker {url}: an ssh URL needs a host (ssh://user@host)")
        return DockerEndpoint(text, None)
    raise EndpointError(
        f"docker {url}: unsupported scheme {scheme or '(none)'!r} (use unix://, tcp://, https:// or ssh://)"
    )


def _host(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname


def config_dir(environ: Mapping[str, str]) -> Path:
    """The Docker CLI config dir: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    configured = environ.get("DOCKER_CONFIG")
    if configured:
        return Path(configured)
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker"


def tls_from_dir(directory: Path) -> TLSFiles:
    """``ca.pem``, ``cert.pem`` and ``key.pem`` where present (the Docker CLI's names)."""

    def present(name: str) -> str | None:
        path = directory / name
        return str(path) if path.is_file() else None

    cert, key = present("cert.pem"), present("key.pem")
    if (cert is None) != (key is None):
        raise EndpointError(f"docker TLS: {directory} has only one of cert.pem and key.pem")
    return TLSFiles(present("ca.pem"), cert, key)


def from_env(environ: Mapping[str, str]) -> DockerEndpoint:
    """``DOCKER_HOST`` / ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH``, else the current context, as the CLI does."""
    if not environ.get("DOCKER_HOST", "").strip():
        name = environ.get("DOCKER_CONTEXT", "").strip() or _current_context(environ)
        if name and name != "default":
            return from_context(name, environ)
    return _from_host_env(environ)


def _from_host_env(environ: Mapping[str, str]) -> DockerEndpoint:
    """The CLI's ``default`` context: ``DOCKER_HOST`` (or the default socket) and the TLS variables."""
    host = environ.get("DOCKER_HOST", "").strip() or DEFAULT_SOCKET
    tls = None
    if environ.get("DOCKER_TLS_VERIFY", "") != "":
        cert_path = environ.get("DOCKER_CERT_PATH", "").strip()
        tls = tls_from_dir(Path(cert_path) if cert_path else config_dir(environ))
    return from_url(host, tls)


def _current_context(environ: Mapping[str, str]) -> str:
    path = config_dir(environ) / "config.json"
    if not path.is_file():
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EndpointError(f"docker config {path}: unreadable ({exc})") from None
    current = data.get("currentContext", "") if isinstance(data, dict) else ""
    return current if isinstance(current, str) else ""


def from_context(name: str, environ: Mapping[str, str]) -> DockerEndpoint:
    """A named Docker CLI context; ``default`` means the environment / default socket."""
    if name == "default":
        return _from_host_env(environ)
    if not _CONTEXT_NAME.match(name):
        raise EndpointError(f"docker context {name!r}: not a valid context name")
    root = config_dir(environ) / "contexts"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_path = root / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EndpointError(f"docker context {name}: not found in {root}") from None
    except (OSError, ValueError) as exc:
        raise EndpointError(f"docker context {name}: unreadable {meta_path} ({exc})") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("Host"), str) or not endpoint["Host"]:
        raise EndpointError(f"docker context {name}: no docker endpoint host in {meta_path}")
    tls_dir = root / "tls" / digest / "docker"
    tls = None
    if tls_dir.is_dir():
        files = tls_from_dir(tls_dir)
        tls = TLSFiles(files.ca_cert, files.client_cert, files.client_key, bool(endpoint.get("SkipTLSVerify")))
    elif endpoint.get("SkipTLSVerify"):
        tls = TLSFiles(skip_verify_requested=True)
    resolved = from_url(endpoint["Host"], tls)
    return DockerEndpoint(resolved.url, resolved.tls, context=name)
