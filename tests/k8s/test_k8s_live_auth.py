"""Reaching a cluster: kubeconfig contexts, TLS, the in-cluster account, exec-plugin policy, CLI options, RBAC."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from collectors.k8s.kubeconfig import InCluster, KubeconfigContext
from collectors.k8s.live import KUBE_SYSTEM, LiveCollector
from collectors.k8s.resources import OPERATOR_RESOURCES, RESOURCES
from posture.cli.context import CommandError
from posture.cli.k8s import k8s_group
from posture.cli.sources import SourceContext
from posture.cli.sources import kubernetes as source
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, ScopeKind, ScopeRef
from posture.secrets import SecretScanner
from tests.k8s.live_support import exec_plugin, exec_user, self_signed, write_kubeconfig
from tests.k8s.pss_support import SCANNER
from tests.k8s.replay_server import CLUSTER_ID, ReplayServer, add, corpus_cluster, with_cluster_uid

TOKEN = "replay-token"


def _assets(collector: LiveCollector) -> list[AssetRecord]:
    records = list(collector.collect())
    assert not [r for r in records if isinstance(r, Problem)]
    return [r for r in records if isinstance(r, AssetRecord)]


# --- TLS and the in-cluster service account ----------------------------------------------------------
def test_tls_with_the_kubeconfig_ca(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with ReplayServer(corpus_cluster(), token=TOKEN, tls=(str(cert), str(key))) as server:
        path = write_kubeconfig(
            tmp_path / "kubeconfig",
            {"tls": (server.url, {"token": TOKEN})},
            cluster_extra={"certificate-authority": str(cert)},
        )
        assets = _assets(LiveCollector(KubeconfigContext(str(path), "tls")))
    assert server.url.startswith("https://")
    assert len([a for a in assets if a.kind is AssetKind.POD]) == 6


def test_an_unknown_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with ReplayServer(corpus_cluster(), token=TOKEN, tls=(str(cert), str(key))) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"tls": (server.url, {"token": TOKEN})})
        with pytest.raises(CollectorError) as caught:
            list(LiveCollector(KubeconfigContext(str(path), "tls")).collect())
    message = str(caught.value)
    assert message.startswith(f'kubernetes context "tls": TLS failure talking to {server.url}')
    assert "CERTIFICATE_VERIFY_FAILED" in message and "\n" not in message
    assert server.requests == []  # the handshake failed before any request was read


def test_insecure_skip_tls_verify_is_refused_not_obeyed(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with ReplayServer(corpus_cluster(), token=TOKEN, tls=(str(cert), str(key))) as server:
        path = write_kubeconfig(
            tmp_path / "kubeconfig",
            {"lax": (server.url, {"token": TOKEN})},
            cluster_extra={"insecure-skip-tls-verify": True},
        )
        with pytest.raises(
            CollectorError, match=r'^kubernetes context "lax": the kubeconfig disables TLS verification'
        ):
            list(LiveCollector(KubeconfigContext(str(path), "lax")).collect())
    assert server.requests == []


def test_in_cluster_service_account(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with ReplayServer(corpus_cluster(), tls=(str(cert), str(key))) as server:
        server.token = TOKEN
        port = server.url.rsplit(":", 1)[1]
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
        target = InCluster("prod-eu", token_path=str(token_file), ca_path=str(cert), environ=environ)
        collector = LiveCollector(target)
        assets = _assets(collector)
    assert collector.scope == ScopeRef(ScopeKind.KUBERNETES, CLUSTER_ID)
    assert (collector.scope.label, collector.scope.legacy) == ("prod-eu", ("prod-eu",))
    assert len([a for a in assets if a.kind is AssetKind.POD]) == 6
    # The in-cluster loader sends "bearer <token>"; the replay server, like the API server, accepts it.
    assert {r.authorization.lower() for r in server.requests if r.authorization} == {f"bearer {TOKEN}"}


def test_outside_a_pod_in_cluster_fails_in_one_line(tmp_path: Path) -> None:
    target = InCluster(token_path=str(tmp_path / "none"), ca_path=str(tmp_path / "none"), environ={})
    with pytest.raises(CollectorError) as caught:
        list(LiveCollector(target).collect())
    assert str(caught.value) == (
        'kubernetes in-cluster "in-cluster": not inside a pod with a service account (Service host/port is not set.)'
    )


# --- exec credential plugins -------------------------------------------------------------------------
def _assert_refused(tmp_path: Path, user: Mapping[str, Any], command: str, allowed: tuple[str, ...] = ()) -> None:
    """The user's ``command`` is refused in one line, before any request reaches the API server."""
    with ReplayServer(corpus_cluster(), token=TOKEN) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"sso": (server.url, user)})
        with pytest.raises(CollectorError) as caught:
            list(LiveCollector(KubeconfigContext(str(path), "sso", allowed)).collect())
    assert str(caught.value) == (
        f'kubernetes context "sso": exec credential plugin "{command}" not allowed '
        f"(allow it with --allow-exec-plugin {command})"
    )
    assert server.requests == []


