"""Project: the charter, the folder it sits in and the store it points at — what every command starts from."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from taxiway.charter import CHARTER_FILE, Charter, load_charter
from taxiway.errors import CharterError
from taxiway.store import Store, StoreLocation, resolve_store_location

PROJECT_ENV = "TAXIWAY_PROJECT"


@dataclass
class Project:
    """A taxiway project folder.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "taxiway.toml").write_text('[project]\\nname="x"\\n[problem]\\ntarget="y"\\n')
        >>> Project.load(root).charter.problem.target
        'y'
    """

    root: Path
    charter: Charter
    _store: Store | None = field(default=None, repr=False)

    @classmethod
    def load(cls, start: Path | None = None) -> Project:
        """Find taxiway.toml in ``start`` (or $TAXIWAY_PROJECT, or the working folder) or a parent of it."""
        origin = (start or Path(os.environ.get(PROJECT_ENV) or Path.cwd())).resolve()
        for folder in (origin, *origin.parents):
            if (folder / CHARTER_FILE).is_file():
                return cls(root=folder, charter=load_charter(folder / CHARTER_FILE))
        raise CharterError(
            f"no {CHARTER_FILE} in {origin} or any folder above it",
            hint="run 'taxiway init' to start a project, or pass --project DIR",
        )

    @cached_property
    def location(self) -> StoreLocation:
        return resolve_store_location(self.root, self.charter.store.uri, self.charter.store.artifacts)

    @property
    def store(self) -> Store:
        """The project's store, opened on first use."""
        if self._store is None:
            self._store = Store.open(self.location)
        return self._store
