"""The model pages: every registered version with its run, artifact, aliases, blessing and deployment; and
one version's gates, failure-predictor report, lineage, alias moves and deployment changes.

Everything is read through the registry (`taxiway.registry`), the blessings `taxiway validate` stored
(`taxiway.registry.blessing`) and the desired deployment (`taxiway.deploy.state`), as `taxiway models` and
`taxiway status` read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from taxiway.deploy.state import DeploymentState, deployment_history, desired_state
from taxiway.registry import ModelVersion, alias_history, get_version, list_versions
from taxiway.registry.blessing import Blessing, get_blessing, latest_blessing
from taxiway.store import Store
from taxiway.store.tables import DatasetVersionRow
from taxiway.ui import charts
from taxiway.ui.state import render, ui_state

router = APIRouter()
HISTORY_LIMIT = 50  # deployment changes searched for one version's roles


@dataclass(frozen=True)
class RoleChange:
    """A deployment change that moved one version in or out of a role (None: not deployed)."""

    state: DeploymentState
    before: str | None
    after: str | None


def deployed_roles(state: DeploymentState) -> dict[int, list[str]]:
    """What each deployed version does now, by version number; the previous live one is the rollback target.

    Example:
        >>> deployed_roles(DeploymentState(4, 3, 2, 1, 2, 0.1, "deploy-canary", False, None, None))
        {3: ['live'], 1: ['shadow'], 2: ['canary 10%', 'previous live']}
    """
    roles: dict[int, list[str]] = {}
    for number, role in (
        (state.live, "live"),
        (state.shadow, "shadow"),
        (state.canary, f"canary {state.canary_weight * 100:g}%"),
        (state.previous_live, "previous live"),
    ):
        if number is not None:
            roles.setdefault(number, []).append(role)
    return roles


def held_out_metrics(test: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The test-split metrics a blessing recorded, or why there are none.

    Example:
        >>> held_out_metrics({"rows": 449, "metric": "log_loss", "metrics": {"log_loss": 0.03}})
        ({'log_loss': 0.03}, None)
        >>> held_out_metrics({"rows": 0, "error": "the test split is empty"})
        ({}, 'the test split is empty')
    """
    metrics = test.get("metrics")
    if isinstance(metrics, dict) and metrics:
        return metrics, None
    return {}, str(test.get("error") or "not measured")


def role_of(state: DeploymentState, number: int) -> str | None:
    """The role ``number`` holds in ``state``: live, shadow, canary or None.

    Example:
        >>> state = DeploymentState(4, 3, 2, 1, 5, 0.1, "deploy-canary", False, None, None)
        >>> role_of(state, 5), role_of(state, 2)
        ('canary', None)
    """
    return next((role for role in ("live", "shadow", "canary") if state.version_of(role) == number), None)


def role_changes(history: list[DeploymentState], number: int) -> list[RoleChange]:
    """The changes in ``history`` (newest first) that moved version ``number`` between roles, newest first."""
    changes = []
    before: str | None = None
    for state in reversed(history):
        after = role_of(state, number)
        if after != before:
            changes.append(RoleChange(state, before, after))
        before = after
    return changes[::-1]


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> HTMLResponse:
    """Every registered version, newest first: run, artifact, aliases, blessing and gates, deployment."""
    store = ui_state(request).store
    versions = list_versions(store)
    blessings = {v.version: _blessing(store, v) for v in versions}
    context: dict[str, Any] = {
        "versions": versions,
        "blessings": blessings,
        "deployed": deployed_roles(desired_state(store)),
        "moves": alias_history(store, limit=20),
    }
    return render(request, "models.html", context, active="models")


@router.get("/models/{ref}", response_class=HTMLResponse)
def version_page(request: Request, ref: str) -> HTMLResponse:
    """One version (``v3``, ``3`` or an alias): gates, failure-predictor report, lineage, aliases, roles."""
    store = ui_state(request).store
    version = get_version(store, ref)
    blessing = _blessing(store, version)
    newest = latest_blessing(store, version.run_id)
    failure = (blessing.evaluation.get("failure_predictor") if blessing else None) or None
    curve = (failure or {}).get("risk_coverage") or {}
    figure = (
        charts.risk_coverage_figure(curve["coverage"], curve["error"], str(curve.get("measure", "error")))
        if curve.get("coverage")
        else None
    )
    dataset_id = version.lineage.get("dataset_id")
    context: dict[str, Any] = {
        "version": version,
        "blessing": blessing,
        "newer": newest if newest is not None and newest.id != version.blessing_id else None,
        "failure": failure,
        "risk_coverage": figure,
        "deployed": deployed_roles(desired_state(store)).get(version.version, []),
        "test": held_out_metrics(blessing.test_metrics) if blessing else ({}, "the version has no blessing"),
        "changes": role_changes(deployment_history(store, limit=HISTORY_LIMIT), version.version),
        "moves": [c for c in alias_history(store) if version.version in (c.version, c.previous_version)],
        "dataset_known": isinstance(dataset_id, str) and _dataset_known(store, dataset_id),
    }
    return render(request, "model.html", context, active="models")


def _blessing(store: Store, version: ModelVersion) -> Blessing | None:
    """The blessing the version was registered with (None: registered with --force, never validated)."""
    return get_blessing(store, version.blessing_id) if version.blessing_id is not None else None


def _dataset_known(store: Store, dataset_id: str) -> bool:
    with store.session() as session:
        return session.get(DatasetVersionRow, dataset_id) is not None
