"""Issue 23, "Done when" 2: known secrets planted in every field kind a source can carry never reach
anything Posture writes, and each is still detected.

One estate holds the canaries of :mod:`tests.secrets_canary.canaries`: an image built on the test
engine (build args in history, ENV, labels, RUN lines, files in layers), the same image pushed to
the test registry, Kubernetes manifests (Namespace / workload / pod-template labels and annotations,
env values, a probe host, ConfigMap data) and a Trivy report of the image (vulnerability title and
description, misconfiguration message, an unmasked secret match). The real CLI collects it all into
one SQLite store; then every listing command in every ``--format`` (enumerated from the click
commands, so a new format is covered), the chat digests on a loopback json:// receiver, the TUI
finding, asset, overview and diff screens (tmux) and every stderr are kept, and each of them, plus
the database file and its WAL, is searched for every 12-character window of every canary: 0 hits.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml

from posture.cli.main import cli
from tests.chat_receiver import Receiver, serving_receiver
from tests.secrets_canary import canaries as c
from tests.services import Dockerd, PlainRegistry

ROOT = Path(__file__).resolve().parents[2]
LABEL = "posture.test=secret-canary"
IMAGE = "posture-test/secret-canary:1.0"
BUILD_ENV = {"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp"}
#: Listing commands run besides their ``--format`` values: name → extra arguments per variant.
VARIANTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "findings": (("--all",),),
    "assets": ((), ("--sources",), ("--include-gone",)),
    "diff": ((), ("--runs",), ("--since", "30d")),
    "score": (("--by", "estate"), ("--by", "asset"), ("--by", "namespace")),
    "notify": (("--status",),),
    "summary": ((),),
    "rules": ((),),
}


def docker(url: str, *args: str) -> str:
    done = subprocess.run(["docker", "-H", url, *args], capture_output=True, text=True, env=BUILD_ENV, timeout=120)
    assert done.returncode == 0, f"docker {args[0]}: {done.stderr.strip()}"
    return done.stdout.strip()


# --- the chat receiver ---------------------------------------------------------------------------


@pytest.fixture
def chat() -> Iterator[Receiver]:
    with serving_receiver() as receiver:
        yield receiver


# --- the estate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estate:
    image_id: str
    registry_prefix: str  # the repository prefix the image was pushed under on the plain registry


@pytest.fixture
def estate(dockerd: Dockerd, registry_plain: PlainRegistry, tmp_path: Path) -> Iterator[Estate]:
    """The canary image on the test engine (built with the legacy builder, so build args land in the
    history as in the issue's reproduction) and on the plain registry; removed afterwards."""
    context = tmp_path / "build"
    context.mkdir()
    for name, content in c.BUILD_FILES.items():
        (context / name).write_text(content)
    (context / "Dockerfile").write_text(c.dockerfile(dockerd.busybox_image))
    args = [a for name, value in c.BUILD_ARGS.items() for a in ("--build-arg", f"{name}={value}")]
    docker(dockerd.url, "build", "--network", "none", "-q", "--label", LABEL, *args, "-t", IMAGE, str(context))
    try:
        image_id = docker(dockerd.url, "image", "inspect", "--format", "{{.Id}}", IMAGE)
        prefix = f"canary{secrets.token_hex(4)}"
        copy = subprocess.run(
            ["skopeo", "copy", "--src-daemon-host", dockerd.url, "--dest-tls-verify=false",
             f"docker-daemon:{IMAGE}", f"docker://{registry_plain.host}/{prefix}/app:1.0"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert copy.returncode == 0, copy.stderr
        yield Estate(image_id, prefix)
    finally:
        docker(dockerd.url, "rmi", "-f", IMAGE)


# --- running the CLI -----------------------------------------------------------------------------


@dataclass
class Outputs:
    """Everything Posture wrote, by a name saying what produced it."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def posture(self, name: str, *args: str) -> str:
        """``posture ARGS`` as a subprocess on the store in ``root``; stdout and stderr are kept."""
        done = self._python("-m", "posture.cli.main", *args)
        self.files[f"{name} (stdout)"] = done.stdout
        self.files[f"{name} (stderr)"] = done.stderr
        assert done.returncode == 0, f"posture {' '.join(args)} exited {done.returncode}: {done.stderr.decode()}"
        return done.stdout.decode()

    def posture_batch(self, runs: list[tuple[str, ...]]) -> None:
        """Many read-only command lines in one subprocess (:mod:`batch_cli`), each kept by its
        arguments as name."""
        target = self.root / "batch"
        target.mkdir()
        done = self._python(str(Path(__file__).with_name("batch_cli.py")), str(target), json.dumps(runs))
        assert done.returncode == 0, done.stderr.decode()
        for index, (args, code) in enumerate(zip(runs, json.loads(done.stdout), strict=True)):
            self.files[f"{' '.join(args)} (stdout)"] = (target / f"{index}.out").read_bytes()
            self.files[f"{' '.join(args)} (stderr)"] = stderr = (target / f"{index}.err").read_bytes()
            assert code == 0, f"posture {' '.join(args)} exited {code}: {stderr.decode()}"

    def _python(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Python on the worktree's code, with this root as home and config: no variable of the
        calling shell (Docker, Posture) leaks in."""
        home = str(self.root / "home")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "POSTURE_"))}
        env |= {"HOME": home, "XDG_CONFIG_HOME": home, "POSTURE_DB": self.db_url,
                "POSTURE_CONFIG": str(self.root / "config.toml"), "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, timeout=300,
                              check=False)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'posture.db'}"


