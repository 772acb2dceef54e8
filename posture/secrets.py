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

# Known token formats: (detector id, anchor, pattern). Sources: the providers' published formats.
# Every match contains one of the anchors, plain strings: a pattern is tried only on text holding one,
# because ``in`` is many times faster than any regex and most stored text holds no secret.
_TOKENS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # A private key is redacted whole: BEGIN to END inclusive, or to the end of the text when cut short.
    (
        "private-key",
        ("-----BEGIN ",),
        r"-----BEGIN ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----"
        r"(?s:.*?-----END [A-Z ]*PRIVATE KEY( BLOCK)?-----|.*)",
    ),
    ("aws-access-key-id", ("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
    ("github-fine-grained-token", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    ("gitlab-token", ("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20,}\b"),
    ("slack-token", ("xoxa-", "xoxb-", "xoxo-", "xoxp-", "xoxr-", "xoxs-"), r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    ("slack-webhook", ("hooks.slack.com/",), r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ("google-api-key", ("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    ("gcp-service-account", ("service_account",), r"\"type\"\s*:\s*\"service_account\""),
    ("stripe-key", ("k_live_", "k_test_"), r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}\b"),
    ("anthropic-key", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_\-]{32,}\b"),
    ("openai-key", ("sk-",), r"\bsk-(proj-)?[A-Za-z0-9_\-]{20,}\b"),
    ("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-token", ("pypi-",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}\b"),
    ("dockerhub-token", ("dckr_pat_",), r"\bdckr_pat_[A-Za-z0-9_\-]{27,}\b"),
    ("huggingface-token", ("hf_",), r"\bhf_[A-Za-z]{34}\b"),
    ("sendgrid-key", ("SG.",), r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"),
    ("digitalocean-token", ("_v1_",), r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    ("shopify-token", ("shpat_", "shpca_", "shppa_", "shpss_"), r"\bshp(at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("azure-storage-key", ("AccountKey=",), r"AccountKey=[A-Za-z0-9+/]{86}=="),
    ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_\-]{12,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b"),
    # ``scheme://user:password@host``.
    (
        "url-credentials",
        ("@",),
        r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:([^/\s@]{3,})@",
    ),
    # ``user:password@host`` where a value starts (a probe's ``host``), the password without ``:``:
    # never ``nginx:1.25@sha256:…`` (an image pinned by digest) nor a Docker engine ID ``ABCD:EFGH:…@…``.
    (
        "host-credentials",
        ("@",),
        r"(?<![^\s\"'=])[^/\s:@]+:([^/\s:@]{3,})@(?!sha\d*:)",
    ),
)
#: Known token formats: (detector id, pattern).
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (detector, re.compile(pattern, re.IGNORECASE if detector == "url-credentials" else 0))
    for detector, _anchors, pattern in _TOKENS
)
# Detectors whose match holds more than the secret: the secret is capture group 1.
_GROUP_DETECTORS = frozenset({"url-credentials", "host-credentials"})
# ``KEY=value``, ``--password value`` and ``"password": "value"`` (JSON, also as an escaped string
# in a shell line: ``{\"auth\":\"dXNl…\"}``) in free text; the key decides (:func:`secret_key_name`).
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_.\-]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]+)")
_FLAG = re.compile(r"(?<![\w-])--?([A-Za-z][A-Za-z0-9\-]*)[ =](\"[^\"]*\"|'[^']*'|[^\s;&|-][^\s;&|]*)")
_JSON_PAIR = re.compile(r"\\?\"([A-Za-z_][A-Za-z0-9_.\-]*)\\?\"\s*:\s*\\?\"([^\"\\]*)\\?\"")
_NAMED = (_ASSIGNMENT, _FLAG, _JSON_PAIR)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+|[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGEST = re.compile(r"(sha1|sha256|sha384|sha512|md5):[0-9a-fA-F]+")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=]+")
_MIN_RUN_LEN = 16

_MIN_ENTROPY_LEN = 20
_ENTROPY_THRESHOLD = 4.0
_MIN_SECRET_LEN = 4
#: How a secret is replaced in stored text. Recognised again (:data:`_MARKER`) so scrubbing text
#: twice changes nothing: a stored value re-read and re-stored must keep its content hash.
MARKER_FORMAT = "<secret {preview}>"
_MARKER = re.compile(r"<secret (?:[^\n]{0,2}… )?\((?:\d+ chars, )?sha256:[0-9a-f]{12}\)>")


def _key_word_anchors() -> tuple[str, ...]:
    """The shortest secret words a secret key name must contain (``pass`` covers ``password``)."""
    words = _SECRET_WORDS | {second for _first, second in _SECRET_PAIRS}
    return tuple(sorted(w for w in words if not any(o != w and o in w for o in words)))


#: Every key :func:`secret_key_name` accepts contains one of these, in lower case: the named-pair
#: detectors (``KEY=value``, ``--flag value``, ``"key": "value"``) run only on text holding one.
_KEY_WORD_BYTES = tuple(word.encode() for word in _key_word_anchors())
#: What follows a secret word that ends a key: more key characters, then ``=`` or a (escaped) quote.
_KEY_TAIL = re.compile(rb'[\w.\-]*(?:=|\\*")')
#: An option whose name holds a secret word (``--db-password x``).
_FLAG_NAMED = re.compile(rb"-[A-Za-z0-9\-]*(?:" + b"|".join(_KEY_WORD_BYTES) + rb")[A-Za-z0-9\-]*[ =]", re.IGNORECASE)


def marker(preview: str) -> str:
    """The text that stands in for a secret in stored free text."""
    return MARKER_FORMAT.format(preview=preview)


# -- the prefilter -----------------------------------------------------------------------------
# Every string Posture stores is scanned, and nearly none holds a secret. Each test below is a
# necessary condition of some detector, made of byte operations that run at memory speed
# (``translate``, ``in``), so text that passes none is cleared without trying a single pattern.

#: Token characters as ``a``, everything else as a space: a token is then a run of ``a``.
_TOKEN_CHARS = bytes(0x61 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "_-") else 0x20 for i in range(256))
#: Every token format holds a run of 15 token characters (a JWT's header, ``xoxb-`` and ten), except
#: these and ``AccountKey=`` (tested after a one-byte test for ``=``).
_TOKEN_RUN_HINT = b"a" * 15
_TOKEN_LITERALS = (b"-----BEGIN ", b"hooks.slack.com")
#: URL credentials: an ``@`` after ``:`` and three characters, not a digest (``nginx:1.25@sha256:``).
_URL_HINT = re.compile(rb":[^/\s@]{3,}@(?!sha\d*:)")
#: An option (``--db-pass x``): a ``-`` that does not continue a word.
_FLAG_HINT = re.compile(rb"-(?<![\w-]-)")


def may_hold_secret(text: str | bytes, *, serialized: bool = False) -> bool:
    """False when no text detector can match ``text``: a cheap over-approximation of all of them.

    ``serialized``: ``text`` is a JSON document of many strings, in which a quote inside a string
    is ``\\"``; its bare quotes are structure.
    """
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return _may_hold_token(data) or _may_hold_pair(data, b'\\"' if serialized else b'"')


def _may_hold_token(data: bytes) -> bool:
    return (
        (_TOKEN_RUN_HINT in data.translate(_TOKEN_CHARS) and _holds_anchor(data))
        or any(literal in data for literal in _TOKEN_LITERALS)
        or (b"=" in data and b"AccountKey=" in data)
        or (b"@" in data and _URL_HINT.search(data) is not None)
    )


def _may_hold_pair(data: bytes, quote: bytes) -> bool:
    """``KEY=value``, ``--key value`` or ``"key": "value"`` with a key holding a secret word."""
    separated = b"=" in data or quote in data or _FLAG_HINT.search(data) is not None
    return separated and may_name_a_pair(data)


def may_name_a_pair(data: bytes) -> bool:
    """False when no named-pair detector (``KEY=value``, ``"key": "value"``, ``--key value``) can find
    a secret in ``data``.

    Each needs a key that :func:`secret_key_name` accepts, so one holding a secret word, right before
    its separator. Prose says "key" and "token" and URLs carry ``?id=``: only a secret word that ends a
    key (then ``=``, a closing quote, escaped or not, or, after ``-``, a space) makes the detectors
    worth running, and finding one takes a few ``bytes.find`` calls, not three expressions over the text.
    """
    return secret_word_then(data, _KEY_TAIL) or (b"-" in data and _FLAG_NAMED.search(data) is not None)


def secret_word_then(data: bytes, tail: re.Pattern[bytes]) -> bool:
    """``data`` holds a secret word (any case) right before ``tail``."""
    lowered = data.lower()
    for word in _KEY_WORD_BYTES:
        start = lowered.find(word)
        while start != -1:
            if tail.match(lowered, start + len(word)):
                return True
            start = lowered.find(word, start + 1)
    return False


_RARE_CHARS = "@_=J/.-"


def _guard(anchor: str) -> str:
    """The character of ``anchor`` least common in ordinary text: one fast test spares testing its group."""
    return next((c for c in _RARE_CHARS if c in anchor), anchor[0])


def _guarded() -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """The token detectors' anchors grouped by guard character: ``(guard, ((anchor, index), ...))``."""
    entries = [(anchor, i) for i, (_detector, anchors, _pattern) in enumerate(_TOKENS) for anchor in anchors]
    guards = sorted({_guard(anchor) for anchor, _i in entries})
    return tuple((g, tuple(e for e in entries if _guard(e[0]) == g)) for g in guards)


_GUARDED = _guarded()
#: The same as bytes, without ``@`` (URL and host credentials have their own, sharper test: _URL_HINT).
_GUARDED_BYTES = tuple(
    (guard.encode(), tuple(anchor.encode() for anchor, _i in entries)) for guard, entries in _GUARDED if guard != "@"
)


def _holds_anchor(data: bytes) -> bool:
    """``data`` holds a token format's anchor (``ghp_``, ``AKIA``, ``eyJ``): a long run of token
    characters alone is every Kubernetes object's name (``web-5d4f8c7b9-x2x7z``) or image digest."""
    return any(guard in data and any(anchor in data for anchor in anchors) for guard, anchors in _GUARDED_BYTES)


def _token_patterns(text: str) -> list[tuple[str, re.Pattern[str]]]:
    """The token detectors, in order, whose anchor ``text`` holds: only these can match it."""
    found: set[int] = set()
    for guard, entries in _GUARDED:
        if guard in text:
            found.update(i for anchor, i in entries if anchor in text)
    return [TOKEN_PATTERNS[i] for i in sorted(found)]


def is_marker(text: str) -> bool:
    """``text`` is exactly one redacted secret, as :func:`marker` writes it."""
    return _MARKER.fullmatch(text) is not None


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
        if is_marker(stripped):  # redacted already (a stored value stated again)
            return None
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

    def scan_named_pair(self, location: str, key: str, value: str) -> SecretHit | None:
        """A pair whose key says secret (``db-password``), the value not a reference or a placeholder.

        The key-name rule of :meth:`scan_pair` alone, for pairs whose value is also scanned as text
        (token formats) and where a random-looking value nobody named is no evidence.
        """
        stripped = value.strip()
        if is_marker(stripped) or not self._named_secret(key, stripped):
            return None
        return self._hit(location, key, "key-name", stripped)

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
            out.append(marker(previews[(start, end)]))
            cursor = end
        out.append(text[cursor:])
        return "".join(out), [hit for hit, _span in found]

    def _text_hits(self, location: str, text: str) -> list[tuple[SecretHit, tuple[int, int]]]:
        hits: list[tuple[SecretHit, tuple[int, int]]] = []
        data = text.encode("utf-8", "surrogatepass")
        if not may_hold_secret(data):
            return hits
        tokens = _token_patterns(text)
        named = may_name_a_pair(data)
        # Secrets redacted already are covered, so scrubbing twice changes nothing.
        covered: list[tuple[int, int]] = [m.span() for m in _MARKER.finditer(text)] if "<secret " in text else []
        for detector, pattern in tokens:
            group = 1 if detector in _GROUP_DETECTORS else 0
            for match in pattern.finditer(text):
                span = match.span(group)
                if any(s <= span[0] < e for s, e in covered):
                    continue
                covered.append(span)
                hits.append((self._hit(location, "", detector, match.group(group)), span))
        for pattern in _NAMED if named else ():
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
        if not _may_hold_token(value.encode("utf-8", "surrogatepass")):
            return None
        for detector, pattern in _token_patterns(value):
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
