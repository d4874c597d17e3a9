"""The runs page: every run in a table, filtered, sorted by any metric and paged in SQL, with the charter's
"good enough" line and boxes to pick runs to compare."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse

from taxiway.measure.metrics import METRICS
from taxiway.train.run_search import (
    COLUMNS,
    RunPage,
    RunQuery,
    count_reaching,
    metric_keys,
    ordered_metrics,
    query_runs,
    reaches,
)
from taxiway.train.runs import KINDS, STATUSES
from taxiway.ui.state import render, ui_state

router = APIRouter()


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=307)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    """All runs; an htmx request (sorting, filtering, paging) gets only the table back."""
    state = ui_state(request)
    metric = state.ranking_metric
    query = RunQuery.parse(dict(request.query_params), metric)
    store = state.store
    page = query_runs(store, query)
    columns = ordered_metrics(metric_keys(store), metric)
    if query.metric and query.metric not in columns:
        columns.append(query.metric)
    good_enough = state.charter.problem.good_enough
    context: dict[str, Any] = {
        "page": page,
        "query": query,
        "columns": columns,
        "ranking_metric": metric,
        "good_enough": good_enough,
        "reaching": count_reaching(store, query, metric, good_enough) if good_enough is not None else None,
        "lower_is_better": {name: not METRICS[name].greater_is_better for name in columns if name in METRICS},
        "line_before": _good_enough_line(page, query, metric, good_enough),
        "reaches": reaches,
        "kinds": KINDS,
        "statuses": STATUSES,
        "sortable": COLUMNS,
        "link": lambda **changes: _link(query, **changes),
        "sort_link": lambda sort: _sort_link(query, sort, metric),
    }
    is_fragment = request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )
    return render(request, "_runs_table.html" if is_fragment else "runs.html", context, active="runs")


def _good_enough_line(page: RunPage, query: RunQuery, metric: str, bar: float | None) -> int | None:
    """Where the good-enough bar falls between two lines, when the table is sorted by the ranking metric."""
    if bar is None or query.metric != metric:
        return None
    for index, line in enumerate(page.lines[1:], start=1):
        before = reaches(metric, page.lines[index - 1].metrics.get(metric), bar)
        if before != reaches(metric, line.metrics.get(metric), bar):
            return index
    return None


def _link(query: RunQuery, **changes: Any) -> str:
    return "/runs?" + urlencode(query.params(**changes))


def _sort_link(query: RunQuery, sort: str, ranking_metric: str) -> str:
    """Clicking a header sorts by it, best (or newest) first; clicking it again reverses."""
    fresh = RunQuery.parse({"sort": sort}, ranking_metric)
    order = fresh.order
    if query.sort == sort:
        order = "asc" if query.order == "desc" else "desc"
    return _link(query, sort=sort, order=order, page=1)
