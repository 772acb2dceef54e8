"""A store whose every name field carries terminal escapes, bidi and zero-width characters.

The demo bundle's sources (a Docker engine snapshot, a cluster's manifests, Trivy reports) are copied
with :data:`PAYLOAD` planted in what a hostile source controls (engine name, container names, labels,
env keys, image history, workload and container names, team labels, annotations, a report's
ArtifactName, package names, vulnerability titles and descriptions), collected twice through the real
CLI, with a risk exception (hostile reason and owner) in between and a notification channel whose
name is hostile. Used by tests/core/test_output_gate.py and tests/tui/test_output_gate_tmux.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text

from posture.acceptance import Acceptance, Reach
from posture.clock import utcnow
from posture.db import make_engine, resolve_url, write_session
from posture.store.exceptions import create_exception

DEMO = Path(__file__).resolve().parents[1] / "posture" / "demo" / "data"

#: OSC 52 (clipboard write), CSI 2J (clear screen), OSC 0 (window title), C1 CSI (U+009B), a bidi
#: override and isolates, zero-width space / joiner / BOM / soft hyphen / Mongolian vowel separator.
PAYLOAD = ("\x1b]52;c;UFdORUQtQ0xJUA==\x07\x1b[2J\x1b]0;PWNED-TITLE\x07\x9b31m\u202eevil\u2066x\u2069"
           "\u200bzw\u200d\u2060\ufeff\u00ad\u180e")
#: Characters that must never reach a terminal, a file or a channel raw (newline and tab excepted).
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff\u00ad\u180e]")


def hostile(value: str) -> str:
    return f"{value}{PAYLOAD}"


def _docker(path: Path) -> None:
    data = json.loads((DEMO / "docker-build-host-01.json").read_text())
    data["info"]["Name"] = hostile(data["info"]["Name"])  # the scope label
    for container in data["containers"]:
        container["Name"] = hostile(container["Name"])
        config = container["Config"]
        config["Labels"] = {**(config.get("Labels") or {}), hostile("team"): hostile("payments")}
        config["Env"] = [*(config.get("Env") or []), f"{hostile('MODE')}=x"]
    for image in data["images"]:
        labels = image["Config"].get("Labels") or {}
        image["Config"]["Labels"] = {**labels, hostile("maintainer"): hostile("ops")}
        for step in image.get("History") or []:
            step["CreatedBy"] = hostile(step.get("CreatedBy", ""))
    path.write_text(json.dumps(data))


def _manifests(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all((DEMO / "k8s-demo-prod.yaml").read_text()) if d]
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), "team": hostile("payments")}
        meta["annotations"] = {**(meta.get("annotations") or {}), "owner": hostile("ops")}
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
            meta["name"] = hostile(meta["name"])
            spec = doc["spec"].get("template", {}).get("spec", doc["spec"])
            for container in spec.get("containers", []):
                container["name"] = hostile(container["name"])
    path.write_text(yaml.safe_dump_all(docs, allow_unicode=True))


def _trivy(source: Path, path: Path) -> None:
    report: dict[str, Any] = json.loads(source.read_text())
    report["ArtifactName"] = hostile(report["ArtifactName"])
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            vuln["PkgName"] = hostile(vuln["PkgName"])
            vuln["Title"] = hostile(vuln.get("Title", "t"))
            vuln["Description"] = hostile(vuln.get("Description", "d"))
    path.write_text(json.dumps(report))


@dataclass(frozen=True)
class Estate:
    root: Path
    url: str
    env: dict[str, str]
    sources: tuple[str, ...]


def source_args(root: Path) -> tuple[str, ...]:
    """The hostile sources as ``posture collect`` arguments (written under ``root``)."""
    _docker(root / "docker.json")
    _manifests(root / "k8s.yaml")
    reports: list[str] = []
    for source in sorted(DEMO.glob("trivy-*.json")):
        _trivy(source, root / source.name)
        reports += ["--report", str(root / source.name)]
    return ("--docker-snapshot", str(root / "docker.json"), "--manifests", str(root / "k8s.yaml"),
            "--manifests-name", hostile("prod-set"), *reports)


def write_config(root: Path) -> Path:
    """A channel with a hostile name and a URL nothing listens on (delivery fails at once)."""
    path = root / "config.toml"
    name = json.dumps(hostile("ops"))  # a TOML basic string is a JSON string
    path.write_text(f'[[channels]]\nname = {name}\nurl = "json://127.0.0.1:9/hook"\n')
    return path


def accept_one_rule(url: str) -> None:
    """A risk exception with a hostile reason and owner, already expired: the next run records both."""
    engine = make_engine(resolve_url(url))
    try:
        with write_session(engine) as session:
            rule_id = session.execute(text("SELECT rule_id FROM finding ORDER BY risk DESC LIMIT 1")).scalar_one()
            now = utcnow()
            create_exception(session, Acceptance(Reach(rule_id=rule_id), hostile("accepted"), hostile("alice"), "cli",
                                                  expires_at=now + timedelta(seconds=1)), now)
    finally:
        engine.dispose()
