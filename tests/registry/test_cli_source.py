"""`posture collect` registry options → collectors, and one-line refusals of bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collectors.registry import RegistryCollector
from posture.cli.context import CommandError
from posture.cli.main import cli
from posture.cli.sources import SourceContext
from posture.cli.sources import registry as source
from posture.secrets import SecretScanner

CONTEXT = SourceContext(secrets=SecretScanner(b"k" * 32), known_digests=frozenset({"sha256:" + "a" * 64}))


def params(**given: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"stale_days": 180}
    return {**defaults, **given}


def test_no_registry_option_builds_nothing() -> None:
    assert source.build(params(), CONTEXT) == []


def test_options_become_targets(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    collectors = source.build(
        params(
            registry_urls=("https://reg.example/team", "http://127.0.0.1:5000", "https://reg.example/team/"),
            insecure_registries=("127.0.0.1:5000",),
            registry_ca=str(ca),
            include_repos=("team/*",),
            exclude_repos=("*/tmp",),
            newest_tags=3,
            require_signatures=True,
            stale_days=90,
            allowed_base_registries=("Reg.Example",),
            registry_token_realms=("auth.example",),
        ),
        CONTEXT,
    )
    assert [str(c.scope) for c in collectors] == ["registry:reg.example/team", "registry:127.0.0.1:5000"]
    first = collectors[0]
    assert isinstance(first, RegistryCollector)
    target = first.target
    assert (target.ca_file, target.include, target.exclude, target.newest_tags) == (str(ca), ("team/*",), ("*/tmp",), 3)
    assert target.policy.as_attributes() == {
        "stale_days": 90, "require_signatures": True, "allowed_base_registries": ["reg.example"]
    }
    assert target.token_realms == frozenset({"auth.example"}) and not target.insecure
    assert isinstance(collectors[1], RegistryCollector) and collectors[1].target.insecure


def test_plain_http_without_insecure_is_a_usage_error() -> None:
    with pytest.raises(CommandError, match=r"plain HTTP needs --insecure-registry 127\.0\.0\.1:5000") as caught:
        source.build(params(registry_urls=("http://127.0.0.1:5000",)), CONTEXT)
    assert caught.value.exit_code == 2


def test_cli_refuses_credentials_in_the_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["collect", "--db", f"sqlite:///{tmp_path / 'p.db'}", "--registry", "https://bob:hunter2@reg.example"]
    )
    assert result.exit_code == 2
    assert "credentials in the URL are refused" in result.output
    assert "hunter2" not in result.output
