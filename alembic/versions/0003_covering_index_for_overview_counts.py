"""covering index for the overview's counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_finding_counts", "finding", ["status", "severity", "category", "phase", "first_seen"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_finding_counts", table_name="finding")
