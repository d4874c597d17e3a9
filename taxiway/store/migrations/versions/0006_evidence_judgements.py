"""evidence records what was measured and the limit it was judged against

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comparison", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("limit_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("warn_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sample_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("window_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("window_end", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("method", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_evidence_check_subject", ["check_id", "subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_check_subject")
        for column in (
            "expires_at",
            "method",
            "window_end",
            "window_start",
            "sample_size",
            "warn_at",
            "limit_key",
            "comparison",
        ):
            batch_op.drop_column(column)
