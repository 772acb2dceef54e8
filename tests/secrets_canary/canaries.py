"""Canary secrets: one distinct, realistic secret per place a source can hide one, and the sources
(an image, Kubernetes manifests, a Trivy report) that plant them.

Each canary is derived from its place name, so a leak names the place at once (the test's message
lists place and fragment), and no two places share a value: a redaction that works for one field
kind cannot hide a leak from another. A leak is any 12-character window of a canary's secret part
(``core``): a PEM body line, the base64 of ``user:pass`` or the password alone all count, while the
two-character preview Posture shows on purpose does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass

WINDOW = 12
_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits


def _draw(place: str, alphabet: str, n: int, salt: str = "") -> str:
    """``n`` characters of ``alphabet`` that only ``place`` (and ``salt``) produce."""
    digest = hashlib.sha512(f"posture-canary/{place}/{salt}".encode()).digest()
    digest += hashlib.sha512(digest).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


@dataclass(frozen=True)
class Canary:
    place: str  # where it is planted, e.g. "image ENV"
    value: str  # what is planted
    cores: tuple[str, ...]  # the secret parts: none of their 12-character windows may be kept
    #: What names it where Posture reports it: the key it is stored under (a label, an env var, a
    #: file), or the text planted just before it in free text, which a redaction keeps.
    witness: str

    def fragments(self) -> Iterator[str]:
        for core in self.cores:
            for start in range(max(1, len(core) - WINDOW + 1)):
                yield core[start : start + WINDOW]


def pem(place: str, witness: str) -> Canary:
    """An RSA private key block with three body lines (the multi-line redaction case)."""
    lines = [_draw(place, string.ascii_letters + string.digits + "+/", 64, str(i)) for i in range(3)]
    value = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
    return Canary(place, value, tuple(lines), witness)


def aws_key(place: str, witness: str) -> Canary:
    value = "AKIA" + _draw(place, _UPPER, 16)
    return Canary(place, value, (value,), witness)


def github_token(place: str, witness: str) -> Canary:
    value = "ghp_" + _draw(place, _ALNUM, 36)
    return Canary(place, value, (value,), witness)


def password(place: str, witness: str) -> Canary:
    """A value to plant under a secret-looking key (``DB_PASSWORD``): only the key says it is one."""
    value = "Pw" + _draw(place, _ALNUM, 22)
    return Canary(place, value, (value,), witness)


def docker_auth(place: str, registry: str) -> Canary:
    """A docker config.json ``auth`` for ``registry``: base64 of ``user:password`` (a user of its own,
    so no two canaries share a base64 prefix); the value is the whole JSON."""
    secret = "Rg" + _draw(place, _ALNUM, 20)
    auth = base64.b64encode(f"ci-{_draw(place, string.ascii_lowercase, 6)}:{secret}".encode()).decode()
    value = json.dumps({"auths": {registry: {"auth": auth}}}, separators=(",", ":"))
    return Canary(place, value, (auth, secret), f'{{"{registry}":{{"auth":"')


def url_credentials(place: str, user: str, host: str) -> Canary:
    """``user:password@host``; a redaction keeps ``user:``, so that is the witness (users differ)."""
    secret = "Uc" + _draw(place, _ALNUM, 20)
    return Canary(place, f"{user}:{secret}@{host}", (secret,), f"{user}:")


# --- the Docker image ----------------------------------------------------------------------------

BUILD_ARG_KEY = pem("image build-arg SSH_PRIVATE_KEY (history)", "SSH_PRIVATE_KEY=")
BUILD_ARG_TOKEN = github_token("image build-arg GITHUB_TOKEN (history)", "GITHUB_TOKEN=")
HISTORY_AUTH = docker_auth("image RUN echo config.json auth (history, layer)", "registry.example.com")
HISTORY_URL = url_credentials("image RUN git clone URL (history)", "git-deploy", "git.example.com")
ENV_PASSWORD = password("image ENV CANARY_DB_PASSWORD", "CANARY_DB_PASSWORD")
ENV_AWS = aws_key("image ENV AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
LABEL_TOKEN = github_token("image LABEL canary.api-token", "canary.api-token")
LABEL_AWS = aws_key("image LABEL canary.aws-key", "canary.aws-key")
LAYER_KEY = pem("image layer /root/.ssh/id_rsa", "/root/.ssh/id_rsa")
LAYER_AWS = aws_key("image layer /root/.aws/credentials", "/root/.aws/credentials")

IMAGE_CANARIES = (
    BUILD_ARG_KEY, BUILD_ARG_TOKEN, HISTORY_AUTH, HISTORY_URL, ENV_PASSWORD, ENV_AWS, LABEL_TOKEN, LABEL_AWS,
    LAYER_KEY, LAYER_AWS,
)
#: The image's build context: file name → content (the Dockerfile is written by the test).
BUILD_FILES = {
    "id_rsa": LAYER_KEY.value + "\n",
    "credentials": f"[default]\naws_access_key_id = {LAYER_AWS.value}\n",
}
BUILD_ARGS = {"SSH_PRIVATE_KEY": BUILD_ARG_KEY.value, "GITHUB_TOKEN": BUILD_ARG_TOKEN.value}


def dockerfile(base: str) -> str:
    """The canary image on ``base``: every image canary in the field kind its place names."""
    return f"""FROM {base}
