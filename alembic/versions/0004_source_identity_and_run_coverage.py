"""source identity: a label beside each scope's identity and the old name it adopted; what each run covered

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 14:00:00

Scopes keep their names: a source collected by this release under a new identity adopts its old
scope on its first run (posture.store.runs.ensure_scope), so no history is rewritten here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (with a constant default SQLite needs no table rebuild): a batch rebuild would
    # drop and recreate collection_run, which the foreign keys of a populated store refuse.
    op.add_column(
        "scope", sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=512), server_default="", nullable=False)
    )
    op.add_column(
        "scope", sa.Column("adopted", sqlmodel.sql.sqltypes.AutoString(length=512), server_default="", nullable=False)
    )
    op.add_column("collection_run", sa.Column("coverage", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("collection_run", schema=None) as batch_op:
        batch_op.drop_column("coverage")
    with op.batch_alter_table("scope", schema=None) as batch_op:
        batch_op.drop_column("adopted")
        batch_op.drop_column("label")
