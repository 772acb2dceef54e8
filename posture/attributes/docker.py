"""The attributes of a Docker or Podman engine and of its containers.

Written by ``collectors/docker/normalize.py`` (live engines, snapshot files and Podman alike), read by
``posture/rules/docker.py`` and the TUI's trace. Every key is always written, so every key is
required: a value that may be unknown is ``None``, never a missing key.

Readers take a record's attributes through :func:`container_attributes` / :func:`engine_attributes`,
which refuse a mapping without every key: a record that lost a key would otherwise make a rule read
a default and pass, a verdict that fails open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from posture.attributes.contract import require


class Transport(TypedDict):
    """How the engine's API was reached (2.7): ``scheme`` is ``unix``, ``tcp``, ``ssh``, ``npipe`` or ``file``."""

    url: str
    scheme: str
    tls: bool
    client_cert: bool


class DefaultBridge(TypedDict):
    """The default bridge network (``docker0``) and whether containers on it can talk to each other."""

    name: str
    icc: bool


class EngineAttributes(TypedDict):
    """An engine, from ``/info``, ``/version``, its network list and the transport."""

    id: str
    name: str
    product: str
    root_dir: str
    engine_key: str
    server_version: str
    api_version: str
    min_api_version: str
    os: str
    os_type: str
    kernel_version: str
    architecture: str
    storage_driver: str
    logging_driver: str
    cgroup_driver: str
    cgroup_version: str
    security_options: list[str]
    rootless: bool
    userns: bool
    apparmor: bool
    selinux: bool
    #: None when ``/info`` lists no seccomp security option at all.
    seccomp_profile: str | None
    live_restore: bool
    experimental: bool
    debug: bool
    swarm: str
    authorization_plugins: list[str]
    insecure_registries: list[str]
    #: False when the network list could not be read: ``default_bridge`` None then means unknown.
    networks_known: bool
    default_bridge: DefaultBridge | None
    transport: Transport


class Mount(TypedDict):
    type: str
    source: str
    destination: str
    mode: str
    rw: bool
    propagation: str


class PortBinding(TypedDict):
    container_port: str
    host_ip: str
    host_port: str


class Device(TypedDict):
    host: str
    container: str
    permissions: str


class RestartPolicy(TypedDict):
    name: str
    max_retry: int


class Healthcheck(TypedDict):
    """An image's or container's health probe; ``test`` ``["NONE"]`` is ``HEALTHCHECK NONE``."""

    test: list[str]
    interval_ns: int
    timeout_ns: int
    retries: int


class ExecSession(TypedDict):
    """An exec session the engine lists; ``root``: its user is root by name (``root``, ``0``)."""

    id: str
    privileged: bool
    user: str
    root: bool
    running: bool


class ContainerAttributes(TypedDict):
    """A container, from ``/containers/{id}/json`` and what was observed of it running."""

    id: str
    name: str
    engine_id: str
    state: str
    running: bool
    image: str
    image_id: str
    created: str
    user: str
    privileged: bool
    cap_add: list[str]
    cap_drop: list[str]
    network_mode: str
    networks: list[str]
    pid_mode: str
    ipc_mode: str
    uts_mode: str
    userns_mode: str
    cgroup_parent: str
    mounts: list[Mount]
    devices: list[Device]
    ports: list[PortBinding]
    publish_all_ports: bool
    restart_policy: RestartPolicy
    memory: int
    nano_cpus: int
    cpu_shares: int
    cpu_quota: int
    #: None when the engine sets no limit (or reports it as ``null``).
    pids_limit: int | None
    readonly_rootfs: bool
    security_opt: list[str]
    seccomp: str
    apparmor_profile: str
    selinux_options: list[str]
    no_new_privileges: bool
    healthcheck: Healthcheck | None
    #: The engine's health status; None without a probe.
    health: str | None
    env_keys: list[str]
    #: Secret evidence (``posture.secrets.SecretHit.as_evidence``), values redacted.
    secrets: list[dict[str, Any]]
    labels: dict[str, str]
    log_driver: str
    runtime: str
    #: sshd executables seen running; None when the processes were not looked at.
    sshd: list[str] | None
    execs: list[ExecSession]


def container_attributes(attributes: Mapping[str, Any]) -> ContainerAttributes:
    """``attributes`` read as a container's; raises :class:`MissingAttributes` naming any key it lacks."""
    require(attributes, ContainerAttributes.__required_keys__, "container")
    return cast(ContainerAttributes, attributes)


def engine_attributes(attributes: Mapping[str, Any]) -> EngineAttributes:
    """``attributes`` read as an engine's; raises :class:`MissingAttributes` naming any key it lacks."""
    require(attributes, EngineAttributes.__required_keys__, "engine")
    return cast(EngineAttributes, attributes)


def stored_container(attributes: Mapping[str, Any]) -> ContainerAttributes:
    """A stored container's attributes as a reader of the store (the TUI) sees them: typed, not checked.

    A record written by an older release may lack a key, and stored attributes are untrusted JSON, so
    such a reader uses ``.get`` and checks each value's shape; mypy still rejects a key's misspelt name.
    The rules, which judge what the normalizer has just written, use :func:`container_attributes`.
    """
    return cast(ContainerAttributes, attributes)
