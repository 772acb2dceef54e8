"""A local stand-in for a kube-apiserver that replays real list responses with the API's semantics.

Serves the all-namespaces list paths (``/api/v1/pods``, ``/apis/apps/v1/deployments``, ...) and GETs of
one cluster-scoped object (``/api/v1/namespaces/kube-system``, whose UID identifies a cluster) from
objects taken from real clusters (tests/data/k8s-api, see PROVENANCE.md) or generated from them,
with what a real API server does on those paths: chunking with ``limit``/``continue``
(``metadata.continue``, ``remainingItemCount``), ``410 Gone`` for an expired continue token,
``403``/``401``/``429`` ``Status`` objects (``Retry-After``), ``404 page not found`` for a path it
does not serve, and bearer-token checks. Every request path is recorded, so tests can prove what
a collector never asked for (``/api/v1/secrets``). Used by tests/k8s and benchmarks/bench_k8s_live.py.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s-api"
GENERATED = {"posture.test/generated": "true"}

#: trivy-operator's report kinds: served only when a test adds them (else 404, the CRDs not installed).
OPERATOR_KINDS = (
    "VulnerabilityReport",
    "ConfigAuditReport",
    "ExposedSecretReport",
    "ClusterVulnerabilityReport",
    "ClusterConfigAuditReport",
)
#: (apiVersion, kind) -> all-namespaces list path, as the Kubernetes API lays them out.
LIST_PATHS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Node"): "/api/v1/nodes",
    ("v1", "Pod"): "/api/v1/pods",
    ("v1", "ReplicationController"): "/api/v1/replicationcontrollers",
    ("v1", "Service"): "/api/v1/services",
    ("v1", "ServiceAccount"): "/api/v1/serviceaccounts",
    ("v1", "Secret"): "/api/v1/secrets",
    ("v1", "ConfigMap"): "/api/v1/configmaps",
    ("apps/v1", "Deployment"): "/apis/apps/v1/deployments",
    ("apps/v1", "StatefulSet"): "/apis/apps/v1/statefulsets",
    ("apps/v1", "DaemonSet"): "/apis/apps/v1/daemonsets",
    ("apps/v1", "ReplicaSet"): "/apis/apps/v1/replicasets",
    ("batch/v1", "Job"): "/apis/batch/v1/jobs",
    ("batch/v1", "CronJob"): "/apis/batch/v1/cronjobs",
    ("networking.k8s.io/v1", "Ingress"): "/apis/networking.k8s.io/v1/ingresses",
    ("networking.k8s.io/v1", "NetworkPolicy"): "/apis/networking.k8s.io/v1/networkpolicies",
    ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/roles",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    **{
        ("aquasecurity.github.io/v1alpha1", kind): f"/apis/aquasecurity.github.io/v1alpha1/{kind.lower()}s"
        for kind in OPERATOR_KINDS
    },
}
#: ``/version`` as an EKS 1.22 API server answers it (the cluster the corpus pods come from).
VERSION = {
    "major": "1",
    "minor": "22+",
    "gitVersion": "v1.22.17-eks-0a21954",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2023-04-15T00:33:00Z",
    "goVersion": "go1.19.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
#: The identity of every cluster generated here unless a test gives it another (:func:`with_cluster_uid`).
CLUSTER_ID = "cluster:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "posture-test/None/Namespace/kube-system"))
_KIND_OF_PATH = {path: (api_version, kind) for (api_version, kind), path in LIST_PATHS.items()}


@dataclass
class Faults:
    """Misbehaviour to replay, per list path."""

    forbidden: set[str] = field(default_factory=set)  # 403 Forbidden Status
    expire: dict[str, int] = field(default_factory=dict)  # path -> how many continue requests get 410 Gone
    throttle: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (times, Retry-After seconds)
    delay: float = 0.0  # seconds before each answer (a slow server)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    at: float
    authorization: str | None


class ReplayServer:
    """Serves ``lists`` (list path -> objects) on 127.0.0.1 on a free port, in a daemon thread."""

    def __init__(
        self,
        lists: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        faults: Faults | None = None,
        token: str | None = None,
        tls: tuple[str, str] | None = None,
        resource_version: int = 4242,
    ) -> None:
        self.items: dict[str, list[bytes]] = {path: [orjson.dumps(obj) for obj in objs] for path, objs in lists.items()}
        self.faults = faults or Faults()
        self.token = token
        self.resource_version = str(resource_version)
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self.serve_forever, name="replay-apiserver", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Answer until stopped (in a thread by ``with``, or in its own process for the benchmark)."""
        self._httpd.serve_forever(poll_interval=0.05)

    # --- answering -------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: Mapping[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(Request(method, path, dict(query), time.monotonic(), authorization))
        if method != "GET":
            return _status(405, "MethodNotAllowed", f"the replay server is read-only ({method})")
        if self.faults.delay:
            self._stopping.wait(self.faults.delay)
        scheme, _, credential = (authorization or "").partition(" ")
        if self.token is not None and (scheme.lower() != "bearer" or credential != self.token):  # as kube-apiserver
            return _status(401, "Unauthorized", "Unauthorized")
        if path == "/version":
            return 200, {"Content-Type": "application/json"}, orjson.dumps(VERSION)
        served = sorted(p.rsplit("/", 1)[1] for p in self.items if p.rsplit("/", 1)[0] == path)
        if served:  # discovery of an API group version (/apis/GROUP/VERSION), open to every user
            document = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": path.removeprefix("/apis/"),
                        "resources": [{"name": name, "verbs": ["get", "list", "watch"]} for name in served]}
            return 200, {"Content-Type": "application/json"}, orjson.dumps(document)
        parent, _, name = path.rpartition("/")
        if parent in _KIND_OF_PATH and path not in self.items:
            return self._get_object(parent, name)
        items = self.items.get(path)
        # As kube-apiserver: authorization comes first, so a forbidden list is 403 even where nothing is served.
        if items is None and path not in self.faults.forbidden:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"
        api_version, kind = _KIND_OF_PATH[path]
        group = api_version.rpartition("/")[0]
        plural = path.rsplit("/", 1)[1]
        if path in self.faults.forbidden:
            message = (
                f'{plural}{"." + group if group else ""} is forbidden: User "system:serviceaccount:posture:collector" '
                f'cannot list resource "{plural}" in API group "{group}" at the cluster scope'
            )
            return _status(403, "Forbidden", message, {"group": group, "kind": plural})
        with self._lock:
            times, retry_after = self.faults.throttle.get(path, (0, 0))
            if times:
                self.faults.throttle[path] = (times - 1, retry_after)
                headers, body = _status(
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later.",
                    {"retryAfterSeconds": retry_after},
                )[1:]
                return 429, {**headers, "Retry-After": str(retry_after)}, body
        start = 0
        token = query.get("continue")
        if token:
            with self._lock:
                expire = self.faults.expire.get(path, 0)
                if expire:
                    self.faults.expire[path] = expire - 1
            if expire:
                return _status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent "
                    "list result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results.",
                )
            try:
                start = int(json.loads(base64.b64decode(token))["start"])
            except (ValueError, KeyError, TypeError):
                return _status(400, "BadRequest", "continue key is not valid")
        limit = int(query.get("limit") or 0) or len(items) or 1
        chunk = items[start : start + limit]
        end = start + len(chunk)
        metadata: dict[str, Any] = {"resourceVersion": self.resource_version}
        if end < len(items):
            state = {"v": "meta.k8s.io/v1", "rv": int(self.resource_version), "start": end}
            metadata["continue"] = base64.b64encode(json.dumps(state).encode()).decode()
            metadata["remainingItemCount"] = len(items) - end
        head = orjson.dumps({"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata})
        body = head[:-1] + b',"items":[' + b",".join(chunk) + b"]}"
        return 200, {"Content-Type": "application/json"}, body


    def _get_object(self, list_path: str, name: str) -> tuple[int, dict[str, str], bytes]:
        """``GET <list path>/<name>`` of a cluster-scoped object (a Namespace), with its kind, as the API answers."""
        api_version, kind = _KIND_OF_PATH[list_path]
        plural = list_path.rsplit("/", 1)[1]
        if f"{list_path}/{name}" in self.faults.forbidden:
            group = api_version.rpartition("/")[0]
            message = (
                f'{plural} "{name}" is forbidden: User "system:serviceaccount:posture:collector" '
                f'cannot get resource "{plural}" in API group "{group}" at the cluster scope'
            )
            return _status(403, "Forbidden", message, {"name": name, "group": group, "kind": plural})
        for raw in self.items.get(list_path, ()):
            item = orjson.loads(raw)
            if item.get("metadata", {}).get("name") == name and "namespace" not in item["metadata"]:
                return 200, {"Content-Type": "application/json"}, orjson.dumps(
                    {"kind": kind, "apiVersion": api_version, **item}
                )
        return _status(404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural})


def _status(
    code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
) -> tuple[int, dict[str, str], bytes]:
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = dict(details)
    return code, {"Content-Type": "application/json"}, orjson.dumps(status)


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the API server does

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            code, headers, body = server.answer(self.command, parts.path, query, self.headers.get("Authorization"))
            try:
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out tests)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# --- the clusters it replays --------------------------------------------------------------------
def empty_lists() -> dict[str, list[dict[str, Any]]]:
    """Every served list path, empty (Secrets, ConfigMaps and operator reports: served only if a test adds them)."""
    unserved = ("Secret", "ConfigMap", *OPERATOR_KINDS)
    return {path: [] for (_, kind), path in LIST_PATHS.items() if kind not in unserved}


