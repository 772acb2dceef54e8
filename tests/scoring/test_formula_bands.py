"""Every band, clamp, multiplier and threshold of the risk formula, read from docs/scoring.md (the
published formula) and checked on both sides of each edge: a one-token slip in a table changes a
finding's risk, its band and the estate's grade without any other test noticing."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from posture.scoring import Context, FindingFacts, Use, score
from posture.scoring.formula import prevalence_multiplier
from posture.scoring.rollup import Tally, band_of, grade_of, posture_score
from posture.scoring.traits import container_traits, kubernetes_traits, pod_summary_privileges
from posture.taxonomy import Severity as S

#: The page with each paragraph's line breaks as spaces (table rows and formula lines stay lines).
DOC = re.sub(r"(?<=\S)\n(?=[^\n|`])", " ",
             (Path(__file__).parents[2] / "docs" / "scoring.md").read_text(encoding="utf-8"))
#: High severity without CVSS: base 45, every context factor neutral (use n/a).
HIGH = FindingFacts(S.HIGH)
RUNNING = Context(Use.RUNNING, prevalence=1)


def _doc(pattern: str) -> re.Match[str]:
    found = re.search(pattern, DOC)
    assert found, f"docs/scoring.md no longer says {pattern!r}"
    return found


def _risk(points: float) -> int:
    """Half up, as the documentation rounds."""
    return math.floor(points + 0.5)


# -- the published tables ------------------------------------------------------------------------
def _cvss_ranges() -> dict[S, tuple[float, float]]:
    sentence = _doc(r"clamped into the CVSS v3 range of the finding's severity \(([^)]*)\)").group(1)
    ranges = {S(name): (float(low), float(high))
              for name, low, high in re.findall(r"(\w+) ([\d.]+)–([\d.]+)", sentence)}
    assert set(ranges) == set(S), sentence
    return ranges


def _epss_bands() -> list[tuple[float, float]]:
    row = _doc(r"\| EPSS ≥ ([\d.]+) / ≥ ([\d.]+) / ≥ ([\d.]+) / below \| "
               r"×([\d.]+) / ×([\d.]+) / ×([\d.]+) / ×([\d.]+) \|")
    edges, multipliers = [float(v) for v in row.groups()[:3]], [float(v) for v in row.groups()[3:]]
    return [*zip(edges, multipliers[:3], strict=True), (0.0, multipliers[3])]


CVSS_RANGES = _cvss_ranges()
EPSS_BANDS = _epss_bands()
PRIVILEGED = float(_doc(r"\| privilege \| privileged or a runtime socket \| ×([\d.]+) \|").group(1))
HOST_NAMESPACES = float(_doc(r"\| \| host namespaces \| ×([\d.]+) \| `hostPID`, `hostNetwork`, `hostIPC`").group(1))
ROOT = float(_doc(r"\| \| root \| ×([\d.]+) \|").group(1))
PRIVILEGES = {"privileged": PRIVILEGED, "docker-socket": PRIVILEGED, "host-pid": HOST_NAMESPACES,
              "host-network": HOST_NAMESPACES, "host-ipc": HOST_NAMESPACES, "root": ROOT}


def test_the_published_tables_are_the_ones_read_here() -> None:
    """A guard on the parsing itself: if the page is reworded, these fail instead of testing nothing."""
    assert CVSS_RANGES[S.HIGH] == (7.0, 8.9) and CVSS_RANGES[S.CRITICAL] == (9.0, 10.0)
    assert EPSS_BANDS == [(0.5, 1.35), (0.1, 1.2), (0.01, 1.05), (0.0, 0.9)]
    assert (PRIVILEGED, HOST_NAMESPACES, ROOT) == (1.3, 1.2, 1.1)


# -- base: the CVSS clamp per severity -----------------------------------------------------------
@pytest.mark.parametrize("severity", list(S))
def test_cvss_is_clamped_to_its_severity_range_on_both_sides(severity: S) -> None:
    low, high = CVSS_RANGES[severity]
    cases = [(low, low), (high, high), (round((low + high) / 2, 1), round((low + high) / 2, 1))]
    if high < 10.0:
        cases += [(round(high + 0.1, 1), high), (10.0, high)]
    if low > 0.1:
        cases += [(round(low - 0.1, 1), low), (0.1, low)]
    cases.append((0.05, low))  # above 0, below every range
    for cvss, used in cases:
        result = score(FindingFacts(severity, cvss), Context())
        assert result.factors["base"]["contribution"] == pytest.approx(6 * used), (severity, cvss)
        assert result.risk == _risk(6 * used), (severity, cvss)
        clamp_note = f", {severity.value}: {used:g}"
        assert result.factors["base"]["value"] == f"CVSS {cvss:g}" + (clamp_note if used != cvss else "")


def test_a_vendor_high_cvss_9_8_scores_as_high_not_critical() -> None:
    result = score(FindingFacts(S.HIGH, 9.8), Context())
    assert result.factors["base"]["value"] == "CVSS 9.8, high: 8.9"
    assert result.risk == 53  # 6 × 8.9, not 6 × 9.8 = 59
    assert score(FindingFacts(S.MEDIUM, 9.8), Context()).risk == 41  # 6 × 6.9
    assert score(FindingFacts(S.INFO, 9.8), Context()).risk == 5  # 6 × 0.9


def test_cvss_outside_0_to_10_is_ignored_and_the_edges_are_inside() -> None:
    assert score(FindingFacts(S.CRITICAL, 10.0), Context()).risk == 60
    assert score(FindingFacts(S.CRITICAL, 10.1), Context()).risk == 57  # the severity's equivalent 9.5
    assert score(FindingFacts(S.LOW, 0.0), Context()).risk == 15  # equivalent 2.5, not clamped to 0.1
    assert score(FindingFacts(S.LOW, 0.05), Context()).factors["base"]["contribution"] == pytest.approx(0.6)
    assert score(FindingFacts(S.LOW, -1.0), Context()).risk == 15


# -- exploitability ------------------------------------------------------------------------------
def _below(edge: float) -> float:
    """The highest EPSS under ``edge`` as the store keeps it (three decimals)."""
    return round(edge - 0.001, 3)


@pytest.mark.parametrize("band", range(3))
def test_epss_band_edges_on_both_sides(band: int) -> None:
    edge, multiplier = EPSS_BANDS[band]
    next_multiplier = EPSS_BANDS[band + 1][1]
    for epss, expected in ((edge, multiplier), (edge + 0.001, multiplier), (_below(edge), next_multiplier)):
        result = score(FindingFacts(S.HIGH, epss=epss), Context())
        assert result.factors["exploitability"] == {
            "value": f"EPSS {epss:.3f}", "multiplier": expected,
            "contribution": pytest.approx(45 * expected - 45, abs=0.05)}, epss
        assert result.risk == _risk(45 * expected), epss


def test_epss_zero_and_one_are_in_the_outer_bands() -> None:
    assert score(FindingFacts(S.HIGH, epss=0.0), Context()).factors["exploitability"]["multiplier"] == EPSS_BANDS[-1][1]
    assert score(FindingFacts(S.HIGH, epss=1.0), Context()).factors["exploitability"]["multiplier"] == EPSS_BANDS[0][1]


def test_kev_multiplier_wins_over_any_epss_and_no_data_is_neutral() -> None:
    kev = float(_doc(r"\| exploitability \| in CISA KEV \| ×([\d.]+) \|").group(1))
    for epss in (None, 0.0, 0.9):
        result = score(FindingFacts(S.HIGH, kev=True, epss=epss), Context())
        assert result.factors["exploitability"]["value"] == "in CISA KEV"
        assert result.risk == _risk(45 * kev)
    assert score(HIGH, Context()).factors["exploitability"] == {"value": "no data", "multiplier": 1.0,
                                                                "contribution": 0.0}


# -- fix, exposure, use, prevalence --------------------------------------------------------------
def test_fix_available_multiplier_and_no_fix_is_neutral() -> None:
    fix = float(_doc(r"\| fix \| available \| ×([\d.]+) \|").group(1))
    assert score(FindingFacts(S.HIGH, fix_available=True), Context()).risk == _risk(45 * fix)
    assert score(FindingFacts(S.HIGH, fix_available=False), Context()).factors["fix"]["value"] == "none"
    assert score(FindingFacts(S.HIGH, fix_available=False), Context()).risk == 45
    assert score(HIGH, Context()).factors["fix"]["value"] == "n/a"


def test_exposure_multiplier() -> None:
    exposed = float(_doc(r"\| exposure \| internet-exposed \| ×([\d.]+) \|").group(1))
    assert score(HIGH, Context(Use.RUNNING, exposed=True, prevalence=1)).risk == _risk(45 * exposed)
    internal = score(HIGH, RUNNING)
    assert internal.risk == 45 and internal.factors["exposure"]["value"] == "internal"
    assert score(HIGH, Context()).factors["exposure"]["value"] == "n/a"


@pytest.mark.parametrize(("use", "row"), [(Use.RUNNING, "use"), (Use.DEPLOYED, ""), (Use.STORED, "")])
def test_use_multipliers(use: Use, row: str) -> None:
    multiplier = float(_doc(rf"\| {row} ?\| {use.value} \| ×([\d.]+) \|").group(1))
    result = score(HIGH, Context(use, prevalence=1))
    assert result.factors["use"]["multiplier"] == multiplier
    assert result.risk == _risk(45 * multiplier)


def test_use_not_applicable_is_neutral() -> None:
    assert score(HIGH, Context(Use.NOT_APPLICABLE)).factors["use"]["multiplier"] == 1.0


def test_prevalence_per_doubling_up_to_its_cap() -> None:
    step, cap = (float(v) for v in _doc(r"×\(1 \+ ([\d.]+) × log₂ N\), at most ×([\d.]+)").groups())
    assert [prevalence_multiplier(n) for n in (0, 1)] == [1.0, 1.0]
    for copies in (2, 3, 4, 63):
        assert prevalence_multiplier(copies) == pytest.approx(1 + step * math.log2(copies))
    assert prevalence_multiplier(64) == pytest.approx(cap)
    assert prevalence_multiplier(65) == cap and prevalence_multiplier(1 << 20) == cap
    assert score(HIGH, Context(Use.RUNNING, prevalence=4)).factors["prevalence"]["multiplier"] == 1.1


# -- privilege: every multiplier, the strongest one counts ---------------------------------------
@pytest.mark.parametrize("privilege", sorted(PRIVILEGES))
def test_each_privilege_multiplier(privilege: str) -> None:
    result = score(HIGH, Context(Use.RUNNING, privileges=frozenset({privilege}), prevalence=1))
    assert result.factors["privilege"]["multiplier"] == PRIVILEGES[privilege]
    assert result.risk == _risk(45 * PRIVILEGES[privilege])


def test_the_strongest_privilege_counts_not_their_product() -> None:
    result = score(HIGH, Context(Use.RUNNING, privileges=frozenset({"root", "host-ipc", "host-pid"}), prevalence=1))
    assert result.factors["privilege"]["multiplier"] == HOST_NAMESPACES
    assert result.factors["privilege"]["value"] == "host-ipc, host-pid, root"
    all_of_them = score(HIGH, Context(Use.RUNNING, privileges=frozenset(PRIVILEGES), prevalence=1))
    assert all_of_them.factors["privilege"]["multiplier"] == PRIVILEGED
    assert score(HIGH, Context(Use.RUNNING, privileges=frozenset({"unknown"}), prevalence=1)).risk == 45
    assert score(HIGH, RUNNING).factors["privilege"]["value"] == "none"


@pytest.mark.parametrize(("mode", "field", "name"), [("pid_mode", "hostPID", "host-pid"),
                                                      ("network_mode", "hostNetwork", "host-network"),
                                                      ("ipc_mode", "hostIPC", "host-ipc")])
def test_each_host_namespace_is_read_from_docker_and_kubernetes(mode: str, field: str, name: str) -> None:
    assert name in container_traits({mode: "host", "user": "app"}).privileges
    assert container_traits({mode: "private", "user": "app"}).privileges == frozenset()
    assert pod_summary_privileges({field: True}) == {name}
    assert pod_summary_privileges({field: False}) == frozenset()
    assert name in kubernetes_traits({"pod": {field: True}}).privileges


@pytest.mark.parametrize("socket", ["/var/run/docker.sock", "/run/containerd/containerd.sock",
                                    "/var/run/crio/crio.sock", "/run/podman/podman.sock"])
def test_runtime_sockets_count_as_privileged(socket: str) -> None:
    assert "docker-socket" in container_traits({"mounts": [{"source": socket}], "user": "app"}).privileges
    assert pod_summary_privileges({"volumes": [{"type": "hostPath", "path": socket}]}) == {"docker-socket"}
    assert container_traits({"mounts": [{"source": socket + ".bak"}], "user": "app"}).privileges == frozenset()


# -- roll-up: risk bands, grades, depth and breadth ----------------------------------------------
def test_risk_bands_on_both_sides_of_each_edge() -> None:
    line = _doc(r"Risk bands: \*\*critical\*\* ≥ (\d+), \*\*high\*\* (\d+)–(\d+), \*\*medium\*\* (\d+)–(\d+), "
                r"\*\*low\*\* (\d+)–(\d+), minimal below")
    critical, high, high_top, medium, medium_top, low, low_top = (int(v) for v in line.groups())
    for name, lowest, below in (("critical", critical, "high"), ("high", high, "medium"),
                                ("medium", medium, "low"), ("low", low, "minimal")):
        assert band_of(lowest) == name and band_of(lowest - 1) == below, name
    assert (high_top, medium_top, low_top) == (critical - 1, high - 1, medium - 1)
    assert band_of(100) == "critical" and band_of(0) == "minimal"


def test_grades_on_both_sides_of_each_edge() -> None:
    line = _doc(r"grade    = A ≥ (\d+), B ≥ (\d+), C ≥ (\d+), D ≥ (\d+), F below")
    edges = [float(v) for v in line.groups()]
    for grade, lowest, below in zip("ABCD", edges, "BCDF", strict=True):
        assert grade_of(lowest) == grade and grade_of(lowest - 0.1) == below, grade
    assert grade_of(100.0) == "A" and grade_of(0.0) == "F"


def _documented_score(c: int = 0, h: int = 0, m: int = 0, low: int = 0, assets: int = 1) -> float:
    """docs/scoring.md's posture score, computed from the constants the page prints."""
    depth_max, depth_base = (float(v) for v in _doc(r"depth    = (\d+) × \(1 − ([\d.]+)\^C\)").groups())
    weights = [float(v) for v in _doc(r"D        = \(([\d.]+)·C \+ ([\d.]+)·H \+ ([\d.]+)·M \+ ([\d.]+)·L\)").groups()]
    breadth_max, half = (float(v) for v in _doc(r"breadth  = (\d+) × D / \(D \+ (\d+)\)").groups())
    density = sum(w * n for w, n in zip(weights, (c, h, m, low), strict=True)) / assets
    value = 100 - depth_max * (1 - depth_base**c) - breadth_max * density / (density + half)
    return max(0.0, math.floor(value * 10 + 0.5) / 10)


