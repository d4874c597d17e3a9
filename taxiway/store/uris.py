"""Where the store lives: environment variable, then the charter's [store], then the project folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STORE_URI_ENV = "TAXIWAY_STORE_URI"
ARTIFACTS_URI_ENV = "TAXIWAY_ARTIFACTS_URI"
DEFAULT_STORE_URI = "sqlite:///.taxiway/taxiway.db"
DEFAULT_ARTIFACTS_URI = ".taxiway/artifacts"


@dataclass(frozen=True)
class StoreLocation:
    """The two URIs a store is opened from, made absolute.

    Example:
        >>> from pathlib import Path
        >>> loc = resolve_store_location(Path("/p"), None, None, environ={})
        >>> loc.database, loc.artifacts
        ('sqlite:////p/.taxiway/taxiway.db', '/p/.taxiway/artifacts')
    """

    database: str
    artifacts: str


def resolve_store_location(
    root: Path, database: str | None, artifacts: str | None, *, environ: dict[str, str] | None = None
) -> StoreLocation:
    """Pick the URIs (environment beats charter beats default) and anchor relative paths at ``root``."""
    env = os.environ if environ is None else environ
    database = env.get(STORE_URI_ENV) or database or DEFAULT_STORE_URI
    artifacts = env.get(ARTIFACTS_URI_ENV) or artifacts or DEFAULT_ARTIFACTS_URI
    prefix = "sqlite:///"
    if database.startswith(prefix) and not database.startswith(prefix + "/") and database != "sqlite://":
        database = prefix + str(root / database.removeprefix(prefix))
    if "://" not in artifacts and not Path(artifacts).is_absolute():
        artifacts = str(root / artifacts)
    return StoreLocation(database=database, artifacts=artifacts)
