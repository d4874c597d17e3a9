"""A change every running server refused is undone, so the store never names as desired what nobody serves.

A refused version left as the desired state served nothing at the next restart (every request 503 until
someone ran `taxiway rollback`). When every alive server reports an error on a generation, the state before
it is appended again (action ``revert-refused``), saying why.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from taxiway.deploy.generations import append_change
from taxiway.deploy.replicas import list_replicas
from taxiway.deploy.state import DeploymentState
from taxiway.errors import TaxiwayError
from taxiway.store import Store

__all__ = ["revert_if_refused", "revert_refused"]


def revert_if_refused(
    store: Store, changed: DeploymentState, before: DeploymentState, failure: Exception
) -> DeploymentState | None:
    """Put ``before`` back when every alive server reported an error on ``changed``; None otherwise.

    None also when the state changed after ``changed``: that newer change stands.
    """
    replicas = list_replicas(store)
    refused = [r for r in replicas if r.generation >= changed.generation and r.error is not None]
    if not replicas or len(refused) < len(replicas):
        return None  # some server serves it (or may still): the change stands
    try:
        return revert_refused(store, changed, before, f"refused by every server: {failure}")
    except TaxiwayError:
        return None


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

    return append_change(store, change, forced=False, reason=why[:500])
