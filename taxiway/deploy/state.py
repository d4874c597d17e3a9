"""The desired deployment: which model version is live, which shadows it, which answers a canary share.

Every change appends one row to ``deployments``; the newest row is the state every server process
("replica") reconciles to, and its ``generation`` counts the changes, so a replica can say which one it
applied. Rows are never updated: the table is the history, and a rollback reads the live version it
replaced from the row itself.

A change is read-modify-write, so two changes at once must not both build on the same state: the writer
holds the database's write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory
lock) from reading the newest row to committing the next one.

Example:
    >>> import os, tempfile
    >>> from taxiway import registry
    >>> from taxiway.registry.blessing import GateResult, save_blessing
    >>> from taxiway.store import StoreLocation
    >>> from taxiway.train.tracking import start_run
    >>> root = tempfile.mkdtemp()
    >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
    >>> def blessed_version(seed: int) -> str:
    ...     with start_run(f"model-{seed}", store=store) as run:
    ...         run.set_model(run.log_bytes("model.skops", bytes([seed])))
    ...     with store.write_session() as session, session.begin():
    ...         gates = [GateResult("beats_baseline", "pass", 0.1, 0.0, "beats the baseline")]
    ...         _ = save_blessing(session, run.id, gates, test_metrics={}, evaluation={})
    ...     return registry.register(store, run.id)[0].name
    >>> [blessed_version(seed) for seed in (1, 2, 3)]
    ['v1', 'v2', 'v3']
    >>> deploy(store, "v1", "live").describe()
    'generation 1: live v1'
    >>> deploy(store, "v2", "live").describe()
    'generation 2: live v2 (before: v1)'
    >>> deploy(store, "v3", "canary", weight=0.1).describe()
    'generation 3: live v2 (before: v1), canary v3 at 10%'
    >>> promote(store, reason="the canary did as well as live for a day").describe()
    'generation 4: live v3 (before: v2)'
    >>> rollback(store, reason="errors doubled after the switch").describe()
    'generation 5: live v2 (before: v3)'
    >>> registry.get_version(store, "production").name, desired_state(store).action
    ('v2', 'rollback')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from taxiway.errors import ArtifactCorruptError, StoreError, TaxiwayError
from taxiway.registry import NotBlessedError, get_version, move_alias
from taxiway.store import Store
from taxiway.store.locks import serialise
from taxiway.store.tables import DeploymentRow, ModelVersionRow, utcnow

Role = Literal["live", "shadow", "canary"]
ROLES: tuple[Role, ...] = ("live", "shadow", "canary")
PRODUCTION_ALIAS = "production"  # the registry alias that follows whatever is live
_ATTEMPTS = 5  # a change that lost a race on a unique key (another writer created an alias) tries again
_AUTOMATED_ORIGINS = ("ci", "ct")  # a change made by these counts as continuous delivery (Check.DEPLOY_CD)

__all__ = [
    "DeploymentState",
    "Role",
    "deploy",
    "deployment_history",
    "desired_state",
    "promote",
    "revert_refused",
    "rollback",
    "stop",
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
    def _from_row(cls, row: DeploymentRow) -> DeploymentState:
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
        return _newest(session)


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
        return [DeploymentState._from_row(row) for row in session.scalars(query)]


def deploy(
    store: Store,
    ref: str,
    role: Role,
    *,
    weight: float | None = None,
    force: bool = False,
    reason: str | None = None,
    check: Callable[[int], None] | None = None,
) -> DeploymentState:
    """Put a registered version (``v3``, ``3`` or an alias) in a role and return the new state.

    ``check(version)`` runs after the version's artifact was verified and before anything is recorded
    (`taxiway deploy` loads it there when no server runs); it raises to refuse the version.

    ``live`` replaces the live version (the old one becomes ``previous_live``, for a rollback) and moves the
    ``production`` alias; a shadow or canary of the same version is cleared. ``shadow`` serves the version
    beside live without answering anyone, so any registered version may shadow. ``canary`` answers the
    ``weight`` share (0 < weight < 1) of live traffic. A version holds one role: making the shadow the
    canary (or back) moves it. Live and canary answer users, so they take a blessed version, or an
    unblessed one with ``force`` and a ``reason``. Deploying a version to the role it already holds (with
    the same weight) changes nothing and returns the current state.

    Example (the module's example deploys, promotes and rolls back):
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> deploy(store, "v4", "canary", weight=1.5)
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: --weight 1.5 is not a share between 0 and 1 (both excluded)

    Raises:
        NotBlessedError: an unblessed version for live or canary without ``force``.
        NotFoundError: nothing is registered under ``ref``.
        TaxiwayError: a bad role or weight, ``force`` without a reason, a shadow or canary with nothing
            live, or a shadow or canary of the live version.
    """
    if role not in ROLES:
        raise TaxiwayError(f"role '{role}' is not a deployment role", hint="use live, shadow or canary")
    _check_weight(role, weight)
    reason = _clean(reason)
    if force and not reason:
        raise TaxiwayError(
            "--force needs --reason: deploying an unblessed model must say why",
            hint='e.g. taxiway deploy v3 --force --reason "hotfix: gate X is known to be wrong"',
        )
    version = get_version(store, ref)
    forced = role != "shadow" and not version.is_blessed
    if forced and not force:
        raise NotBlessedError(
            f"{version.name} is not blessed ({_why_unblessed(version.reason)}), so it cannot go {role}: "
            "it would answer users",
            hint=f'validate a better run and register it; or deploy it anyway with --force --reason "why"; '
            f"or watch it first with: taxiway deploy {version.name} --as shadow",
        )
    number = version.version
    share = weight if weight is not None else 0.0  # _check_weight refused a canary without a weight
    # Before anything is recorded: a version whose artifact was altered must not become the desired
    # state (every server would refuse it, and the next one to start would serve nothing).
    _verify_artifact(store, version.name, version.artifact)
    if check is not None:
        check(number)

    def change(_session: Session, current: DeploymentState) -> DeploymentState | None:
        if role == "live":
            if current.live == number:
                return None  # already live: nothing for the replicas to do
            return _with_live(current, number, action="deploy-live")
        if current.live is None:
            raise TaxiwayError(
                f"nothing is live, so v{number} cannot be the {role}: a {role} is measured against live",
                hint=f"deploy a live version first (taxiway deploy vN), then: taxiway deploy v{number} "
                f"--as {role}",
            )
        if current.live == number:
            raise TaxiwayError(
                f"v{number} is already live, so it cannot also be the {role}",
                hint=f"deploy another version as {role}; `taxiway status` shows what each role holds",
            )
        if role == "shadow":
            if current.shadow == number:
                return None
            if current.canary == number:  # the canary steps back to shadow
                return replace(current, shadow=number, canary=None, canary_weight=0.0, action="deploy-shadow")
            return replace(current, shadow=number, action="deploy-shadow")
        if current.canary == number and current.canary_weight == share:
            return None
        shadow = None if current.shadow == number else current.shadow
        return replace(current, canary=number, canary_weight=share, shadow=shadow, action="deploy-canary")

    return _change(store, change, forced=forced, reason=reason, cd=True)


def promote(
    store: Store, *, source: Literal["shadow", "canary"] | None = None, reason: str | None = None
) -> DeploymentState:
    """Make the shadow or canary version live (the old live becomes ``previous_live``) and clear that role.

    With both a shadow and a canary, ``source`` must say which. The version must be blessed: to put an
    unblessed version live, deploy it with ``force`` and a reason, so the exception is recorded.

    Example (the module's example promotes a canary):
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> promote(store)
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: there is no shadow or canary to promote (generation 0: nothing deployed)

    Raises:
        TaxiwayError: nothing to promote, both present without ``source``, or a bad ``source``.
        NotBlessedError: the version to promote is not blessed.
    """
    if source not in (None, "shadow", "canary"):
        raise TaxiwayError(f"cannot promote from '{source}'", hint="use --from shadow or --from canary")
    reason = _clean(reason)

    def change(session: Session, current: DeploymentState) -> DeploymentState:
        role = source or _only_candidate(current)
        number = current.version_of(role)
        if number is None:
            raise TaxiwayError(
                f"there is no {role} to promote ({current.describe()})",
                hint=f"deploy one first: taxiway deploy vN --as {role}",
            )
        version = session.get(ModelVersionRow, number)
        if version is not None:
            _verify_artifact(store, f"v{number}", version.artifact)
        if version is not None and version.forced:
            raise NotBlessedError(
                f"the {role} v{number} is not blessed ({_why_unblessed(version.reason)}), "
                "so it cannot be promoted",
                hint=f'to put it live anyway: taxiway deploy v{number} --force --reason "why"',
            )
        return _with_live(current, number, action="promote")

    return _change(store, change, forced=False, reason=reason, cd=True)


def rollback(store: Store, *, reason: str | None = None) -> DeploymentState:
    """Swap live and ``previous_live``: the version live before the last change of live answers again.

    A second rollback rolls forward again. The ``production`` alias follows.

    Example (the module's example rolls back):
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> rollback(store, reason="error rate doubled")
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: nothing to roll back to: nothing was ever deployed

    Raises:
        TaxiwayError: nothing was live before the current live version.
    """
    reason = _clean(reason)

    def change(_session: Session, current: DeploymentState) -> DeploymentState:
        if current.previous_live is None:
            before = (
                "nothing was ever deployed" if current.live is None else f"v{current.live} was live first"
            )
            raise TaxiwayError(
                f"nothing to roll back to: {before}",
                hint="deploy a version to make it live: taxiway deploy vN; `taxiway status` shows the state",
            )
        if current.previous_live in (current.canary, current.shadow):
            role = "canary" if current.previous_live == current.canary else "shadow"
            raise TaxiwayError(
                f"rolling back would make the {role} v{current.previous_live} 100% live: it was live before "
                f"v{current.live}, and is the {role} now",
                hint=f"to stop it: taxiway undeploy {role}; to put it live on purpose: taxiway promote "
                f"--from {role}",
            )
        row = _session.get(ModelVersionRow, current.previous_live)
        if row is not None:
            _verify_artifact(store, f"v{current.previous_live}", row.artifact)
        return _with_live(current, current.previous_live, action="rollback")

    return _change(store, change, forced=False, reason=reason, cd=False)


def revert_refused(
    store: Store, refused: DeploymentState, before: DeploymentState, why: str
) -> DeploymentState:
    """Put back ``before`` when every server refused ``refused``, unless the state changed since.

    A refused version left as the desired state serves nothing at the next restart (every request 503);
    this appends a change back to what was served, saying why, so the store names what really runs.

    Raises:
        TaxiwayError: someone changed the deployment after ``refused``: their change stands.
    """

    def change(_session: Session, current: DeploymentState) -> DeploymentState:
        if current.generation != refused.generation:
            raise TaxiwayError(
                f"the deployment changed after generation {refused.generation} (now {current.describe()}); "
                "not reverting it",
                hint="`taxiway status` shows what each server serves",
            )
        return replace(before, action="revert-refused")

    return _change(store, change, forced=False, reason=why[:500], cd=False)


def stop(store: Store, role: Literal["shadow", "canary"], *, reason: str | None = None) -> DeploymentState:
    """Stop serving the shadow or the canary; live answers everything again.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> stop(store, "canary", reason="confidence dropped")
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: there is no canary to stop (generation 0: nothing deployed)

    Raises:
        TaxiwayError: ``role`` holds nothing, or is not shadow or canary.
    """
    if role not in ("shadow", "canary"):
        raise TaxiwayError(f"cannot undeploy '{role}'", hint="use shadow or canary; to replace live, deploy")
    reason = _clean(reason)

    def change(_session: Session, current: DeploymentState) -> DeploymentState:
        if current.version_of(role) is None:
            raise TaxiwayError(
                f"there is no {role} to stop ({current.describe()})",
                hint="`taxiway status` shows what each role holds",
            )
        if role == "shadow":
            return replace(current, shadow=None, action="stop-shadow")
        return replace(current, canary=None, canary_weight=0.0, action="stop-canary")

    return _change(store, change, forced=False, reason=reason, cd=False)


def _change(
    store: Store,
    change: Callable[[Session, DeploymentState], DeploymentState | None],
    *,
    forced: bool,
    reason: str | None,
    cd: bool,
) -> DeploymentState:
    """Append the state ``change`` builds from the newest one, under the write lock; None keeps it as is."""
    for _ in range(_ATTEMPTS):
        try:
            with store.write_session() as session, session.begin():
                serialise(session, "deploy.generation")
                current = _newest(session)
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
                new = DeploymentState._from_row(row)
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


def _verify_artifact(store: Store, name: str, digest: str) -> None:
    try:
        store.artifacts.verify(digest)
    except TaxiwayError as error:
        raise ArtifactCorruptError(
            f"{name} cannot be deployed: {error.message}",
            hint=f"nothing was changed; {error.hint}",
        ) from None


def _newest(session: Session) -> DeploymentState:
    row = session.scalars(select(DeploymentRow).order_by(DeploymentRow.generation.desc()).limit(1)).first()
    return NOTHING_DEPLOYED if row is None else DeploymentState._from_row(row)


def _with_live(current: DeploymentState, number: int, *, action: str) -> DeploymentState:
    """``number`` live, the old live kept for a rollback, and no shadow or canary of the same version."""
    canary_stays = current.canary != number
    return replace(
        current,
        live=number,
        previous_live=current.live,
        shadow=current.shadow if current.shadow != number else None,
        canary=current.canary if canary_stays else None,
        canary_weight=current.canary_weight if canary_stays else 0.0,
        action=action,
    )


def _only_candidate(current: DeploymentState) -> Literal["shadow", "canary"]:
    if current.shadow is not None and current.canary is not None:
        raise TaxiwayError(
            f"both a shadow (v{current.shadow}) and a canary (v{current.canary}) are deployed: which one?",
            hint="pass --from shadow or --from canary",
        )
    if current.shadow is None and current.canary is None:
        raise TaxiwayError(
            f"there is no shadow or canary to promote ({current.describe()})",
            hint="deploy a candidate first: taxiway deploy vN --as shadow (or --as canary --weight 0.1)",
        )
    return "shadow" if current.shadow is not None else "canary"


def _check_weight(role: Role, weight: float | None) -> None:
    if role == "canary" and weight is None:
        raise TaxiwayError(
            "a canary needs --weight: the share of live traffic it answers",
            hint="e.g. --weight 0.1 for 10%; it must be above 0 and below 1",
        )
    if role == "canary" and weight is not None and not 0 < weight < 1:
        raise TaxiwayError(
            f"--weight {weight} is not a share between 0 and 1 (both excluded)",
            hint="e.g. --weight 0.1 for 10%; to send everything to it, promote it: taxiway promote",
        )
    if role != "canary" and weight is not None:
        raise TaxiwayError(
            f"--weight only applies to a canary, not to {role}",
            hint="leave --weight out, or deploy with --as canary",
        )


def _why_unblessed(reason: str | None) -> str:
    return f"registered with --force: {reason}" if reason else "registered with --force"


def _evidence_details(state: DeploymentState) -> dict[str, Any]:
    return {
        "generation": state.generation,
        "action": state.action,
        "live": state.live,
        "previous_live": state.previous_live,
        "shadow": state.shadow,
        "canary": state.canary,
        "canary_weight": state.canary_weight,
        "forced": state.forced,
        "reason": state.reason,
    }


def _clean(reason: str | None) -> str | None:
    return (reason.strip() or None) if reason else None


def _name(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"
