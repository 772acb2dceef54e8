"""Regenerate the bundled demo estate in posture/demo/data/ (run: python scripts/make_demo_data.py).

The demo is raw source data (Docker Engine API responses, a registry's blobs and manifests, Kubernetes
manifests, Trivy and Grype reports) that ``posture demo`` loads through the real collectors. The
files are generated so that every digest is the true sha256 of what it names: the same image is
then one asset whether Docker, the registry, a pod or a scanner report names it.
The CVE ids are real, public vulnerabilities of the packages named; the estate itself is invented.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "posture" / "demo" / "data"
REG_MAIN = "registry.demo.internal:5000"
REG_LEGACY = "legacy-registry.demo.internal:5000"
CLUSTER = "demo-prod"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


IMAGES: dict[str, dict[str, Any]] = {
    "payments-api": {
        "registry": REG_MAIN, "repo": "payments/api", "tags": ["1.4.2", "latest"], "created": "2026-09-02T10:11:12Z",
        "user": "", "healthcheck": None,
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "JAVA_HOME=/opt/java/openjdk",
                "DB_PASSWORD=Pr0d-Paym3nts-2026!", "SPRING_PROFILES_ACTIVE=prod"],
        "labels": {"org.opencontainers.image.source": "https://git.demo.internal/payments/api", "team": "payments"},
        "history": ["/bin/sh -c #(nop) ADD file:2a0c1f in / ", "/bin/sh -c apt-get update && apt-get install -y openssl",
                    "/bin/sh -c #(nop) COPY app.jar /app/app.jar", '/bin/sh -c #(nop)  CMD ["java","-jar","/app/app.jar"]'],
    },
    "web-frontend": {
        "registry": REG_MAIN, "repo": "web/frontend", "tags": ["2.3.0"], "created": "2026-10-28T08:00:00Z",
        "user": "101", "healthcheck": {"Test": ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/healthz"], "Interval": 30000000000},
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3"],
        "labels": {"team": "web"},
        "history": ["/bin/sh -c #(nop) ADD file:9b1e2d in / ", "/bin/sh -c apk add --no-cache nginx",
                    "/bin/sh -c #(nop)  USER 101"],
    },
    "metrics-agent": {
        "registry": REG_LEGACY, "repo": "ops/metrics-agent", "tags": ["latest"], "created": "2024-01-15T09:30:00Z",
        "user": "", "healthcheck": None,
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "labels": {"team": "platform"},
        "history": ["/bin/sh -c #(nop) ADD file:77aa31 in / ",
                    "/bin/sh -c curl -u deploy:s3cr3tT0ken99 https://artifacts.demo.internal/agent.tgz | tar xz"],
    },
    "debug-tools": {
        "registry": REG_MAIN, "repo": "ops/debug-tools", "tags": ["0.9"], "created": "2025-02-11T12:00:00Z",
        "user": "", "healthcheck": None,
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "labels": {"team": "platform"},
        "history": ["/bin/sh -c #(nop) ADD file:0f0e0d in / ", "/bin/sh -c apt-get install -y openssh-server curl"],
    },
    "batch-report": {
        "registry": REG_MAIN, "repo": "finance/batch-report", "tags": ["3.1.0"], "created": "2026-08-19T16:45:00Z",
        "user": "1000", "healthcheck": None,
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED=1"],
        "labels": {"team": "finance"},
        "history": ["/bin/sh -c #(nop) ADD file:5c5c5c in / ", "/bin/sh -c pip install -r requirements.txt",
                    "/bin/sh -c #(nop)  USER 1000"],
    },
}


def build_image(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The image's config blob, layer, manifest, and their digests."""
    layer = hashlib.sha256(f"layer-of-{name}".encode()).digest() * 4
    layer_digest = sha(layer)
    config = {
        "architecture": "amd64", "os": "linux", "created": spec["created"],
        "config": {"User": spec["user"], "Env": spec["env"], "Labels": spec["labels"],
                   **({"Healthcheck": spec["healthcheck"]} if spec["healthcheck"] else {}),
                   "ExposedPorts": {"8080/tcp": {}}},
        "history": [{"created": spec["created"], "created_by": h} for h in spec["history"]],
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_bytes = canonical(config)
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}],
    }
    manifest_bytes = canonical(manifest)
    return {"config": config, "config_bytes": config_bytes, "config_digest": sha(config_bytes),
            "manifest_bytes": manifest_bytes, "manifest_digest": sha(manifest_bytes), "layer": layer, "layer_digest": layer_digest}


