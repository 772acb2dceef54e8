"""Where the copied scanner-report corpus lives (provenance in tests/data/reports): shared by the
fixtures in conftest.py and the tests that walk the corpus themselves."""

from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "reports"
