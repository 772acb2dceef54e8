"""VEX documents (OpenVEX, CycloneDX VEX, Trivy JSON reports) read as accepted risks.

A VEX statement says how a vulnerability affects a product. Only a statement that the product is
*not* affected (OpenVEX ``not_affected``; CycloneDX ``not_affected`` or ``false_positive``; Trivy
``"Status": "not_affected"``) becomes an :class:`~posture.acceptance.Acceptance`; ``affected``,
``fixed`` and ``under_investigation`` state no acceptance, so a later version of a document that says
``affected`` ends the exception an earlier one made (applying a document replaces its exceptions).
Within one document the last statement about a (vulnerability, product) pair is the one that holds.

Products become scopes (docs/vex.md): ``pkg:oci/NAME@sha256:…`` names an image by its manifest digest
(an asset alias in the store), any other purl names a package by the name scanners give it. A product
Posture cannot identify (a bare name, an OCI purl without digest, a BOM reference that resolves to
nothing) is skipped and reported, never widened to "everywhere".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from collectors.scanners.fields import as_dict, as_str, clean, dicts, digest_of, strs
from collectors.scanners.parsed import canonical_package
from collectors.scanners.reader import DEFAULT_LIMITS, Limits, check_depth, display_name, read_bytes
from collectors.scanners.trivy import metadata_image
from collectors.vexclaim import ACCEPTED, SOURCE, Claim, Product, accept, short, too_long
from posture.acceptance import Acceptance
from posture.records import CollectorError
from posture.vulnids import normalize_vuln_id

_OPENVEX_CONTEXT = "https://openvex.dev/ns"
#: purl types whose namespace is part of the package name scanners report (``golang.org/x/crypto``).
_NAMESPACED = frozenset({"golang", "npm", "composer", "swift", "hex", "cocoapods"})


@dataclass
class VexDocument:
    """One parsed document: its identity, how many statements it has, what it accepts, what it skipped."""

    path: str
    document: str  # its identity: the OpenVEX @id, CycloneDX serialNumber, else the path
    format: str
    statements: int = 0
    acceptances: list[Acceptance] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_vex(path: str, limits: Limits = DEFAULT_LIMITS) -> VexDocument:
    """Read and parse one VEX file completely; any problem is one :class:`CollectorError` line."""
    name = display_name(path)
    raw = read_bytes(path, limits)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CollectorError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    check_depth(doc, name, limits.max_depth)
    return parse_vex(doc, name)


def parse_vex(doc: Any, name: str) -> VexDocument:
    """Recognise the format and turn its not-affected statements into acceptances."""
    fmt, document, owner, claims = _recognise(doc, name)
    parsed = VexDocument(name, short(clean(document) or name, 256), fmt)
    final: dict[tuple[str, Product], Claim] = {}
    for claim in claims:
        parsed.statements += 1
        if isinstance(claim, str) or too_long(claim):
            parsed.skipped.append(claim if isinstance(claim, str) else too_long(claim))
            continue
        key = (claim.vuln_id, claim.product)
        final.pop(key, None)  # re-inserted last: the latest statement about the pair holds
        final[key] = claim
    for claim in final.values():
        if claim.status in ACCEPTED:
            parsed.acceptances.append(accept(claim, owner or SOURCE, parsed.document))
    return parsed


def _recognise(doc: Any, name: str) -> tuple[str, str, str, Iterator[Claim | str]]:
    """(format, document identity, author, statements) of an OpenVEX, CycloneDX or Trivy document."""
    if not isinstance(doc, dict):
        raise CollectorError(f"{name}: not a VEX document (not a JSON object)")
    if as_str(doc.get("@context")).startswith(_OPENVEX_CONTEXT):
        return "openvex", as_str(doc.get("@id")), as_str(doc.get("author")), _openvex(doc, name)
    if doc.get("bomFormat") == "CycloneDX":
        return "cyclonedx", as_str(doc.get("serialNumber")), _cdx_author(doc), _cyclonedx(doc, name)
    if "SchemaVersion" in doc and "Results" in doc:  # a newer report of the same artifact replaces it
        return "trivy", f"trivy:{_trivy_asset(doc) or name}", "trivy", _trivy(doc, name)
    raise CollectorError(f"{name}: not a VEX document (no OpenVEX @context, CycloneDX bomFormat or Trivy report)")


# --- OpenVEX ---------------------------------------------------------------------------------------


def _openvex(doc: dict[str, Any], name: str) -> Iterator[Claim | str]:
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise CollectorError(f"{name}: OpenVEX document has no statements list")
    for number, statement in enumerate(statements, 1):
        if not isinstance(statement, dict):
            raise CollectorError(f"{name}: statement {number} is not an object")
        vuln_id, aliases = _openvex_vulnerability(statement.get("vulnerability"), name, number)
        status = as_str(statement.get("status"))
        if status not in ("not_affected", "affected", "fixed", "under_investigation"):
            raise CollectorError(f"{name}: statement {number} has no valid status ({clean(status) or 'none'})")
        products = list(_openvex_products(statement.get("products")))
        if not products:
            yield f"statement {number} ({vuln_id}): names no product Posture can identify"
        detail = as_str(statement.get("impact_statement")) or as_str(statement.get("action_statement")) \
            or as_str(statement.get("status_notes"))
        for product in products:
            if isinstance(product, str):
                yield f"statement {number} ({vuln_id}): {product}"
                continue
            yield Claim(vuln_id, aliases, product, status, as_str(statement.get("justification")), clean(detail))


def _openvex_vulnerability(value: Any, name: str, number: int) -> tuple[str, tuple[str, ...]]:
    """v0.2.0 ``{"name", "aliases"}``; the older namespace gives the id as a plain string."""
    if isinstance(value, str):
        vuln_id, aliases = value, []
    else:
        entry = as_dict(value)
        vuln_id, aliases = as_str(entry.get("name")) or as_str(entry.get("@id")), strs(entry.get("aliases"))
    if not vuln_id.strip():
        raise CollectorError(f"{name}: statement {number} names no vulnerability")
    return _ids(vuln_id, aliases)


def _openvex_products(value: Any) -> Iterator[Product | str]:
    """Each product (and each of its subcomponents) as a scope; v0.0.1 products are plain strings."""
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            yield _from_purl(item)
            continue
        product = as_dict(item)
        identifiers = as_dict(product.get("identifiers"))
        ident = as_str(product.get("@id")) or as_str(identifiers.get("purl"))
        base = _from_purl(ident)
        subs = [as_str(s.get("@id")) or as_str(as_dict(s.get("identifiers")).get("purl"))
                for s in dicts(product.get("subcomponents"))]
        if not subs:
            yield base
            continue
        for sub in subs:
            yield _with_subcomponent(base, _from_purl(sub))


def _with_subcomponent(base: Product | str, sub: Product | str) -> Product | str:
    """An image product narrowed to one of its packages; anything unidentifiable is skipped whole."""
    if isinstance(base, str):
        return base
    if isinstance(sub, str) or not sub.package:
        return f"subcomponent: {sub if isinstance(sub, str) else 'not a package purl'}"
    return Product(base.asset, sub.package, sub.version)


# --- purls -----------------------------------------------------------------------------------------


def _from_purl(ident: str) -> Product | str:
    """``pkg:oci/…@sha256:…`` → that image; another purl → its package; else why it was skipped."""
    text = ident.strip()
    if not text.startswith("pkg:"):
        digest = digest_of(text)
        return Product(asset=digest) if digest and "@" not in text else f"{clean(text)[:120]!r} is not a purl"
    body = text[4:].split("#", 1)[0].split("?", 1)[0]
    kind, _, rest = body.partition("/")
    path, _, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if kind.lower() == "oci":
        digest = digest_of(unquote(version))
        return Product(asset=digest) if digest else f"{clean(text)[:120]!r} names no image digest"
    raw_namespace, _, raw_name = path.rpartition("/")
    namespace, pkg, pinned = unquote(raw_namespace), unquote(raw_name), unquote(version) or None
    if not pkg:
        return f"{clean(text)[:120]!r} names no package"
    kind = kind.lower()
    if kind == "maven" and namespace:
        return Product(package=f"{namespace}:{pkg}", version=pinned)
    if kind in _NAMESPACED and namespace:
        return Product(package=f"{namespace}/{pkg}", version=pinned)
    return Product(package=pkg, version=pinned)


def _ids(vuln_id: str, aliases: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    main = normalize_vuln_id(clean(vuln_id))
    rest = sorted({normalize_vuln_id(clean(a)) for a in aliases if a.strip()} - {main})
    return main, tuple(rest)


# --- CycloneDX -------------------------------------------------------------------------------------


def _cdx_author(doc: dict[str, Any]) -> str:
    meta = as_dict(doc.get("metadata"))
    names = [as_str(a.get("name")) for a in dicts(meta.get("authors"))]
    names.append(as_str(as_dict(meta.get("manufacturer")).get("name")))
    names.append(as_str(as_dict(meta.get("supplier")).get("name")))
    return next((n for n in names if n), "")


def _cyclonedx(doc: dict[str, Any], name: str) -> Iterator[Claim | str]:
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list):
        raise CollectorError(f"{name}: CycloneDX document has no vulnerabilities list")
    meta_component = as_dict(as_dict(doc.get("metadata")).get("component"))
    refs = {as_str(c.get("bom-ref")): c for c in _all_components(doc) if as_str(c.get("bom-ref"))}
    top = as_str(meta_component.get("bom-ref"))
    for number, vuln in enumerate(vulns, 1):
        if not isinstance(vuln, dict) or not as_str(vuln.get("id")).strip():
            raise CollectorError(f"{name}: vulnerability {number} has no id")
        vuln_id, aliases = _ids(as_str(vuln.get("id")), (as_str(r.get("id")) for r in dicts(vuln.get("references"))))
        analysis = as_dict(vuln.get("analysis"))
        state = as_str(analysis.get("state"))
        affects = [as_str(a.get("ref")) for a in dicts(vuln.get("affects"))]
        if not affects:
            yield f"vulnerability {number} ({vuln_id}): affects nothing"
        for ref in affects:
            product = _cdx_product(ref, refs, top)
            if isinstance(product, str):
                yield f"vulnerability {number} ({vuln_id}): {product}"
                continue
            yield Claim(vuln_id, aliases, product, state, as_str(analysis.get("justification")),
                             clean(as_str(analysis.get("detail"))))


def _all_components(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """metadata.component and every component, nested ones too (depth was bounded on reading)."""
    stack = [as_dict(as_dict(doc.get("metadata")).get("component")), *dicts(doc.get("components"))]
    while stack:
        component = stack.pop()
        yield component
        stack.extend(dicts(component.get("components")))


def _cdx_product(ref: str, refs: dict[str, dict[str, Any]], top: str) -> Product | str:
    """A ``bom-ref`` of this document, a BOM-link ``urn:cdx:serial/version#ref``, or a bare purl."""
    if ref.startswith("urn:cdx:") and "#" in ref:
        ref = unquote(ref.split("#", 1)[1])
    component = refs.get(ref)
    if component is None:
        return _from_purl(ref) if ref.startswith("pkg:") else f"reference {clean(ref)[:120]!r} resolves to nothing"
    purl = as_str(component.get("purl"))
    if purl:
        return _from_purl(purl)
    if ref == top and as_str(component.get("name")):
        return Product(asset=clean(as_str(component.get("name"))))  # the product the document is about
    return f"component {clean(ref)[:120]!r} has no purl"


