"""How a vulnerability id is spelt: one spelling per id, so every scanner, VEX document and exception agrees."""

from __future__ import annotations

from collections.abc import Iterable


def normalize_vuln_id(vuln_id: str) -> str:
    """One spelling per vulnerability id: CVE ids upper case, GHSA ids lower case after the prefix
    (how their databases print them), anything else as given (distribution ids are case-sensitive)."""
    text = vuln_id.strip()
    head = text[:5].upper()
    if head.startswith("CVE-"):
        return text.upper()
    if head == "GHSA-":
        return "GHSA-" + text[5:].lower()
    return text


def normalize_vuln_ids(ids: Iterable[str]) -> set[str]:
    return {normalize_vuln_id(i) for i in ids if i}
