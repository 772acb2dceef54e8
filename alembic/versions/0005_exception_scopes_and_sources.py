"""exception scopes that say what was accepted, and where each exception was decided

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 19:00:00

An exception stored before this revision keeps its scope (rule, asset, namespace, pattern) and its
meaning; it is marked as decided in the TUI, the only place that wrote them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    # Plain ADD COLUMN, as in 0004: a batch rebuild would drop risk_exception, which findings reference.
    table = "risk_exception"
    op.add_column(table, sa.Column("fingerprint", _TEXT(length=64), nullable=True))
    op.add_column(table, sa.Column("vuln_id", _TEXT(length=128), nullable=True))
    op.add_column(table, sa.Column("aliases", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column(table, sa.Column("package", _TEXT(length=512), nullable=True))
    for column in ("cluster", "host", "team"):
        op.add_column(table, sa.Column(column, _TEXT(length=256), nullable=True))
    op.add_column(table, sa.Column("source", _TEXT(length=16), server_default="tui", nullable=False))
    op.add_column(table, sa.Column("source_key", _TEXT(length=512), server_default="", nullable=False))
    op.add_column(table, sa.Column("origin", _TEXT(length=1024), server_default="", nullable=False))
    op.add_column(table, sa.Column("justification", _TEXT(length=64), nullable=True))
    op.add_column(table, sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column(table, sa.Column("revoked_by", _TEXT(length=256), nullable=True))
    op.create_index("ix_risk_exception_source", table, ["source", "source_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_risk_exception_source", table_name="risk_exception")
    with op.batch_alter_table("risk_exception", schema=None) as batch_op:
        for column in ("revoked_by", "revoked_at", "justification", "origin", "source_key", "source", "team",
                       "host", "cluster", "package", "aliases", "vuln_id", "fingerprint"):
            batch_op.drop_column(column)