# --- Trivy -----------------------------------------------------------------------------------------


def _trivy(doc: dict[str, Any], name: str) -> Iterator[Claim | str]:
    """``Vulnerabilities[].Status`` and, with ``--show-suppressed``, ``ExperimentalModifiedFindings``."""
    asset = _trivy_asset(doc) or None
    for result in dicts(doc.get("Results")):
        for vuln in dicts(result.get("Vulnerabilities")):
            yield _trivy_statement(vuln, asset, as_str(vuln.get("Status")), "", "")
        for modified in dicts(result.get("ExperimentalModifiedFindings")):
            if as_str(modified.get("Type")) != "vulnerability":
                continue
            source = as_str(modified.get("Source"))
            yield _trivy_statement(as_dict(modified.get("Finding")), asset, as_str(modified.get("Status")),
                                   as_str(modified.get("Statement")), source)


def _trivy_asset(doc: dict[str, Any]) -> str:
    """The scanned image's key (its config digest, as the report collector files it), else the artifact's name."""
    meta = as_dict(doc.get("Metadata"))
    artifact = as_str(doc.get("ArtifactName"))
    image = metadata_image(meta, artifact) if meta.get("ImageID") or meta.get("RepoDigests") else None
    return image.key if image is not None else clean(artifact)


def _trivy_statement(vuln: dict[str, Any], asset: str | None, status: str, statement: str,
                     source: str) -> Claim | str:
    vuln_id = as_str(vuln.get("VulnerabilityID"))
    package = as_str(vuln.get("PkgName"))
    if not vuln_id or not package:
        return "a vulnerability without VulnerabilityID or PkgName"
    package = canonical_package(package, as_str(as_dict(vuln.get("PkgIdentifier")).get("PURL")))
    main, aliases = _ids(vuln_id, strs(vuln.get("VendorIDs")))
    # Trivy writes a VEX justification as the Statement (``vulnerable_code_not_present``), else prose.
    justification = statement if statement.replace("_", "").isalpha() and statement.islower() else ""
    detail = "; ".join(p for p in (statement if not justification else "", f"source {source}" if source else "") if p)
    installed = as_str(vuln.get("InstalledVersion")) or None
    return Claim(main, aliases, Product(asset, package, installed), status, justification, clean(detail))