def with_cluster_uid(lists: dict[str, list[dict[str, Any]]], uid: str) -> dict[str, list[dict[str, Any]]]:
    """``lists`` as another cluster would serve them: its ``kube-system`` namespace has UID ``uid``
    (the cluster's identity; the generated clusters all share one by default)."""
    namespaces = lists[LIST_PATHS[("v1", "Namespace")]]
    for index, namespace in enumerate(namespaces):
        if namespace["metadata"]["name"] == "kube-system":
            namespaces[index] = {**namespace, "metadata": {**namespace["metadata"], "uid": uid}}
    return lists


def add(lists: dict[str, list[dict[str, Any]]], obj: Mapping[str, Any]) -> None:
    """File an object under its list path; list items carry no kind/apiVersion, as on the wire."""
    item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    lists.setdefault(LIST_PATHS[(str(obj["apiVersion"]), str(obj["kind"]))], []).append(item)


def _meta(
    name: str, namespace: str | None = None, *, kind: str, labels: Mapping[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(
        uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"posture-test/{namespace}/{kind}/{name}")),
        resourceVersion="4242",
        creationTimestamp="2022-06-01T16:00:00Z",
        labels={**(labels or {}), **GENERATED},
        **extra,
    )
    return meta


def _owner(api_version: str, kind: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _template(pod: Mapping[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in (pod["metadata"].get("labels") or {}).items()}
    spec = {k: v for k, v in pod["spec"].items() if k not in ("nodeName",)}
    return {"metadata": {"labels": labels}, "spec": copy.deepcopy(spec)}


def _namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, kind="Namespace", labels={"kubernetes.io/metadata.name": name, **(labels or {})}),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(name, kind="Node", labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}),
        "spec": {"providerID": f"aws:///us-east-1a/i-{uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:17]}"},
        "status": {
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "",
                "containerRuntimeVersion": "docker://20.10.13",
                "kernelVersion": "5.4.188-104.359.amzn2.x86_64",
                "kubeProxyVersion": "v1.22.6-eks-7d68063",
                "kubeletVersion": "v1.22.6-eks-7d68063",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2",
                "systemUUID": "",
            }
        },
    }


