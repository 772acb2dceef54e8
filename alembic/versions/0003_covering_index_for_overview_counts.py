"""covering index for the overview's counts; indexes for the findings table's severity and age orders

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
    op.create_index("ix_finding_severity_order", "finding", ["severity_rank", "risk", "id"], unique=False)
    op.create_index("ix_finding_age_order", "finding", ["first_seen", "id"], unique=False)
    op.drop_index("ix_finding_severity_rank", table_name="finding")  # a prefix of ix_finding_severity_order


def downgrade() -> None:
    op.create_index("ix_finding_severity_rank", "finding", ["severity_rank"], unique=False)
    op.drop_index("ix_finding_age_order", table_name="finding")
    op.drop_index("ix_finding_severity_order", table_name="finding")
    op.drop_index("ix_finding_counts", table_name="finding")
