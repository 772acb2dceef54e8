"""The OCI registry collector: registries, repositories, tags and images over the Distribution API (v2)."""

from collectors.registry.collector import RegistryCollector
from collectors.registry.target import Policy, RegistryTarget, TargetError, parse_registry_url

__all__ = ["Policy", "RegistryCollector", "RegistryTarget", "TargetError", "parse_registry_url"]
