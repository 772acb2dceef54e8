"""The Docker test estate: what the session fixture builds on the test engine, and what each piece
must get (shared by the fixtures in conftest.py and the tests, which import it as a package).

Two images built from the static busybox with the legacy builder and ``--network none`` (nothing
can be pulled here): a risky one (no USER, no HEALTHCHECK, secrets in ENV, a label, a ``RUN`` line
and a private key deleted by a later layer) and a hardened one. Containers each carry one risky
setting from CIS section 5, plus one fully hardened container; the ones whose setting would touch
the host (privileged, /etc read-write) are created but never started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from posture.records import AssetKind, AssetRecord, Record, RelationRecord
from tests.docker.docker_support import TEST_LABEL, DockerCli

HASH_KEY = b"posture-docker-tests-hash-key-32b"
#: Secret values planted in the estate: none of them may appear in any record.
SECRETS = {
    "env": "Sup3r-S3cret-Db-Passw0rd",
    "label": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "history": "Hunter2-Hunter2-Hunter2",
    "runtime_env": "glpat-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt",
    "key_body": "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
}
PRIVATE_KEY = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRETS['key_body']}\n-----END OPENSSH PRIVATE KEY-----\n"

RISKY_DOCKERFILE = f"""FROM {{base}}
ENV DB_PASSWORD={SECRETS["env"]}
LABEL com.example.api-token={SECRETS["label"]}
RUN echo "password={SECRETS["history"]}" > /dev/null
COPY id_rsa /root/.ssh/id_rsa
RUN rm /root/.ssh/id_rsa
CMD ["sleep", "3600"]
"""
HARDENED_DOCKERFILE = """FROM {base}
USER 1000:1000
HEALTHCHECK --interval=30s CMD ["true"]
CMD ["sleep", "3600"]
"""
RISKY_IMAGE = "posture-test/dkr-risky:latest"
HARDENED_IMAGE = "posture-test/dkr-hardened:1.0"


@dataclass(frozen=True)
class Estate:
    url: str
    risky_image_id: str
    hardened_image_id: str
    #: container name → the CIS 1.6.0 ids (and Posture rule ids) it must get
    containers: dict[str, tuple[str, ...]]


def create_containers(cli: DockerCli, socket_path: str) -> dict[str, tuple[str, ...]]:
    """Creates the containers of the estate; each name maps to the CIS ids (and rule ids) it must get."""
    create = ("create", "--label", TEST_LABEL)
    run = ("run", "-d", "--label", TEST_LABEL)
    plan: list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
        ("pdk-privileged", create, ("--privileged",), ("5.5",)),
        ("pdk-socket", run, ("-v", f"{socket_path}:/var/run/docker.sock"), ("5.32",)),
        (
            "pdk-hostns",
            run,
            ("--network", "host", "--pid", "host", "--ipc", "host", "--uts", "host"),
            ("5.10", "5.16", "5.17", "5.21"),
        ),
        ("pdk-etc", create, ("-v", "/etc:/host/etc"), ("5.6",)),
        ("pdk-caps", create, ("--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"), ("5.4",)),
        ("pdk-seccomp", create, ("--security-opt", "seccomp=unconfined"), ("5.22",)),
        ("pdk-port80", create, ("-p", "0.0.0.0:80:80"), ("5.8", "5.14")),
        ("pdk-nolimits", create, (), ("5.11", "5.12", "5.13", "5.26", "5.27", "5.29", "DKR-MUTABLE-IMAGE-REF")),
        (
            "pdk-misc",
            create,
            (
                "--restart",
                "always",
                "--device",
                "/dev/null:/dev/xnull",
                "--cgroup-parent",
                "/posture-test",
                "-e",
                f"API_TOKEN={SECRETS['runtime_env']}",
                "--mount",
                "type=bind,source=/tmp,target=/hosttmp,bind-propagation=rshared",
            ),
            ("5.15", "5.18", "5.20", "5.25", "DKR-ENV-SECRET"),
        ),
        ("pdk-userns", create, ("--userns", "host"), ("5.31",)),
    ]
    for name, verb, flags, _ in plan:
        cli(*verb, "--name", name, *flags, RISKY_IMAGE)
    cli(
        "run",
        "-d",
        "--label",
        TEST_LABEL,
        "--name",
        "pdk-hardened",
        "--user",
        "1000:1000",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "64",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "--restart",
        "on-failure:5",
        "--network",
        "none",
        HARDENED_IMAGE,
    )
    _wait_healthy(cli, "pdk-hardened")
    return {name: expected for name, _, _, expected in plan} | {"pdk-hardened": ()}


def _wait_healthy(cli: DockerCli, name: str, timeout: float = 20.0) -> None:
    """Health moves from "starting" to "healthy" once: collect after that, so two runs see the same."""
    deadline = time.monotonic() + timeout
    while cli("inspect", "--format", "{{.State.Health.Status}}", name) != "healthy":
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not become healthy")
        time.sleep(0.2)


@dataclass(frozen=True)
class Collected:
    records: list[Record]

    def assets(self, kind: AssetKind) -> list[AssetRecord]:
        return [r for r in self.records if isinstance(r, AssetRecord) and r.kind is kind]

    def container(self, name: str) -> AssetRecord:
        return next(a for a in self.assets(AssetKind.CONTAINER) if a.name == name)

    def image(self, image_id: str) -> AssetRecord:
        return next(a for a in self.assets(AssetKind.IMAGE) if a.key == image_id)

    @property
    def relations(self) -> list[RelationRecord]:
        return [r for r in self.records if isinstance(r, RelationRecord)]
