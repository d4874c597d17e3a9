"""Deploying: the desired state (live, shadow, canary by generation), the replicas serving it, figures."""

from taxiway.deploy.changes import deploy, promote, rollback, stop
from taxiway.deploy.figures import RoleFigures, role_figures
from taxiway.deploy.replicas import (
    STALE_AFTER_S,
    Replica,
    RolloutError,
    list_replicas,
    mark_stopped,
    report_replica,
    wait_for_generation,
)
from taxiway.deploy.state import DeploymentState, Role, deployment_history, desired_state

__all__ = [
    "STALE_AFTER_S",
    "DeploymentState",
    "Replica",
    "Role",
    "RoleFigures",
    "RolloutError",
    "deploy",
    "deployment_history",
    "desired_state",
    "list_replicas",
    "mark_stopped",
    "promote",
    "report_replica",
    "role_figures",
    "rollback",
    "stop",
    "wait_for_generation",
]
