"""reference profiles of model versions and monitor alerts (issue 16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name=op.f("fk_reference_profiles_version_model_versions"),
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_reference_profiles")),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_alerts_rule_subject", ["rule", "subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitor_alerts_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_alerts_state"))
        batch_op.drop_index("ix_monitor_alerts_rule_subject")
    op.drop_table("monitor_alerts")
    op.drop_table("reference_profiles")
