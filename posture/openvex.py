"""Accepted risks as one OpenVEX v0.2.0 document, so other tools in the pipeline agree with Posture.

One statement per exception and vulnerability, naming the products (images as ``pkg:oci`` purls with
their digest, other assets by key) and, inside each, the vulnerable packages as subcomponents.

The status says what was decided, no more (docs/vex.md):

* an exception with a justification (a VEX statement imported, or a person who gave one) is
  ``not_affected``, with the justification when OpenVEX has a term for it and the reason as the
  ``impact_statement``;
* any other accepted risk is a vulnerability that *does* affect the product and was tolerated, so it
  is ``affected`` with an ``action_statement`` naming who accepted it, why and until when. A consumer
  such as ``trivy --vex`` keeps reporting it: claiming ``not_affected`` would be a false statement.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from posture.clock import rfc3339
from posture.records import AssetKind
from posture.store.vex import AcceptedVuln

CONTEXT = "https://openvex.dev/ns/v0.2.0"
#: The author's role. Optional in v0.2.0 (required before it), and some consumers (lib4vex) still need it.
ROLE = "Document Creator"
JUSTIFICATIONS = frozenset({
    "component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist",
})
#: CycloneDX analysis justifications that say the same as an OpenVEX one; the others stay prose.
_FROM_CYCLONEDX = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_compiler": "inline_mitigations_already_exist",
}


def openvex_document(accepted: Sequence[AcceptedVuln], author: str, now: datetime) -> dict[str, Any]:
    """The document; ``accepted`` must not be empty (OpenVEX requires at least one statement)."""
    groups: dict[tuple[int, str], list[AcceptedVuln]] = defaultdict(list)
    for item in accepted:
        groups[(item.exception_id, item.vulnerability)].append(item)
    statements = [_statement(items) for items in groups.values()]
    digest = hashlib.sha256(orjson.dumps(statements, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {
        "@context": CONTEXT,
        "@id": f"urn:posture:vex:{digest}",
        "author": author,
        "role": ROLE,
        "timestamp": rfc3339(now),
        "version": 1,
        "tooling": "posture",
        "statements": statements,
    }


def _statement(items: list[AcceptedVuln]) -> dict[str, Any]:
    first = items[0]
    aliases = sorted({a for item in items for a in item.aliases} - {first.vulnerability})
    vulnerability: dict[str, Any] = {"name": first.vulnerability}
    if aliases:
        vulnerability["aliases"] = aliases
    statement: dict[str, Any] = {
        "vulnerability": vulnerability,
        "timestamp": rfc3339(first.created_at),
        "products": _products(items),
    }
    if first.justification:
        statement["status"] = "not_affected"
        term = _FROM_CYCLONEDX.get(first.justification, first.justification)
        if term in JUSTIFICATIONS:
            statement["justification"] = term
        statement["impact_statement"] = first.reason
    else:
        statement["status"] = "affected"
        statement["action_statement"] = f"Risk accepted by {first.owner}: {first.reason} ({_until(first)})"
    return statement


def _until(item: AcceptedVuln) -> str:
    if item.until_fix:
        return "until a fix exists"
    if item.expires_at is not None:
        return f"until {rfc3339(item.expires_at)}"
    return "no expiry"


def _products(items: list[AcceptedVuln]) -> list[dict[str, Any]]:
    by_asset: dict[str, list[str]] = defaultdict(list)
    for item in items:
        subs = by_asset[_asset_id(item)]
        if item.package:
            package = _package_purl(item.package, item.installed)
            if package not in subs:
                subs.append(package)
    products: list[dict[str, Any]] = []
    for ident, subs in by_asset.items():
        product: dict[str, Any] = {"@id": ident}
        if subs:
            product["subcomponents"] = [{"@id": s} for s in subs]
        products.append(product)
    return products


def _asset_id(item: AcceptedVuln) -> str:
    """An image as ``pkg:oci/NAME@sha256%3A…`` (its manifest digest when known), else the asset's key."""
    if item.asset_kind != AssetKind.IMAGE.value:
        return item.asset_key
    digests = [d for d in (*item.asset_aliases, item.asset_key) if d.startswith("sha256:")]
    if not digests:
        return item.asset_key
    repository = item.asset_name.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] or "image"
    return f"pkg:oci/{quote(repository.lower(), safe='')}@{quote(digests[0], safe='')}"


def _package_purl(package: str, version: str) -> str:
    """Maven ``group:artifact`` as its purl; any other name as ``pkg:generic`` (its ecosystem is not stored)."""
    suffix = f"@{quote(version, safe='')}" if version else ""
    group, sep, artifact = package.partition(":")
    if sep and group and artifact and "/" not in package:
        return f"pkg:maven/{quote(group, safe='')}/{quote(artifact, safe='')}{suffix}"
    return f"pkg:generic/{quote(package, safe='')}{suffix}"
