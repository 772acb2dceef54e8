"""Registry credentials from the standard Docker client configuration, and nowhere else.

Reading ``$DOCKER_CONFIG/config.json`` (``auths``, ``credHelpers``, ``credsStore``) means Posture
needs no secret on its command line (shell history, process lists) or in its own settings, and
uses exactly what ``docker login`` stored. Values are held in memory only for the run and never
appear in a repr, a log line or a record.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.registry.target import DOCKER_HUB_CONFIG_KEY
from posture.errors import SourceFailure

_HELPER_TIMEOUT_S = 15.0


class CredentialError(SourceFailure):
    """The Docker configuration or a credential helper could not be read (message names no secret)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username with a password, or an OAuth2 identity (refresh) token."""

    username: str = field(repr=False)
    secret: str = field(repr=False)
    identity_token: bool = False


def docker_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


def _hostname(server: str) -> str:
    """Docker's own normalisation of an ``auths`` key: no scheme, nothing after the first slash."""
    for scheme in ("https://", "http://"):
        if server.startswith(scheme):
            server = server[len(scheme) :]
            break
    return server.split("/", 1)[0].lower()


class DockerCredentials:
    """Looks up credentials for one registry the way the Docker CLI does."""

    def __init__(self, config_dir: Path | None = None) -> None:
        self._path = (config_dir or docker_config_dir()) / "config.json"

    def _load(self) -> dict[str, Any]:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CredentialError(f"cannot read {self._path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise CredentialError(f"{self._path} is not valid JSON") from None
        if not isinstance(data, dict):
            raise CredentialError(f"{self._path} is not a JSON object")
        return data

    def lookup(self, authority: str) -> Credentials | None:
        """Credentials for ``authority`` (``host[:port]``, or ``docker.io``), or None when none are stored."""
        config = self._load()
        server = DOCKER_HUB_CONFIG_KEY if authority == "docker.io" else authority
        helpers = config.get("credHelpers") or {}
        helper = helpers.get(authority) if isinstance(helpers, dict) else None
        helper = helper or config.get("credsStore")
        if isinstance(helper, str) and helper:
            found = _from_helper(helper, server)
            if found is not None:
                return found
        return _from_auths(config.get("auths"), authority, self._path)


def _from_auths(auths: object, authority: str, path: Path) -> Credentials | None:
    if not isinstance(auths, dict):
        return None
    wanted = "index.docker.io" if authority == "docker.io" else authority
    for server, entry in auths.items():
        if not isinstance(server, str) or not isinstance(entry, dict) or _hostname(server) != wanted:
            continue
        token = entry.get("identitytoken")
        encoded = entry.get("auth")
        username, password = entry.get("username"), entry.get("password")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise CredentialError(f"{path}: the auth entry for {server} is not valid base64") from None
            username, sep, password = decoded.partition(":")
            if not sep:
                raise CredentialError(f"{path}: the auth entry for {server} is not user:password")
        if isinstance(token, str) and token:
            return Credentials(username if isinstance(username, str) else "", token, identity_token=True)
        if isinstance(username, str) and isinstance(password, str) and username:
            return Credentials(username, password)
    return None


def _from_helper(helper: str, server: str) -> Credentials | None:
    """Run ``docker-credential-<helper> get`` (the credential-helper protocol: server URL on stdin)."""
    if not helper.replace("-", "").replace("_", "").isalnum():
        raise CredentialError(f"credential helper name {helper!r} is not a plain name")
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, "get"], input=server.encode(), capture_output=True, timeout=_HELPER_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise CredentialError(f"credential helper {program} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(f"credential helper {program} did not answer in {_HELPER_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        # The protocol's "not found" answer; anything else is reported without the helper's output,
        # which might echo what it was given.
        if b"credentials not found" in done.stdout.lower() + done.stderr.lower():
            return None
        raise CredentialError(f"credential helper {program} failed (exit {done.returncode})")
    try:
        answer = json.loads(done.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialError(f"credential helper {program} gave an answer that is not the helper protocol") from None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        return Credentials("", secret, identity_token=True)
    return Credentials(username, secret)
