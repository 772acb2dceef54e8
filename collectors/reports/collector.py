"""``posture collect --report FILE``: one report file is one source scope.

The scope is named by scanner and artifact (``trivy:sha256:…``), not by the file's path, so a newer
complete report of the same image from the same scanner replaces the older one: what it no longer
lists is resolved. The file is read and parsed completely before anything is yielded, so a file
that turns out to be truncated or malformed yields nothing at all; its failed run is recorded
against a ``file:<path>`` scope, which resolves nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from collectors.reports.detect import PARSERS, detect
from collectors.reports.model import ParseContext, ParsedReport
from collectors.reports.reader import DEFAULT_LIMITS, Limits, display_name, file_stem, load_documents, read_bytes
from posture.gcpause import gc_paused
from posture.records import CollectorError, Record, ScopeKind, ScopeRef
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
    ) -> None:
        self._path = path
        self._format = report_format
        self._limits = limits
        self._context = ParseContext(display_name(path), file_stem(path), secrets, cluster)
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
        yield from parsed.records()
