"""``posture collect --report FILE``: one report file is one source scope.

The scope is named by scanner and artifact (``trivy:sha256:…``), not by the file's path, so a newer
complete report of the same image from the same scanner replaces the older one: what it no longer
lists is resolved. The file is read and parsed completely before anything is yielded, so a file
that turns out to be truncated or malformed yields nothing at all; its failed run is recorded
against a ``file:<path>`` scope, which resolves nothing anywhere.

A report older than the newest one already ingested for its scope (an old CI artefact re-run)
resolves nothing either: it is stated with a problem, so its run is partial. The report's own time
is kept in the run's stats (``report_time``), where :func:`posture.cli.collect.source_context`
finds the newest one per scope for the next ingest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from collectors.reports.detect import PARSERS, detect
from collectors.reports.model import ParseContext, ParsedReport
from collectors.reports.reader import DEFAULT_LIMITS, Limits, display_name, file_stem, load_documents, read_bytes
from collectors.reports.vulnids import StoredVulnLookup
from posture.gcpause import gc_paused
from posture.records import CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner


def parse_report(
    path: str, context: ParseContext, report_format: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> ParsedReport:
    """Read, detect and parse one report file; every problem is a one-line :class:`CollectorError`."""
    if report_format is not None and report_format not in PARSERS:
        raise CollectorError(f"{context.name}: unknown report format {report_format!r} (known: {', '.join(PARSERS)})")
    with gc_paused():
        raw = read_bytes(path, limits)
        docs = load_documents(raw, context.name, limits)
        return PARSERS[report_format or detect(docs, context.name)](docs, context)


class ReportCollector:
    """A scanner report file (or ``-`` for stdin) as a collector."""

    def __init__(
        self,
        path: str,
        *,
        secrets: SecretScanner,
        report_format: str | None = None,
        cluster: str = "default",
        limits: Limits = DEFAULT_LIMITS,
        newest: Mapping[str, str] | None = None,
        stored_vulns: StoredVulnLookup | None = None,
    ) -> None:
        """``newest``: scope name → time of the newest report already ingested for it.

        ``stored_vulns`` is called once, when the report is parsed (at the start of its run, not
        when the collector is built), so it sees what earlier reports of the same command stored.
        """
        self._path = path
        self._newest = newest or {}
        self._format = report_format
        self._limits = limits
        self._context = ParseContext(display_name(path), file_stem(path), secrets, cluster, stored_vulns)
        self._parsed: ParsedReport | None = None
        self._error: CollectorError | None = None

    def _load(self) -> ParsedReport | None:
        if self._parsed is None and self._error is None:
            try:
                self._parsed = parse_report(self._path, self._context, self._format, self._limits)
            except CollectorError as exc:
                self._error = exc
        return self._parsed

    @property
    def scope(self) -> ScopeRef:
        parsed = self._load()
        return ScopeRef(ScopeKind.REPORT, parsed.scope_name if parsed else f"file:{self._context.name}")

    def collect(self) -> Iterator[Record]:
        parsed = self._load()
        if parsed is None:
            assert self._error is not None
            raise self._error
        newest = self._newest.get(parsed.scope_name, "")
        if parsed.report_time and parsed.report_time < newest:
            # Nothing of it is stated: stored, it would reopen what the newer report saw fixed and put
            # back evidence and severities the scanner has since revised.
            yield Problem(
                f"{self._context.name}: made {parsed.report_time}, older than the {parsed.scanner} report of "
                f"{newest} already ingested for this artifact; it changes nothing"
            )
            return
        yield from parsed.records()

    def run_facts(self) -> Mapping[str, Any]:
        """Kept in the run's stats: the report's own time, so a later, older report can be told apart."""
        parsed = self._load()
        return {"report_time": parsed.report_time} if parsed and parsed.report_time else {}