BUILT = {name: build_image(name, spec) for name, spec in IMAGES.items()}


def ref(name: str, tag: str | None = None) -> str:
    spec = IMAGES[name]
    return f"{spec['registry']}/{spec['repo']}:{tag or spec['tags'][0]}"


def pinned(name: str) -> str:
    spec = IMAGES[name]
    return f"{spec['registry']}/{spec['repo']}@{BUILT[name]['manifest_digest']}"


def registry_tree() -> dict[str, Any]:
    registries: dict[str, Any] = {}
    for name, spec in IMAGES.items():
        built = BUILT[name]
        reg = registries.setdefault(spec["registry"], {"repositories": {}, "blobs": {}, "manifests": {}})
        reg["repositories"].setdefault(spec["repo"], {})
        for tag in spec["tags"]:
            reg["repositories"][spec["repo"]][tag] = built["manifest_digest"]
        reg["blobs"][built["config_digest"]] = built["config_bytes"].decode()
        reg["manifests"][built["manifest_digest"]] = built["manifest_bytes"].decode()
    registries[REG_MAIN]["auth"] = "basic"
    registries[REG_LEGACY]["auth"] = "anonymous"
    registries[REG_LEGACY]["scheme"] = "http"
    registries[REG_MAIN]["scheme"] = "https"
    return registries


