"""The installation's secret hash key, kept outside the database.

Secret values are stored only as keyed hashes (HMAC-SHA256, :class:`posture.secrets.SecretScanner`).
A keyed hash is only as safe as its key: a key kept in the same database lets whoever copies the
database test guessed secrets against the stored hashes. So the key lives where the database is not:

- ``POSTURE_SECRET_KEY_FILE``: a file (a mounted Kubernetes/Docker secret, a shared file) holding
  the key; for teams whose collectors share one store;
- ``POSTURE_SECRET_KEY``: the key itself;
- otherwise ``$XDG_CONFIG_HOME/posture/secret.key`` (``~/.config/posture/secret.key``), created on
  first use with mode 0600.

A key is hex, at least 64 digits (32 bytes; ``openssl rand -hex 32``). A key file must be a regular
file that neither group nor others may read or write. The database keeps only the key's *check id*
(:func:`check_id`): it tells a collector that it holds another key than the one the store's hashes
were made with (the same secret would otherwise get two hashes, silently), and it verifies no
guessed secret. Every refusal is one line (:class:`SecretKeyError`) that never shows the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from posture.config import ConfigError, config_dir
from posture.store.runs import forget_legacy_secret_key, legacy_secret_key, record_secret_key_check, secret_key_check

KEY_ENV = "POSTURE_SECRET_KEY"
KEY_FILE_ENV = "POSTURE_SECRET_KEY_FILE"
KEY_FILE_NAME = "secret.key"
MIN_KEY_BYTES = 32
_CHECK_MESSAGE = b"posture secret key check"
_MAX_FILE_BYTES = 4096  # a key file is one line of hex; anything longer is not one


class SecretKeyError(ConfigError):
    """One line naming where the key came from and the problem (a usage error: exit 2)."""


@dataclass(frozen=True)
class SecretKey:
    """A key and where it came from (``origin`` names the option or the file, never the key)."""

    key: bytes = field(repr=False)
    origin: str


def check_id(key: bytes) -> str:
    """What the database keeps of the key: an HMAC of a fixed message, which tells keys apart and
    verifies no guessed secret (a 64-bit tag of a 256-bit random key)."""
    return hmac.new(key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()[:16]


def default_key_path(environ: Mapping[str, str] | None = None) -> Path:
    return config_dir(environ) / KEY_FILE_NAME


def parse_key(text: str, origin: str) -> bytes:
    """Hex, at least :data:`MIN_KEY_BYTES` bytes; a short or malformed key is refused, not stretched."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < MIN_KEY_BYTES:
        raise SecretKeyError(
            f"{origin}: the secret key must be at least {2 * MIN_KEY_BYTES} hex digits "
            f"({MIN_KEY_BYTES} bytes, e.g. from: openssl rand -hex {MIN_KEY_BYTES})"
        )
    return key


def read_key_file(path: Path, origin: str) -> bytes:
    """The key in ``path``, refused unless it is a regular file only its owner can read or write.

    Opened without blocking and checked on the open descriptor, so a FIFO cannot hang the command
    and the file checked is the file read (a symlink, as Kubernetes mounts secrets, is followed).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretKeyError(f"{origin}: cannot open the secret key file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretKeyError(f"{origin}: the secret key file is not a regular file")
        if info.st_mode & 0o077:
            raise SecretKeyError(
                f"{origin}: the secret key file is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                "chmod 600 it"
            )
        data = os.read(fd, _MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_FILE_BYTES:
        raise SecretKeyError(f"{origin}: the secret key file is over {_MAX_FILE_BYTES} bytes: not a key file")
    return parse_key(data.decode("ascii", "replace"), origin)


def configured_key(environ: Mapping[str, str] | None = None) -> SecretKey | Path:
    """The key the environment names or the default key file holds; else the path of a key file to create."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV) and env.get(KEY_FILE_ENV):
        raise SecretKeyError(f"{KEY_ENV} and {KEY_FILE_ENV} are both set: set one")
    if env.get(KEY_ENV):
        return SecretKey(parse_key(env[KEY_ENV], KEY_ENV), KEY_ENV)
    path = Path(env[KEY_FILE_ENV]).expanduser() if env.get(KEY_FILE_ENV) else default_key_path(env)
    if not os.path.lexists(path):
        return path
    origin = _origin(path, env)
    return SecretKey(read_key_file(path, origin), origin)


