"""The exception index agrees with posture.acceptance.covers: every exception that covers a finding is
found whatever field it is filed under (a glob by its literal start, a namespace, a rule, an asset's
alias), and the narrowest wins, the oldest among equals."""

from __future__ import annotations

from typing import Any

import pytest

from posture.acceptance import Candidate, Reach, covers
from posture.store.exceptions import Active, ExceptionMatcher

IMAGE = Candidate("fp-1", "VULN", "sha256:" + "a" * 64, "registry.example/web:1.0", ("sha256:" + "b" * 64,), {},
                  {"vulnerability": "GHSA-aaaa-bbbb-cccc", "aliases": ["cve-2024-1"], "package": "openssl"}, 1)
POD = Candidate("fp-2", "K8S-PRIV", "prod/shop/Deployment/web", "shop/Deployment/web", (), {"namespace": "shop"},
                {}, 2)
SCOPES: list[dict[str, Any]] = [
    {"fingerprint": "fp-1"}, {"vuln_id": "CVE-2024-1"}, {"vuln_id": "CVE-2024-1", "asset": "sha256:" + "b" * 64},
    {"vuln_id": "CVE-2024-1", "package": "zlib"}, {"asset": "registry.example/web:1.0"}, {"rule_id": "K8S-PRIV"},
    {"namespace": "shop"}, {"namespace": "shop", "rule_id": "K8S-OTHER"}, {"pattern": "shop/Deployment/w*"},
    {"pattern": "shop/Deployment/x*"}, {"pattern": "*/web:1.0"}, {"pattern": "registry.example/*"},
    {"pattern": "prod/shop/*"}, {"fingerprint": "fp-9"}, {"vuln_id": "CVE-2024-2"},
]


def _expected(active: list[Active], finding: Candidate) -> int | None:
    """The narrowest covering exception, lowest id among equals, by checking every one."""
    covering = [a for a in active if covers(a.scope, a.until_fix, finding)]
    return min(covering, key=lambda a: (-a.scope.specificity, a.id)).id if covering else None


@pytest.mark.parametrize("finding", [IMAGE, POD], ids=["image", "workload"])
@pytest.mark.parametrize("chosen", range(len(SCOPES) + 1))
def test_the_index_finds_what_checking_every_exception_finds(finding: Candidate, chosen: int) -> None:
    """Each scope alone, then all of them (``chosen == len(SCOPES)``), in both id orders."""
    picked = SCOPES if chosen == len(SCOPES) else [SCOPES[chosen]]
    for order in (picked, picked[::-1]):
        active = [Active(n + 1, Reach(**fields), False) for n, fields in enumerate(order)]
        assert ExceptionMatcher(active).match(finding) == _expected(active, finding)


def test_a_glob_is_found_by_its_literal_start_only_when_the_name_starts_so() -> None:
    active = [Active(1, Reach(pattern="shop/Deployment/web*"), False), Active(2, Reach(pattern="sh*"), False)]
    matcher = ExceptionMatcher(active)
    assert matcher.match(POD) == 1  # the longer glob is no narrower: the older one wins among equals
    other = Candidate("fp-3", "K8S-PRIV", "k", "search/Deployment/web", (), {}, {}, 3)
    assert matcher.match(other) is None


def test_equal_exceptions_the_oldest_wins_and_a_narrower_one_beats_it() -> None:
    broad = [Active(5, Reach(namespace="shop"), False), Active(3, Reach(namespace="shop"), False)]
    assert ExceptionMatcher(broad).match(POD) == 3
    narrow = [*broad, Active(9, Reach(rule_id="K8S-PRIV", namespace="shop"), False)]
    assert ExceptionMatcher(narrow).match(POD) == 9