def test_an_exec_plugin_is_refused_unless_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "plugin-ran"
    plugin = exec_plugin(tmp_path / "cloudco-login", TOKEN, marker)
    _assert_refused(tmp_path, exec_user(str(plugin)), str(plugin))
    assert not marker.exists()


def test_an_allowed_exec_plugin_runs_and_its_token_is_used(tmp_path: Path) -> None:
    marker = tmp_path / "plugin-ran"
    plugin = exec_plugin(tmp_path / "cloudco-login", TOKEN, marker)
    with ReplayServer(corpus_cluster(), token=TOKEN) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"sso": (server.url, exec_user(str(plugin)))})
        assets = _assets(LiveCollector(KubeconfigContext(str(path), "sso", (str(plugin),))))
    assert marker.exists() and assets
    assert {r.authorization for r in server.requests} == {f"Bearer {TOKEN}"}


def test_a_bare_plugin_name_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, elsewhere = tmp_path / "bin", tmp_path / "elsewhere"
    bin_dir.mkdir()
    elsewhere.mkdir()
    marker = tmp_path / "plugin-ran"
    exec_plugin(bin_dir / "cloudco-login", TOKEN, marker)
    impostor = exec_plugin(elsewhere / "cloudco-login", TOKEN, marker)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with ReplayServer(corpus_cluster(), token=TOKEN) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"sso": (server.url, exec_user("cloudco-login"))})
        # Allowing a different file of the same name does not allow the one PATH finds.
        with pytest.raises(CollectorError, match="not allowed"):
            list(LiveCollector(KubeconfigContext(str(path), "sso", (str(impostor),))).collect())
        assert not marker.exists()
        assert _assets(LiveCollector(KubeconfigContext(str(path), "sso", ("cloudco-login",))))
    assert marker.exists()


def test_a_relative_plugin_path_is_taken_from_the_kubeconfig_directory(tmp_path: Path) -> None:
    config_dir = tmp_path / "kube"
    config_dir.mkdir()
    plugin = exec_plugin(config_dir / "login.sh", TOKEN, tmp_path / "ran")
    with ReplayServer(corpus_cluster(), token=TOKEN) as server:
        path = write_kubeconfig(config_dir / "config", {"sso": (server.url, exec_user("./login.sh"))})
        assert _assets(LiveCollector(KubeconfigContext(str(path), "sso", (str(plugin),))))


def test_a_failing_plugin_is_a_collector_error(tmp_path: Path) -> None:
    plugin = tmp_path / "broken-login"
    plugin.write_text("#!/bin/sh\necho 'no session' >&2\nexit 1\n")
    plugin.chmod(0o755)
    path = write_kubeconfig(tmp_path / "kubeconfig", {"sso": ("http://127.0.0.1:9", exec_user(str(plugin)))})
    with pytest.raises(
        CollectorError, match=r'^kubernetes context "sso": exec credential plugin .* gave no credentials$'
    ):
        list(LiveCollector(KubeconfigContext(str(path), "sso", (str(plugin),))).collect())


