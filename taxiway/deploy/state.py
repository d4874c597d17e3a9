"""The desired deployment: which model version is live, which shadows it, which answers a canary share.

Every change appends one row to ``deployments`` (:mod:`taxiway.deploy.changes` makes them,
:mod:`taxiway.deploy.generations` writes them); the newest row is the state every server process ("replica")
reconciles to, and its ``generation`` counts the changes, so a replica can say which one it applied. Rows are
never updated: the table is the history. This module reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from taxiway.store import Store
from taxiway.store.tables import DeploymentRow

Role = Literal["live", "shadow", "canary"]
ROLES: tuple[Role, ...] = ("live", "shadow", "canary")

__all__ = [
    "NOTHING_DEPLOYED",
    "ROLES",
    "DeploymentState",
    "Role",
    "deployment_history",
    "desired_state",
    "newest_state",
    "went_live_at",
]


@dataclass(frozen=True)
class DeploymentState:
    """What every replica must serve as of ``generation``; versions are numbers (3 for v3).

    Example:
        >>> state = DeploymentState(4, 3, 2, None, 5, 0.1, "deploy-canary", False, None, None)
        >>> state.version_of("canary"), state.can_roll_back, state.describe()
        (5, True, 'generation 4: live v3 (before: v2), canary v5 at 10%')
        >>> NOTHING_DEPLOYED.describe()
        'generation 0: nothing deployed'
    """

    generation: int  # 0 when nothing was ever deployed
    live: int | None
    previous_live: int | None  # what live was before the last change of live: rollback switches back to it
    shadow: int | None
    canary: int | None
    canary_weight: float  # 0..1 share of live traffic the canary answers
    # deploy-live, deploy-shadow, deploy-canary, promote, rollback, stop-shadow, stop-canary; "none" at 0
    action: str
    forced: bool  # an unblessed version was deployed with a reason
    reason: str | None
    created_at: dt.datetime | None

    def version_of(self, role: Role) -> int | None:
        """The version holding ``role``, or None."""
        return {"live": self.live, "shadow": self.shadow, "canary": self.canary}[role]

    @property
    def can_roll_back(self) -> bool:
        return self.previous_live is not None

    def describe(self) -> str:
        """One line for people: the generation and what each role holds."""
        if self.live is None and self.shadow is None and self.canary is None:
            return f"generation {self.generation}: nothing deployed"
        before = f" (before: v{self.previous_live})" if self.can_roll_back else ""
        parts = [f"live {_name(self.live)}{before}"]
        if self.shadow is not None:
            parts.append(f"shadow v{self.shadow}")
        if self.canary is not None:
            parts.append(f"canary v{self.canary} at {self.canary_weight * 100:g}%")
        return f"generation {self.generation}: " + ", ".join(parts)

    @classmethod
    def from_row(cls, row: DeploymentRow) -> DeploymentState:
        """The state one row of ``deployments`` records."""
        return cls(
            generation=row.generation,
            live=row.live_version,
            previous_live=row.previous_live_version,
            shadow=row.shadow_version,
            canary=row.canary_version,
            canary_weight=float(row.canary_weight or 0.0),
            action=row.action,
            forced=bool(row.forced),
            reason=row.reason,
            created_at=row.created_at,
        )


NOTHING_DEPLOYED = DeploymentState(0, None, None, None, None, 0.0, "none", False, None, None)


def desired_state(store: Store) -> DeploymentState:
    """The newest deployment state; generation 0 with nothing in it before the first deploy.

    Servers poll this about twice a second, so it is one query on the primary key.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> desired_state(store).generation
        0
    """
    with store.session() as session:
        return newest_state(session)


def deployment_history(store: Store, *, limit: int = 50) -> list[DeploymentState]:
    """The last ``limit`` changes, newest first.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> deployment_history(Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a"))))
        []
    """
    query = select(DeploymentRow).order_by(DeploymentRow.generation.desc()).limit(limit)
    with store.session() as session:
        return [DeploymentState.from_row(row) for row in session.scalars(query)]


def went_live_at(history: list[DeploymentState]) -> dt.datetime | None:
    """When the version live in the newest state became live and stayed so (None: nothing is live).

    ``history``: :func:`deployment_history`'s, newest first; a change of shadow or canary keeps live's moment.

    Example:
        >>> at = lambda h: dt.datetime(2026, 12, 1, h, tzinfo=dt.UTC)
        >>> state = lambda g, v, h: DeploymentState(g, v, None, None, None, 0.0, "x", False, None, at(h))
        >>> went_live_at([state(3, 2, 9), state(2, 2, 8), state(1, 1, 7)]).hour  # v2 since generation 2
        8
        >>> went_live_at([state(1, None, 7)]) is None
        True
    """
    began = None
    for state in history:
        if state.live is None or state.live != history[0].live:
            break
        began = state.created_at
    return began


def newest_state(session: Session) -> DeploymentState:
    """The newest state as ``session`` sees it (a writer reads it under its lock)."""
    row = session.scalars(select(DeploymentRow).order_by(DeploymentRow.generation.desc()).limit(1)).first()
    return NOTHING_DEPLOYED if row is None else DeploymentState.from_row(row)


def _name(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"