def docker_snapshot() -> dict[str, Any]:
    engine_id = "DEMO:HOST:01AB:CDEF:2345:6789:ABCD:EF01:2345:6789:ABCD:EF01"
    info = {
        "ID": engine_id, "Name": "build-host-01", "ServerVersion": "24.0.7", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "KernelVersion": "6.1.0-26-amd64", "Architecture": "x86_64", "Driver": "overlay2", "LoggingDriver": "json-file",
        "CgroupDriver": "systemd", "LiveRestoreEnabled": False, "ExperimentalBuild": False,
        "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"],
        "RegistryConfig": {"IndexConfigs": {REG_LEGACY: {"Name": REG_LEGACY, "Secure": False, "Official": False},
                                            "docker.io": {"Name": "docker.io", "Secure": True, "Official": True}},
                           "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
        "Plugins": {"Authorization": None, "Log": ["json-file", "local"], "Network": ["bridge", "host", "none"]},
        "Swarm": {"LocalNodeState": "inactive"}, "Containers": 4, "ContainersRunning": 3, "Images": 4,
    }
    version = {"Version": "24.0.7", "ApiVersion": "1.43", "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64",
               "Components": [{"Name": "containerd", "Version": "1.6.24"}, {"Name": "runc", "Version": "1.1.9"}]}
    networks = [{"Name": "bridge", "Driver": "bridge", "Options": {"com.docker.network.bridge.enable_icc": "true",
                                                                  "com.docker.network.bridge.name": "docker0"}}]
    images = []
    for name in ("payments-api", "web-frontend", "metrics-agent", "batch-report"):
        spec, built = IMAGES[name], BUILT[name]
        cfg = built["config"]
        images.append({
            "Id": built["config_digest"], "RepoTags": [ref(name, t) for t in spec["tags"]],
            "RepoDigests": [pinned(name)], "Created": spec["created"], "Os": "linux", "Architecture": "amd64",
            "Size": 48_000_000, "Config": cfg["config"], "RootFS": cfg["rootfs"],
            "History": [{"Id": "<missing>", "Created": 1700000000, "CreatedBy": h, "Size": 0} for h in spec["history"]],
        })

    def container(cid: str, name: str, image: str, running: bool, host: dict[str, Any], config: dict[str, Any] | None = None,
                  mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        spec = IMAGES[image]
        base_host = {"Privileged": False, "CapAdd": None, "CapDrop": None, "NetworkMode": "bridge", "PidMode": "",
                     "IpcMode": "private", "UTSMode": "", "UsernsMode": "", "CgroupParent": "", "Memory": 0, "NanoCpus": 0,
                     "CpuShares": 0, "PidsLimit": None, "ReadonlyRootfs": False, "SecurityOpt": None, "PortBindings": {},
                     "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Devices": [], "Binds": None}
        base_host.update(host)
        return {
            "Id": cid * 4, "Name": f"/{name}", "Created": "2026-11-20T07:00:00Z", "Image": BUILT[image]["config_digest"],
            "State": {"Status": "running" if running else "exited", "Running": running, "ExitCode": 0 if running else 137},
            "Config": {"Image": ref(image), "User": spec["user"], "Env": spec["env"], "Labels": spec["labels"],
                       **({"Healthcheck": spec["healthcheck"]} if spec["healthcheck"] else {}), **(config or {})},
            "HostConfig": base_host, "Mounts": mounts or [], "AppArmorProfile": "docker-default",
            "NetworkSettings": {"Ports": {}},
        }

    containers = [
        container("a1b2c3d4e5f60718", "payments-api", "payments-api", True,
                  {"PortBindings": {"8443/tcp": [{"HostIp": "", "HostPort": "443"}]}, "Memory": 1073741824,
                   "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}),
        container("0f1e2d3c4b5a6978", "metrics-agent", "metrics-agent", True,
                  {"Privileged": True, "PidMode": "host", "NetworkMode": "host",
                   "Binds": ["/var/run/docker.sock:/var/run/docker.sock", "/:/host:ro"]},
                  mounts=[{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "Mode": "", "RW": True, "Propagation": "rprivate"},
                          {"Type": "bind", "Source": "/", "Destination": "/host", "Mode": "ro", "RW": False, "Propagation": "rprivate"}]),
        container("9a8b7c6d5e4f3021", "web-frontend", "web-frontend", True,
                  {"CapDrop": ["ALL"], "ReadonlyRootfs": True, "Memory": 268435456, "NanoCpus": 500000000, "CpuShares": 512,
                   "PidsLimit": 100, "SecurityOpt": ["no-new-privileges:true"],
                   "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
                   "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}}),
        container("5544332211009988", "batch-report-oneoff", "batch-report", False,
                  {"CapAdd": ["SYS_ADMIN"], "SecurityOpt": ["seccomp=unconfined"]}),
    ]
    return {"info": info, "version": version, "networks": networks, "images": images, "containers": containers}


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for ns, labels in (("payments", {"pod-security.kubernetes.io/enforce": "restricted", "team": "payments"}),
                       ("web", {"pod-security.kubernetes.io/enforce": "baseline", "team": "web"}),
                       ("monitoring", {"team": "platform"}), ("finance", {"team": "finance",
                        "pod-security.kubernetes.io/enforce": "privileged"})):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
    restricted_ctx = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    limits = {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}

    def deployment(name: str, ns: str, image: str, ctx: dict[str, Any], pod: dict[str, Any] | None = None,
                   kind: str = "Deployment", res: dict[str, Any] | None = None, env: list[dict[str, Any]] | None = None,
                   volumes: list[dict[str, Any]] | None = None, mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {"name": name, "image": image, "securityContext": ctx, "ports": [{"containerPort": 8080}]}
        if res is not None:
            c["resources"] = res
        if env:
            c["env"] = env
        if mounts:
            c["volumeMounts"] = mounts
        spec: dict[str, Any] = {"serviceAccountName": name, "automountServiceAccountToken": False, "containers": [c],
                                **(pod or {})}
        if volumes:
            spec["volumes"] = volumes
        template = {"metadata": {"labels": {"app": name, "team": ns}}, "spec": spec}
        body: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind == "Deployment":
            body["replicas"] = 3
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": {"team": ns}},
                "spec": body}

    docs += [
        deployment("web-frontend", "web", pinned("web-frontend"), restricted_ctx, res=limits),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-frontend", "namespace": "web"},
         "spec": {"type": "LoadBalancer", "selector": {"app": "web-frontend"}, "ports": [{"port": 443, "targetPort": 8080}]}},
        deployment("payments-api", "payments", pinned("payments-api"), {"allowPrivilegeEscalation": True}, res=limits,
                   env=[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "payments-db", "key": "password"}}},
                        {"name": "STRIPE_KEY", "value": "sk_live_51DemoKeyNotReal0000000000"}]),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments-api", "namespace": "payments"},
         "spec": {"type": "ClusterIP", "selector": {"app": "payments-api"}, "ports": [{"port": 8443}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "payments", "namespace": "payments"},
         "spec": {"rules": [{"host": "pay.demo.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                  "backend": {"service": {"name": "payments-api", "port": {"number": 8443}}}}]}}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": "payments"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        deployment("metrics-agent", "monitoring", ref("metrics-agent"),
                   {"privileged": True, "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}},
                   pod={"hostPID": True, "hostNetwork": True, "automountServiceAccountToken": True}, kind="DaemonSet",
                   volumes=[{"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock"}}],
                   mounts=[{"name": "docker-sock", "mountPath": "/var/run/docker.sock"}]),
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "batch-report", "namespace": "finance"},
         "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "restartPolicy": "OnFailure",
             "containers": [{"name": "report", "image": ref("batch-report"), "securityContext": {"runAsUser": 0}}]}}}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug-shell", "namespace": "default"},
         "spec": {"containers": [{"name": "shell", "image": ref("debug-tools"), "command": ["sleep", "infinity"],
                                  "securityContext": {"capabilities": {"add": ["NET_RAW", "SYS_PTRACE"]}}}]}},
    ]
    for ns, name in (("web", "web-frontend"), ("payments", "payments-api"), ("monitoring", "metrics-agent")):
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}})
    docs += [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "alice-admin"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "User", "name": "alice@demo.example", "apiGroup": "rbac.authorization.k8s.io"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "metrics-reader"},
         "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "metrics-reader"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "metrics-agent", "namespace": "monitoring"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "payments-deployer", "namespace": "payments"},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
                   {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver-cp-1", "namespace": "kube-system",
                                                         "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
         "spec": {"hostNetwork": True, "containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.29.4",
                  "command": ["kube-apiserver", "--anonymous-auth=true", "--authorization-mode=Node,RBAC", "--profiling=true",
                              "--enable-admission-plugins=NodeRestriction", "--etcd-servers=https://127.0.0.1:2379"]}]}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {"kubernetes.io/os": "linux"}},
         "status": {"nodeInfo": {"kubeletVersion": "v1.29.4", "containerRuntimeVersion": "containerd://1.6.24",
                                 "osImage": "Ubuntu 22.04.3 LTS", "kernelVersion": "5.15.0-88-generic"}}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-2", "labels": {"kubernetes.io/os": "linux"}},
         "status": {"nodeInfo": {"kubeletVersion": "v1.23.1", "containerRuntimeVersion": "cri-o://1.23.1",
                                 "osImage": "RHEL CoreOS 410", "kernelVersion": "4.18.0-305.el8.x86_64"}}},
    ]
    return docs


