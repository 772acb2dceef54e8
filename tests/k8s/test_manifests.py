"""The manifest collector: file formats, broken documents, skipped kinds, scope, and the CLI source."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from collectors.k8s.manifests import ManifestCollector
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.cli.sources import manifests as manifests_source
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, Record, ScopeKind, ScopeRef
from tests.k8s.pss_support import SCANNER

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""


def collect(*paths: Path) -> list[Record]:
    return list(ManifestCollector(list(paths), secrets=SCANNER).collect())


def assets(records: list[Record], kind: AssetKind | None = None) -> dict[str, AssetRecord]:
    return {r.name: r for r in records if isinstance(r, AssetRecord) and (kind is None or r.kind == kind)}


def manifest_set(records: list[Record]) -> dict[str, Any]:
    (found,) = assets(records, AssetKind.MANIFEST_SET).values()
    return dict(found.attributes)


def problems(records: list[Record]) -> list[str]:
    return [r.message for r in records if isinstance(r, Problem)]


def test_multi_document_yaml_with_helm_comments_and_empty_documents(tmp_path: Path) -> None:
    file = tmp_path / "rendered.yaml"
    file.write_text(
        "---\n# Source: shop/templates/sa.yaml\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n"
        "---\n# Source: shop/templates/empty.yaml\n---\n" + DEPLOYMENT + "...\n"
    )
    records = collect(file)
    assert set(assets(records)) >= {"shop/ServiceAccount/web", "shop/Deployment/web"}
    assert problems(records) == []
    assert manifest_set(records)["documents"] == 2


def test_list_and_typed_list_documents(tmp_path: Path) -> None:
    pods = {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [{"metadata": {"name": f"p{i}", "namespace": "ns"}, "spec": {"containers": []}} for i in range(2)],
    }
    generic = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}],
    }
    (tmp_path / "pods.json").write_text(json.dumps(pods))
    (tmp_path / "list.yaml").write_text(json.dumps(generic))
    names = set(assets(collect(tmp_path)))
    assert {"ns/Pod/p0", "ns/Pod/p1", "Namespace/ns"} <= names


def test_broken_document_is_reported_with_file_and_line_and_the_rest_is_collected(tmp_path: Path) -> None:
    file = tmp_path / "mixed.yaml"
    broken = "apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n"
    file.write_text(
        DEPLOYMENT + "---\n" + broken + "---\n" + DEPLOYMENT.replace("name: web\n  namespace", "name: api\n  namespace")
    )
    records = collect(file)
    (message,) = problems(records)
    # The Deployment is 13 lines, the separator line 14, the broken flow sequence starts on line 18.
    assert f"{file}:18:" in message
    assert "invalid YAML" in message
    assert {"shop/Deployment/web", "shop/Deployment/api"} <= set(assets(records))
    assert manifest_set(records)["broken_documents"] == 1


def test_broken_json_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{\n  "kind": "Pod",\n  "metadata": {,}\n}\n')
    (message,) = problems(collect(file))
    assert f"{file}:3:" in message


def test_unknown_kinds_are_skipped_and_counted_not_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n---\n"
        "replicaCount: 3\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"
    )
    records = collect(tmp_path)
    assert problems(records) == []
    assert manifest_set(records)["skipped_kinds"] == {"(no kind)": 1, "ConfigMap": 2, "CustomResourceDefinition": 1}


def test_object_without_a_name_is_a_problem_naming_file_line_and_helm_template(tmp_path: Path) -> None:
    file = tmp_path / "chart.yaml"
    file.write_text(
        DEPLOYMENT + "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {}\n"
    )
    (message,) = problems(collect(file))
    # the object's first line (its apiVersion), past the "---" and the Helm comment
    assert f"{file}:16 (shop/templates/svc.yaml)" in message and "Service without metadata.name" in message


def test_directories_are_walked_recursively_and_only_manifest_suffixes_read(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deploy.yml").write_text(DEPLOYMENT)
    (tmp_path / "README.txt").write_text("kind: Pod\n")
    records = collect(tmp_path)
    assert manifest_set(records)["files"] == 1
    assert "shop/Deployment/web" in assets(records)


def test_scope_is_the_cluster_and_the_set_and_missing_paths_fail(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(DEPLOYMENT)
    paths = ",".join(sorted([str(tmp_path.resolve()), str((tmp_path / "x.yaml").resolve())]))
    collector = ManifestCollector([tmp_path / "." / "x.yaml", tmp_path])
    assert collector.scope == ScopeRef(ScopeKind.MANIFESTS, f"manifests:{paths}")
    assert (collector.scope.label, collector.scope.legacy) == (paths, (paths,))  # the previous release's scope
    prod = ManifestCollector([tmp_path], cluster="prod-eu", name="shop", adopt_legacy=False)
    assert prod.scope == ScopeRef(ScopeKind.MANIFESTS, "prod-eu:shop")
    assert (prod.scope.label, prod.scope.legacy) == ("shop @ prod-eu", ())
    (manifest_set,) = [r for r in prod.collect() if isinstance(r, AssetRecord) and r.kind is AssetKind.MANIFEST_SET]
    assert (manifest_set.key, manifest_set.name, manifest_set.legacy_keys) == ("prod-eu:shop", "shop @ prod-eu", ())
    with pytest.raises(CollectorError, match="no such file"):
        list(ManifestCollector([tmp_path / "absent"]).collect())


def test_env_literal_secret_is_flagged_but_never_stored(tmp_path: Path) -> None:
    value = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    body = DEPLOYMENT + f"        env:\n        - name: GITHUB_TOKEN\n          value: {value}\n"
    (tmp_path / "d.yaml").write_text(body)
    records = collect(tmp_path)
    deployment = assets(records)["shop/Deployment/web"]
    (hit,) = deployment.attributes["secrets"]
    assert (hit["key"], hit["container"], hit["detector"]) == ("GITHUB_TOKEN", "web", "github-token")
    assert value not in repr(records)


def test_cli_source_builds_one_collector_for_all_paths(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(DEPLOYMENT)
    context = SourceContext(secrets=SCANNER)
    assert manifests_source.build({}, context) == []
    (collector,) = manifests_source.build({"manifest_paths": (str(tmp_path),), "manifests_cluster": "ci"}, context)
    assert "ci/shop/Deployment/web" in {r.key for r in collector.collect() if isinstance(r, AssetRecord)}
    with pytest.raises(CommandError, match="absent: no such file"):
        manifests_source.build({"manifest_paths": (str(tmp_path / "absent"),)}, context)


def test_every_entry_of_a_set_is_read_or_named(tmp_path: Path) -> None:
    """Linked directories are followed (a link back up the tree once); what cannot be read is a problem."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "deploy.yaml").write_text(DEPLOYMENT)
    root = tmp_path / "set"
    root.mkdir()
    (root / "base").symlink_to(shared)  # a kustomize-style shared base, linked in
    (root / "again").symlink_to(root)  # a link back up the tree: read once, not forever
    records = collect(root)
    assert problems(records) == [] and manifest_set(records)["files"] == 1
    assert "shop/Deployment/web" in assets(records)

    os.mkfifo(root / "pipe.yaml")  # would block a reader forever
    (root / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (root / "README").symlink_to(tmp_path / "nowhere")  # may have been a directory of manifests
    records = collect(root)
    assert sorted(problems(records)) == [
        f"manifests: {root / 'README'}: cannot read (FileNotFoundError: No such file or directory)",
        f"manifests: {root / 'gone.yaml'}: cannot read (FileNotFoundError: No such file or directory)",
        f"manifests: {root / 'pipe.yaml'}: cannot read (is a FIFO (named pipe), not a regular file)",
    ]
    assert manifest_set(records)["unreadable"] == 3 and manifest_set(records)["broken_documents"] == 0


def test_each_object_keeps_its_file_and_first_line(tmp_path: Path) -> None:
    file = tmp_path / "app.yaml"
    item = '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "b"}}'
    list_doc = '{"kind": "List", "items": [' + item + "]}\n"
    file.write_text("---\n# Source: shop/templates/deploy.yaml\n" + DEPLOYMENT + "---\n\n" + list_doc)
    found = assets(collect(file))
    assert found["shop/Deployment/web"].attributes["manifest"] == {
        "file": str(file), "line": 3, "template": "shop/templates/deploy.yaml"
    }
    assert found["default/ServiceAccount/b"].attributes["manifest"] == {"file": str(file), "line": 18}
    # A file the fast parser gives up on is parsed document by document: each keeps its document's start.
    slow = tmp_path / "anchors.yaml"
    slow.write_text("a: &x {k: v}\nb: *x\n---\n" + DEPLOYMENT)
    assert assets(collect(slow))["shop/Deployment/web"].attributes["manifest"] == {"file": str(slow), "line": 3}
