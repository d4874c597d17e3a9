"""Appending one change to the deployment history: the next generation, written under the write lock.

A change is read-modify-write, so two changes at once must not both build on the same state: the writer
holds the database's write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory
lock) from reading the newest row to committing the next one. The ``production`` registry alias follows
live in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taxiway.deploy.state import DeploymentState, newest_state
from taxiway.errors import StoreError
from taxiway.registry import move_alias
from taxiway.store import Store
from taxiway.store.locks import serialise
from taxiway.store.tables import DeploymentRow, utcnow

PRODUCTION_ALIAS = "production"  # the registry alias that follows whatever is live
_ATTEMPTS = 5  # a change that lost a race on a unique key (another writer created an alias) tries again

__all__ = ["PRODUCTION_ALIAS", "Change", "append_change"]

Change = Callable[[Session, DeploymentState], DeploymentState | None]


def append_change(store: Store, change: Change, *, forced: bool, reason: str | None) -> DeploymentState:
    """Append the state ``change`` builds from the newest one, under the write lock; None keeps it as is.

    ``change`` runs inside the transaction and may raise to refuse (nothing is written then).

    Raises:
        StoreError: every attempt lost a race with another writer.
    """
    for _ in range(_ATTEMPTS):
        try:
            with store.write_session() as session, session.begin():
                serialise(session, "deploy.generation")
                current = newest_state(session)
                built = change(session, current)
                if built is None:
                    return current
                row = DeploymentRow(
                    # Set here, not by the sequence: generations stay consecutive even when a transaction
                    # rolls back (PostgreSQL never reuses a sequence number).
                    generation=current.generation + 1,
                    live_version=built.live,
                    previous_live_version=built.previous_live,
                    shadow_version=built.shadow,
                    canary_version=built.canary,
                    canary_weight=built.canary_weight if built.canary is not None else 0.0,
                    action=built.action,
                    forced=forced,
                    reason=reason,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                new = DeploymentState.from_row(row)
                if new.live is not None and new.live != current.live:
                    # In this transaction, not through set_alias (a transaction of its own, which on
                    # SQLite would wait for the lock held here): two changes at once must not leave
                    # ``production`` on a version that is no longer live.
                    move_alias(session, PRODUCTION_ALIAS, new.live, reason)
            return new
        except IntegrityError:
            continue  # another writer created the production alias at the same moment: build again
    raise StoreError(
        f"could not change the deployment: {_ATTEMPTS} attempts lost a race in the database",
        hint="many deployment changes are running at once; try again",
    )
