"""runs.metrics is JSONB on PostgreSQL, so sorting by a metric reads the key without parsing the text

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
changes = "types on postgresql"  # tests/store/test_migrations.py: this step adds nothing, and not on SQLite


def upgrade() -> None:
    # SQLite has one JSON type (text): nothing to change there.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE runs ALTER COLUMN metrics TYPE jsonb USING metrics::jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE runs ALTER COLUMN metrics TYPE json USING metrics::json")
