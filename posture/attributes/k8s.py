"""The pod summary of a Kubernetes workload or unowned pod (``attributes["pod"]``).

Written by ``collectors/k8s/podspec.py`` (live clusters, manifest files and API lists alike), read by
the ``posture/rules/k8s_*`` modules and the scorer (``posture/scoring/traits.py``). Field names are
Kubernetes' own so a rule reads like the API reference. A key is ``NotRequired`` only where podspec
omits it when the spec does not set it; the rest are always written.

Values podspec copies from the spec unchanged (``securityContext`` fields, ``hostPID``, ports) are
untrusted JSON, typed ``Any``: a hand-written manifest may put ``"true"`` where the API wants ``true``,
so readers test them (``is True``, ``isinstance``) instead of trusting their type.

The rules take a summary through :func:`pod_summary`, which refuses one lacking a required key of the
pod, a container or a volume (a rule would otherwise read a default and pass); the scorer, a reader of
the store where a record may come from an older release, takes it through :func:`stored_pod`.
"""

# No ``from __future__ import annotations``: TypedDict reads ``NotRequired`` only from evaluated
# annotations, and ``pod_summary`` checks ``__required_keys__``.
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

from posture.attributes.contract import require

#: ``initContainers``, ``containers`` or ``ephemeralContainers``.
ContainerKind = Literal["init", "container", "ephemeral"]


class ImageRef(TypedDict):
    """The container's image reference parsed once (``posture.facts.references.parse_image``)."""

    tag: str | None
    digest: str | None
    tag_key: str


class Port(TypedDict, total=False):
    """A ``ports[]`` entry: the keys the spec sets of these, copied as written."""

    containerPort: Any
    hostPort: Any
    protocol: Any
    name: Any


#: An ``env[]`` entry: ``from`` names a ``valueFrom`` source's kind, ``secret`` a ``secretKeyRef``'s Secret;
#: a literal value never leaves the collector (the secret scanner reports it redacted).
EnvVar = TypedDict("EnvVar", {"name": str, "from": NotRequired[str], "secret": NotRequired[str]})

#: An ``envFrom[]`` source: ``from`` is ``secretRef`` or ``configMapRef``.
EnvSource = TypedDict("EnvSource", {"from": str, "name": str})


class VolumeMount(TypedDict, total=False):
    """A ``volumeMounts[]`` entry: the keys the spec sets of these, copied as written."""

    name: Any
    mountPath: Any
    readOnly: Any


class Resources(TypedDict):
    limits: dict[str, str]
    requests: dict[str, str]


class ProbeHost(TypedDict):
    """A probe's or lifecycle hook's ``host`` (``field`` is where: ``livenessProbe.httpGet.host``)."""

    field: str
    host: str


class ContainerSummary(TypedDict):
    name: str
    kind: ContainerKind
    image: str
    #: The container's securityContext fields that rules read, as written (``None`` values dropped).
    securityContext: Mapping[str, Any]
    ports: list[Port]
    resources: Resources
    env: list[EnvVar]
    envFrom: list[EnvSource]
    volumeMounts: list[VolumeMount]
    #: Which of ``livenessProbe``, ``readinessProbe``, ``startupProbe`` are set.
    probes: list[str]
    #: Absent when the image reference does not parse.
    imageRef: NotRequired[ImageRef]
    imagePullPolicy: NotRequired[str]
    #: Absent when no probe or hook names a host.
    probeHosts: NotRequired[list[ProbeHost]]


class VolumeSummary(TypedDict):
    name: str
    #: The volume's one source (``hostPath``, ``emptyDir`` …); None when it names none or several.
    type: str | None
    #: Every source, when it names several.
    types: NotRequired[list[str]]
    #: A hostPath volume's ``hostPath.path``.
    path: NotRequired[str]


class PodSummary(TypedDict):
    labels: dict[str, str]
    #: Only the AppArmor, seccomp and team annotations.
    annotations: dict[str, str]
    #: The pod's securityContext fields that rules read, as written; ``sysctls`` reduced to their names.
    securityContext: Mapping[str, Any]
    #: Init, regular and ephemeral containers, in that order.
    containers: list[ContainerSummary]
    volumes: list[VolumeSummary]
    #: ``default`` when the spec names none.
    serviceAccountName: str
    # The spec's own values, present only when the spec sets them (not null).
    hostNetwork: NotRequired[Any]
    hostPID: NotRequired[Any]
    hostIPC: NotRequired[Any]
    hostUsers: NotRequired[Any]
    automountServiceAccountToken: NotRequired[Any]
    #: ``spec.os.name`` (``linux``, ``windows``), when set.
    os: NotRequired[str]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_summary(value: object) -> PodSummary:
    """``value`` read as a pod summary; raises ``MissingAttributes`` naming any key it, one of its
    containers or one of its volumes lacks (a value that is not a mapping lacks them all)."""
    pod = _mapping(value)
    require(pod, PodSummary.__required_keys__, "pod")
    for container in pod["containers"]:
        require(_mapping(container), ContainerSummary.__required_keys__, "pod container")
    for volume in pod["volumes"]:
        require(_mapping(volume), VolumeSummary.__required_keys__, "pod volume")
    return cast(PodSummary, pod)


def stored_pod(value: object) -> PodSummary:
    """A stored pod summary as a reader of the store (the scorer) sees it: typed, not checked.

    A record written by an older release may lack a key, and stored attributes are untrusted JSON, so
    such a reader uses ``.get`` and checks each value's shape (anything but a mapping reads as empty);
    mypy still rejects a key's misspelt name. The rules use :func:`pod_summary`.
    """
    return cast(PodSummary, _mapping(value))
