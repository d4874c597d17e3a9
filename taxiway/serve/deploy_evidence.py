"""Evidence of deployment changes, recorded by `taxiway deploy`, `promote` and `rollback` once applied."""

from __future__ import annotations

from taxiway.serve.deployment import DeploymentState
from taxiway.serve.replicas import Rollout
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Status, default_origin

_CHECKS = {
    "deploy_live": Check.DEPLOY_BLUE_GREEN,
    "promote": Check.DEPLOY_BLUE_GREEN,
    "rollback": Check.DEPLOY_ROLLBACK,
    "deploy_canary": Check.DEPLOY_CANARY,
    "deploy_shadow": Check.DEPLOY_SHADOW,
}


def record_rollout(store: Store, state: DeploymentState, action: str, rollout: Rollout) -> None:
    """Record the change once it settled: pass when every running replica applied it, fail when one refused.

    With no replica running nothing is recorded: nothing was switched. From CI or continuous delivery
    (``CI`` set), a deployment also counts as done by automation.
    """
    if not (rollout.applied or rollout.refused or rollout.pending):
        return
    status: Status = "pass" if rollout.is_done else "fail"
    details = {
        "action": action,
        "generation": state.generation,
        "live_version": state.live_version,
        "previous_version": state.previous_version,
        "canary_version": state.canary_version,
        "canary_weight": state.canary_weight,
        "shadow_version": state.shadow_version,
        "replicas_applied": len(rollout.applied),
        "replicas_refused": {replica.id: replica.error for replica in rollout.refused},
        "replicas_pending": len(rollout.pending),
    }
    origin = default_origin()
    store.evidence.record(
        _CHECKS[action],
        subject_kind="deployment",
        subject_id=state.name,
        status=status,
        details=details,
        origin=origin,
    )
    if origin == "ci":
        store.evidence.record(
            Check.DEPLOY_CD,
            subject_kind="deployment",
            subject_id=state.name,
            status=status,
            details=details,
            origin=origin,
        )