def _origin(path: Path, env: Mapping[str, str]) -> str:
    """How a message names a key file: with the option that named it, if one did."""
    return f"{KEY_FILE_ENV} {path}" if env.get(KEY_FILE_ENV) else str(path)


def create_key_file(path: Path, key: bytes, origin: str) -> SecretKey:
    """Write ``key`` to ``path`` unless a concurrent first run got there first; the file's key either way.

    The key is written and synced under a temporary name (mode 0600 from creation) and then linked to
    ``path``: the link fails if ``path`` exists, so of many collectors starting at once exactly one
    key is kept, and nobody ever reads a half-written file.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)  # mkstemp creates 0600
    except OSError as exc:
        raise SecretKeyError(f"{origin}: cannot create the secret key file: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SecretKeyError(f"{origin}: cannot create the secret key file: {exc.strerror}") from None
    finally:
        os.unlink(temporary)
    return SecretKey(read_key_file(path, origin), origin)


def installation_key(session: Session, environ: Mapping[str, str] | None = None) -> bytes:
    """The key for keyed hashes of secrets, checked against the store (in the caller's write transaction).

    A store of the previous release kept its key in ``meta``: when the key file (the default one, or
    one ``POSTURE_SECRET_KEY_FILE`` names) does not exist yet, that key moves into it, so secret
    findings keep their fingerprints, and is deleted from the store. Otherwise a missing default key
    file is created with a new random key, unless the store's check id says its hashes were made with
    a key kept elsewhere; a missing ``POSTURE_SECRET_KEY_FILE`` is never invented (each collector would
    make its own). A key whose check id differs from the store's, or a legacy key that differs from
    the configured one, is refused (see :func:`_legacy_conflict`).
    """
    env = os.environ if environ is None else environ
    legacy = legacy_secret_key(session)
    found = configured_key(env)
    if isinstance(found, Path):
        found = create_key_file(found, _key_to_create(session, found, legacy, env), _origin(found, env))
    if legacy is not None and legacy != found.key:
        raise SecretKeyError(_legacy_conflict(found))
    ours = check_id(found.key)
    recorded = record_secret_key_check(session, ours)
    if recorded != ours:
        raise SecretKeyError(
            f"{found.origin}: not the secret key this database's secrets are hashed with (the database's key "
            f"check {recorded}, this key's {ours}): every collector of one database must use the same "
            f"{KEY_FILE_ENV} or {KEY_ENV} (a lost key: posture db forget-secret-key)"
        )
    if legacy is not None:
        forget_legacy_secret_key(session)
    return found.key


def _key_to_create(session: Session, path: Path, legacy: bytes | None, env: Mapping[str, str]) -> bytes:
    """The key a missing key file is created with: the store's legacy key, or a new one where that is safe."""
    if legacy is not None:
        return legacy
    if env.get(KEY_FILE_ENV):
        raise SecretKeyError(
            f"{KEY_FILE_ENV} {path}: no such file (create one: openssl rand -hex {MIN_KEY_BYTES} > FILE; "
            "chmod 600 FILE)"
        )
    recorded = secret_key_check(session)
    if recorded is not None:
        raise SecretKeyError(
            f"this database's secrets are hashed with a secret key that is not here (key check {recorded}): copy "
            f"the key file its other collectors use to {path}, or set {KEY_FILE_ENV} or {KEY_ENV} "
            "(a lost key: posture db forget-secret-key)"
        )
    return secrets.token_bytes(MIN_KEY_BYTES)


def _legacy_conflict(source: SecretKey) -> str:
    """Refused rather than adopted: adopting would give every secret finding a new fingerprint (each one
    resolved and filed again, and announced). Keeping continuity is one run away, and says how."""
    return (
        f"{source.origin}: this database still holds the previous release's secret key, which differs from this "
        f"one; to keep it, set {KEY_FILE_ENV} (not {KEY_ENV}) to a path with no file yet: the key moves there"
    )