def vuln(vid: str, pkg: str, installed: str, fixed: str, severity: str, title: str, score: float, vector: str) -> dict[str, Any]:
    out: dict[str, Any] = {"VulnerabilityID": vid, "PkgName": pkg, "InstalledVersion": installed, "Severity": severity,
                           "Title": title, "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
                           "CVSS": {"nvd": {"V3Vector": vector, "V3Score": score}}}
    if fixed:
        out["FixedVersion"] = fixed
    return out


def trivy_report(name: str, vulns: list[dict[str, Any]], target_os: str = "debian 12.5") -> dict[str, Any]:
    built = BUILT[name]
    return {
        "SchemaVersion": 2, "CreatedAt": "2026-11-22T06:00:00Z", "ArtifactName": ref(name), "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": target_os.split()[0], "Name": target_os.split()[1]}, "ImageID": built["config_digest"],
                     "RepoTags": [ref(name)], "RepoDigests": [pinned(name)]},
        "Results": [{"Target": f"{ref(name)} ({target_os})", "Class": "os-pkgs", "Type": target_os.split()[0],
                     "Vulnerabilities": vulns}],
    }


def grype_report(name: str, matches: list[tuple[str, str, str, str, str]]) -> dict[str, Any]:
    built = BUILT[name]
    return {
        "matches": [
            {"vulnerability": {"id": vid, "dataSource": f"https://nvd.nist.gov/vuln/detail/{vid}", "severity": sev,
                               "fix": {"versions": [fix] if fix else [], "state": "fixed" if fix else "not-fixed"},
                               "description": f"{vid} in {pkg}"},
             "relatedVulnerabilities": [],
             "artifact": {"name": pkg, "version": ver, "type": "deb"}}
            for vid, pkg, ver, fix, sev in matches
        ],
        "source": {"type": "image", "target": {"userInput": ref(name), "imageID": built["config_digest"],
                                                "manifestDigest": built["manifest_digest"], "repoDigests": [pinned(name)],
                                                "tags": [ref(name)]}},
        "distro": {"name": "debian", "version": "12"},
        "descriptor": {"name": "grype", "version": "0.80.0"},
    }


