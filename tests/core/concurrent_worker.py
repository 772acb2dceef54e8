"""Run repeated collections in its own process, for the concurrency test (python -m tests.core.concurrent_worker)."""

from __future__ import annotations

import sys

from posture.db import make_engine, resolve_url
from posture.pipeline import collect
from posture.taxonomy import RunStatus
from tests.core.fakes import RULES, FakeCollector


def main(url: str, scope: str, offset: int, rounds: int) -> int:
    engine = make_engine(resolve_url(url))
    failures = 0
    for i in range(rounds):
        collector = FakeCollector(
            scope_name=scope,
            containers=40,
            privileged=frozenset(range(offset, offset + 20)),
            cves=tuple(f"CVE-2024-{n}" for n in range(offset + i, offset + i + 30)),
        )
        result = collect(engine, collector, RULES)
        failures += result.status is not RunStatus.COMPLETE
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
