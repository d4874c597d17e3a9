"""The run page: lineage, metrics, resources, evaluation charts, curves and artifacts of one run; and the
artifact download, which serves only bytes that still match their recorded digest."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from taxiway.data.split import get_split
from taxiway.data.versions import get_dataset
from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.train.run_search import ordered_metrics, reaches
from taxiway.train.runs import Run, curve, curve_keys, get_run, run_artifacts
from taxiway.ui import charts
from taxiway.ui.state import UIState, render, ui_state

router = APIRouter()
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> HTMLResponse:
    """Everything recorded about one run (an unknown id: a 404 page)."""
    state = ui_state(request)
    run = get_run(state.store, run_id)
    artifacts = run_artifacts(state.store, run.id)
    figures, problem = _prediction_figures(state, run)
    curves = {
        key: charts.curves_figure(key, {run.name: curve(state.store, run.id, key)})
        for key in curve_keys(state.store, [run.id])
    }
    metric = state.ranking_metric
    context: dict[str, Any] = {
        "run": run,
        "artifacts": artifacts,
        "figures": figures,
        "figures_problem": problem,
        "curves": curves,
        "metrics": ordered_metrics(list(run.metrics), metric) if run.metrics else [],
        "ranking_metric": metric,
        "good_enough": state.charter.problem.good_enough,
        "reaches": reaches,
        "lower_is_better": {name: not m.greater_is_better for name, m in METRICS.items()},
        "known": _known_references(state, run),
        "environment": run.lineage.get("environment") or {},
    }
    return render(request, "run.html", context, active="runs")


@router.get("/runs/{run_id}/artifacts/{name:path}")
def download(request: Request, run_id: str, name: str) -> Response:
    """A run's artifact, verified against its digest on the way out (changed bytes: a 409 page)."""
    state = ui_state(request)
    run = get_run(state.store, run_id)
    attached = run_artifacts(state.store, run.id)
    if name not in attached:
        listed = ", ".join(attached) or "none"
        raise NotFoundError(f"run {run.id} has no artifact '{name}'", hint=f"its artifacts: {listed}")
    digest = attached[name]
    data = state.store.artifacts.get_bytes(digest)
    media_type = state.store.media_type(digest)
    filename = _SAFE_NAME.sub("_", name.rsplit("/", 1)[-1]) or "artifact"
    return Response(
        data,
        media_type=media_type or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-SHA256": digest},
    )


def _prediction_figures(state: UIState, run: Run) -> tuple[dict[str, charts.Figure], str | None]:
    """The evaluation charts, or why there are none (no predictions stored, or they fail verification)."""
    if run.predictions_artifact is None:
        return {}, "this run stored no predictions, so there are no evaluation charts"
    try:
        predictions = Predictions.from_parquet(state.store.artifacts.get_bytes(run.predictions_artifact))
    except TaxiwayError as error:
        return {}, f"{error.message} — {error.hint}" if error.hint else error.message
    threshold = run.params.get("decision_threshold")
    chosen = float(threshold) if isinstance(threshold, int | float) else None
    costs = state.charter.error_costs()
    return charts.prediction_figures(predictions, costs, chosen), None


def _known_references(state: UIState, run: Run) -> dict[str, bool]:
    """Whether the dataset version and split the run names are still in the store (to link them or not)."""
    return {
        "dataset": _exists(lambda: get_dataset(state.store, run.dataset_id or "")),
        "split": _exists(lambda: get_split(state.store, run.split_id or "")),
    }


def _exists(look_up: Callable[[], object]) -> bool:
    try:
        look_up()
    except TaxiwayError:  # not found, or no id recorded at all
        return False
    return True