def reports() -> dict[str, Any]:
    av = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    return {
        "trivy-payments-api.json": trivy_report("payments-api", [
            vuln("CVE-2021-44228", "org.apache.logging.log4j:log4j-core", "2.14.1", "2.15.0", "CRITICAL",
                 "log4j-core: Remote code execution in Log4j 2.x (Log4Shell)", 10.0, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            vuln("CVE-2024-6387", "openssh-client", "1:9.2p1-2", "1:9.2p1-2+deb12u3", "HIGH",
                 "openssh: regreSSHion signal handler race condition", 8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            vuln("CVE-2023-5678", "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "MEDIUM",
                 "openssl: excessive time spent in DH check / generation", 5.3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"),
            vuln("CVE-2023-4911", "libc6", "2.36-9+deb12u1", "2.36-9+deb12u3", "HIGH",
                 "glibc: buffer overflow in ld.so leading to privilege escalation (Looney Tunables)", 7.8,
                 "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"),
            vuln("CVE-2022-4899", "libzstd1", "1.5.4+dfsg2-5", "", "LOW", "zstd: mysql: buffer overrun in util.c", 3.3,
                 "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:L"),
        ]),
        "trivy-debug-tools.json": trivy_report("debug-tools", [
            vuln("CVE-2024-6387", "openssh-server", "1:9.2p1-2", "1:9.2p1-2+deb12u3", "HIGH",
                 "openssh: regreSSHion signal handler race condition", 8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            vuln("CVE-2023-38545", "curl", "7.88.1-10", "7.88.1-10+deb12u4", "CRITICAL",
                 "curl: heap based buffer overflow in the SOCKS5 proxy handshake", 9.8, av),
        ]),
        "trivy-web-frontend.json": trivy_report("web-frontend", [
            vuln("CVE-2023-44487", "nghttp2-libs", "1.57.0-r0", "1.58.0-r0", "HIGH",
                 "HTTP/2: Multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack (Rapid Reset Attack)", 7.5,
                 "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
        ], target_os="alpine 3.18.4"),
        "grype-metrics-agent.json": grype_report("metrics-agent", [
            ("CVE-2023-4911", "libc6", "2.36-9", "2.36-9+deb12u3", "High"),
            ("CVE-2023-38545", "curl", "7.88.1-10", "7.88.1-10+deb12u4", "Critical"),
            ("CVE-2023-2650", "libssl3", "3.0.8-1", "3.0.9-1", "Medium"),
        ]),
    }


def main() -> None:
    import yaml

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "docker-build-host-01.json").write_text(json.dumps(docker_snapshot(), indent=1, sort_keys=True) + "\n")
    (OUT / "registries.json").write_text(json.dumps(registry_tree(), indent=1, sort_keys=True) + "\n")
    (OUT / "k8s-demo-prod.yaml").write_text(yaml.safe_dump_all(manifests(), sort_keys=False))
    for name, body in reports().items():
        (OUT / name).write_text(json.dumps(body, indent=1) + "\n")


if __name__ == "__main__":
    main()
