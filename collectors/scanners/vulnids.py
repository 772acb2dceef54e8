"""Which id names a vulnerability finding: the report's own preference, unless the store already chose one.

A report alone prefers a CVE over a GHSA over a distribution id (:func:`canonical_id`). That is not
enough across scanners: Grype may know a vulnerability only as ``GHSA-x`` while Trivy knows it as
``CVE-y`` with ``GHSA-x`` among its vendor ids, and whichever report comes first files the finding
under its own choice. So the composition root hands the parsers a read-only lookup
(:data:`StoredVulnLookup`) of the VULN findings already stored on each artifact, and a vulnerability
takes the id of a stored finding for the same package and version when it shares any id with it
(:class:`StoredIds`). Re-ingesting a report therefore keeps its fingerprints: each of its findings
is found again under the id it was stored with.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from posture.records import AssetRef


def canonical_id(ids: Iterable[str]) -> str:
    """CVE over GHSA over anything else; the lowest id of the preferred family, so every scanner agrees.

    ``ids`` must already be normalized (:func:`normalize_vuln_id`).
    """
    normal = sorted(ids)
    for prefix in ("CVE-", "GHSA-"):
        family = [i for i in normal if i.startswith(prefix)]
        if family:
            return family[0]
    return normal[0] if normal else ""


def vuln_discriminator(vuln_id: str, package: str, installed: str) -> str:
    """A VULN finding's discriminator: ``id|package|installed version`` (identity fields only)."""
    return f"{vuln_id}|{_package_key(package, installed)}"


def _package_key(package: str, installed: str) -> str:
    return f"{package}|{installed}"


@dataclass(frozen=True, slots=True)
class StoredVuln:
    """One VULN finding the store holds on an artifact: its discriminator, vulnerability id and aliases."""

    discriminator: str
    vulnerability: str
    aliases: frozenset[str]


#: Artifact keys (and their aliases) → the VULN findings stored on the asset each names; a key the
#: store does not know is left out. Bound by the CLI to the database; collectors only call it.
StoredVulnLookup = Callable[[Collection[AssetRef]], Mapping[AssetRef, Sequence[StoredVuln]]]


class StoredIds:
    """The stored VULN findings of one artifact, indexed by package and installed version."""

    def __init__(self, stored: Iterable[StoredVuln]) -> None:
        self._by_package: dict[str, dict[str, frozenset[str]]] = {}
        for vuln in stored:
            prefix = f"{vuln.vulnerability}|"
            if vuln.vulnerability and vuln.discriminator.startswith(prefix):
                key = vuln.discriminator[len(prefix) :]  # the package key, read back without splitting
                self._by_package.setdefault(key, {})[vuln.vulnerability] = vuln.aliases

    def __bool__(self) -> bool:
        return bool(self._by_package)

    def resolve(self, ids: Collection[str], package: str, installed: str) -> str | None:
        """The stored id these ids belong to, or None when no stored finding shares one.

        A stored finding named by one of ``ids`` wins over one that merely lists one as an alias, so
        two findings filed apart before this lookup existed each keep their own fingerprint.
        """
        stored = self._by_package.get(_package_key(package, installed))
        if not stored:
            return None
        named = [v for v in ids if v in stored]
        if named:
            return canonical_id(named)
        aliased = [v for v, aliases in stored.items() if not aliases.isdisjoint(ids)]
        return canonical_id(aliased) if aliased else None
