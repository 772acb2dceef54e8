"""Scanner reports (Trivy, Grype, SARIF, CycloneDX, trivy-operator, docker-bench, kube-bench) as collectors.

``reader`` makes untrusted files safe to parse, ``detect`` tells the format from the content, one
module per format turns it into records through ``parsed.ReportBuilder`` (which names and
deduplicates findings), and ``collector``/``scan`` expose a file or a live scan as a collector.

Named ``scanners``, not ``reports``: these are the scanner reports Posture reads (input); the summary
reports it writes for people (output) are :mod:`posture.reports`.
"""

from collectors.scanners.collector import ReportCollector, parse_report
from collectors.scanners.detect import FORMATS
from collectors.scanners.scan import ScanCollector

__all__ = ["FORMATS", "ReportCollector", "ScanCollector", "parse_report"]
