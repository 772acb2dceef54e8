"""Roll-ups (docs/scoring.md "Roll-ups and the posture score"): every band and grade table pinned
whole, the tallies that feed the score, and a snapshot's JSON with its groups and their denominators."""

from __future__ import annotations

from posture.scoring.estate import AssetNode, Edge, Estate
from posture.scoring.rollup import (
    BAND_OF_RISK,
    GRADES,
    RISK_BANDS,
    Tally,
    band_of,
    grade_of,
    merge_tallies,
    posture_score,
    snapshot_counts,
)


def test_the_band_and_grade_tables_are_the_documented_ones() -> None:
    # docs/scoring.md: "Risk bands: critical ≥ 80, high 60–79, medium 40–59, low 20–39, minimal below"
    # and "D = (10·C + 4·H + 1·M + 0.25·L) / assets"; "grade = A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, F below".
    assert RISK_BANDS == (("critical", 80, 10.0), ("high", 60, 4.0), ("medium", 40, 1.0), ("low", 20, 0.25),
                          ("minimal", 0, 0.0))
    assert GRADES == (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0), ("F", 0.0))


def test_the_band_of_every_risk() -> None:
    expected = ["minimal"] * 20 + ["low"] * 20 + ["medium"] * 20 + ["high"] * 20 + ["critical"] * 21
    assert list(BAND_OF_RISK) == expected
    assert [band_of(r) for r in range(101)] == expected
    assert band_of(-1) == "minimal" and band_of(250) == "critical"


def test_the_grade_below_every_threshold() -> None:
    assert [grade_of(s) for s in (100.0, 90.0, 89.9, 80.0, 79.9, 70.0, 69.9, 60.0, 59.9, 0.0)] == [
        "A", "A", "B", "B", "C", "C", "D", "D", "F", "F"]
    assert grade_of(-1.0) == "F"


def test_the_score_of_an_overwhelmed_estate_is_zero_not_negative() -> None:
    assert posture_score({"critical": 1_000_000}, 1) == 0.0
    assert posture_score({"minimal": 5}, 0) == 100.0
    assert posture_score({"low": 4}, 1) == 90.0  # D = 4 × 0.25 = 1, breadth 60 × 1 / 6 = 10
    assert posture_score({"low": 4}, 2) == 94.5  # D = 0.5, breadth 60 × 0.5 / 5.5 = 5.45…
    assert posture_score({"critical": 1}, 1_000_000) == 96.0  # depth 40 × (1 − 0.9) = 4


def test_a_tally_counts_bands_severities_the_worst_and_the_sum() -> None:
    tally = Tally()
    tally.add(85, "critical")
    tally.add(61, "high", times=3)
    tally.add(19, "low")
    tally.add(20, "low", times=2)
    assert tally.bands == {"critical": 1, "high": 3, "minimal": 1, "low": 2}
    assert tally.severities == {"critical": 1, "high": 3, "low": 3}
    assert (tally.open, tally.max_risk, tally.risk_sum) == (7, 85, 85 + 3 * 61 + 19 + 2 * 20)
    tally.add(40, "medium")
    assert tally.max_risk == 85 and tally.bands["medium"] == 1


def test_a_group_row_adds_at_once() -> None:
    tally = Tally()
    tally.add_group("high", "critical", 4, 70, 250)
    tally.add_group("high", "high", 2, 65, 125)
    tally.add_group("low", "high", 1, 21, 21)
    assert tally.bands == {"high": 6, "low": 1} and tally.severities == {"critical": 4, "high": 3}
    assert (tally.open, tally.max_risk, tally.risk_sum) == (7, 70, 396)


def test_tallies_merge() -> None:
    a, b = Tally(), Tally()
    a.add(90, "critical")
    a.add(30, "medium", times=2)
    b.add(95, "high")
    b.add(35, "medium")
    b.add(10, "info")
    total = merge_tallies([a, b, Tally()])
    assert total.bands == {"critical": 2, "low": 3, "minimal": 1}
    assert total.severities == {"critical": 1, "medium": 3, "high": 1, "info": 1}
    assert (total.open, total.max_risk, total.risk_sum) == (6, 95, 90 + 60 + 95 + 35 + 10)
    assert (a.open, b.open) == (3, 3)  # the parts are unchanged
    assert merge_tallies([]) == Tally()
    small = Tally()
    small.add(10, "low")
    bigger = merge_tallies([a, small])
    assert bigger.max_risk == 90


