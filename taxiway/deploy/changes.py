"""The changes people (and CD) make to the desired deployment: deploy, promote, rollback, stop.

Each checks what it may do against the newest state, under the write lock, and appends the next
generation (:func:`taxiway.deploy.generations.append_change`); a version whose artifact no longer hashes to
its registered digest is refused before anything is recorded.

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
    >>> from taxiway.deploy.state import desired_state
    >>> registry.get_version(store, "production").name, desired_state(store).action
    ('v2', 'rollback')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from sqlalchemy.orm import Session

from taxiway.deploy.generations import append_change
from taxiway.deploy.state import ROLES, DeploymentState, Role
from taxiway.errors import ArtifactCorruptError, TaxiwayError
from taxiway.registry import NotBlessedError, get_version
from taxiway.store import Store
from taxiway.store.tables import ModelVersionRow

__all__ = ["deploy", "promote", "rollback", "stop"]


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

    return append_change(store, change, forced=forced, reason=reason)


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

    return append_change(store, change, forced=False, reason=reason)


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

    return append_change(store, change, forced=False, reason=reason)


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

    return append_change(store, change, forced=False, reason=reason)


def _verify_artifact(store: Store, name: str, digest: str) -> None:
    try:
        store.artifacts.verify(digest)
    except TaxiwayError as error:
        raise ArtifactCorruptError(
            f"{name} cannot be deployed: {error.message}",
            hint=f"nothing was changed; {error.hint}",
        ) from None


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


def _clean(reason: str | None) -> str | None:
    return (reason.strip() or None) if reason else None