def test_an_auth_provider_command_is_under_the_same_policy(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    plugin = exec_plugin(tmp_path / "gcloud", TOKEN, marker)
    user = {"auth-provider": {"name": "gcp", "config": {"cmd-path": f"{plugin} config config-helper"}}}
    path = write_kubeconfig(tmp_path / "kubeconfig", {"gke": ("https://127.0.0.1:9", user)})
    with pytest.raises(CollectorError, match=f'exec credential plugin "{plugin}" not allowed'):
        list(LiveCollector(KubeconfigContext(str(path), "gke")).collect())
    assert not marker.exists()


@pytest.mark.parametrize(
    "provider",
    [
        {"name": "azure"},  # a provider the client does not know: it falls through to exec
        {"name": "oidc", "config": {"id-token": "not-a-jwt", "client-id": "c"}},  # a token it cannot use
        {"name": "gcp", "config": {"cmd-path": "/bin/true", "access-token": "t", "expiry": "2999-01-01T00:00:00Z"}},
    ],
)
def test_an_auth_provider_does_not_hide_the_exec_plugin(tmp_path: Path, provider: dict[str, Any]) -> None:
    marker = tmp_path / "plugin-ran"
    plugin = exec_plugin(tmp_path / "cloudco-login", TOKEN, marker)
    user = {"auth-provider": provider, **exec_user(str(plugin))}
    allowed = ("/bin/true",) if provider["name"] == "gcp" else ()
    _assert_refused(tmp_path, user, str(plugin), allowed)
    assert not marker.exists()


def test_a_token_file_beside_an_exec_plugin_does_not_exempt_it(tmp_path: Path) -> None:
    marker = tmp_path / "plugin-ran"
    plugin = exec_plugin(tmp_path / "cloudco-login", TOKEN, marker)
    empty = tmp_path / "token"
    empty.write_text("")  # an empty token file: the client falls through to exec
    _assert_refused(tmp_path, {"tokenFile": str(empty), **exec_user(str(plugin))}, str(plugin))
    assert not marker.exists()


def test_an_exec_env_path_cannot_swap_an_allowed_bare_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, planted = tmp_path / "bin", tmp_path / "planted"
    bin_dir.mkdir()
    planted.mkdir()
    marker = tmp_path / "plugin-ran"
    exec_plugin(bin_dir / "cloudco-login", TOKEN, tmp_path / "genuine-ran")
    exec_plugin(planted / "cloudco-login", TOKEN, marker)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    user = exec_user("cloudco-login")
    user["exec"]["env"] = [{"name": "PATH", "value": str(planted)}]
    _assert_refused(tmp_path, user, "cloudco-login", ("cloudco-login",))
    assert not marker.exists()


# --- posture collect options -------------------------------------------------------------------------
def _params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "kubeconfig": None,
        "kube_contexts": (),
        "all_contexts": False,
        "in_cluster": False,
        "in_cluster_name": "in-cluster",
        "allow_exec_plugins": (),
        "kube_timeout": 30.0,
    }
    params.update(given)
    return params


def _context(settings: Mapping[str, Any] | None = None) -> SourceContext:
    return SourceContext(secrets=SecretScanner(b"k" * 32), settings=settings or {})


def test_options_are_declared_for_posture_collect() -> None:
    command = click.Command("collect", callback=lambda **kw: None)
    for option in source.OPTIONS:
        command = option(command)
    names = {p.name for p in command.params}
    assert names == set(_params())


def test_build_one_collector_per_context(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        {"prod": ("https://prod.example:6443", {"token": "a"}), "dev": ("https://dev.example:6443", {"token": "b"})},
        current="dev",
    )
    scopes = lambda collectors: [c.target.name for c in collectors]  # noqa: E731
    assert source.build(_params(), _context()) == []
    assert scopes(source.build(_params(kubeconfig=str(path)), _context())) == ["dev"]
    assert scopes(source.build(_params(kubeconfig=str(path), all_contexts=True), _context())) == ["prod", "dev"]
    both = source.build(_params(kubeconfig=str(path), kube_contexts=("prod", "prod"), in_cluster=True), _context())
    assert scopes(both) == ["prod", "in-cluster"]
    with pytest.raises(CommandError, match=f"kubeconfig {path}: no context named staging"):
        source.build(_params(kubeconfig=str(path), kube_contexts=("staging",)), _context())
    with pytest.raises(CommandError, match="no such file"):
        source.build(_params(kubeconfig=str(tmp_path / "missing"), all_contexts=True), _context())


