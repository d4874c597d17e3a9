"""Alembic environment: runs migrations on the connection taxiway hands over (no alembic.ini needed)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from taxiway.store.tables import Base, UTCDateTime


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import taxiway's column types: they outlive them. UTCDateTime is a DateTime.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    render_item=_render_item,  # SQLite cannot ALTER most things; batch mode copies the table instead
)
with context.begin_transaction():
    context.run_migrations()
