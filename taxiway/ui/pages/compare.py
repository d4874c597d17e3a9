"""The compare page: two or more runs side by side — params, metrics with the paired bootstrap interval of
each difference and a plain verdict, and their step-metric curves overlaid."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from taxiway.errors import TaxiwayError
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.train.replicates import ReplicateSettings
from taxiway.train.run_search import ordered_metrics
from taxiway.train.runs import Run, curve, curve_keys, get_run, list_runs
from taxiway.ui import charts
from taxiway.ui.slices import SliceRow, slice_table
from taxiway.ui.state import UIState, render, ui_state
from taxiway.validate.compare import Comparison, compare_runs, decimals, verdict

router = APIRouter()
PICKER_RUNS = 30  # recent runs offered when no run is selected yet
MAX_RUNS = 8  # beyond this a side-by-side table stops being readable


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    run: list[str] = Query(default=[]),
    pick: str | None = None,
) -> HTMLResponse:
    """Runs compared with the first one selected; with none selected, a list to pick from."""
    state = ui_state(request)
    chosen = [ref.strip() for ref in run if ref.strip()]
    if not chosen:
        recent = list_runs(state.store, limit=PICKER_RUNS)
        return render(request, "compare_pick.html", {"recent": recent, "pick": pick}, active="compare")
    if len(chosen) > MAX_RUNS:
        raise TaxiwayError(
            f"{len(chosen)} runs selected; the page compares at most {MAX_RUNS}",
            hint="untick some runs and compare again",
        )
    runs = [get_run(state.store, ref) for ref in chosen]
    comparison = _comparison(state, runs)
    context = _context(state, comparison)
    context["slices"] = _slices(state, runs)
    context["slice_metric"] = state.ranking_metric
    return render(request, "compare.html", context, active="compare")


def labels(runs: Sequence[Run]) -> dict[str, str]:
    """What the page calls each run: its name, or its name and id when two compared runs share a name.

    Example:
        >>> import datetime as dt
        >>> t = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
        >>> make = lambda id, name: Run(id, name, "custom", "finished", None, None, None, {}, {}, {}, {}, {},
        ...                             None, None, None, t, t)
        >>> named = labels([make("r-aaaa11112222", "gbm"), make("r-bbbb11112222", "gbm"), make("r-cc", "lr")])
        >>> list(named.values())
        ['gbm (r-aaaa11112222)', 'gbm (r-bbbb11112222)', 'lr']
    """
    names = Counter(run.name for run in runs)
    return {run.id: run.name if names[run.name] == 1 else f"{run.name} ({run.id})" for run in runs}


def _comparison(state: UIState, runs: list[Run]) -> Comparison:
    """The comparison, computed once per set of stored predictions: digests name their content.

    The charter's costs and resample count (the count the validation gates use) are the settings training
    stores each run's bootstrap replicates for: runs on the same rows are compared without resampling.
    """
    settings = ReplicateSettings.from_charter(state.charter)
    ids = [run.id for run in runs]
    key = ("compare", tuple(ids), tuple(run.predictions_artifact for run in runs), settings)
    return state.cached(
        key,
        lambda: compare_runs(
            state.store, ids, costs=settings.costs, resamples=settings.resamples, seed=settings.seed
        ),
    )


def _slices(state: UIState, runs: list[Run]) -> list[SliceRow]:
    """The ranking metric per slice of the charter's slice columns (none named: no table)."""
    columns = tuple(state.charter.data.slice_columns)
    if not columns:
        return []
    costs = state.charter.error_costs()
    metric = state.ranking_metric
    key = (
        "slices",
        tuple(run.id for run in runs),
        tuple(run.predictions_artifact for run in runs),
        columns,
        metric,
        costs,
    )

    def compute() -> list[SliceRow]:
        predictions = {
            run.id: Predictions.from_parquet(state.store.artifacts.get_bytes(run.predictions_artifact))
            for run in runs
            if run.predictions_artifact is not None
        }
        return slice_table(state.store, runs, predictions, columns, metric, costs=costs)

    return state.cached(key, compute)


def _values(comparison: Comparison, runs: list[Run], name: str) -> tuple[list[float | None], list[bool]]:
    """Each run's value of a metric: as recorded, else as computed from its predictions (flagged True)."""
    values: list[float | None] = [run.metrics.get(name) for run in runs]
    computed = [False] * len(runs)
    for index, run in enumerate(runs):
        if values[index] is not None:
            continue
        for item in comparison.metrics:
            if item.metric != name:
                continue
            if item.other_id == run.id:
                values[index], computed[index] = item.other_value, True
            elif item.reference_id == run.id:
                values[index], computed[index] = item.reference_value, True
    return values, computed


def _context(state: UIState, comparison: Comparison) -> dict[str, Any]:
    runs = list(comparison.runs)
    named = labels(runs)
    reference, others = runs[0], runs[1:]
    metric_names = ordered_metrics(sorted({key for run in runs for key in run.metrics}), state.ranking_metric)
    metric_names = [name for name in metric_names if any(name in run.metrics for run in runs)]
    rows = []
    for name in metric_names:
        values, computed = _values(comparison, runs, name)
        present = [value for value in values if value is not None]
        best = None
        if name in METRICS and len(present) > 1:
            best = max(present) if METRICS[name].greater_is_better else min(present)
        cells: list[dict[str, Any] | None] = []
        for other in others:
            item = comparison.of(name, other.id)
            if item is None:
                cells.append(None)
                continue
            estimate = item.difference.estimate
            digits = decimals(item.difference.low, item.difference.high)
            cells.append(
                {
                    "difference": f"{estimate:+.{digits}f}",
                    "interval": f"[{item.difference.low:.{digits}f}, {item.difference.high:.{digits}f}]",
                    "verdict": verdict(item, named[reference.id], named[other.id]),
                    "better": item.better,
                    "p_value": item.difference.p_value,
                }
            )
        direction = "" if name not in METRICS else "↑" if METRICS[name].greater_is_better else "↓"
        rows.append(
            {
                "name": name,
                "values": values,
                "computed": computed,
                "best": best,
                "cells": cells,
                "direction": direction,
            }
        )
    params = sorted({key for run in runs for key in run.params})
    param_rows = [
        {
            "name": key,
            "values": [run.params.get(key) for run in runs],
            "differs": len({repr(run.params.get(key)) for run in runs}) > 1,
        }
        for key in params
    ]
    curves = {
        key: charts.curves_figure(key, {named[run.id]: curve(state.store, run.id, key) for run in runs})
        for key in curve_keys(state.store, [run.id for run in runs])
    }
    return {
        "comparison": comparison,
        "runs": runs,
        "named": named,
        "reference": reference,
        "others": others,
        "metric_rows": rows,
        "param_rows": param_rows,
        "differing": sum(row["differs"] for row in param_rows),
        "curves": curves,
        "ranking_metric": state.ranking_metric,
        "lower_is_better": state.ranking_metric in METRICS
        and not METRICS[state.ranking_metric].greater_is_better,
        "level": round(comparison.level * 100),
    }
