"""Alembic environment: runs migrations on the connection taxiway hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from taxiway.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table instead
)
with context.begin_transaction():
    context.run_migrations()
