"""One VEX claim (a vulnerability's status on a product) and the accepted risk it states, shared by the
VEX document reader (collectors/vex.py) and the scanner reports that carry VEX (a CycloneDX report's
``analysis``, a Trivy vulnerability's ``"Status": "not_affected"``), so both make the same exception."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from collectors.scanners.fields import clean
from posture.acceptance import VEX, Acceptance, Reach

SOURCE = VEX
#: The statuses that accept a risk: OpenVEX and Trivy ``not_affected``, CycloneDX also ``false_positive``.
ACCEPTED = frozenset({"not_affected", "false_positive"})
#: A justification is a token (``code_not_reachable``); anything else is prose and joins the detail.
_TOKEN = re.compile(r"[a-z][a-z_]{0,63}")
#: The longest ids the store keeps (``risk_exception`` columns); a longer statement is skipped, not cut.
_MAX = {"vulnerability id": 128, "package": 512, "version": 256, "product": 1024}


@dataclass(frozen=True, slots=True)
class Product:
    """What one statement's product names in Posture's terms: an image (by digest) and/or a package."""

    asset: str | None = None
    package: str | None = None
    version: str | None = None  # the package's version (a purl's), so other versions stay uncovered

    @property
    def label(self) -> str:
        package = f"{self.package}@{self.version}" if self.package and self.version else self.package
        return " ".join(p for p in (self.asset, package) if p)


@dataclass(frozen=True, slots=True)
class Claim:
    """One (vulnerability, product) claim, in document order."""

    vuln_id: str
    aliases: tuple[str, ...]
    product: Product
    status: str
    justification: str
    detail: str


def too_long(claim: Claim) -> str:
    """Why a claim cannot be stored (an id longer than its column), or "": it is skipped, never cut."""
    fields = {"vulnerability id": claim.vuln_id, "package": claim.product.package or "",
              "version": claim.product.version or "", "product": claim.product.asset or ""}
    for what, value in fields.items():
        if len(value) > _MAX[what] or (what == "vulnerability id" and any(len(a) > _MAX[what] for a in claim.aliases)):
            return f"{claim.vuln_id[:40]}: {what} longer than {_MAX[what]} characters"
    return ""


def short(text: str, limit: int) -> str:
    """``text`` when it fits ``limit``, else a stable digest of it (an identity must not be cut)."""
    return text if len(text) <= limit else "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def accept(claim: Claim, owner: str, origin: str) -> Acceptance:
    """The exception a not-affected claim states: that vulnerability (and its aliases) on that product
    only, its justification kept, keyed by (vulnerability, product) so a newer document replaces it."""
    product = claim.product
    justification, detail = claim.justification, claim.detail
    if justification and not _TOKEN.fullmatch(justification):
        justification, detail = "", "; ".join(p for p in (clean(justification), detail) if p)
    reason = f"VEX {claim.status}"
    if justification:
        reason += f": {justification}"
    if detail:
        reason += f" ({detail})"
    return Acceptance(
        scope=Reach(vuln_id=claim.vuln_id, aliases=claim.aliases, asset=product.asset, package=product.package,
                    version=product.version if product.package else None),
        reason=clean(reason),
        owner=clean(owner)[:256],
        source=SOURCE,
        key=short("|".join((claim.vuln_id, product.asset or "", product.package or "", product.version or "")), 240),
        origin=origin,
        justification=justification or claim.status,
    )
