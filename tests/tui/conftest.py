"""TUI fixtures: the two-run estate of ``tui_estate`` in a SQLite file (built once, copied per test),
and an app factory with the test rules and a frozen clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade
from tests.tui.tui_estate import NOW, RULES, build_estate
from tests.tui.tui_helpers import AppFactory
from tui.app import PostureApp, make_app


@pytest.fixture(scope="session")
def estate_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tui-estate") / "posture.db"
    url = resolve_url(f"sqlite:///{path}")
    engine = make_engine(url)
    upgrade(engine, url)
    build_estate(engine)
    engine.dispose()
    return path


@pytest.fixture
def estate_path(estate_template: Path, tmp_path: Path) -> Path:
    """A private copy: tests that accept risks write to it."""
    path = tmp_path / "posture.db"
    shutil.copy(estate_template, path)
    return path


@pytest.fixture
def engine(estate_path: Path) -> Iterator[Engine]:
    eng = make_engine(resolve_url(f"sqlite:///{estate_path}"))
    yield eng
    eng.dispose()


@pytest.fixture
def app_factory(engine: Engine) -> AppFactory:
    def factory(read_only: bool = False) -> PostureApp:
        return make_app(engine, read_only=read_only, registry=RULES, clock=lambda: NOW)

    return factory
