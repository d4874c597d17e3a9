"""Serving replicas as the store sees them: heartbeats, the generation each applied, what each serves.

Every server process writes its row about every two seconds. A replica whose heartbeat is older than
:data:`ALIVE_WITHIN_S` is gone (stopped or killed); the gaps between heartbeats are its downtime.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from taxiway.store import Store
from taxiway.store.tables import ServingReplicaRow, utcnow

HEARTBEAT_S = 2.0
ALIVE_WITHIN_S = 3 * HEARTBEAT_S  # one missed heartbeat is not yet a dead replica


@dataclass(frozen=True)
class Replica:
    """One serving process's last report."""

    id: str
    deployment: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    applied_generation: int
    live_version: str | None
    live_slot: str | None
    standby_version: str | None
    canary_version: str | None
    shadow_version: str | None
    status: str
    error: str | None
    error_generation: int | None

    def is_alive(self, now: dt.datetime | None = None) -> bool:
        """Whether it reported recently and did not say it stopped."""
        now = now or utcnow()
        return self.status != "stopped" and (now - self.heartbeat_at).total_seconds() <= ALIVE_WITHIN_S

    @classmethod
    def _from_row(cls, row: ServingReplicaRow) -> Replica:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def replica_id() -> str:
    """This process's id: host, pid and start time (a restarted process is a new replica)."""
    return f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"


def report(store: Store, ident: str, deployment: str, **fields: Any) -> None:
    """Write this replica's heartbeat and any changed fields (creating its row the first time)."""
    now = utcnow()
    with store.write_session() as session, session.begin():
        row = session.get(ServingReplicaRow, ident)
        if row is None:
            row = ServingReplicaRow(
                id=ident,
                deployment=deployment,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                applied_generation=0,
                status="serving",
            )
            session.add(row)
        row.heartbeat_at = now
        for name, value in fields.items():
            setattr(row, name, value)


def list_replicas(store: Store, deployment: str, *, alive_only: bool = True) -> list[Replica]:
    """The deployment's replicas (only those alive, by default), oldest first."""
    query = select(ServingReplicaRow).where(ServingReplicaRow.deployment == deployment)
    with store.session() as session:
        found = [
            Replica._from_row(row) for row in session.scalars(query.order_by(ServingReplicaRow.started_at))
        ]
    now = utcnow()
    return [replica for replica in found if replica.is_alive(now)] if alive_only else found


@dataclass(frozen=True)
class Rollout:
    """Where a generation stands across the live replicas."""

    generation: int
    applied: list[Replica] = field(default_factory=list)
    refused: list[Replica] = field(default_factory=list)  # tried and kept the old version; see .error
    pending: list[Replica] = field(default_factory=list)

    @property
    def is_done(self) -> bool:
        return not self.pending and not self.refused and bool(self.applied)

    @property
    def is_settled(self) -> bool:
        """Every replica either applied or refused the generation (or there is none)."""
        return not self.pending


def rollout(store: Store, deployment: str, generation: int) -> Rollout:
    """Which replicas applied ``generation``, refused it, or have not got to it yet."""
    result = Rollout(generation)
    for replica in list_replicas(store, deployment):
        if replica.applied_generation >= generation:
            result.applied.append(replica)
        elif replica.error_generation == generation:
            result.refused.append(replica)
        else:
            result.pending.append(replica)
    return result


def wait_for_generation(
    store: Store,
    deployment: str,
    generation: int,
    *,
    timeout_s: float,
    poll_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Rollout:
    """Poll until every live replica applied or refused ``generation``, or ``timeout_s`` passed."""
    deadline = clock() + timeout_s
    while True:
        state = rollout(store, deployment, generation)
        if state.is_settled or clock() >= deadline:
            return state
        sleep(poll_s)
