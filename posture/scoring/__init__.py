"""Risk scoring, published and explainable: the formula (:mod:`.formula`), what runtime attributes say
(:mod:`.traits`), the estate graph that joins images to what runs them (:mod:`.estate`) and the
roll-ups with the posture score and grade (:mod:`.rollup`). Pure: no I/O, no database (import-linter)."""

from __future__ import annotations

from posture.scoring.formula import BASE_RISK, Context, FindingFacts, Score, Use, score

__all__ = ["BASE_RISK", "Context", "FindingFacts", "Score", "Use", "score"]
