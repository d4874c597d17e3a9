"""Store: one handle on the metadata database, the artifact store and the evidence log."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from taxiway.store.artifacts import ArtifactStore, Progress, sha256_file
from taxiway.store.database import open_database
from taxiway.store.evidence import EvidenceLog
from taxiway.store.tables import ArtifactRow
from taxiway.store.uris import StoreLocation


class Store:
    """Everything taxiway records, reachable from one object.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "artifacts")))
        >>> store.evidence.count()
        0
    """

    def __init__(self, engine: Engine, artifacts: ArtifactStore) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.evidence = EvidenceLog(engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # SQLite: a transaction that reads before it writes cannot wait for another writer (SQLite answers
        # "database is locked" at once to avoid a deadlock); BEGIN IMMEDIATE takes the write lock up front,
        # so the busy timeout applies. PostgreSQL ignores the option.
        self._write_sessions = sessionmaker(
            engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"), expire_on_commit=False
        )

    @classmethod
    def open(cls, location: StoreLocation) -> Store:
        """Open (and create or migrate, when needed) the store at ``location``."""
        return cls(open_database(location.database), ArtifactStore(location.artifacts))

    def session(self) -> Session:
        """A new ORM session; use ``with store.session() as s, s.begin():`` for one transaction."""
        return self._sessions()

    def write_session(self) -> Session:
        """A session for a transaction that writes: ``with store.write_session() as s, s.begin():``."""
        return self._write_sessions()

    def save_file(
        self,
        path: Path,
        *,
        session: Session,
        media_type: str,
        digest: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Put a local file in the artifact store and record it in ``session``'s transaction."""
        digest = digest or sha256_file(path)
        self.artifacts.put_file(path, digest=digest, progress=progress)
        record_artifact(session, digest, size_bytes=path.stat().st_size, media_type=media_type)
        return digest

    def media_type(self, digest: str) -> str | None:
        """The media type a stored artifact was recorded with; None when no artifact has that digest."""
        with self.session() as session:
            return session.scalar(select(ArtifactRow.media_type).where(ArtifactRow.digest == digest))

    def close(self) -> None:
        self.engine.dispose()


def record_artifact(session: Session, digest: str, *, size_bytes: int, media_type: str) -> None:
    """Record a blob already in the artifact store, in ``session``'s transaction (once per digest)."""
    if session.get(ArtifactRow, digest) is None:
        session.add(ArtifactRow(digest=digest, size_bytes=size_bytes, media_type=media_type))