@pytest.mark.parametrize(("bands", "assets"), [
    ({"critical": 1}, 1), ({"critical": 1}, 1000), ({"critical": 10}, 10), ({"high": 1}, 1), ({"high": 3}, 10),
    ({"medium": 1}, 1), ({"medium": 7}, 2), ({"low": 1}, 1), ({"low": 40}, 3), ({"minimal": 50}, 1),
    ({"critical": 2, "high": 3, "medium": 5, "low": 7, "minimal": 9}, 4), ({"critical": 10_000}, 1),
])
def test_each_band_weighs_as_documented(bands: dict[str, int], assets: int) -> None:
    expected = _documented_score(bands.get("critical", 0), bands.get("high", 0), bands.get("medium", 0),
                                 bands.get("low", 0), assets)
    assert posture_score(bands, assets) == pytest.approx(expected)


def test_minimal_findings_and_zero_assets() -> None:
    assert posture_score({"minimal": 1000}, 1) == 100.0
    assert posture_score({"high": 1}, 0) == posture_score({"high": 1}, 1) == 73.3  # no division by zero
    assert posture_score({"critical": 1}, 10_000) == 96.0  # depth alone: 40 × 0.1 = 4, plus a trace of breadth


def test_a_groups_risk_is_100_minus_its_score() -> None:
    tally = Tally()
    tally.add(85, "critical")
    tally.add(61, "high", times=2)
    tally.add(10, "low")
    summary = tally.summary(assets=2)
    assert summary["bands"] == {"critical": 1, "high": 2, "minimal": 1}
    assert summary["severities"] == {"critical": 1, "high": 2, "low": 1}
    assert (summary["open"], summary["max_risk"]) == (4, 85)
    assert summary["score"] == posture_score({"critical": 1, "high": 2}, 2)
    assert summary["risk"] == pytest.approx(100 - summary["score"])
    assert summary["grade"] == grade_of(summary["score"])
