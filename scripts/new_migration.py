"""Write a new Alembic migration by comparing taxiway/store/tables.py with a database at head.

Usage: .venv/bin/python scripts/new_migration.py "what changed" 0002
Review the generated file before committing it.
"""

import sys
import tempfile
from pathlib import Path

from alembic import command

from taxiway.store.database import _alembic_config, open_database

engine = open_database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'head.db'}")
config = _alembic_config()
with engine.begin() as connection:
    config.attributes["connection"] = connection
    command.revision(config, message=sys.argv[1], autogenerate=True, rev_id=sys.argv[2])
