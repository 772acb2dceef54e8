"""An image's configuration in the engine-independent shape ``posture/rules/image.py`` evaluates.

Docker's image inspect and an OCI/Docker image config blob fetched from a registry carry the same
``config`` section (``User``, ``Env``, ``ExposedPorts``, ``Healthcheck``, ``Labels``) and the same
history; this module turns either into the ``config`` attribute documented in
``posture/rules/image.py``, scanning env values, labels, healthcheck and history for secrets on the
way. Env *values* never leave this function; labels, healthcheck and history keep their text with
each secret replaced by its redacted preview. The registry collector reuses :func:`image_config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from posture.attributes.docker import Healthcheck
from posture.secrets import SecretHit, SecretScanner, marker

#: History commands are evidence, not archives: long ``RUN`` lines are cut after this many characters.
MAX_HISTORY_TEXT = 1000


def split_env(lines: Iterable[Any]) -> list[tuple[str, str]]:
    """``["A=1", "B"]`` → ``[("A", "1"), ("B", "")]``, skipping anything that is not a string."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if isinstance(line, str) and line:
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def scan_env(pairs: Iterable[tuple[str, str]], secrets: SecretScanner | None) -> list[SecretHit]:
    if secrets is None:
        return []
    return [hit for key, value in pairs if (hit := secrets.scan_pair("env", key, value)) is not None]


def redacted_labels(
    labels: Any, secrets: SecretScanner | None, hits: list[SecretHit], inherited: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Labels with secret values replaced by their preview.

    Hits are appended to ``hits`` except for labels equal to one in ``inherited`` (the image's,
    already reported there); those are still redacted.
    """
    if not isinstance(labels, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in sorted(labels.items()):
        text = value if isinstance(value, str) else str(value)
        hit = secrets.scan_pair("label", str(key), text) if secrets is not None else None
        if hit is not None:
            if inherited is None or inherited.get(key) != value:
                hits.append(hit)
            text = marker(hit.preview)
        out[str(key)] = text
    return out


def redacted_text(location: str, text: str, secrets: SecretScanner | None, hits: list[SecretHit]) -> str:
    if secrets is None:
        return text[:MAX_HISTORY_TEXT]
    clean, found = secrets.redact_text(location, text)
    hits.extend(found)
    return clean[:MAX_HISTORY_TEXT]


def healthcheck(raw: Any, secrets: SecretScanner | None, hits: list[SecretHit]) -> Healthcheck | None:
    """``{"test": [...], "interval_ns", "timeout_ns", "retries"}``; None when the image sets none."""
    if not isinstance(raw, Mapping) or not raw.get("Test"):
        return None
    test = [redacted_text("healthcheck", str(part), secrets, hits) for part in raw.get("Test") or []]
    return {
        "test": test,
        "interval_ns": int(raw.get("Interval") or 0),
        "timeout_ns": int(raw.get("Timeout") or 0),
        "retries": int(raw.get("Retries") or 0),
    }


def healthcheck_disabled(check: Mapping[str, Any] | None) -> bool:
    """No healthcheck, or ``HEALTHCHECK NONE`` (test ``["NONE"]``)."""
    return not check or not check.get("test") or check["test"][0] == "NONE"


def image_config(
    config: Mapping[str, Any] | None,
    *,
    created: str | None,
    os: str | None,
    architecture: str | None,
    history: Iterable[Mapping[str, Any]],
    secrets: SecretScanner | None,
) -> tuple[dict[str, Any], list[SecretHit]]:
    """The normalized ``config`` attribute and every secret found in it.

    ``config`` is the ``config`` section of an image config (Docker's ``Config``); ``history`` is
    oldest-first ``{"created_by", "empty_layer", "created"}`` entries as in the OCI image config.
    """
    cfg = config or {}
    hits: list[SecretHit] = []
    env = split_env(cfg.get("Env") or [])
    hits.extend(scan_env(env, secrets))
    labels = redacted_labels(cfg.get("Labels"), secrets, hits)
    check = healthcheck(cfg.get("Healthcheck"), secrets, hits)
    steps = [
        {
            "created_by": redacted_text("history", str(step.get("created_by") or ""), secrets, hits),
            "empty_layer": bool(step.get("empty_layer")),
            "created": str(step.get("created") or ""),
        }
        for step in history
    ]
    attributes = {
        "user": str(cfg.get("User") or ""),
        "env_keys": [key for key, _ in env],
        "exposed_ports": sorted(str(p) for p in (cfg.get("ExposedPorts") or {})),
        "healthcheck": check,
        "labels": labels,
        "history": steps,
        "created": created or "",
        "os": os or "",
        "architecture": architecture or "",
    }
    return attributes, hits


def unique_evidence(hits: Iterable[SecretHit]) -> list[dict[str, Any]]:
    """One evidence entry per (location, key, secret): the same ``ENV`` seen twice is listed once."""
    seen: set[tuple[str, str, str]] = set()
    out: list[dict[str, Any]] = []
    for hit in hits:
        ident = (hit.location, hit.key, hit.fingerprint)
        if ident not in seen:
            seen.add(ident)
            out.append(hit.as_evidence())
    return out
