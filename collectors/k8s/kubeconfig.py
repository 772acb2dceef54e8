"""Where a cluster is and how to authenticate to it: kubeconfig contexts and the in-cluster account.

A kubeconfig can make its reader run any program (``users[].exec.command``, or an auth-provider's
``cmd-path``). Like kubectl 1.35's credential plugin policy, Posture runs such a plugin only when
the user allowed it by name (``--allow-exec-plugin``): an entry with a path must be that path, a
bare name is looked up on the PATH the plugin would run with (an ``exec.env`` PATH included), and
both sides are compared after resolving symlinks. Every program an entry names is checked, not only
the one the client would try first: the client falls through to the next method when one fails. Unlike
kubectl, whose default stays "AllowAll", Posture's default is to deny: it runs unattended (cron,
CI), where nobody would notice a planted command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_CERT_FILENAME, SERVICE_TOKEN_FILENAME, InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

from posture.errors import SourceFailure
from posture.records import CollectorError

DEFAULT_KUBECONFIG = "~/.kube/config"
IN_CLUSTER = "in-cluster"


class KubeconfigError(SourceFailure):
    """The kubeconfig itself cannot be read (missing, not YAML, unknown context): one line."""


class ClusterTarget(Protocol):
    """One cluster to collect: its scope name, how messages name it, and its client configuration."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    def configuration(self) -> Configuration:
        """A ready client configuration; raises :class:`CollectorError` naming the target."""
        ...


def kubeconfig_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--kubeconfig``, else ``KUBECONFIG`` (a path list, merged as kubectl does), else the default."""
    return explicit or environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def _merged(path: str) -> Any:
    try:
        merger = KubeConfigMerger(path)  # type: ignore[no-untyped-call]  # the client is untyped
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML{where}") from None
    except (OSError, ConfigException, ValueError, AttributeError, TypeError, KeyError) as exc:
        raise KubeconfigError(f"kubeconfig {path}: {_one_line(exc)}") from None
    if merger.config is None:
        raise KubeconfigError(f"kubeconfig {path}: no such file")
    return merger.config


def list_contexts(path: str) -> tuple[list[str], str | None]:
    """The context names of a kubeconfig and its current context."""
    config = _merged(path)
    try:
        names = [str(node["name"]) for node in config.safe_get("contexts") or []]
    except (KeyError, TypeError):
        raise KubeconfigError(f"kubeconfig {path}: a context has no name") from None
    current = config.safe_get("current-context")
    return names, str(current) if current else None


@dataclass(frozen=True)
class KubeconfigContext:
    """One kubeconfig context; ``allowed_plugins`` are the exec plugins the user let Posture run."""

    path: str
    context: str
    allowed_plugins: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.context

    @property
    def label(self) -> str:
        return f'kubernetes context "{self.context}"'

    def configuration(self) -> Configuration:
        try:
            config = _merged(self.path)
            if config["contexts"].get_with_name(self.context, safe=True) is None:
                raise KubeconfigError(f"kubeconfig {self.path}: no context named {self.context}")
            loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=config, active_context=self.context, config_base_path=None
            )
            programs = _plugin_programs(config, self.context)
        except (KubeconfigError, ConfigException, KeyError, TypeError) as exc:
            raise CollectorError(f"{self.label}: {_one_line(exc)}") from None
        for program in programs:
            _check_plugin(self.label, program, self.allowed_plugins)
        configuration = Configuration()
        try:
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError, ValueError) as exc:
            raise CollectorError(f"{self.label}: {_one_line(exc)}") from None
        if programs and not (configuration.api_key or configuration.cert_file):
            # The client logs a failed plugin and carries on without credentials; stop here instead.
            raise CollectorError(f'{self.label}: exec credential plugin "{programs[-1].command}" gave no credentials')
        _require_tls_verification(self.label, configuration)
        return configuration


@dataclass(frozen=True)
class InCluster:
    """The pod's own service account (token and CA mounted by Kubernetes)."""

    scope_name: str = IN_CLUSTER
    token_path: str = SERVICE_TOKEN_FILENAME
    ca_path: str = SERVICE_CERT_FILENAME
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def name(self) -> str:
        return self.scope_name

    @property
    def label(self) -> str:
        return f'kubernetes in-cluster "{self.scope_name}"'

    def configuration(self) -> Configuration:
        configuration = Configuration()
        try:
            loader = InClusterConfigLoader(self.token_path, self.ca_path, environ=self.environ)  # type: ignore[no-untyped-call]
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError) as exc:
            raise CollectorError(f"{self.label}: not inside a pod with a service account ({_one_line(exc)})") from None
        return configuration