def test_kubeconfig_env_list_is_merged_and_settings_allow_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_kubeconfig(tmp_path / "a", {"one": ("https://one.example", {"token": "a"})})
    second = write_kubeconfig(tmp_path / "b", {"two": ("https://two.example", {"token": "b"})})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    settings = {"kubernetes": {"allow_exec_plugins": ["aws"]}}
    collectors = source.build(
        _params(all_contexts=True, allow_exec_plugins=("gke-gcloud-auth-plugin",)), _context(settings)
    )
    assert [c.target.name for c in collectors if isinstance(c, LiveCollector)] == ["one", "two"]
    targets = [c.target for c in collectors if isinstance(c, LiveCollector)]
    assert [t.allowed_plugins for t in targets if isinstance(t, KubeconfigContext)] == [
        ("gke-gcloud-auth-plugin", "aws"),
        ("gke-gcloud-auth-plugin", "aws"),
    ]


def test_several_contexts_in_one_run_are_separate_scopes(tmp_path: Path) -> None:
    east_lists, west_lists = with_cluster_uid(corpus_cluster(), "e-1"), with_cluster_uid(corpus_cluster(), "w-2")
    with ReplayServer(east_lists, token=TOKEN) as east, ReplayServer(west_lists, token=TOKEN) as west:
        path = write_kubeconfig(
            tmp_path / "kubeconfig", {"east": (east.url, {"token": TOKEN}), "west": (west.url, {"token": TOKEN})}
        )
        collectors = source.build(_params(kubeconfig=str(path), all_contexts=True), _context())
        keys = {c.scope.label: {a.key for a in _assets(c)} for c in collectors if isinstance(c, LiveCollector)}
        scopes = {c.scope.label: c.scope.name for c in collectors}
    assert scopes == {"east": "cluster:e-1", "west": "cluster:w-2"}
    assert all(key.startswith("cluster:e-1") for key in keys["east"] if "sha256:" not in key)
    assert all(key.startswith("cluster:w-2") for key in keys["west"] if "sha256:" not in key)
    assert len(keys["east"]) == len(keys["west"]) > 20
    assert east.requests and west.requests


# --- posture k8s rbac --------------------------------------------------------------------------------
def test_rbac_grants_exactly_what_the_collector_lists(tmp_path: Path) -> None:
    result = CliRunner().invoke(k8s_group, ["rbac", "--namespace", "security", "--service-account", "posture"])
    assert result.exit_code == 0, result.output
    role, binding = list(yaml.safe_load_all(result.output))
    assert role["kind"] == "ClusterRole" and binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "posture", "namespace": "security"}]
    granted = {(group, res) for rule in role["rules"] for group in rule["apiGroups"] for res in rule["resources"]}
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list"}
    assert not any(res == "secrets" or "*" in res or group == "*" for group, res in granted)
    assert granted == {(r.group, r.plural) for r in (*RESOURCES, *OPERATOR_RESOURCES)}
    assert ("aquasecurity.github.io", "exposedsecretreports") in granted  # the operator's reports, not Secrets

    # Every request of a real collection is covered by the role (besides /version and API discovery, open
    # to every authenticated user), here with trivy-operator's reports served.
    with ReplayServer(_operator_cluster(), token=TOKEN) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"c": (server.url, {"token": TOKEN})})
        list(LiveCollector(KubeconfigContext(str(path), "c"), secrets=SCANNER).collect())
    paths = {p for p in server.paths if p not in ("/version", "/apis/aquasecurity.github.io/v1alpha1")}
    # The cluster's identity is one object of a listed resource: the same grant's "get" covers it.
    assert KUBE_SYSTEM in paths and ("", "namespaces") in granted
    paths = {"/api/v1/namespaces" if p == KUBE_SYSTEM else p for p in paths}
    versions = {(r.group, r.plural): r.version for r in (*RESOURCES, *OPERATOR_RESOURCES)}
    grant_paths = {(f"/apis/{g}/{versions[g, res]}/{res}" if g else f"/api/v1/{res}") for g, res in granted}
    assert paths == grant_paths


def _operator_cluster() -> dict[str, list[dict[str, Any]]]:
    """The corpus cluster with one object of each trivy-operator report kind (what they say does not matter:
    only which requests the collection makes)."""
    lists = corpus_cluster()
    for res in OPERATOR_RESOURCES:
        add(lists, {"apiVersion": res.api_version, "kind": res.kind,
                    "metadata": {"name": f"empty-{res.plural}", "namespace": "default", "labels": {}}, "report": {}})
    return lists
