"""Helpers for the live-API tests: kubeconfig files, a self-signed CA/server certificate, exec plugins."""

from __future__ import annotations

import datetime
import ipaddress
import json
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_kubeconfig(
    path: Path,
    contexts: Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    current: str | None = None,
    cluster_extra: Mapping[str, Any] | None = None,
) -> Path:
    """A kubeconfig with one cluster + user per context: ``{context: (server url, user fields)}``."""
    config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for name, (server, user) in contexts.items():
        config["clusters"].append({"name": f"{name}-cluster", "cluster": {"server": server, **(cluster_extra or {})}})
        config["users"].append({"name": f"{name}-user", "user": dict(user)})
        config["contexts"].append({"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user"}})
    config["current-context"] = current or next(iter(contexts))
    path.write_text(yaml.safe_dump(config))
    return path


def self_signed(directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> tuple[Path, Path]:
    """A self-signed server certificate (also its own CA) for ``hosts``; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "replay-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def exec_plugin(path: Path, token: str, marker: Path) -> Path:
    """An executable credential plugin printing an ExecCredential; it touches ``marker`` when run."""
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": token}}
    path.write_text(f"#!/bin/sh\ntouch '{marker}'\ncat <<'EOF'\n{json.dumps(credential)}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def exec_user(command: str) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command, "interactiveMode": "Never"}}
