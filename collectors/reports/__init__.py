"""Scanner reports (Trivy, Grype, SARIF, CycloneDX, trivy-operator, docker-bench, kube-bench) as collectors.

``reader`` makes untrusted files safe to parse, ``detect`` tells the format from the content, one
module per format turns it into records through ``model.ReportBuilder`` (which names and
deduplicates findings), and ``collector``/``scan`` expose a file or a live scan as a collector.
"""

from collectors.reports.collector import ReportCollector, parse_report
from collectors.reports.detect import FORMATS
from collectors.reports.scan import ScanCollector

__all__ = ["FORMATS", "ReportCollector", "ScanCollector", "parse_report"]
