"""Accepted risks in the store: which findings each exception covers, and what happens when one ends.

What a scope covers is decided in :mod:`posture.acceptance`; this module keeps the exceptions, applies
them to findings (at creation, in every run's reconcile, when one is revoked or expires) and makes
matching cheap: exceptions are indexed by the fields that name one thing (finding, vulnerability id,
rule, asset), so a run checks each finding against the few exceptions that could cover it, not all.

When several exceptions cover a finding the narrowest is its exception
(:attr:`posture.acceptance.Reach.specificity`). When one ends (revoked, expired), its findings are
matched again: a finding another exception still covers moves to it and stays accepted; the others
reopen, each with one history event naming why.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select, update
from sqlmodel import Session

from posture.acceptance import GROUP_FIELDS, Acceptance, Candidate, Reach, covers
from posture.model import (
    RiskException,
    alias_table,
    asset_table,
    exception_table,
    finding_table,
)
from posture.scrub import Scrubber
from posture.secretkey import installation_key
from posture.secrets import SecretScanner
from posture.store.estate_graph import load_estate
from posture.store.history import FindingChange, changes_for, record_events
from posture.taxonomy import FindingStatus

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Active:
    """An exception in force: its id, scope and whether it ends for a finding once a fix exists."""

    id: int
    scope: Reach
    until_fix: bool


def scope_of(row: Any) -> Reach:
    """The scope a stored exception row states (any object with its columns as attributes)."""
    return Reach(
        fingerprint=row.fingerprint,
        vuln_id=row.vuln_id,
        aliases=tuple(row.aliases or ()),
        package=row.package,
        version=row.package_version,
        rule_id=row.rule_id,
        asset=row.asset_key,
        namespace=row.namespace,
        cluster=row.cluster,
        host=row.host,
        team=row.team,
        pattern=row.pattern,
    )


def in_force(now: datetime) -> Any:
    """The SQL condition for an exception that is neither revoked nor expired at ``now``."""
    X = exception_table.c
    return (
        X.revoked_at.is_(None)
        & X.expired_at.is_(None)
        & (X.expires_at.is_(None) | (X.expires_at > now))
    )


#: An exception in a matcher's index with its rank: narrower first, then older (lower id) first.
_Entry = tuple[tuple[int, int], Active]
_WILDCARD = re.compile(r"[*?\[]")


class ExceptionMatcher:
    """The exceptions in force at one moment, indexed by the most selective field each one names.

    A finding is checked only against the buckets its own values open (its fingerprint, each of its
    vulnerability ids, each name of its asset, its namespace, its rule, the literal start of a glob
    its asset's name or key begins with) and the few exceptions that name none of these. Each bucket
    is kept narrowest first, so within a bucket the first exception that covers is the best one, and a
    bucket is left as soon as it can no longer beat what another bucket found. Which exception covers
    is still decided by :func:`posture.acceptance.covers` alone; the index only skips the ones that
    cannot (10,000 exceptions against a run of 100,000 findings: benchmarks/exceptions.py).
    """

    def __init__(self, active: Sequence[Active], session: Session | None = None, team_label: str = "team") -> None:
        self._by_fingerprint: dict[str, list[_Entry]] = defaultdict(list)
        self._by_vuln: dict[str, list[_Entry]] = defaultdict(list)
        self._by_vuln_asset: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._by_asset: dict[str, list[_Entry]] = defaultdict(list)
        self._by_namespace: dict[str, list[_Entry]] = defaultdict(list)
        self._by_rule: dict[str, list[_Entry]] = defaultdict(list)
        self._by_prefix: dict[str, list[_Entry]] = defaultdict(list)
        self._broad: list[_Entry] = []
        globs: list[_Entry] = []
        for exc in active:
            self._index(((exc.scope.specificity, -exc.id), exc), globs)
        self._index_globs(globs)
        for index in (self._by_fingerprint, self._by_vuln, self._by_vuln_asset, self._by_asset, self._by_namespace,
                      self._by_rule, self._by_prefix):
            for bucket in index.values():
                bucket.sort(key=_rank, reverse=True)
        self._broad.sort(key=_rank, reverse=True)
        #: Whether a candidate needs its asset's aliases (an exception names an asset by one of them).
        self.names_assets = any(exc.scope.asset for exc in active)
        self._needs_groups = any(getattr(exc.scope, dim) for exc in active for dim in GROUP_FIELDS)
        self._session = session
        self._team_label = team_label
        self._groups: Any = None
        self._of_asset: dict[int, tuple[frozenset[str], list[list[_Entry]]]] = {}
        self.empty = not active

    def _index(self, entry: _Entry, globs: list[_Entry]) -> None:
        """File an exception under the most selective field it names (every field must hold anyway)."""
        scope = entry[1].scope
        if scope.fingerprint:
            self._by_fingerprint[scope.fingerprint].append(entry)
        elif scope.vuln_id and scope.asset:  # the commonest exception: one vulnerability on one image
            for vuln_id in scope.vuln_ids:
                self._by_vuln_asset[vuln_id, scope.asset].append(entry)
        elif scope.vuln_id:
            for vuln_id in scope.vuln_ids:
                self._by_vuln[vuln_id].append(entry)
        elif scope.asset:
            self._by_asset[scope.asset].append(entry)
        elif scope.namespace:
            self._by_namespace[scope.namespace].append(entry)
        elif scope.rule_id:
            self._by_rule[scope.rule_id].append(entry)
        elif scope.pattern and _WILDCARD.split(scope.pattern, maxsplit=1)[0]:
            globs.append(entry)
        else:
            self._broad.append(entry)

    def _index_globs(self, globs: list[_Entry]) -> None:
        """Globs that start with literal text, by the first ``n`` characters of it (``n``: the shortest
        such start): a glob matches only a name or key that starts with its literal part, so a finding
        looks up the first ``n`` characters of its asset's name and key, two look-ups whatever the globs."""
        starts = [_WILDCARD.split(entry[1].scope.pattern or "", maxsplit=1)[0] for entry in globs]
        self._prefix_length = min((len(start) for start in starts), default=0)
        for start, entry in zip(starts, globs, strict=True):
            self._by_prefix[start[: self._prefix_length]].append(entry)

    @classmethod
    def load(cls, session: Session, now: datetime, team_label: str = "team") -> ExceptionMatcher:
        X = exception_table.c
        columns = (X.id, X.until_fix, X.fingerprint, X.vuln_id, X.aliases, X.package, X.package_version, X.rule_id,
                   X.asset_key, X.namespace, X.cluster, X.host, X.team, X.pattern)  # what matching reads, nothing else
        rows = session.execute(select(*columns).where(in_force(now)))
        return cls([Active(r.id, scope_of(r), r.until_fix) for r in rows], session, team_label)

    def _buckets(self, finding: Candidate) -> list[list[_Entry]]:
        """The non-empty buckets that may hold an exception covering ``finding``."""
        found = [bucket for bucket in (self._by_fingerprint.get(finding.fingerprint),
                                       self._by_rule.get(finding.rule_id)) if bucket]
        if self._by_vuln:
            found += [bucket for bucket in map(self._by_vuln.get, finding.vuln_ids) if bucket]
        if finding.asset_id is None:
            names, of_asset = _names(finding), self._asset_buckets(finding)
        else:  # the same for every finding of an asset: looked up once per asset
            known = self._of_asset.get(finding.asset_id)
            if known is None:
                known = self._of_asset[finding.asset_id] = (_names(finding), self._asset_buckets(finding))
            names, of_asset = known
        if self._by_vuln_asset and finding.vuln_ids:
            get = self._by_vuln_asset.get
            found += [bucket for v in finding.vuln_ids for name in names if (bucket := get((v, name)))]
        return found + of_asset

    def _asset_buckets(self, finding: Candidate) -> list[list[_Entry]]:
        """The non-empty buckets a finding's asset opens: its names, its namespace, the start of its name
        and key, and the exceptions filed under none of these."""
        found = [self._broad]
        if self._by_asset:
            found += [self._by_asset.get(name) or [] for name in _names(finding)]
        namespace = finding.attributes.get("namespace")
        if self._by_namespace and isinstance(namespace, str):
            found.append(self._by_namespace.get(namespace) or [])
        if self._by_prefix:
            found += [self._by_prefix.get(finding.asset_name[: self._prefix_length]) or [],
                      self._by_prefix.get(finding.asset_key[: self._prefix_length]) or []]
        return [bucket for bucket in found if bucket]

    def match(self, finding: Candidate) -> int | None:
        """The id of the narrowest exception covering ``finding`` (lowest id among equals), or None."""
        best: _Entry | None = None
        groups_of = self._groups_of if self._needs_groups else None
        for bucket in self._buckets(finding):
            for entry in bucket:
                if best is not None and entry[0] <= best[0]:
                    break  # the rest of this bucket is no narrower than what was found
                exc = entry[1]
                if covers(exc.scope, exc.until_fix, finding, groups_of):
                    best = entry
                    break
        return best[1].id if best else None

    def _groups_of(self, finding: Candidate) -> Mapping[str, Iterable[str]]:
        """The estate's groups of the finding's asset, the estate loaded once, on first need."""
        if self._session is None or finding.asset_id is None:
            return {}
        if self._groups is None:
            self._groups = load_estate(self._session, self._team_label)
        groups: Mapping[str, Iterable[str]] = self._groups.groups(finding.asset_id)
        return groups


class ExceptionDetail(TypedDict):
    """One exception as every reader shows it (:func:`exception_details`)."""

    id: int
    owner: str
    reason: str
    created_at: datetime
    expires_at: datetime | None
    until_fix: bool
    source: str
    origin: str
    justification: str | None
    scope: str
    scope_fields: dict[str, Any]
    expired_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


def exception_details(session: Session, exception_ids: Collection[int]) -> dict[int, ExceptionDetail]:
    """Who accepted, why, until when and what: every reader of a finding's exception (exports, the
    diff, announcements, the TUI's finding detail) reads it here, so they all say the same thing."""
    X = exception_table.c
    found: dict[int, ExceptionDetail] = {}
    ids = sorted(exception_ids)
    for start in range(0, len(ids), _CHUNK):
        for row in session.execute(select(exception_table).where(X.id.in_(ids[start : start + _CHUNK]))):
            scope = scope_of(row)
            found[row.id] = {
                "id": row.id,
                "owner": row.owner,
                "reason": row.reason,
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "until_fix": row.until_fix,
                "source": row.source,
                "origin": row.origin,
                "justification": row.justification,
                "scope": scope.describe(),
                "scope_fields": {f.name: getattr(scope, f.name) for f in fields(scope) if getattr(scope, f.name)},
                "expired_at": row.expired_at,
                "revoked_at": row.revoked_at,
                "revoked_by": row.revoked_by,
            }
    return found


def exception_json(detail: ExceptionDetail) -> dict[str, Any]:
    """An :func:`exception_details` entry for a JSON document (times in ISO 8601, ``until`` in words)."""
    return {
        **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in detail.items()},
        "until": until_text(detail),
    }


