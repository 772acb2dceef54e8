"""Exploitability data (CISA KEV, FIRST EPSS) replaced wholesale, each in one statement batch.

Both are published as complete snapshots, so a load replaces the table: a CVE dropped from the
catalogue must stop counting. The caller re-scores in the same transaction, so risks never
disagree with the data they were computed from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import delete, insert
from sqlmodel import Session

from posture.store.scoring_inputs import bump_exploitability_version, epss_table, kev_table

_BATCH = 5000


class KevLike(Protocol):
    @property
    def cve(self) -> str: ...
    @property
    def date_added(self) -> str | None: ...
    @property
    def vendor(self) -> str | None: ...
    @property
    def product(self) -> str | None: ...
    @property
    def ransomware(self) -> bool: ...


class EpssLike(Protocol):
    @property
    def cve(self) -> str: ...
    @property
    def epss(self) -> float: ...
    @property
    def percentile(self) -> float: ...


def replace_kev(session: Session, rows: Iterable[KevLike]) -> int:
    unique = {r.cve: r for r in rows}
    session.execute(delete(kev_table))
    values = [
        {"cve": r.cve, "date_added": r.date_added, "vendor": r.vendor, "product": r.product, "ransomware": r.ransomware}
        for r in unique.values()
    ]
    for start in range(0, len(values), _BATCH):
        session.execute(insert(kev_table), values[start : start + _BATCH])
    bump_exploitability_version(session)
    return len(values)


def replace_epss(session: Session, rows: Iterable[EpssLike]) -> int:
    unique = {r.cve: r for r in rows}
    session.execute(delete(epss_table))
    values = [{"cve": r.cve, "epss": r.epss, "percentile": r.percentile} for r in unique.values()]
    for start in range(0, len(values), _BATCH):
        session.execute(insert(epss_table), values[start : start + _BATCH])
    bump_exploitability_version(session)
    return len(values)
