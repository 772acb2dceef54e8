"""Finding clear-text secrets without ever keeping them.

Collectors call :class:`SecretScanner` while they still hold a value (an env var, a label, a
history command, a file in an image layer); what leaves the collector is a :class:`SecretHit`:
where it was, which detector fired, a preview (the first two characters of a long value, never the
length) and a keyed hash (HMAC-SHA256 with the installation's key, kept outside the database:
:mod:`posture.secretkey`), so the same secret can be recognised across images and
runs without being recoverable from the database, the logs or a chat message.

Three detectors, most specific first: a known token format (the provider's published shape, so a
hit is near-certain whatever the key is called), a key name that says "secret" (``DB_PASSWORD``,
``apiKey``), and high entropy (a random-looking value nobody named). Free text (a Dockerfile
``RUN`` line) can be returned with every secret replaced by its redacted preview, so the text
itself stays useful evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any


def _words(text: str) -> frozenset[str]:
    """A set of names written as one space-separated string, so long vocabularies stay readable."""
    return frozenset(text.split())


# Words that say "this holds a secret", matched against a key split into words (``DB_PASSWORD``,
# ``db.password``, ``dbPassword`` all give ``password``).
_SECRET_WORDS = _words(
    "pass password passwd pwd passphrase secret token apikey credential credentials auth dsn "
    "privatekey accesskey secretkey clientsecret connectionstring webhook cookie session bearer "
    "signingkey encryptionkey masterkey"
)
# Two-word spellings of the compound words above (``API_KEY``, ``private-key``).
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("client", "secret"),
        ("connection", "string"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("auth", "key"),
    }
)
# Last words that turn a secret-looking key into a reference or a switch, never the secret itself.
_BENIGN_LAST_WORDS = _words(
    "file path dir enabled enable disabled length ttl timeout type mode url uri endpoint host port "
    "user username name provider method header scheme kind algorithm expiry expires expiration issuer "
    "audience realm secretfile version policy required format location id count size interval backend"
)
# Key words that mean "digest of public content", not a secret (``PYTHON_SHA256``, ``GPG_KEY`` fingerprints).
_CHECKSUM_WORDS = _words("sha sha1 sha256 sha512 md5 checksum hash digest fingerprint gpg version")

#: Known token formats: (detector id, pattern). Sources: the providers' published formats.
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private-key", re.compile(r"-----BEGIN ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----")),
    ("aws-access-key-id", re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("github-fine-grained-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("gcp-service-account", re.compile(r"\"type\"\s*:\s*\"service_account\"")),
    ("stripe-key", re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}\b")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{32,}\b")),
    ("openai-key", re.compile(r"\bsk-(proj-)?[A-Za-z0-9_\-]{20,}\b")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi-token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}\b")),
    ("dockerhub-token", re.compile(r"\bdckr_pat_[A-Za-z0-9_\-]{27,}\b")),
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z]{34}\b")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b")),
    ("digitalocean-token", re.compile(r"\bdo[por]_v1_[a-f0-9]{64}\b")),
    ("shopify-token", re.compile(r"\bshp(at|ca|pa|ss)_[a-fA-F0-9]{32}\b")),
    ("azure-storage-key", re.compile(r"AccountKey=[A-Za-z0-9+/]{86}==")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b")),
    ("url-credentials", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:([^/\s@]{3,})@", re.IGNORECASE)),
)
# Detectors whose match holds more than the secret: the secret is capture group 1.
_GROUP_DETECTORS = frozenset({"url-credentials"})

# ``KEY=value`` and ``--password value`` in free text.
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_.\-]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]+)")
_FLAG = re.compile(r"(?<![\w-])--?([A-Za-z][A-Za-z0-9\-]*)[ =](\"[^\"]*\"|'[^']*'|[^\s;&|-][^\s;&|]*)")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+|[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGEST = re.compile(r"(sha1|sha256|sha384|sha512|md5):[0-9a-fA-F]+")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=]+")
_MIN_RUN_LEN = 16

_MIN_ENTROPY_LEN = 20
_ENTROPY_THRESHOLD = 4.0
_MIN_SECRET_LEN = 4
#: A preview shows a value's first two characters only from this length on.
_MIN_SHOWN_LEN = 16
_PLACEHOLDERS = _words(
    "changeme change-me password secret xxx none null true false <redacted> redacted example yes no "
    "on off default required optional empty todo tbd"
) | {""}


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A detected secret, with nothing that could reveal it."""

    location: str  # e.g. "env", "label", "history", "layer"
    key: str  # the variable or label name, or a file path; "" for free text such as a history command
    detector: str  # "key-name", a TOKEN_PATTERNS id, or "entropy"
    preview: str  # e.g. "Su… (sha256:ab12cd34ef56)"
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