@dataclass(frozen=True)
class _Program:
    """A program a kubeconfig user entry can make the client run, and where the client would find it."""

    command: str
    cwd: str  # a relative path is taken from here
    search_path: str  # a bare name is looked up on this PATH


def _plugin_programs(config: Any, context: str) -> list[_Program]:
    """Every program this context's user entry could run for credentials, in the client's order.

    The client tries an auth-provider, then a token, then ``exec``, and falls through whenever one
    gives nothing (an unknown provider name such as ``azure``, an OIDC token it cannot use): so both
    the auth-provider's ``cmd-path`` and ``exec.command`` are returned whenever present, whatever
    else the entry holds, and each must be allowed.
    """
    ctx = config["contexts"].get_with_name(context)["context"]
    user_name = ctx.safe_get("user")
    users = config.safe_get("users")
    entry = config["users"].get_with_name(user_name, safe=True) if user_name and users else None
    user = entry.safe_get("user") if entry is not None else None
    if not user:
        return []
    programs: list[_Program] = []
    provider_config = (user.get("auth-provider") or {}).get("config") or {}
    cmd_path = provider_config.get("cmd-path")
    if cmd_path:
        # CommandTokenSource runs cmd-path whole when cmd-args is given, else its first word, from
        # Posture's own directory and PATH.
        command = str(cmd_path) if "cmd-args" in provider_config else str(cmd_path).split()[0]
        programs.append(_Program(command, os.getcwd(), os.environ.get("PATH", os.defpath)))
    exec_config = user.get("exec") or {}
    if exec_config.get("command"):
        cluster = config["clusters"].get_with_name(ctx["cluster"])
        cwd = os.path.dirname(os.path.abspath(cluster.path)) if cluster.path else os.getcwd()
        programs.append(_Program(str(exec_config["command"]), cwd, _exec_search_path(exec_config)))
    return programs


def _exec_search_path(exec_config: Any) -> str:
    """The PATH the exec plugin is looked up on: the entry's own ``env`` may replace Posture's."""
    for item in exec_config.get("env") or []:
        if isinstance(item, Mapping) and item.get("name") == "PATH":
            return str(item.get("value") or "")
    return os.environ.get("PATH", os.defpath)


def _resolve(program: _Program) -> str | None:
    """The file ``program`` runs, as ``subprocess`` finds it: a path from ``cwd``, a bare name on its PATH.

    No ``~`` expansion: ``subprocess`` does none, so ``~/x`` in a kubeconfig is a directory named ``~``.
    """
    command = program.command
    if os.sep in command:
        candidates = [os.path.join(program.cwd, command)]
    else:
        candidates = [os.path.join(program.cwd, folder, command) for folder in program.search_path.split(os.pathsep)]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def _check_plugin(label: str, program: _Program, allowed: Sequence[str]) -> None:
    resolved = _resolve(program)
    here = (os.getcwd(), os.environ.get("PATH", os.defpath))
    if resolved is not None and any(
        _resolve(_Program(os.path.expanduser(entry), *here)) == resolved for entry in allowed
    ):
        return
    command = program.command
    if resolved is None and command in allowed:
        raise CollectorError(f'{label}: exec credential plugin "{command}" not found')
    raise CollectorError(
        f'{label}: exec credential plugin "{command}" not allowed (allow it with --allow-exec-plugin {command})'
    )


def _require_tls_verification(label: str, configuration: Configuration) -> None:
    """A kubeconfig's ``insecure-skip-tls-verify`` would silently let anyone impersonate the API server."""
    if configuration.host.startswith("https") and not configuration.verify_ssl:
        raise CollectorError(
            f"{label}: the kubeconfig disables TLS verification (insecure-skip-tls-verify); "
            "Posture keeps it on: give the cluster's certificate-authority instead"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