def _workload_for(pod: Mapping[str, Any], ref: Mapping[str, Any]) -> dict[str, Any]:
    """The ReplicaSet or DaemonSet a corpus pod's ownerReference names, generated from the pod."""
    namespace = pod["metadata"]["namespace"]
    selector = {k: v for k, v in (pod["metadata"].get("labels") or {}).items() if k != "controller-revision-hash"}
    meta = _meta(ref["name"], namespace, kind=ref["kind"], labels=selector)
    meta["uid"] = ref["uid"] if "uid" in ref else meta["uid"]
    spec: dict[str, Any] = {"selector": {"matchLabels": selector}, "template": _template(pod)}
    if ref["kind"] == "ReplicaSet":
        spec["replicas"] = 1
    return {"apiVersion": ref["apiVersion"], "kind": ref["kind"], "metadata": meta, "spec": spec}


def corpus_pods() -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = json.loads((DATA / "podlist-eks-all-namespaces.json").read_text())["items"]
    return [{"apiVersion": "v1", "kind": "Pod", **pod} for pod in pods]


def corpus_deployment() -> dict[str, Any]:
    line = (DATA / "deployment-eks-single.jsonl").read_text().splitlines()[0]
    return {"apiVersion": "apps/v1", "kind": "Deployment", **json.loads(line)}