def test_a_summary_is_the_published_snapshot_entry() -> None:
    tally = Tally()
    tally.add(85, "critical")
    tally.add(45, "high", times=2)
    summary = tally.summary(assets=4)
    score = posture_score({"critical": 1, "medium": 2}, 4)
    assert score == 73.5  # depth 40 × 0.1 = 4, D = (10 + 2) / 4 = 3, breadth 60 × 3 / 8 = 22.5
    assert summary == {"score": 73.5, "grade": "C", "risk": 26.5, "assets": 4, "open": 3, "max_risk": 85,
                       "bands": {"critical": 1, "medium": 2}, "severities": {"critical": 1, "high": 2}}
    summary["bands"]["critical"] = 99
    assert tally.bands == {"critical": 1, "medium": 2}  # the summary holds copies
    assert Tally().summary(0) == {"score": 100.0, "grade": "A", "risk": 0.0, "assets": 0, "open": 0, "max_risk": 0,
                                  "bands": {}, "severities": {}}


def _estate() -> Estate:
    """An image run by a pod in team "shop-team", one Docker container on host "build-host", and a
    registry tag; plus a second namespace with nothing wrong."""
    nodes = [
        AssetNode(1, "image", "sha256:a", "app:1"),
        AssetNode(2, "k8s-cluster", "uid-1", "prod"),
        AssetNode(3, "k8s-namespace", "uid-1/Namespace/shop", "Namespace/shop", "k8s-cluster", "uid-1",
                  {"name": "shop", "labels": {"team": "shop-team"}}),
        AssetNode(4, "k8s-pod", "uid-1/shop/Pod/web", "shop/Pod/web", "k8s-namespace", "uid-1/Namespace/shop",
                  {"namespace": "shop", "phase": "Running"}),
        AssetNode(5, "k8s-namespace", "uid-1/Namespace/idle", "Namespace/idle", "k8s-cluster", "uid-1",
                  {"name": "idle"}),
        AssetNode(6, "docker-engine", "engine-1", "build-host"),
        AssetNode(7, "container", "engine-1/c", "c", "docker-engine", "engine-1", {"running": True}),
        AssetNode(8, "registry", "reg:5000", "reg:5000"),
        AssetNode(9, "repository", "reg:5000/app", "reg:5000/app", "registry", "reg:5000"),
        AssetNode(10, "tag", "reg:5000/app:1", "reg:5000/app:1", "repository", "reg:5000/app"),
    ]
    edges = [Edge(4, "runs", 1), Edge(7, "runs", 1), Edge(10, "points-to", 1)]
    return Estate(nodes, edges)


def test_a_snapshot_spreads_each_assets_findings_over_its_groups() -> None:
    counted = {
        (1, "image", "build", "critical", "critical"): [2, 90, 170],  # the image: everywhere it runs or is held
        (7, "runtime", "run", "high", "high"): [1, 65, 65],  # the container: its host only
        (5, "orchestrator", "run", "low", "minimal"): [3, 10, 30],  # the idle namespace
    }
    snapshot = snapshot_counts(_estate(), counted, accepted=4)
    assert snapshot["formula"] == 1
    image, container, idle = Tally(), Tally(), Tally()
    image.add_group("critical", "critical", 2, 90, 170)
    container.add_group("high", "high", 1, 65, 65)
    idle.add_group("minimal", "low", 3, 10, 30)
    assert snapshot["estate"] == {**merge_tallies([image, container, idle]).summary(10), "accepted": 4}
    assert snapshot["estate"]["open"] == 6
    groups = snapshot["groups"]
    assert groups["category"] == {"image": image.summary(10), "orchestrator": idle.summary(10),
                                  "runtime": container.summary(10)}
    assert list(groups["category"]) == ["image", "orchestrator", "runtime"]  # sorted
    assert groups["phase"] == {"build": image.summary(10), "run": merge_tallies([container, idle]).summary(10)}
    # Each group is scored against the number of assets it holds: the cluster holds its 4
    # assets and the image; the shop namespace its namespace, pod and the image.
    assert groups["cluster"] == {"prod": merge_tallies([image, idle]).summary(5)}
    assert groups["namespace"] == {"prod/idle": idle.summary(1), "prod/shop": image.summary(3)}
    assert groups["host"] == {"build-host": merge_tallies([image, container]).summary(3)}
    assert groups["registry"] == {"reg:5000": image.summary(4)}
    assert groups["team"] == {"shop-team": image.summary(3)}  # the namespace labels itself, its pod, the image
    assert set(groups) == {"category", "phase", "namespace", "cluster", "host", "registry", "team"}
