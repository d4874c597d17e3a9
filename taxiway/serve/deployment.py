"""Deployments: the desired state every serving replica reconciles to, with a generation counter.

`taxiway deploy`, `promote` and `rollback` only write here (and wait); each replica reads the state about
twice a second, loads what changed into an idle slot, checks it, switches, and reports the generation it
applied. Only blessed registry versions go live unless forced, and a forced change keeps its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from taxiway.errors import TaxiwayError
from taxiway.serve.source import ModelRef, resolve_model
from taxiway.store import Store
from taxiway.store.tables import DeploymentEventRow, DeploymentRow, utcnow

DEFAULT_DEPLOYMENT = "default"
Role = Literal["live", "shadow", "canary"]
ROLES: tuple[Role, ...] = ("live", "shadow", "canary")


@dataclass(frozen=True)
class DeploymentState:
    """What every replica of a deployment must serve, as of ``generation``.

    Example:
        >>> state = DeploymentState("default", 3, "v2", "v1", "v3", 0.1, None, None)
        >>> state.version_of("canary"), state.can_roll_back
        ('v3', True)
    """

    name: str
    generation: int
    live_version: str
    previous_version: str | None
    canary_version: str | None
    canary_weight: float
    shadow_version: str | None
    updated_at: dt.datetime | None

    def version_of(self, role: Role) -> str | None:
        return {"live": self.live_version, "shadow": self.shadow_version, "canary": self.canary_version}[role]

    @property
    def can_roll_back(self) -> bool:
        return self.previous_version is not None

    @classmethod
    def _from_row(cls, row: DeploymentRow) -> DeploymentState:
        return cls(
            name=row.name,
            generation=row.generation,
            live_version=row.live_version,
            previous_version=row.previous_version,
            canary_version=row.canary_version,
            canary_weight=row.canary_weight,
            shadow_version=row.shadow_version,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class DeploymentEvent:
    """One recorded change of the desired state."""

    generation: int
    action: str
    version: str | None
    previous_version: str | None
    weight: float | None
    forced: bool
    reason: str | None
    created_at: dt.datetime


def current_state(store: Store, name: str = DEFAULT_DEPLOYMENT) -> DeploymentState | None:
    """The desired state of deployment ``name``; None before the first `taxiway deploy`."""
    with store.session() as session:
        row = session.get(DeploymentRow, name)
        return DeploymentState._from_row(row) if row is not None else None


def deploy(
    store: Store,
    ref: str,
    *,
    role: Role = "live",
    weight: float | None = None,
    force: bool = False,
    reason: str | None = None,
    name: str = DEFAULT_DEPLOYMENT,
) -> DeploymentState:
    """Make ``ref`` (``vN``, an alias or a run id) the live, shadow or canary version of ``name``.

    Raises:
        TaxiwayError: an unblessed version without ``force`` and a ``reason``, a canary without a weight in
            (0, 1], a weight for another role, or a first deployment that is not live.
        NotFoundError: ``ref`` names nothing.
    """
    model = resolve_model(store, ref)
    forced = _check_blessed(model, role, force, reason)
    if role == "canary" and (weight is None or not 0 < weight <= 1):
        raise TaxiwayError(
            f"a canary needs --weight between 0 and 1 (got {weight})", hint="e.g. --weight 0.1 for 10%"
        )
    if role != "canary" and weight is not None:
        raise TaxiwayError(f"--weight only applies to --as canary, not {role}", hint="leave --weight out")
    with store.write_session() as session, session.begin():
        row = session.get(DeploymentRow, name)
        if row is None:
            if role != "live":
                raise TaxiwayError(
                    f"deployment '{name}' has no live version yet, so it cannot have a {role}",
                    hint=f"deploy one first: taxiway deploy {ref} --as live",
                )
            row = DeploymentRow(name=name, generation=0, live_version=model.version, canary_weight=0.0)
            session.add(row)
            previous = None
        elif role == "live":
            previous = row.live_version
            if previous != model.version:
                row.previous_version, row.live_version = previous, model.version
        elif role == "canary":
            previous = row.canary_version
            row.canary_version, row.canary_weight = model.version, float(weight or 0.0)
        else:
            previous = row.shadow_version
            row.shadow_version = model.version
        return _bump(session, row, role, model.version, previous, weight=weight, forced=forced, reason=reason)


def promote(store: Store, *, name: str = DEFAULT_DEPLOYMENT, reason: str | None = None) -> DeploymentState:
    """Make the canary (else the shadow) version live; the old live version becomes the rollback target.

    Raises:
        TaxiwayError: there is no deployment, or it has neither a canary nor a shadow version.
    """
    with store.write_session() as session, session.begin():
        row = _existing(session, name)
        chosen = row.canary_version or row.shadow_version
        if chosen is None:
            raise TaxiwayError(
                f"deployment '{name}' has no canary or shadow version to promote",
                hint="deploy one first: taxiway deploy VERSION --as canary --weight 0.1",
            )
        previous = row.live_version
        row.previous_version, row.live_version = previous, chosen
        row.canary_version, row.canary_weight = None, 0.0
        if row.shadow_version == chosen:
            row.shadow_version = None
        return _bump(session, row, "promote", chosen, previous, reason=reason)


def rollback(store: Store, *, name: str = DEFAULT_DEPLOYMENT, reason: str | None = None) -> DeploymentState:
    """Switch live back to the previous version (still warm in every replica's other slot).

    Raises:
        TaxiwayError: there is no deployment, or no earlier live version.
    """
    with store.write_session() as session, session.begin():
        row = _existing(session, name)
        if row.previous_version is None:
            raise TaxiwayError(
                f"deployment '{name}' has no earlier live version to roll back to",
                hint="`taxiway status` shows the deployment's history",
            )
        previous = row.live_version
        row.live_version, row.previous_version = row.previous_version, previous
        row.canary_version, row.canary_weight = None, 0.0
        return _bump(session, row, "rollback", row.live_version, previous, reason=reason)


def stop(
    store: Store, role: Literal["shadow", "canary"], *, name: str = DEFAULT_DEPLOYMENT
) -> DeploymentState:
    """Stop sending traffic to the shadow or canary version."""
    with store.write_session() as session, session.begin():
        row = _existing(session, name)
        previous = row.shadow_version if role == "shadow" else row.canary_version
        if role == "shadow":
            row.shadow_version = None
        else:
            row.canary_version, row.canary_weight = None, 0.0
        return _bump(session, row, f"stop_{role}", None, previous)


def history(store: Store, *, name: str = DEFAULT_DEPLOYMENT, limit: int = 20) -> list[DeploymentEvent]:
    """The deployment's changes, newest first."""
    query = (
        select(DeploymentEventRow)
        .where(DeploymentEventRow.deployment == name)
        .order_by(DeploymentEventRow.id.desc())
        .limit(limit)
    )
    with store.session() as session:
        return [
            DeploymentEvent(
                r.generation,
                r.action,
                r.version,
                r.previous_version,
                r.weight,
                r.forced,
                r.reason,
                r.created_at,
            )
            for r in session.scalars(query)
        ]


def _check_blessed(model: ModelRef, role: Role, force: bool, reason: str | None) -> bool:
    if role != "live" or model.is_blessed:
        return False
    if not force or not (reason and reason.strip()):
        why = (
            "it is not a registered version"
            if not model.is_registered
            else "it was registered without a blessing"
        )
        raise TaxiwayError(
            f"{model.version} may not go live: {why}",
            hint="validate and register it (taxiway validate; taxiway register), "
            'or deploy it anyway with --force --reason "why"',
        )
    return True


def _existing(session: Session, name: str) -> DeploymentRow:
    row = session.get(DeploymentRow, name)
    if row is None:
        raise TaxiwayError(
            f"there is no deployment '{name}'", hint="deploy a version first: taxiway deploy v1"
        )
    return row


def _bump(
    session: Session,
    row: DeploymentRow,
    action: str,
    version: str | None,
    previous: str | None,
    *,
    weight: float | None = None,
    forced: bool = False,
    reason: str | None = None,
) -> DeploymentState:
    now = utcnow()
    row.generation += 1
    row.updated_at = now
    event = DeploymentEventRow(
        deployment=row.name,
        generation=row.generation,
        action=action,
        version=version,
        previous_version=previous,
        weight=weight,
        forced=forced,
        reason=reason.strip() if reason else None,
        created_at=now,
    )
    session.add(event)
    session.flush()
    return DeploymentState._from_row(row)
