"""Kubernetes collectors: the live API (``live``) and manifest files (``manifests``) share one normalizer."""