def listing_formats() -> Iterator[tuple[str, str]]:
    """(command, format) for every command with a ``--format`` choice, read from the click commands."""
    for name in cli.list_commands(click.Context(cli)):
        command = cli.get_command(click.Context(cli), name)
        option = next((p for p in getattr(command, "params", []) if "--format" in getattr(p, "opts", ())), None)
        if option is not None and isinstance(option.type, click.Choice):
            yield from ((name, str(choice)) for choice in option.type.choices)


def collect(out: Outputs, estate: Estate, dockerd: Dockerd, registry: PlainRegistry) -> None:
    """Every source into the one store: the report twice (first without the vulnerability, so the
    second run announces it as *new*, not only as a baseline line), manifests, engine, registry."""
    manifests = out.root / "manifests"
    manifests.mkdir()
    (manifests / "canary.yaml").write_text(yaml.safe_dump_all(c.manifests()))
    report = c.trivy_report(IMAGE, estate.image_id)
    quiet = json.loads(json.dumps(report))
    quiet["Results"][0]["Vulnerabilities"] = []
    quiet["Results"] = quiet["Results"][:2]  # the secret finding is new in the second report too
    (out.root / "trivy-quiet.json").write_text(json.dumps(quiet))
    (out.root / "trivy.json").write_text(json.dumps(report))
    out.posture("collect report (first)", "collect", "--report", str(out.root / "trivy-quiet.json"))
    out.posture("collect report", "collect", "--report", str(out.root / "trivy.json"))
    out.posture("collect manifests", "collect", "--manifests", str(manifests), "--manifests-name", "canary")
    out.posture("collect docker", "collect", "--docker", dockerd.url, "--docker-layer-scan", "64")
    out.posture("collect registry", "collect", "--registry", f"http://{registry.host}/{estate.registry_prefix}",
                "--insecure-registry", registry.host)


def export(out: Outputs) -> None:
    """Every (command, format, variant); a command with a ``--format`` missing from VARIANTS fails."""
    formats = list(listing_formats())
    assert {command for command, _ in formats} == set(VARIANTS), "a listing command is not exported"
    runs = [(command, *extra, "--format", fmt) for command, fmt in formats for extra in VARIANTS[command]]
    summary = out.root / "summary.html"
    out.posture_batch([*runs, ("summary", "--format", "html", "-o", str(summary))])
    out.files["summary -o file"] = summary.read_bytes()


# --- the TUI in tmux -----------------------------------------------------------------------------