ARG SSH_PRIVATE_KEY
ARG GITHUB_TOKEN
ENV CANARY_DB_PASSWORD={ENV_PASSWORD.value} AWS_ACCESS_KEY_ID={ENV_AWS.value}
LABEL canary.api-token={LABEL_TOKEN.value} canary.aws-key={LABEL_AWS.value}
RUN mkdir -p /root/.ssh /root/.docker && echo "$SSH_PRIVATE_KEY" > /root/.ssh/deploy && rm /root/.ssh/deploy
RUN echo "$GITHUB_TOKEN" > /dev/null
RUN echo '{HISTORY_AUTH.value}' > /root/.docker/config.json
RUN echo git clone https://{HISTORY_URL.value}/app.git > /dev/null
COPY id_rsa /root/.ssh/id_rsa
COPY credentials /root/.aws/credentials
CMD ["sleep", "3600"]
"""

# --- Kubernetes manifests ------------------------------------------------------------------------

NS_LABEL = aws_key("k8s Namespace label", "aws-key")
NS_ANNOTATION = github_token("k8s Namespace annotation", "ci.example.com/token")
WORKLOAD_LABEL = password("k8s Deployment label db-password", "db-password")
WORKLOAD_ANNOTATION = pem("k8s Deployment annotation", "deploy.example.com/signing-key")
POD_LABEL = github_token("k8s pod template label", "gh-token")
POD_ANNOTATION = url_credentials("k8s pod template annotation", "backup", "db.internal")
K8S_ENV_PASSWORD = password("k8s env DB_PASSWORD value", "DB_PASSWORD")
K8S_ENV_AWS = aws_key("k8s env value (neutral key)", "UPSTREAM_ID")
PROBE_HOST = url_credentials("k8s probe httpGet.host", "probe", "health.internal")
CONFIGMAP_PASSWORD = password("k8s ConfigMap data (properties password)", "spring.datasource.password=")
CONFIGMAP_AUTH = docker_auth("k8s ConfigMap data (config.json auth)", "quay.example.com")

MANIFEST_CANARIES = (
    NS_LABEL, NS_ANNOTATION, WORKLOAD_LABEL, WORKLOAD_ANNOTATION, POD_LABEL, POD_ANNOTATION, K8S_ENV_PASSWORD,
    K8S_ENV_AWS, PROBE_HOST, CONFIGMAP_PASSWORD, CONFIGMAP_AUTH,
)
NAMESPACE = "canary"


def manifests() -> list[dict[str, object]]:
    """A Namespace, a Deployment and a ConfigMap holding the manifest canaries."""
    container = {
        "name": "app",
        "image": "registry.example.com/canary/app:1.0",
        "env": [
            {"name": "DB_PASSWORD", "value": K8S_ENV_PASSWORD.value},
            {"name": "UPSTREAM_ID", "value": K8S_ENV_AWS.value},
        ],
        "livenessProbe": {"httpGet": {"host": PROBE_HOST.value, "path": "/healthz", "port": 8080}},
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {"aws-key": NS_LABEL.value},
                "annotations": {"ci.example.com/token": NS_ANNOTATION.value},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "canary-app",
                "namespace": NAMESPACE,
                "labels": {"app": "canary-app", "db-password": WORKLOAD_LABEL.value},
                "annotations": {"deploy.example.com/signing-key": WORKLOAD_ANNOTATION.value},
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "canary-app"}},
                "template": {
                    "metadata": {
                        "labels": {"app": "canary-app", "gh-token": POD_LABEL.value},
                        "annotations": {"backup.example.com/target": f"postgres://{POD_ANNOTATION.value}/app"},
                    },
                    "spec": {"containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "canary-config", "namespace": NAMESPACE},
            "data": {
                "application.properties": f"spring.datasource.url=jdbc:postgresql://db/app\n"
                f"spring.datasource.password={CONFIGMAP_PASSWORD.value}\n",
                "config.json": CONFIGMAP_AUTH.value,
            },
        },
    ]


# --- a Trivy report of the image -----------------------------------------------------------------

VULN_TITLE = github_token("Trivy vulnerability Title", "token ")
VULN_DESCRIPTION = aws_key("Trivy vulnerability Description", "Found key ")
VULN_DESCRIPTION_KEY = pem("Trivy vulnerability Description (PEM)", "signing key:\n")
MISCONFIG_MESSAGE = password("Trivy misconfiguration Message", "ADMIN_PASS=")
#: Trivy masks what its secret scanner matched; an old or hostile report may not.
SECRET_MATCH = github_token("Trivy secret Match and Code line (unmasked)", "/app/.env")

REPORT_CANARIES = (VULN_TITLE, VULN_DESCRIPTION, VULN_DESCRIPTION_KEY, MISCONFIG_MESSAGE, SECRET_MATCH)


def trivy_report(image_ref: str, image_id: str) -> dict[str, object]:
    """A Trivy image report of the canary image whose free text carries the report canaries."""
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-01-02T03:04:05Z",
        "ArtifactName": image_ref,
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": image_id, "RepoTags": [image_ref], "OS": {"Family": "alpine", "Name": "3.19.1"}},
        "Results": [
            {
                "Target": f"{image_ref} (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2099-0001",
                        "PkgName": "libcanary",
                        "InstalledVersion": "1.0.0-r0",
                        "FixedVersion": "1.0.1-r0",
                        "Severity": "CRITICAL",
                        "Title": f"libcanary: token {VULN_TITLE.value} leaked in logs",
                        "Description": f"Found key {VULN_DESCRIPTION.value} and the signing key:\n"
                        f"{VULN_DESCRIPTION_KEY.value}\nin debug output.",
                    }
                ],
            },
            {
                "Target": "Dockerfile",
                "Class": "config",
                "Type": "dockerfile",
                "Misconfigurations": [
                    {
                        "Type": "Dockerfile Security Check",
                        "ID": "DS-0031",
                        "Title": "Secrets passed via build-args or envs",
                        "Description": "Passing secrets via build-args or envs is not secure.",
                        "Message": f"Possible exposure of secret env \"ADMIN_PASS={MISCONFIG_MESSAGE.value}\" in ENV",
                        "Severity": "CRITICAL",
                        "Status": "FAIL",
                    }
                ],
            },
            {
                "Target": SECRET_MATCH.witness,
                "Class": "secret",
                "Secrets": [
                    {
                        "RuleID": "github-pat",
                        "Category": "GitHub",
                        "Severity": "CRITICAL",
                        "Title": "GitHub Personal Access Token",
                        "StartLine": 2,
                        "EndLine": 2,
                        "Match": f"GITHUB_TOKEN={SECRET_MATCH.value}",
                        "Code": {"Lines": [{"Number": 2, "Content": f"GITHUB_TOKEN={SECRET_MATCH.value}",
                                            "IsCause": True}]},
                    }
                ],
            },
        ],
    }


ALL_CANARIES = IMAGE_CANARIES + MANIFEST_CANARIES + REPORT_CANARIES
#: Fields Posture neither stores nor judges today (annotations other than the ones rules read,
#: ConfigMap data): these canaries must be absent like all others, but nothing can detect them.
UNJUDGED = frozenset({NS_ANNOTATION, WORKLOAD_ANNOTATION, POD_ANNOTATION, CONFIGMAP_PASSWORD, CONFIGMAP_AUTH})


# --- searching what Posture wrote ----------------------------------------------------------------


def leaks(haystacks: dict[str, bytes]) -> dict[str, list[str]]:
    """Canary place → the outputs holding any 12-character window of it."""
    found: dict[str, list[str]] = {}
    for canary in ALL_CANARIES:
        needles = [fragment.encode() for fragment in canary.fragments()]
        where = [name for name, data in haystacks.items() if any(n in data for n in needles)]
        if where:
            found[canary.place] = where
    return found


def walk(node: object) -> Iterator[object]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def detected(canary: Canary, nodes: list[object]) -> bool:
    """A finding's evidence names the canary's key (or, for a scanner's secret finding, its file), or
    a ``<secret …>`` preview stands where it was planted: as the value of its key (a label) or right
    after its witness text (free text)."""
    for node in nodes:
        if isinstance(node, dict):
            value = node.get(canary.witness)
            if isinstance(value, str) and value.startswith("<secret"):
                return True
            if node.get("key") == canary.witness and "detector" in node:
                return True
            if node.get("target") == canary.witness and "secret_rule" in node:
                return True
        elif isinstance(node, str) and canary.witness + "<secret" in node:
            return True
    return False
