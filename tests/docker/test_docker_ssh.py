"""The real dockerd collected over ``ssh://``, through a real OpenSSH server, as from a remote host.

services.sh starts sshd on 127.0.0.1 (on demand; CI requires it) with a throw-away host key; its
sessions reach the test dockerd, where the Docker SDK runs ``docker system dial-stdio``. The client
side is set up as a person's would be: the key in ``~/.ssh``, the host in ``~/.ssh/known_hosts``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.docker.docker_support import run_posture_at, store_scopes
from tests.docker.estate import Estate
from tests.services import Dockerd, SshDocker


def _home(root: Path, ssh_docker: SshDocker, *, known: bool = True, key: bool = True) -> Path:
    home = root / "home"
    dot_ssh = home / ".ssh"
    dot_ssh.mkdir(parents=True, mode=0o700)
    if key:
        shutil.copyfile(ssh_docker.key, dot_ssh / "id_ed25519")
        (dot_ssh / "id_ed25519").chmod(0o600)
    if known:
        shutil.copyfile(ssh_docker.known_hosts, dot_ssh / "known_hosts")
    return home


def _collect(root: Path, home: Path, url: str) -> subprocess.CompletedProcess[str]:
    return run_posture_at(root, "collect", "--docker", url, HOME=str(home), XDG_CONFIG_HOME=str(home))


def test_an_engine_is_collected_over_ssh_as_over_its_socket(
    ssh_docker: SshDocker, dockerd: Dockerd, estate: Estate, tmp_path: Path
) -> None:
    """With the estate's containers: more API calls than a stock sshd allows sessions at once."""
    assert len(estate.containers) >= 10
    home = _home(tmp_path, ssh_docker)
    over_ssh = _collect(tmp_path, home, ssh_docker.url)
    assert over_ssh.returncode == 0, over_ssh.stderr
    local = _collect(tmp_path, home, dockerd.url)
    assert local.returncode == 0, local.stderr
    # One engine, whichever way it is reached: the same scope, and the second run finds nothing new.
    [scope] = store_scopes(tmp_path)
    assert scope.startswith("docker:engine:")
    assert over_ssh.stdout.startswith(f"docker:{ssh_docker.url}: complete,")
    assert "(0 new, 0 resolved)" in local.stdout


def test_an_unknown_host_or_a_refused_key_is_one_line(ssh_docker: SshDocker, tmp_path: Path) -> None:
    unknown = _collect(tmp_path / "a", _home(tmp_path / "a", ssh_docker, known=False), ssh_docker.url)
    assert unknown.returncode == 1
    host = ssh_docker.url.removeprefix("ssh://root@").rpartition(":")
    assert unknown.stderr.splitlines() == [
        f"posture: docker {ssh_docker.url}: ssh: Server '[{host[0]}]:{host[2]}' not found in known_hosts"
    ]
    refused = _collect(tmp_path / "b", _home(tmp_path / "b", ssh_docker, key=False), ssh_docker.url)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"posture: docker {ssh_docker.url}: ssh: "), lines