class Terminal:
    """``posture tui`` in a 220x100 tmux pane (wide, so a leak is not split by wrapping)."""

    def __init__(self, out: Outputs, *args: str) -> None:
        self.name = f"posture-canary-{uuid.uuid4().hex[:8]}"
        home = out.root / "home"
        env = {"TERM": "xterm", "POSTURE_DB": out.db_url, "PYTHONPATH": str(ROOT), "HOME": str(home),
               "XDG_CONFIG_HOME": str(home), "POSTURE_CONFIG": str(out.root / "config.toml")}
        exports = " ".join(f"{k}={v!r}" for k, v in env.items())
        command = f"cd {str(ROOT)!r} && env {exports} {sys.executable} -m posture.cli.main tui {' '.join(args)}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "220", "-y", "100", command],
                       check=True, env={**os.environ, "TMUX": ""})

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False, capture_output=True)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", self.name], check=True,
                              capture_output=True, text=True).stdout

    def wait_for(self, needle: str | re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``needle`` (text or pattern) once it is on screen."""
        pattern = needle if isinstance(needle, re.Pattern) else re.compile(re.escape(needle))
        deadline = time.monotonic() + timeout
        while (found := pattern.search(screen := self.screen())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern.pattern!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)
        return found

    def changed(self, before: str, timeout: float = 5.0) -> str:
        """The screen once it differs from ``before`` (a key took effect), or as it is after ``timeout``
        (a key with nothing to show, such as a page down on one page): polled, so a slow machine waits."""
        deadline = time.monotonic() + timeout
        while (screen := self.screen()) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        return screen


def tui_screens(out: Outputs) -> None:
    """Every finding on the canary assets (the list filtered by "canary", as ``/`` would) opened in
    its detail screen (100 rows: one screen), and each asset they are on opened once from there
    (``o``: history, labels, attributes), captured, then once more a page down; then the overview
    and the diff view."""
    term = Terminal(out, "--view", "findings", "--filter", "canary")
    try:
        count = int(term.wait_for(re.compile(r"Findings (\d+)")).group(1))
        out.files["tui findings"] = term.screen().encode()
        details: set[str] = set()
        assets: set[str] = set()
        for index in range(count):
            term.keys("Enter")
            out.files[f"tui finding {index}"] = term.wait_for("Where and when").string.encode()
            details.add(out.files[f"tui finding {index}"].decode().split(" Where and when")[0])
            asset = re.search(r"^ *key +(\S+)", out.files[f"tui finding {index}"].decode(), re.MULTILINE)
            if asset is not None and asset.group(1) not in assets:
                assets.add(asset.group(1))
                term.keys("o")
                out.files[f"tui asset {asset.group(1)}"] = _pages(term, "Related assets")
                term.keys("Escape")
                term.wait_for("Where and when")
            term.keys("Escape")
            term.wait_for(f"Findings {count}")
            term.keys("Down")
        assert len(details) == count, f"{count} findings listed, {len(details)} different ones opened"
        assert count >= 10 and len(assets) >= 3, f"{count} findings on {len(assets)} canary assets in the TUI"
        term.keys("1")  # the overview: top risks and changes
        out.files["tui overview"] = term.wait_for(re.compile(r"grade [A-F]")).string.encode()
        term.keys("5")  # the diff view of the latest run: every finding is new
        out.files["tui diff"] = term.wait_for(re.compile(r"\bnew +\d+ ")).string.encode()
    finally:
        term.close()


def _pages(term: Terminal, needle: str) -> bytes:
    seen = [term.wait_for(needle).string]
    term.keys("PageDown")
    seen.append(term.changed(seen[0]))
    return "\n".join(seen).encode()


# --- the test ------------------------------------------------------------------------------------


def keep(haystacks: dict[str, bytes], directory: Path) -> None:
    """Every output as a file, so a failure can be read (pytest keeps the last runs' tmp_path)."""
    directory.mkdir()
    for index, (name, data) in enumerate(sorted(haystacks.items())):
        (directory / f"{index:03d} {name.replace('/', '_')}"[:200]).write_bytes(data)


@pytest.mark.slow
def test_no_canary_is_kept_and_each_is_detected(
    dockerd: Dockerd, registry_plain: PlainRegistry, estate: Estate, chat: Receiver, tmp_path: Path
) -> None:
    channel, payloads = chat.url, chat
    out = Outputs(tmp_path / "run")
    (out.root / "home").mkdir(parents=True)
    (out.root / "config.toml").write_text(
        f'[thresholds]\nnew_risk = 0\ntop = 100\n\n[[channels]]\nname = "canary"\nurl = "{channel}"\n'
    )
    collect(out, estate, dockerd, registry_plain)
    out.posture("notify", "notify")
    out.posture("notify --test", "notify", "--test")
    export(out)
    tui_screens(out)
    # Not vacuous: the report's vulnerability was announced as new, with its finding line, on the wire.
    assert any(b"CVE-2099-0001" in body for body in payloads.raw), payloads.raw
    haystacks = dict(out.files)
    haystacks |= {f"chat payload {i}": body for i, body in enumerate(payloads.raw)}
    haystacks |= {f"database file {p.name}": p.read_bytes() for p in out.root.glob("posture.db*")
                  if p.is_file()}
    haystacks |= {f"file {p.relative_to(out.root)}": p.read_bytes() for p in (out.root / "home").rglob("*")
                  if p.is_file()}

    keep(haystacks, tmp_path / "outputs")
    leaked = c.leaks(haystacks)
    reported = [json.loads(out.files[f"{name} --format json (stdout)"]) for name in ("findings --all", "assets")]
    nodes = list(c.walk(reported))
    missed = [canary.place for canary in c.ALL_CANARIES if canary not in c.UNJUDGED and not c.detected(canary, nodes)]
    assert not leaked and not missed, (
        f"{len(leaked)} of {len(c.ALL_CANARIES)} canaries kept (outputs in {tmp_path / 'outputs'}):\n"
        + "".join(f"- {place}: {len(where)} outputs: {', '.join(where[:5])}\n" for place, where in leaked.items())
        + f"{len(missed)} not detected (no finding, no <secret …> preview):\n"
        + "".join(f"- {place}\n" for place in missed)
    )
