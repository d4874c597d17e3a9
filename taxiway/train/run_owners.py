"""Runs whose process died: marked ``failed`` instead of staying ``running`` forever.

Every run records its owner (``host:pid``) when it starts, and the process refreshes ``heartbeat_at`` every
``HEARTBEAT_S`` while the run is open (the tracking flush thread does it). A ``running`` run is taken for
dead when its owner is on this machine and that process is gone, or when its heartbeat is older than
``STALE_AFTER_S`` (a process on another machine, or a reused pid). Reading runs marks such runs failed,
saying why; runs recorded before owners were (no owner) are left as they are.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import psutil
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from taxiway.store import Store
from taxiway.store.tables import RunRow, utcnow

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0  # twelve missed heartbeats: a busy machine delays some, not twelve

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "mark_dead_runs", "this_owner"]


def this_owner() -> str:
    """``host:pid`` of this process, as a run records its owner.

    Example:
        >>> this_owner().endswith(f":{os.getpid()}")
        True
    """
    return f"{socket.gethostname()}:{os.getpid()}"


def mark_dead_runs(store: Store, *, now: dt.datetime | None = None) -> list[str]:
    """Mark ``failed`` every running run whose process is gone; returns their ids.

    Example:
        >>> import tempfile
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> with store.write_session() as session, session.begin():
        ...     session.add(RunRow(id="r-000000000001", name="killed", kind="custom", status="running",
        ...                        owner=f"{socket.gethostname()}:999999999", heartbeat_at=utcnow()))
        >>> mark_dead_runs(store)
        ['r-000000000001']
    """
    now = now or utcnow()
    query = select(RunRow.id, RunRow.owner, RunRow.heartbeat_at).where(
        RunRow.status == "running", RunRow.owner.is_not(None)
    )
    here = socket.gethostname()
    dead: dict[str, str] = {}
    try:
        with store.session() as session:
            for run_id, owner, heartbeat in session.execute(query):
                host, _, pid = str(owner).rpartition(":")
                silent = heartbeat is None or (now - heartbeat).total_seconds() > STALE_AFTER_S
                if host == here and pid.isdigit() and not psutil.pid_exists(int(pid)):
                    dead[run_id] = f"its process ({owner}) ended without ending the run (killed?)"
                elif silent:
                    since = "never" if heartbeat is None else heartbeat.isoformat(timespec="seconds")
                    dead[run_id] = f"its process ({owner}) sent no heartbeat since {since} (killed?)"
        if not dead:
            return []
        with store.write_session() as session, session.begin():
            for run_id, why in dead.items():
                session.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status == "running")
                    .values(status="failed", error=why, ended_at=now)
                )
    except SQLAlchemyError:
        return []  # a read-only or busy store: the next reader tries again
    return sorted(dead)
