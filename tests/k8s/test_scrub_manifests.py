"""Secrets in Kubernetes labels, annotations and probe hosts never reach the store (issue 23, item 2).

Manifests go through ``posture collect --manifests``; the database file and the JSON exports are
then searched for every planted value, while the identifiers next to them stay as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.scrub_support import leaks, posture

SECRETS = {
    "namespace-label": "AKIAIOSFODNN7EXAMPLE",
    "workload-label": "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8",
    "db-password-label": "Hunter2-Label-Value",
    "template-label": "glpat-" + "Mm9Nn8Bb7Vv6Cc5Xx4Zz",
    "team-annotation": "xoxb-" + "4815162342-abcdefghij",
    "probe-password": "pr0be-Passw0rd",
}
MANIFEST = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: payments
    aws-key: {SECRETS["namespace-label"]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 3f2a9c0e-1b4d-4f6a-8b7c-9d0e1f2a3b4c
  labels:
    app: web
    deploy-token: {SECRETS["workload-label"]}
    db-password: {SECRETS["db-password-label"]}
  annotations:
    team: {SECRETS["team-annotation"]}
spec:
  template:
    metadata:
      labels:
        app: web
        ci: {SECRETS["template-label"]}
    spec:
      containers:
      - name: web
        image: registry.example/shop/web@sha256:{"ab" * 32}
        env:
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {{name: db-password, key: password}}
        livenessProbe:
          httpGet: {{host: "app:{SECRETS["probe-password"]}@db.internal", path: /health, port: 8080}}
"""


def test_no_label_annotation_or_probe_secret_is_stored(tmp_path: Path) -> None:
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(MANIFEST)
    result = posture(tmp_path, "collect", "--manifests", str(manifest))
    assert result.returncode == 0, result.stderr

    assert leaks(tmp_path, SECRETS) == []
    assets = json.loads(posture(tmp_path, "assets", "--format", "json").stdout)
    text = json.dumps(assets)
    # What the product relies on is kept: names, image references by digest, Secret references.
    for kept in (
        '"app": "web"',
        '"team": "payments"',
        "ab" * 32,
        "db-password",
    ):
        assert kept in text, kept
    assert "app:<secret " in text and "@db.internal" in text  # the probe host stays readable evidence


def _attributes(root: Path) -> dict[str, object]:
    return {a["key"]: a["attributes"] for a in json.loads(posture(root, "assets", "--format", "json").stdout)}


def test_a_second_collection_of_the_same_manifests_changes_nothing(tmp_path: Path) -> None:
    """Scrubbing is deterministic and idempotent: stored attributes and findings do not churn."""
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(MANIFEST)
    assert posture(tmp_path, "collect", "--manifests", str(manifest)).returncode == 0
    before = _attributes(tmp_path)
    again = posture(tmp_path, "collect", "--manifests", str(manifest))
    assert again.returncode == 0, again.stderr
    assert "(0 new, 0 resolved)" in again.stdout and _attributes(tmp_path) == before
