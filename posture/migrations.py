"""Schema upgrades through Alembic, and the refusal to touch a database newer than this code."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from posture.db import DatabaseError

_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    ini = _ROOT / "alembic.ini"
    if not ini.exists():
        raise DatabaseError(
            f"migrations not found at {_ROOT / 'alembic'}: install Posture from its source tree (pip install -e .)"
        )
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _heads(cfg: Config) -> set[str]:
    return set(ScriptDirectory.from_config(cfg).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_state(engine: Engine, url: str) -> str:
    """``"current"``, ``"behind"`` (includes empty) or raises for a schema newer than the code."""
    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    current = current_revisions(engine)
    if current == _heads(cfg):
        return "current"
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = current - known
    if unknown:
        raise DatabaseError(
            f"database schema {', '.join(sorted(unknown))} is newer than this Posture knows; upgrade Posture"
        )
    return "behind"


def upgrade(engine: Engine, url: str) -> None:
    """Bring the schema to head (refusing a newer one); idempotent."""
    if schema_state(engine, url) == "current":
        return
    command.upgrade(alembic_config(url), "head")


def require_current(engine: Engine, url: str) -> None:
    """For read-only commands: the schema must already be at head."""
    if schema_state(engine, url) != "current":
        raise DatabaseError("database is empty or at an older schema: run `posture db upgrade` (or collect) first")
