"""Finding clear-text secrets without ever keeping them.

Collectors call :class:`SecretScanner` while they still hold a value (an env var, a label, a
history command); what leaves the collector is a :class:`SecretHit`: where it was, which detector
fired, a two-character preview, the length and a keyed hash (HMAC-SHA256 with the installation's
key), so the same secret can be recognised across images and runs without being recoverable from
the database, the logs or a chat message.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

# Names that say "this holds a secret" (matched case-insensitively against the key's words).
_SECRET_KEY = re.compile(
    r"(^|[_.\-])(pass(word|wd)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|"
    r"client[_\-]?secret|auth|credentials?|passphrase|dsn|connection[_\-]?string)($|[_.\-])",
    re.IGNORECASE,
)
# Keys that look secret but hold references or switches, never the secret itself.
_BENIGN_KEY = re.compile(r"(_FILE|_PATH|_DIR|_URL_FILE|_ENABLED|_LENGTH|_TTL|_TIMEOUT|_TYPE|_MODE)$", re.IGNORECASE)

#: Known token formats: (detector id, pattern). Sources: the providers' published formats.
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-access-key-id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("github-fine-grained-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("stripe-key", re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}\b")),
    ("openai-key", re.compile(r"\bsk-(proj-)?[A-Za-z0-9_\-]{20,}\b")),
    ("private-key", re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b")),
    ("url-credentials", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:([^/\s@]{3,})@", re.IGNORECASE)),
)

_MIN_ENTROPY_LEN = 20
_ENTROPY_THRESHOLD = 4.0
_PLACEHOLDERS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "password",
        "secret",
        "xxx",
        "none",
        "null",
        "true",
        "false",
        "<redacted>",
        "redacted",
        "example",
    }
)


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A detected secret, with nothing that could reveal it."""

    location: str  # e.g. "env", "label", "history"
    key: str  # the variable or label name; "" for free text such as a history command
    detector: str  # "key-name", a TOKEN_PATTERNS id, or "entropy"
    preview: str  # e.g. "Su… (14 chars, sha256:ab12cd34ef56)"
    fingerprint: str  # the full keyed hash, to match the same secret elsewhere

    def as_evidence(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "key": self.key,
            "detector": self.detector,
            "preview": self.preview,
            "hash": self.fingerprint,
        }


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


class SecretScanner:
    """Detects secrets by key name, known token format and entropy; keyed by the install's hash key."""

    def __init__(self, hash_key: bytes) -> None:
        if len(hash_key) < 16:
            raise ValueError("the secret hash key must be at least 16 bytes")
        self._key = hash_key

    def keyed_hash(self, value: str) -> str:
        return "hmac-sha256:" + hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def redact(self, value: str) -> tuple[str, str]:
        """``("Su… (14 chars, sha256:ab12cd34ef56)", full keyed hash)``; short values show nothing."""
        digest = self.keyed_hash(value)
        shown = value[:2] if len(value) >= 8 else ""
        return f"{shown}… ({len(value)} chars, {digest[len('hmac-') :][:19]})", digest

    def _hit(self, location: str, key: str, detector: str, value: str) -> SecretHit:
        preview, digest = self.redact(value)
        return SecretHit(location, key, detector, preview, digest)

    def scan_pair(self, location: str, key: str, value: str) -> SecretHit | None:
        """A key/value pair (env var, label, annotation)."""
        stripped = value.strip()
        if stripped.lower() in _PLACEHOLDERS or stripped.startswith(("$", "/")):
            # "$DB_PASSWORD" and "/run/secrets/db" are references, not secrets.
            token = self._token(stripped)
            return self._hit(location, key, token, stripped) if token else None
        token = self._token(stripped)
        if token:
            return self._hit(location, key, token, stripped)
        if _SECRET_KEY.search(key) and not _BENIGN_KEY.search(key) and len(stripped) >= 4:
            return self._hit(location, key, "key-name", stripped)
        if self._high_entropy(stripped):
            return self._hit(location, key, "entropy", stripped)
        return None

    def scan_text(self, location: str, text: str) -> list[SecretHit]:
        """Free text such as a Dockerfile history command: token formats and ``KEY=value`` pairs."""
        hits: list[SecretHit] = []
        for detector, pattern in TOKEN_PATTERNS:
            for match in pattern.finditer(text):
                secret = match.group(1) if detector == "url-credentials" else match.group(0)
                hits.append(self._hit(location, "", detector, secret))
        if not hits:
            for match in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)", text):
                key, value = match.group(1), match.group(2).strip("\"'")
                if (
                    _SECRET_KEY.search(key)
                    and not _BENIGN_KEY.search(key)
                    and len(value) >= 4
                    and value.lower() not in _PLACEHOLDERS
                    and not value.startswith("$")
                ):
                    hits.append(self._hit(location, key, "key-name", value))
        return hits

    @staticmethod
    def _token(value: str) -> str | None:
        for detector, pattern in TOKEN_PATTERNS:
            if pattern.search(value):
                return detector
        return None

    @staticmethod
    def _high_entropy(value: str) -> bool:
        return (
            len(value) >= _MIN_ENTROPY_LEN
            and " " not in value
            and not value.startswith(("http://", "https://"))
            and shannon_entropy(value) >= _ENTROPY_THRESHOLD
            and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value)
        )
