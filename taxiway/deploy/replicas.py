"""Replicas: the server processes serving the deployment, each reporting the generation it reconciled to.

A server upserts its row after every reconcile and as a heartbeat; a row whose heartbeat is older than
``STALE_AFTER_S`` belongs to a process that died without saying so (kill -9, a lost machine), and is left
out of what `taxiway deploy` waits for.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from taxiway.errors import TaxiwayError
from taxiway.store import Store
from taxiway.store.tables import ReplicaRow, utcnow

# A server reports at least every few seconds; ten seconds without a word means it is gone, and waiting
# for it would only hang `taxiway deploy` until its timeout.
STALE_AFTER_S = 10.0

__all__ = [
    "STALE_AFTER_S",
    "Replica",
    "RolloutError",
    "list_replicas",
    "mark_stopped",
    "report_replica",
    "wait_for_generation",
]


class RolloutError(TaxiwayError):
    """Raised when a replica failed to apply a generation, or did not apply it in time; exit code 1."""

    exit_code = 1


@dataclass(frozen=True)
class Replica:
    """One server process as it last reported itself.

    ``generation`` is the newest desired generation it reconciled to; ``error`` says why applying it failed
    (None when it applied), and ``slots`` what it serves: ``{slot: {"version", "role", "loaded_at", ...}}``.

    Example:
        >>> t = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
        >>> r = Replica("h:8000:7", "h", 8000, 7, t, t, 3, {}, None, None)
        >>> r.is_alive(t + dt.timedelta(seconds=5)), r.is_alive(t + dt.timedelta(seconds=60))
        (True, False)
    """

    id: str
    host: str
    port: int
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    generation: int
    slots: dict[str, Any]
    error: str | None
    stopped_at: dt.datetime | None

    def is_alive(self, now: dt.datetime, within_s: float = STALE_AFTER_S) -> bool:
        """Whether it reported within ``within_s`` seconds of ``now`` and did not say it stopped."""
        return self.stopped_at is None and (now - self.heartbeat_at).total_seconds() <= within_s

    def has_applied(self, generation: int) -> bool:
        """Whether it serves ``generation`` or a newer one."""
        return self.generation >= generation and self.error is None

    @classmethod
    def _from_row(cls, row: ReplicaRow) -> Replica:
        return cls(
            id=row.id,
            host=row.host,
            port=row.port,
            pid=row.pid,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            generation=row.generation,
            slots=dict(row.slots or {}),
            error=row.error,
            stopped_at=row.stopped_at,
        )


def report_replica(
    store: Store,
    replica_id: str,
    *,
    host: str,
    port: int,
    pid: int,
    generation: int,
    slots: dict[str, Any],
    error: str | None = None,
) -> None:
    """Record what a server process serves now; also its heartbeat.

    ``generation`` is the newest desired generation the process reconciled to. When applying it failed
    (a tampered artifact, a failed check), pass the generation with ``error`` saying why, and ``slots`` as
    they still are: `taxiway deploy` then stops waiting and shows the error. One statement (an upsert),
    so a heartbeat costs one round trip.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> report_replica(store, "web-1:8000:41", host="web-1", port=8000, pid=41, generation=2,
        ...                slots={"blue": {"version": 3, "role": "live"}})
        >>> [(r.id, r.generation) for r in list_replicas(store)]
        [('web-1:8000:41', 2)]
    """
    now = utcnow()
    values: dict[str, Any] = {
        "id": replica_id,
        "host": host,
        "port": port,
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now,
        "generation": generation,
        "slots": slots,
        "error": error,
    }
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(ReplicaRow).values(**values)
    # started_at stays as first reported; stopped_at stays set: a late heartbeat from a process shutting
    # down must not bring its row back to life.
    changed = {
        key: insert.excluded[key]
        for key in ("host", "port", "pid", "heartbeat_at", "generation", "slots", "error")
    }
    with store.write_session() as session, session.begin():
        session.execute(insert.on_conflict_do_update(index_elements=[ReplicaRow.id], set_=changed))


def mark_stopped(store: Store, replica_id: str) -> None:
    """Record that a server process shut down cleanly, so nobody waits for it.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> report_replica(store, "web-1:8000:41", host="web-1", port=8000, pid=41, generation=2, slots={})
        >>> mark_stopped(store, "web-1:8000:41")
        >>> list_replicas(store), [r.stopped_at is not None for r in list_replicas(store, include_stale=True)]
        ([], [True])
    """
    with store.write_session() as session, session.begin():
        session.execute(update(ReplicaRow).where(ReplicaRow.id == replica_id).values(stopped_at=utcnow()))


def list_replicas(store: Store, *, include_stale: bool = False) -> list[Replica]:
    """The replicas alive now (reported within ``STALE_AFTER_S`` and not stopped), by id; all with
    ``include_stale``.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> list_replicas(store, include_stale=True)
        []
    """
    query = select(ReplicaRow).order_by(ReplicaRow.id)
    now = utcnow()
    if not include_stale:
        query = query.where(
            ReplicaRow.stopped_at.is_(None),
            ReplicaRow.heartbeat_at >= now - dt.timedelta(seconds=STALE_AFTER_S),
        )
    with store.session() as session:
        return [Replica._from_row(row) for row in session.scalars(query)]


def wait_for_generation(
    store: Store, generation: int, *, timeout_s: float = 30.0, poll_s: float = 0.2
) -> list[Replica]:
    """Wait until every alive replica applied ``generation`` (or a newer one); return them.

    Returns ``[]`` at once when no replica is alive: the state applies when a server starts. A replica
    that dies while we wait stops counting; one that starts begins counting.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> report_replica(store, "web-1:8000:41", host="web-1", port=8000, pid=41, generation=7, slots={})
        >>> [r.id for r in wait_for_generation(store, 7, timeout_s=30)]
        ['web-1:8000:41']

    Raises:
        RolloutError: a replica reported an error applying it, or some had not applied it after
            ``timeout_s`` (the message names them and the generation each is on).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        replicas = list_replicas(store)
        failed = [r for r in replicas if r.error is not None and r.generation >= generation]
        if failed:
            raise RolloutError(
                "; ".join(
                    f"replica {r.id} failed to apply generation {r.generation}: {r.error}" for r in failed
                ),
                hint="it keeps serving what it had; fix the cause and deploy again, or roll back: "
                "taxiway rollback",
            )
        lagging = [r for r in replicas if not r.has_applied(generation)]
        if not lagging:
            return replicas
        if time.monotonic() >= deadline:
            raise RolloutError(
                f"{len(lagging)} of {len(replicas)} replicas did not apply generation {generation} within "
                f"{timeout_s:g} s: " + ", ".join(_lag(r) for r in lagging),
                hint="`taxiway status` shows what each replica serves, and `taxiway logs` why; wait longer "
                "with --timeout",
            )
        time.sleep(poll_s)


def _lag(replica: Replica) -> str:
    error = f" (last error: {replica.error})" if replica.error else ""
    return f"{replica.id} is on generation {replica.generation}{error}"
