"""an exception may name the package's version (a VEX statement about zlib 1.2.13 covers that version only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 21:00:00

Existing exceptions name no version and keep covering the package at any version, as they were made.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "risk_exception", sa.Column("package_version", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("risk_exception", schema=None) as batch_op:
        batch_op.drop_column("package_version")
