"""The rule registry: every rule module is listed here explicitly (no registration by import side effect)."""

from __future__ import annotations

from posture.rules.base import Rule, RuleRegistry


def default_registry() -> RuleRegistry:
    rules: list[Rule] = []
    return RuleRegistry(rules)
