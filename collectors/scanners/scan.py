"""``posture collect --scan IMAGE``: run Trivy or Grype on an image and ingest what it reports.

The scanner writes its JSON report to a private temporary file, which then goes through the same
capped reader and parser as ``--report`` (a scanner's output is as untrusted as any report). Trivy
is preferred when both are installed; when neither is, the run fails with one line saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from collectors.scanners.collector import parse_report
from collectors.scanners.fields import clean
from collectors.scanners.parsed import ParseContext, ParsedReport
from collectors.scanners.reader import DEFAULT_LIMITS, Limits
from collectors.scanners.vulnids import StoredVulnLookup
from posture.coverage import FULL, Coverage
from posture.records import CollectorError, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner

SCANNERS: tuple[str, ...] = ("trivy", "grype")
DEFAULT_TIMEOUT = 1800.0


def scanner_command(scanner: str, executable: str, image: str, output: Path) -> list[str]:
    """The argv that makes ``scanner`` write a JSON report of ``image`` to ``output`` (``--`` ends options)."""
    if scanner == "trivy":
        return [executable, "image", "--quiet", "--format", "json", "--output", str(output), "--", image]
    return [executable, "--quiet", "-o", "json", "--file", str(output), "--", image]


class ScanCollector:
    """Scans one image with the first scanner found on the PATH."""

    def __init__(
        self,
        image: str,
        *,
        secrets: SecretScanner,
        which: Callable[[str], str | None] = shutil.which,
        timeout: float = DEFAULT_TIMEOUT,
        limits: Limits = DEFAULT_LIMITS,
        scanners: Sequence[str] = SCANNERS,
        stored_vulns: StoredVulnLookup | None = None,
    ) -> None:
        self._image = image
        self._secrets = secrets
        self._which = which
        self._timeout = timeout
        self._limits = limits
        self._scanners = scanners
        self._stored_vulns = stored_vulns
        self._parsed: ParsedReport | None = None
        self._error: CollectorError | None = None

    def _load(self) -> ParsedReport | None:
        if self._parsed is None and self._error is None:
            try:
                self._parsed = self._scan()
            except CollectorError as exc:
                self._error = exc
        return self._parsed

    def _scan(self) -> ParsedReport:
        label = f"scan {clean(self._image)}"
        if not self._image or self._image.startswith("-") or any(c.isspace() for c in self._image):
            raise CollectorError(f"{label}: not an image reference")
        found = next(((s, path) for s in self._scanners if (path := self._which(s))), None)
        if found is None:
            raise CollectorError(f"{label}: no scanner installed ({', '.join(self._scanners)})")
        scanner, executable = found
        with tempfile.TemporaryDirectory(prefix="posture-scan-") as tmp:
            output = Path(tmp) / "report.json"
            try:
                done = subprocess.run(
                    scanner_command(scanner, executable, self._image, output),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=self._timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise CollectorError(f"{label}: {scanner} did not finish within {self._timeout:.0f} s") from None
            except OSError as exc:
                raise CollectorError(f"{label}: cannot run {scanner}: {exc.strerror or exc}") from None
            if done.returncode != 0:
                lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
                why = clean(lines[-1], 200) if lines else "no error output"
                raise CollectorError(f"{label}: {scanner} exited with status {done.returncode}: {why}")
            context = ParseContext(f"{label} ({scanner})", scanner, self._secrets, stored_vulns=self._stored_vulns)
            return parse_report(str(output), context, scanner, self._limits)

    @property
    def scope(self) -> ScopeRef:
        parsed = self._load()
        if parsed is None:
            return ScopeRef(ScopeKind.REPORT, f"scan:{clean(self._image, 400)}")
        return ScopeRef(ScopeKind.REPORT, parsed.scope_name, clean(self._image, 400), parsed.legacy_scopes)

    def coverage(self) -> Coverage:
        """What the scanner's report shows it judged (Trivy's default scan writes no ``config`` result:
        misconfigurations are not judged, as no earlier scan of the image stated any)."""
        parsed = self._load()
        return parsed.coverage if parsed is not None else FULL

    def collect(self) -> Iterator[Record]:
        parsed = self._load()
        if parsed is None:
            assert self._error is not None
            raise self._error
        yield from parsed.records()