def corpus_cluster() -> dict[str, list[dict[str, Any]]]:
    """The EKS pods and deployment from the corpus, the kubernetes-goat RBAC, and what they imply."""
    lists = empty_lists()
    pods = corpus_pods()
    deployment = corpus_deployment()
    namespaces = {"default", "kube-system"} | {p["metadata"]["namespace"] for p in pods}
    for name in sorted(namespaces):
        add(lists, _namespace(name))
    for node in sorted({p["spec"]["nodeName"] for p in pods}):
        add(lists, _node(node))
    add(lists, deployment)
    workloads: dict[str, dict[str, Any]] = {}
    for pod in pods:
        add(lists, pod)
        for ref in pod["metadata"].get("ownerReferences") or ():
            workloads.setdefault(f"{pod['metadata']['namespace']}/{ref['kind']}/{ref['name']}", _workload_for(pod, ref))
    for workload in workloads.values():
        if workload["kind"] == "ReplicaSet":
            # A ReplicaSet named <deployment>-<hash> belongs to that Deployment.
            owner_name = workload["metadata"]["name"].rsplit("-", 1)[0]
            owner = next(
                (
                    d
                    for d in [deployment]
                    if d["metadata"]["name"] == owner_name
                    and d["metadata"]["namespace"] == workload["metadata"]["namespace"]
                ),
                None,
            )
            if owner is None:
                owner = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": _meta(owner_name, workload["metadata"]["namespace"], kind="Deployment"),
                    "spec": {
                        "replicas": 2,
                        "selector": workload["spec"]["selector"],
                        "template": workload["spec"]["template"],
                    },
                }
                add(lists, owner)
            workload["metadata"]["ownerReferences"] = [_owner("apps/v1", "Deployment", owner["metadata"])]
        add(lists, workload)
    for obj in yaml.safe_load_all((DATA / "insecure-rbac-setup.yaml").read_text()):
        add(lists, obj)
    add(
        lists,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(
                "cluster-admin", kind="ClusterRole", labels={"kubernetes.io/bootstrapping": "rbac-defaults"}
            ),
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        },
    )
    for name in sorted(namespaces):
        add(
            lists,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("default", name, kind="ServiceAccount")},
        )
    add(
        lists,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("kube-dns", "kube-system", kind="Service", labels={"k8s-app": "kube-dns"}),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.100.0.10",
                "selector": {"k8s-app": "kube-dns"},
                "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}],
            },
        },
    )
    add(
        lists,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("metrics-agent", "cloudability", kind="Service"),
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.100.7.7",
                "selector": {"app": "cloudability-metrics-agent"},
                "ports": [{"port": 443, "protocol": "TCP", "targetPort": 8443, "nodePort": 31443}],
            },
        },
    )
    return lists


