"""The real dockerd over TCP with mutual TLS (``--tlsverify``), as a remote engine is exposed.

services.sh starts the test engine on its unix socket and on a TCP port with a throw-away CA, a
server certificate and a client certificate in the DOCKER_CERT_PATH layout. Posture is pointed at
it the way the docker CLI is (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH); each way the
handshake can fail is one line that says which side to fix, and leaves the earlier run intact.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.docker.docker_support import run_posture_at, self_signed
from tests.services import Dockerd


def _collect(root: Path, dockerd: Dockerd, cert_path: Path | str) -> subprocess.CompletedProcess[str]:
    return run_posture_at(root, "collect", DOCKER_HOST=dockerd.tls_url, DOCKER_TLS_VERIFY="1",
                    DOCKER_CERT_PATH=str(cert_path))


def _cert_dir(root: Path, name: str, source: Path, *, ca: Path | None = None, client: bool = True) -> Path:
    """A DOCKER_CERT_PATH directory from ``source``'s files, with another CA or without a client certificate."""
    target = root / name
    target.mkdir()
    shutil.copyfile(ca or source / "ca.pem", target / "ca.pem")
    if client:
        shutil.copyfile(source / "cert.pem", target / "cert.pem")
        shutil.copyfile(source / "key.pem", target / "key.pem")
    return target


def test_collects_over_mutual_tls_and_raises_no_transport_finding(dockerd: Dockerd, tmp_path: Path) -> None:
    result = _collect(tmp_path, dockerd, dockerd.cert_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("docker:tcp://") and ": complete," in result.stdout
    listed = run_posture_at(tmp_path, "findings", "--format", "json")
    rules = {f["rule_id"] for f in json.loads(listed.stdout)}
    assert "DKR-ROOTFUL-DAEMON" in rules  # the engine was read
    assert "DKR-API-NO-TLS" not in rules  # TLS with client certificates: the transport is as it should be


def test_each_failed_handshake_is_one_line_naming_the_side_to_fix(dockerd: Dockerd, tmp_path: Path) -> None:
    given = Path(dockerd.cert_path)
    first = _collect(tmp_path, dockerd, given)
    assert first.returncode == 0, first.stderr
    before = run_posture_at(tmp_path, "findings", "--format", "json").stdout

    (tmp_path / "other").mkdir()
    other_ca, _key = self_signed(tmp_path / "other")
    prefix = f"posture: docker {dockerd.tls_url}: "
    cases = {
        # the server's certificate is not signed by the CA we were given: we refuse it
        "wrong-ca": (_cert_dir(tmp_path, "wrong-ca", given, ca=other_ca), "TLS verification failed ("),
        # no client certificate: the engine refuses us
        "no-client": (_cert_dir(tmp_path, "no-client", given, client=False),
                      "the engine requires a client certificate ("),
    }
    stranger = _cert_dir(tmp_path, "stranger", given)
    shutil.copyfile(other_ca, stranger / "cert.pem")  # a certificate the engine's CA never signed
    shutil.copyfile(tmp_path / "other" / "server-key.pem", stranger / "key.pem")
    cases["stranger"] = (stranger, "the engine refused the client certificate (")

    for name, (cert_path, message) in cases.items():
        result = _collect(tmp_path, dockerd, cert_path)
        assert result.returncode == 1, name
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(prefix + message), (name, lines)
    assert run_posture_at(tmp_path, "findings", "--format", "json").stdout == before  # nothing earlier lost
