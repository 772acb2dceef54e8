"""The rule registry: every rule module is listed here explicitly (no registration by import side effect)."""

from __future__ import annotations

from posture.rules import docker, image, k8s_cis, k8s_controlplane, k8s_hygiene, k8s_pss, registry, scanner
from posture.rules.base import RuleRegistry


def default_registry(*, max_image_age_days: int = image.DEFAULT_MAX_IMAGE_AGE_DAYS) -> RuleRegistry:
    """Every rule Posture ships, in listing order: build, then run, then orchestrator and registry.

    ``max_image_age_days`` is the configured age past which an image counts as stale.
    """
    return RuleRegistry(
        [
            *scanner.RULES,
            *image.rules(max_image_age_days=max_image_age_days),
            *registry.RULES,
            *docker.RULES,
            *k8s_pss.RULES,
            *k8s_cis.RULES,
            *k8s_controlplane.RULES,
            *k8s_hygiene.RULES,
        ]
    )
