"""``posture collect --report FILE``: one report file is one source scope.

The scope is named by scanner and what the report describes (``trivy:sha256:…``, ``kube-bench:host:node-a``,
``trivy:named:web-api``), never by the file's path, so a newer complete report of the same thing from
the same scanner replaces the older one: what it no longer lists is resolved, where it looked
(:meth:`ReportCollector.coverage`). What a report does not name (a bench report's host, a ``trivy
fs .`` directory) comes from the command line, checked by :meth:`ReportCollector.identify` before any
run starts. The file is read and parsed completely before anything is yielded, so a file that turns
out to be truncated or malformed yields nothing at all; its failed run is recorded against a
``file:<path>`` scope, which resolves nothing anywhere.

A report older than the newest one already ingested for its scope (an old CI artefact re-run)
resolves nothing either: it is stated with a problem, so its run is partial. So is a report
identical to one ingested before the scope's latest (an undated old artefact re-run: its bytes
tell it apart), and a report that states no time of its own, ingested after a dated one, cannot be
ordered, so it adds and resolves nothing. The report's own time and a hash of its bytes are kept in
the run's stats (``report_time``, ``report_hash``), where :func:`posture.cli.collect.source_context`
finds them per scope for the next ingest (:class:`ReportHistory`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collectors.scanners.detect import PARSERS, detect, identify
from collectors.scanners.parsed import DEFAULT_CLUSTER, ParseContext, ParsedReport
from collectors.scanners.reader import (
    DEFAULT_LIMITS,
    STDIN,
    Limits,
    display_name,
    file_stem,
    load_documents,
    read_bytes,
)
from collectors.scanners.vulnids import StoredVulnLookup
from posture.coverage import FULL, Coverage
from posture.gcpause import gc_paused
from posture.records import CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner


@dataclass(frozen=True, slots=True)
class ReportHistory:
    """What earlier runs of one report scope ingested: the newest report time ("" when none was
    dated), the hash of the report ingested last and of every report ingested."""

    newest: str = ""
    last_hash: str = ""
    hashes: frozenset[str] = frozenset()


NO_HISTORY = ReportHistory()


@dataclass(frozen=True, slots=True)
class LoadedReport:
    """A report read and decoded but not yet parsed: its documents, format and the hash of its bytes."""

    docs: list[Any]
    format: str
    digest: str
    size: int  # of the bytes read (decompressed)


def load_report(
    path: str, name: str, report_format: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> LoadedReport:
    """Read and decode one report file and tell its format; every problem is a one-line :class:`CollectorError`.

    Call it with the collector paused (:func:`~posture.gcpause.gc_paused`) through the parse that
    follows: the collector re-enabled between the two would rescan every decoded object."""
    if report_format is not None and report_format not in PARSERS:
        raise CollectorError(f"{name}: unknown report format {report_format!r} (known: {', '.join(PARSERS)})")
    raw = read_bytes(path, limits)
    digest = hashlib.sha256(raw).hexdigest()
    docs = load_documents(raw, name, limits)
    return LoadedReport(docs, report_format or detect(docs, name), digest, len(raw))


def parse_report(
    path: str, context: ParseContext, report_format: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> ParsedReport:
    """Read, detect and parse one report file; every problem is a one-line :class:`CollectorError`."""
    with gc_paused():
        loaded = load_report(path, context.name, report_format, limits)
        return PARSERS[loaded.format](loaded.docs, context)


class ReportCollector:
    """A scanner report file (or ``-`` for stdin) as a collector."""

    def __init__(
        self,
        path: str,
        *,
        secrets: SecretScanner,
        report_format: str | None = None,
        cluster: str = DEFAULT_CLUSTER,
        live_clusters: Mapping[str, tuple[str, ...]] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        history: Mapping[str, ReportHistory] | None = None,
        stored_vulns: StoredVulnLookup | None = None,
        host: str = "",
        artifact_name: str = "",
        namespaces: frozenset[str] | None = None,
        stated: Coverage = FULL,
    ) -> None:
        """``history``: scope name → what earlier runs of it ingested. ``host``, ``artifact_name``
        and ``namespaces`` are what the command line says the report describes (see
        :class:`~collectors.scanners.parsed.ParseContext`); ``stated`` what it says the scanner
        left out (``--report-severity`` and the like), which the report itself does not show.

        ``stored_vulns`` is called once, when the report is parsed (at the start of its run, not
        when the collector is built), so it sees what earlier reports of the same command stored.
        """
        self._path = path
        self._history = history or {}
        self._format = report_format
        self._limits = limits
        self._stated = stated
        self._context = ParseContext(
            display_name(path),
            file_stem(path),
            secrets,
            cluster,
            stored_vulns,
            host,
            artifact_name,
            namespaces,
            live_clusters or {},
        )
        self._loaded: LoadedReport | None = None  # read by identify() and kept for the run (stdin always)
        self._digest = ""
        self._parsed: ParsedReport | None = None
        self._error: CollectorError | None = None

    @property
    def name(self) -> str:
        return self._context.name

    def identify(self, keep: Callable[[int], bool] = lambda _size: False) -> str | None:
        """Read the report now to check that what it describes is known, so that a missing
        ``--report-name``/``--report-host`` refuses the whole command before any run starts
        (:class:`~collectors.scanners.parsed.IdentityError`). Returns ``<format>:<key>`` when that
        identity is a command-line name (two reports of one command must not share one), else None.
        A file that cannot be read is left for its run to fail, with the same one line.

        The decoded report is kept for the run when ``keep(size)`` allows (the caller bounds the
        memory all kept reports take), so it is not read and decoded twice; stdin always is."""
        try:
            with gc_paused():
                loaded = self._loaded or load_report(self._path, self.name, self._format, self._limits)
        except CollectorError as exc:
            self._error = exc  # stdin is gone once read: the run reports this, not an empty input
            return None
        if self._path == STDIN or keep(loaded.size):
            self._loaded = loaded
        artifact = identify(loaded.docs, loaded.format, self._context)
        return f"{loaded.format}:{artifact.key}" if artifact is not None and artifact.given else None

    def _load(self) -> ParsedReport | None:
        if self._parsed is None and self._error is None:
            try:
                with gc_paused():
                    loaded = self._loaded or load_report(self._path, self.name, self._format, self._limits)
                    self._loaded = None
                    self._digest = loaded.digest
                    self._parsed = PARSERS[loaded.format](loaded.docs, self._context)
            except CollectorError as exc:
                self._error = exc
        return self._parsed

    @property
    def scope(self) -> ScopeRef:
        parsed = self._load()
        if parsed is None:
            return ScopeRef(ScopeKind.REPORT, f"file:{self.name}")
        return ScopeRef(ScopeKind.REPORT, parsed.scope_name, parsed.given or self.name, parsed.legacy_scopes)

    def _earlier(self, parsed: ParsedReport) -> ReportHistory:
        """What earlier runs ingested for this scope, or for the old scope it adopts."""
        for name in (parsed.scope_name, *parsed.legacy_scopes):
            if name in self._history:
                return self._history[name]
        return NO_HISTORY

    def _refusal(self, parsed: ParsedReport) -> str | None:
        """Why this report must change nothing, if it must: it is older than what the scope holds."""
        earlier = self._earlier(parsed)
        if parsed.report_time and parsed.report_time < earlier.newest:
            # Stored, it would reopen what the newer report saw fixed and put back evidence and
            # severities the scanner has since revised.
            return (
                f"{self.name}: made {parsed.report_time}, older than the {parsed.scanner} report of "
                f"{earlier.newest} already ingested for this artifact; it changes nothing"
            )
        if self._digest in earlier.hashes and self._digest != earlier.last_hash:
            return (
                f"{self.name}: identical to a {parsed.scanner} report ingested for this artifact before the "
                "latest one; it changes nothing"
            )
        return None

    def collect(self) -> Iterator[Record]:
        parsed = self._load()
        if parsed is None:
            assert self._error is not None
            raise self._error
        refusal = self._refusal(parsed)
        if refusal is not None:
            yield Problem(refusal)
            return
        yield from parsed.records()

    def coverage(self) -> Coverage:
        """What the report shows it judged, narrowed by what the command line states, and nothing to
        resolve when it states no time after a dated report of its scope (it cannot be ordered)."""
        parsed = self._load()
        if parsed is None:
            return FULL
        coverage = parsed.coverage.narrowed(self._stated)
        newest = self._earlier(parsed).newest
        if not parsed.report_time and newest:
            note = f"the report states no time and an earlier one was made {newest}: it cannot be ordered"
            coverage = coverage.narrowed(Coverage(resolves=False, notes=(note,)))
        return coverage

    def run_facts(self) -> Mapping[str, Any]:
        """Kept in the run's stats: the report's own time and, when it was ingested, its hash, so a
        later, older or repeated report can be told apart."""
        parsed = self._load()
        if parsed is None:
            return {}
        facts: dict[str, Any] = {"report_time": parsed.report_time} if parsed.report_time else {}
        if self._refusal(parsed) is None:
            facts["report_hash"] = self._digest
        return facts
