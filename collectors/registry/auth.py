"""Registry authentication: challenges, the bearer token flow, and who may receive a credential.

The trust rule comes from CVE-2020-15157 (containerd sent registry credentials to whatever token
realm a registry named): a credential goes only to the registry's own origin, or to a token realm
on the registry's host over HTTPS, or to a realm host the user named with ``--registry-token-realm``.
Anything else is asked anonymously.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from collectors.registry.credentials import Credentials

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_\-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
#: Refresh a token this long before the registry says it expires.
_TOKEN_MARGIN_S = 10.0
_DEFAULT_TOKEN_LIFETIME_S = 60.0


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str  # "basic" or "bearer" (lower case)
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="…",service="…",scope="…"`` → :class:`Challenge`; None for anything unusable."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(rest)}
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in params.items()}
    return Challenge(scheme, params.get("realm", ""), params.get("service", ""), params.get("scope", ""))


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, base_url: str) -> bool:
    return origin(url) == origin(base_url)


def realm_may_receive_credentials(
    realm: str, registry_url: str, allowed_hosts: frozenset[str], *, insecure: bool
) -> bool:
    """Whether a token realm may see the user's credentials (see the module docstring)."""
    scheme, host, port = origin(realm)
    _, registry_host, _ = origin(registry_url)
    named = host in allowed_hosts or f"{host}:{port}" in allowed_hosts
    if host != registry_host and not named:
        return False
    # Plain HTTP only where the user already accepted it for this very registry.
    return scheme == "https" or (insecure and host == registry_host)


class TokenCache:
    """Bearer tokens per (realm, service, scope, anonymous?), kept until shortly before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, bool], tuple[str, float]] = {}

    def get(self, key: tuple[str, str, str, bool]) -> str | None:
        found = self._tokens.get(key)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def put(self, key: tuple[str, str, str, bool], token: str, expires_in: float | None) -> None:
        lifetime = expires_in if expires_in and expires_in > 0 else _DEFAULT_TOKEN_LIFETIME_S
        self._tokens[key] = (token, time.monotonic() + max(lifetime - _TOKEN_MARGIN_S, lifetime / 2))

    def drop(self, key: tuple[str, str, str, bool]) -> None:
        self._tokens.pop(key, None)