def scaled_cluster(
    deployments: int = 1000, pods_per_deployment: int = 10, namespaces: int = 50, nodes: int = 100
) -> dict[str, list[dict[str, Any]]]:
    gc.disable()  # thousands of surviving dicts: the cyclic collector would rescan them all, for nothing
    try:
        return _scaled_cluster(deployments, pods_per_deployment, namespaces, nodes)
    finally:
        gc.enable()


def _scaled_cluster(
    deployments: int, pods_per_deployment: int, namespaces: int, nodes: int
) -> dict[str, list[dict[str, Any]]]:
    """A large cluster cloned from the corpus: Deployments -> ReplicaSets -> Pods with ownerReferences.

    Pods alternate between the two corpus pod shapes (the metrics agent with managedFields and an env
    secret, and CoreDNS), about 7 KB each on the wire, like the 68 MB / 10,000-pod list the issue measured.
    """
    lists = empty_lists()
    templates = [
        p for p in corpus_pods() if p["metadata"]["name"].startswith(("cloudability", "coredns-7f5998f4c-5fblt"))
    ]
    base_deployment = corpus_deployment()
    node_names = [f"ip-10-0-{i // 250}-{i % 250}.ec2.internal" for i in range(nodes)]
    for name in node_names:
        add(lists, _node(name))
    add(lists, _namespace("kube-system"))  # every cluster has it: its UID is the cluster's identity
    ns_names = [f"team-{i:02d}" for i in range(namespaces)]
    for i, name in enumerate(ns_names):
        add(lists, _namespace(name, {"pod-security.kubernetes.io/enforce": "baseline"} if i % 2 else None))
        add(
            lists,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("default", name, kind="ServiceAccount")},
        )
    for d in range(deployments):
        namespace = ns_names[d % namespaces]
        app = f"app-{d:04d}"
        pod_template = templates[d % len(templates)]
        labels = {"app": app}
        deployment = orjson.loads(orjson.dumps(base_deployment))
        deployment["metadata"].update(
            name=app,
            namespace=namespace,
            labels=labels,
            uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"d/{namespace}/{app}")),
        )
        template = _template(pod_template)
        template["metadata"]["labels"] = labels
        deployment["spec"].update(replicas=pods_per_deployment, selector={"matchLabels": labels}, template=template)
        add(lists, deployment)
        rs_name = f"{app}-{uuid.uuid5(uuid.NAMESPACE_URL, app).hex[:9]}"
        replicaset = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": _meta(
                rs_name,
                namespace,
                kind="ReplicaSet",
                labels=labels,
                ownerReferences=[_owner("apps/v1", "Deployment", deployment["metadata"])],
            ),
            "spec": {"replicas": pods_per_deployment, "selector": {"matchLabels": labels}, "template": template},
        }
        add(lists, replicaset)
        for p in range(pods_per_deployment):
            pod = orjson.loads(orjson.dumps(pod_template))
            name = f"{rs_name}-{p:05d}"
            pod["metadata"].update(
                name=name,
                namespace=namespace,
                generateName=f"{rs_name}-",
                labels=labels,
                uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"p/{namespace}/{name}")),
                ownerReferences=[_owner("apps/v1", "ReplicaSet", replicaset["metadata"])],
            )
            pod["spec"]["nodeName"] = node_names[(d * pods_per_deployment + p) % nodes]
            add(lists, pod)
        service_type = "LoadBalancer" if d % 10 == 0 else "ClusterIP"
        add(
            lists,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(app, namespace, kind="Service"),
                "spec": {
                    "type": service_type,
                    "selector": labels,
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                },
            },
        )
    return lists