def until_text(detail: ExceptionDetail) -> str:
    """How long an acceptance lasts, in one word or date: ``2026-03-01T00:00:00+00:00``, ``until-fix``
    or ``never`` (a VEX statement holds until its document says otherwise)."""
    if detail["expires_at"] is not None:
        expires: datetime = detail["expires_at"]
        return expires.isoformat() + (" or until-fix" if detail["until_fix"] else "")
    return "until-fix" if detail["until_fix"] else "never"


def _names(finding: Candidate) -> frozenset[str]:
    """Every name an exception may give the finding's asset: its key, its name, its aliases."""
    return frozenset((finding.asset_key, finding.asset_name, *finding.asset_aliases))


def _rank(entry: _Entry) -> tuple[int, int]:
    return entry[0]


def aliases_of(session: Session, asset_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
    """Each asset's other keys (an image's manifest digests), for exceptions that name an asset by one."""
    found: dict[int, list[str]] = defaultdict(list)
    ids = sorted(asset_ids)
    for start in range(0, len(ids), _CHUNK):
        A = alias_table.c
        for asset_id, alias in session.execute(
            select(A.asset_id, A.alias).where(A.asset_id.in_(ids[start : start + _CHUNK]))
        ):
            found[asset_id].append(alias)
    return {k: tuple(v) for k, v in found.items()}


def _stored_candidates(session: Session, where: Any) -> list[tuple[int, Candidate]]:
    """Stored findings as candidates (with their assets' aliases), filtered by ``where``."""
    F, A = finding_table.c, asset_table.c
    rows = session.execute(
        select(F.id, F.fingerprint, F.rule_id, F.evidence, A.id.label("asset_id"), A.key, A.name, A.attributes)
        .join(asset_table, A.id == F.asset_id)
        .where(where)
    ).all()
    aliases = aliases_of(session, {r.asset_id for r in rows})
    return [
        (
            r.id,
            Candidate(r.fingerprint, r.rule_id, r.key, r.name, aliases.get(r.asset_id, ()), r.attributes or {},
                      r.evidence or {}, r.asset_id),
        )
        for r in rows
    ]


def _narrowing(scope: Reach, statuses: Collection[FindingStatus]) -> Any:
    """A SQL pre-filter for the findings ``scope`` could cover (only on columns it names exactly)."""
    F, A, L = finding_table.c, asset_table.c, alias_table.c
    where: Any = F.status.in_([s.value for s in statuses])
    if scope.fingerprint:
        where = where & (F.fingerprint == scope.fingerprint)
    if scope.rule_id:
        where = where & (F.rule_id == scope.rule_id)
    if scope.asset:
        aliased = select(L.asset_id).where(L.alias == scope.asset)
        where = where & ((A.key == scope.asset) | (A.name == scope.asset) | A.id.in_(aliased))
    return where


def would_cover(session: Session, scope: Reach, until_fix: bool = False, team_label: str = "team",
                statuses: Collection[FindingStatus] = (FindingStatus.OPEN,)) -> list[int]:
    """The open findings an exception of ``scope`` would accept now (the TUI shows them before saving);
    with ``statuses`` also accepted ones (whether a file's entry matches anything still there)."""
    matcher = ExceptionMatcher([Active(0, scope, until_fix)], session, team_label)
    candidates = _stored_candidates(session, _narrowing(scope, statuses))
    return [fid for fid, candidate in candidates if matcher.match(candidate) == 0]


class _Gate:
    """The secret gate for an exception's free text (a VEX detail, a reason someone pasted a token
    into): the installation's scrubber, built once per call on first need."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._scrub: Scrubber | None = None

    def __call__(self, acceptance: Acceptance) -> Acceptance:
        if self._scrub is None:
            self._scrub = Scrubber(SecretScanner(installation_key(self._session)))
        text = self._scrub.text
        justification = acceptance.justification
        return replace(acceptance, reason=text(acceptance.reason), owner=text(acceptance.owner),
                       origin=text(acceptance.origin), justification=text(justification) if justification else None)


def _row_values(acceptance: Acceptance) -> dict[str, Any]:
    scope = acceptance.scope
    return {
        "fingerprint": scope.fingerprint,
        "vuln_id": scope.vuln_id,
        "aliases": list(scope.aliases),
        "package": scope.package,
        "package_version": scope.version,
        "rule_id": scope.rule_id,
        "asset_key": scope.asset,
        "namespace": scope.namespace,
        "cluster": scope.cluster,
        "host": scope.host,
        "team": scope.team,
        "pattern": scope.pattern,
        "reason": acceptance.reason,
        "owner": acceptance.owner,
        "expires_at": acceptance.expires_at,
        "until_fix": acceptance.until_fix,
        "source": acceptance.source,
        "source_key": acceptance.key,
        "origin": acceptance.origin,
        "justification": acceptance.justification,
    }


def _validate(acceptance: Acceptance, now: datetime) -> None:
    if not acceptance.reason.strip() or not acceptance.owner.strip():
        raise ValueError("an exception needs an owner and a reason")
    if acceptance.expires_at is not None and acceptance.expires_at <= now:
        raise ValueError("an exception's expiry must be in the future")


def create_exception(session: Session, acceptance: Acceptance, now: datetime, team_label: str = "team") -> int:
    """Store an exception and accept the open findings it covers now; returns its id."""
    return _create(session, _Gate(session)(acceptance), now, team_label)


def _create(session: Session, acceptance: Acceptance, now: datetime, team_label: str) -> int:
    _validate(acceptance, now)
    exc = RiskException(created_at=acceptance.created_at or now, **_row_values(acceptance))
    session.add(exc)
    session.flush()
    assert exc.id is not None
    covered = would_cover(session, acceptance.scope, acceptance.until_fix, team_label)
    _accept(session, covered, exc.id, now, acceptance.reason)
    return exc.id


def _accept(session: Session, finding_ids: Sequence[int], exc_id: int, now: datetime, reason: str) -> None:
    if not finding_ids:
        return
    for start in range(0, len(finding_ids), _CHUNK):
        chunk = finding_ids[start : start + _CHUNK]
        session.execute(
            update(finding_table)
            .where(finding_table.c.id.in_(chunk))
            .values(status=FindingStatus.ACCEPTED.value, exception_id=exc_id)
        )
    _record(session, finding_ids, "accepted", now, {"exception": exc_id, "reason": reason})


@dataclass(frozen=True)
class Applied:
    """What applying a file or VEX document did: exceptions created, changed and revoked (by id)."""

    created: list[int]
    updated: list[int]
    revoked: list[int]
    changes: list[FindingChange]


def apply_acceptances(
    session: Session,
    source: str,
    document: str,
    acceptances: Sequence[Acceptance],
    now: datetime,
    team_label: str = "team",
    *,
    revoke_absent: bool = True,
) -> Applied:
    """Make the exceptions of one document (an exceptions file, a VEX document) what it states now.

    Each acceptance's ``key`` is its identity in ``document``: an entry stated again is updated in place
    when it changed (its findings matched again only when what it covers changed), an entry no longer
    stated is revoked (its findings reopen unless another exception covers them), and a new one is
    created (not one already expired: it would accept nothing). Nothing else is touched.
    ``revoke_absent`` False keeps what the document does not state (a run that did not see everything).
    """
    if not acceptances and not revoke_absent:
        return Applied([], [], [], [])
    X = exception_table.c
    prefix = f"{document}#"
    stored = {
        row.source_key: row
        for row in session.execute(
            select(exception_table).where(
                X.source == source, X.source_key.startswith(prefix, autoescape=True), X.revoked_at.is_(None)
            )
        )
    }
    created: list[int] = []
    updated: list[int] = []
    changes: list[FindingChange] = []
    gate = _Gate(session)
    for acceptance in acceptances:
        stated = gate(replace(acceptance, source=source, key=prefix + acceptance.key))
        row = stored.pop(stated.key, None)
        if row is None and _expired(stated, now):
            continue  # an entry that expired before it was ever applied accepts nothing
        if row is None:
            created.append(_create(session, stated, now, team_label))
            continue
        values = _row_values(stated)
        if row.expired_at is not None and not _expired(stated, now):
            values["expired_at"] = None  # its expiry moved past now: it holds again, its findings matched anew
        changed = {k for k, v in values.items() if getattr(row, k) != v}
        if not changed:
            continue
        session.execute(update(exception_table).where(X.id == row.id).values(**values))
        updated.append(row.id)
        if changed & _REMATCH and not _expired(stated, now):
            _validate(stated, now)
            changes += _rematch(session, row.id, now, "unaccepted", team_label)
            _accept(session, would_cover(session, stated.scope, stated.until_fix, team_label), row.id, now,
                    stated.reason)
        # Otherwise only its words changed (reason, owner, expiry, the line it is on): no finding moves;
        # a stated expiry already past is left to expire_exceptions, which reopens and announces once.
    revoked = [row.id for row in stored.values()] if revoke_absent else []
    for exc_id in revoked:
        changes += revoke_exception(session, exc_id, f"{source}:{document}", now, team_label)
    return Applied(created, updated, revoked, changes)


#: The columns that decide which findings an exception covers (a change to one matches them again).
_REMATCH = frozenset({"fingerprint", "vuln_id", "aliases", "package", "package_version", "rule_id", "asset_key",
                      "namespace", "cluster", "host", "team", "pattern", "until_fix", "expired_at"})


def _expired(acceptance: Acceptance, now: datetime) -> bool:
    return acceptance.expires_at is not None and acceptance.expires_at <= now


def revoke_exception(
    session: Session, exc_id: int, by: str, now: datetime, team_label: str = "team"
) -> list[FindingChange]:
    """End an exception now; its findings reopen (``exception-revoked``) unless another covers them."""
    X = exception_table.c
    found = session.execute(select(X.revoked_at).where(X.id == exc_id)).first()
    if found is None:
        raise LookupError(f"no exception {exc_id}")
    if found.revoked_at is not None:
        return []
    session.execute(update(exception_table).where(X.id == exc_id).values(revoked_at=now, revoked_by=by))
    return _rematch(session, exc_id, now, "exception-revoked", team_label)


def expire_exceptions(session: Session, now: datetime, team_label: str = "team") -> list[FindingChange]:
    """Mark exceptions past their expiry and reopen their findings (``exception-expired``, once)."""
    X = exception_table.c
    due = session.execute(
        select(X.id).where(X.expired_at.is_(None), X.revoked_at.is_(None), X.expires_at.is_not(None),
                           X.expires_at <= now)
    ).scalars().all()
    expired: list[FindingChange] = []
    for exc_id in due:
        session.execute(update(exception_table).where(X.id == exc_id).values(expired_at=now))
        expired += _rematch(session, exc_id, now, "exception-expired", team_label)
    return expired


def _rematch(session: Session, exc_id: int, now: datetime, event: str, team_label: str) -> list[FindingChange]:
    """The findings ``exc_id`` accepted, matched again against the exceptions in force: a finding
    another one covers moves to it (no event: it stays accepted); the rest reopen with ``event``."""
    F = finding_table.c
    held = _stored_candidates(session, (F.exception_id == exc_id) & (F.status == FindingStatus.ACCEPTED.value))
    if not held:
        return []
    matcher = ExceptionMatcher.load(session, now, team_label)
    moved: dict[int, list[int]] = defaultdict(list)
    reopened: list[int] = []
    for fid, candidate in held:
        other = matcher.match(candidate)
        if other is None:
            reopened.append(fid)
        elif other != exc_id:
            moved[other].append(fid)
    for other, ids in moved.items():
        session.execute(update(finding_table).where(F.id.in_(ids)).values(exception_id=other))
    for start in range(0, len(reopened), _CHUNK):
        session.execute(
            update(finding_table)
            .where(F.id.in_(reopened[start : start + _CHUNK]))
            .values(status=FindingStatus.OPEN.value, exception_id=None)
        )
    return _record(session, reopened, event, now, {"exception": exc_id})


def _record(
    session: Session, finding_ids: Sequence[int], event: str, now: datetime, detail: dict[str, Any]
) -> list[FindingChange]:
    changes: list[FindingChange] = []
    for start in range(0, len(finding_ids), _CHUNK):
        changes += changes_for(session, finding_ids[start : start + _CHUNK], event, detail)
    record_events(session, None, changes, now)
    return changes
