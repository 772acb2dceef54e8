"""What one registry collection covers and how it may connect: parsed from ``--registry URL`` and friends.

Kept apart from the client so that every trust decision (plain HTTP, unverified TLS, which hosts
may receive credentials) is made once, from explicit user input, and can be tested without a network.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from posture.errors import SourceFailure
from posture.facts.references import DOCKER_HUB, registry_host

#: Docker Hub is addressed as docker.io but served (and authenticated) elsewhere.
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"

_DEFAULT_PORTS = {"https": 443, "http": 80}


class TargetError(SourceFailure, ValueError):
    """A ``--registry`` URL that cannot be collected as given; one line naming the registry."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Rule settings the registry rules read from the registry asset (rules are pure and see only assets)."""

    stale_days: int = 180
    require_signatures: bool = False
    allowed_base_registries: tuple[str, ...] = ()

    def as_attributes(self) -> dict[str, object]:
        return {
            "stale_days": self.stale_days,
            "require_signatures": self.require_signatures,
            "allowed_base_registries": list(self.allowed_base_registries),
        }


@dataclass(frozen=True, slots=True)
class RegistryTarget:
    """One ``--registry`` URL: where to connect, what to walk, and what is trusted."""

    scheme: str
    authority: str  # "host" or "host:port" (default port dropped): the registry asset key
    prefix: str = ""  # repository prefix without slashes, "" for the whole registry
    insecure: bool = False  # --insecure-registry: plain HTTP allowed, TLS not verified
    ca_file: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    newest_tags: int | None = None
    token_realms: frozenset[str] = frozenset()  # hosts besides the registry allowed to receive credentials
    policy: Policy = field(default_factory=Policy)

    @property
    def host(self) -> str:
        return urlsplit(f"//{self.authority}").hostname or self.authority

    @property
    def api_authority(self) -> str:
        """The host:port actually spoken to (Docker Hub's API lives on another name)."""
        return DOCKER_HUB_API if registry_host(self.host) == DOCKER_HUB else self.authority

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_authority}"

    @property
    def scope_name(self) -> str:
        return f"{self.authority}/{self.prefix}" if self.prefix else self.authority

    @property
    def verify_tls(self) -> bool:
        return self.scheme == "https" and not self.insecure

    def wants(self, repository: str) -> bool:
        """Whether a repository is in scope: under the prefix, matching include, not matching exclude."""
        if self.prefix and repository != self.prefix and not repository.startswith(self.prefix + "/"):
            return False
        if self.include and not any(fnmatch.fnmatchcase(repository, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(repository, p) for p in self.exclude)


def parse_registry_url(url: str, *, insecure_hosts: Sequence[str] = ()) -> RegistryTarget:
    """The target ``https://host:port[/prefix]`` names, with default scope and policy.

    Credentials in the URL are refused (they would land in shell history and the scope name);
    plain HTTP is refused unless the host was named with ``--insecure-registry``.
    """
    raw = url.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in _DEFAULT_PORTS:
        raise TargetError(f"registry {url}: unsupported scheme {parts.scheme!r} (use https:// or http://)")
    if parts.username is not None or parts.password is not None:
        raise TargetError(f"registry {parts.hostname}: credentials in the URL are refused; use the Docker config")
    if not parts.hostname:
        raise TargetError(f"registry {url}: no host in the URL")
    if parts.query or parts.fragment:
        raise TargetError(f"registry {url}: a query or fragment is not allowed in a registry URL")
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"registry {url}: invalid port") from None
    host = parts.hostname.lower()
    netloc_host = f"[{host}]" if ":" in host else host
    authority = netloc_host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{netloc_host}:{port}"
    if registry_host(host) == DOCKER_HUB:
        authority = DOCKER_HUB
    insecure = authority in insecure_hosts or host in insecure_hosts
    if parts.scheme == "http" and not insecure:
        raise TargetError(f"registry {authority}: plain HTTP needs --insecure-registry {authority}")
    return RegistryTarget(parts.scheme, authority, prefix=parts.path.strip("/"), insecure=insecure)