def key_words(key: str) -> list[str]:
    """``DB_PASSWORD`` / ``db.password`` / ``dbPassword`` → ``["db", "password"]``."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", key) for w in _CAMEL.findall(part)]


def secret_key_name(key: str) -> bool:
    """True when the name says the value is a secret and the last word does not make it a reference."""
    words = key_words(key)
    if not words or words[-1] in _BENIGN_LAST_WORDS:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


class SecretScanner:
    """Detects secrets by key name, known token format and entropy; keyed by the install's hash key."""

    def __init__(self, hash_key: bytes) -> None:
        if len(hash_key) < 16:
            raise ValueError("the secret hash key must be at least 16 bytes")
        self._key = hash_key

    def keyed_hash(self, value: str) -> str:
        return "hmac-sha256:" + hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def redact(self, value: str) -> tuple[str, str]:
        """``("Su… (sha256:ab12cd34ef56)", full keyed hash)``: no length, which would narrow every guess,
        and the first two characters (a token's format, ``gh``, ``AK``) only of a value long enough
        (:data:`_MIN_SHOWN_LEN`) that the characters left unseen still defeat a guess."""
        digest = self.keyed_hash(value)
        shown = value[:2] if len(value) >= _MIN_SHOWN_LEN else ""
        return f"{shown}… ({digest[len('hmac-') :][:19]})", digest

    def _hit(self, location: str, key: str, detector: str, value: str) -> SecretHit:
        preview, digest = self.redact(value)
        return SecretHit(location, key, detector, preview, digest)

    def scan_pair(self, location: str, key: str, value: str) -> SecretHit | None:
        """A key/value pair (env var, label, annotation)."""
        stripped = value.strip()
        token = self._token(stripped)
        if token:
            return self._hit(location, key, token, stripped)
        if stripped.lower() in _PLACEHOLDERS or stripped.startswith(("$", "/")):
            # "$DB_PASSWORD" and "/run/secrets/db" are references, not secrets.
            return None
        if secret_key_name(key) and len(stripped) >= _MIN_SECRET_LEN:
            return self._hit(location, key, "key-name", stripped)
        if self._high_entropy(key, stripped):
            return self._hit(location, key, "entropy", stripped)
        return None

    def scan_text(self, location: str, text: str) -> list[SecretHit]:
        """Free text such as a Dockerfile history command: token formats, ``KEY=value`` and ``--password x``."""
        return [hit for hit, _span in self._text_hits(location, text)]

    def redact_text(self, location: str, text: str) -> tuple[str, list[SecretHit]]:
        """``text`` with every detected secret replaced by its redacted preview, and the hits."""
        found = self._text_hits(location, text)
        spans = sorted({span for _hit, span in found})
        previews = {span: hit.preview for hit, span in found}
        out: list[str] = []
        cursor = 0
        for start, end in spans:
            if start < cursor:  # overlapping detections: the earlier one already covers it
                continue
            out.append(text[cursor:start])
            out.append(f"<secret {previews[(start, end)]}>")
            cursor = end
        out.append(text[cursor:])
        return "".join(out), [hit for hit, _span in found]

    def _text_hits(self, location: str, text: str) -> list[tuple[SecretHit, tuple[int, int]]]:
        hits: list[tuple[SecretHit, tuple[int, int]]] = []
        covered: list[tuple[int, int]] = []
        for detector, pattern in TOKEN_PATTERNS:
            group = 1 if detector in _GROUP_DETECTORS else 0
            for match in pattern.finditer(text):
                span = match.span(group)
                if any(s <= span[0] < e for s, e in covered):
                    continue
                covered.append(span)
                hits.append((self._hit(location, "", detector, match.group(group)), span))
        for pattern in (_ASSIGNMENT, _FLAG):
            for match in pattern.finditer(text):
                key, raw = match.group(1), match.group(2)
                value = raw.strip("\"'")
                start = match.start(2) + (1 if raw[:1] in "\"'" and len(raw) > 1 else 0)
                span = (start, start + len(value))
                if any(s <= span[0] < e for s, e in covered) or not self._named_secret(key, value):
                    continue
                covered.append(span)
                hits.append((self._hit(location, key, "key-name", value), span))
        return hits

    @staticmethod
    def _named_secret(key: str, value: str) -> bool:
        return (
            secret_key_name(key)
            and len(value) >= _MIN_SECRET_LEN
            and value.lower() not in _PLACEHOLDERS
            and not value.startswith(("$", "/"))
        )

    @staticmethod
    def _token(value: str) -> str | None:
        for detector, pattern in TOKEN_PATTERNS:
            if pattern.search(value):
                return detector
        return None

    @staticmethod
    def _high_entropy(key: str, value: str) -> bool:
        if any(w in _CHECKSUM_WORDS for w in key_words(key)):
            return False
        if (_HEX.fullmatch(value) and len(value) in (32, 40, 56, 64, 96, 128)) or _DIGEST.fullmatch(value):
            return False  # a digest or fingerprint of public content, not a credential
        # "chacha20-ietf-poly1305" and UUIDs are short words joined by separators; tokens are one long run.
        longest_run = max((len(run) for run in _TOKEN_RUN.findall(value)), default=0)
        return (
            longest_run >= _MIN_RUN_LEN
            and len(value) >= _MIN_ENTROPY_LEN
            and " " not in value
            and not value.startswith(("http://", "https://"))
            and shannon_entropy(value) >= _ENTROPY_THRESHOLD
            and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value)
        )
