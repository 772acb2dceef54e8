"""Control-plane components found as static pods in kube-system, with their command-line flags.

kubeadm-style clusters run kube-apiserver, etcd, kube-controller-manager and kube-scheduler as
static (mirror) pods, so their flags are readable from the pod spec without node access; that is
how the CIS 1.2.x API-server checks work from the API alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.k8s.podspec import as_list, as_map

COMPONENTS: frozenset[str] = frozenset({"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler"})


def component_of(pod: Mapping[str, Any]) -> str | None:
    """The control-plane component a kube-system pod runs, by its ``component`` label or its command."""
    metadata = as_map(pod.get("metadata"))
    if metadata.get("namespace") != "kube-system":
        return None
    label = as_map(metadata.get("labels")).get("component")
    if label in COMPONENTS:
        return str(label)
    for container in as_list(as_map(pod.get("spec")).get("containers")):
        command = as_list(as_map(container).get("command"))
        if command and str(command[0]).rsplit("/", 1)[-1] in COMPONENTS:
            return str(command[0]).rsplit("/", 1)[-1]
    return None


def parse_flags(argv: list[Any]) -> dict[str, str]:
    """``--name=value``, ``--name value`` and bare ``--name`` (meaning true); later flags win."""
    flags: dict[str, str] = {}
    items = [str(a) for a in argv]
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("--"):
            name, eq, value = item[2:].partition("=")
            if not eq:
                if i + 1 < len(items) and not items[i + 1].startswith("-"):
                    value = items[i + 1]
                    i += 1
                else:
                    value = "true"
            flags[name] = value
        i += 1
    return flags


def component_flags(pod: Mapping[str, Any], component: str) -> dict[str, str]:
    """Flags of the container running ``component`` (command and args together)."""
    for raw in as_list(as_map(pod.get("spec")).get("containers")):
        container = as_map(raw)
        argv = as_list(container.get("command")) + as_list(container.get("args"))
        if any(str(a).rsplit("/", 1)[-1] == component for a in argv[:1]) or container.get("name") == component:
            return parse_flags(argv)
    return {}
