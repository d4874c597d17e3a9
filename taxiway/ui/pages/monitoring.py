"""The monitoring page of a deployment: drift per feature over time, confidence, estimated vs realised
quality, the live figures against the charter's lines with the downtime shaded, and the alerts.

It reads what `taxiway monitor` and the server's minute hook recorded (evidence and alerts) and the serving
snapshots; it never reads the prediction logs itself, so it opens fast however much was served.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.deploy.state import desired_state
from taxiway.monitor.alerts import list_alerts
from taxiway.monitor.uptime import downtime, requests_series
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from taxiway.store.tables import utcnow
from taxiway.ui import charts
from taxiway.ui.state import render, ui_state

router = APIRouter()
DEFAULT_WINDOW = 360  # minutes of serving figures
HISTORY = 200  # monitor passes read per check
MAX_BUCKETS = 90


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(
    request: Request,
    version: Annotated[str | None, Query(description="model version (default: the live one)")] = None,
    window: Annotated[int, Query(ge=1, le=10_080, description="minutes of serving figures")] = DEFAULT_WINDOW,
) -> HTMLResponse:
    """Drift, confidence, quality, live limits, downtime and alerts of one deployed version."""
    state = ui_state(request)
    store, charter = state.store, state.project.charter
    live = desired_state(store).live
    name = version or (f"v{live}" if live is not None else None)
    now = utcnow()
    since = now - dt.timedelta(minutes=window)
    bucket_s = max(30.0, window * 60 / MAX_BUCKETS)
    points = requests_series(store, since, now, bucket_s)
    uptime = downtime(store, since=since, until=now)

    def ours(check: Check) -> list[Evidence]:
        return _history(store.evidence.history(check, limit=HISTORY), name)

    drift = [e for e in ours(Check.MONITOR_DRIFT) if "features" in e.details]
    figures: dict[str, charts.Figure] = {}
    if drift:
        figures["drift"] = _drift_strip(drift)
    confidence = ours(Check.MONITOR_CONFIDENCE)
    if confidence and confidence[0].details.get("over_time"):
        figures["confidence"] = _confidence(confidence[0].details["over_time"], name or "")
    estimated, realised = ours(Check.MONITOR_ESTIMATED_QUALITY), ours(Check.MONITOR_ONLINE_QUALITY)
    if estimated or realised:
        figures["quality"] = _quality(estimated, realised)
    if any(p.replicas for p in points):
        figures.update(_live(points, uptime.gaps, bucket_s, charter))
    context: dict[str, Any] = {
        "version": name,
        "window": window,
        "since": since,
        "uptime": uptime,
        "latest_drift": drift[0] if drift else None,
        "estimated": estimated[0] if estimated else None,
        "realised": realised[0] if realised else None,
        "charts": figures,
        "alerts": list_alerts(store, since=since),
    }
    return render(request, "monitoring.html", context, active="monitoring")


def _history(records: list[Evidence], version: str | None) -> list[Evidence]:
    """Records about ``version`` (the per-feature drift records of alerts left out), newest first."""
    return [
        e for e in records if (version is None or e.subject_id == version) and not e.details.get("alert_key")
    ]


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _drift_strip(records: list[Evidence]) -> charts.Figure:
    """A heat strip: one row per feature, one column per monitor pass, colour = effect / threshold."""
    passes = list(reversed(records))
    names = sorted({f["column"] for e in passes for f in e.details["features"]})
    z = [
        [
            next((f["effect"] / f["threshold"] for f in e.details["features"] if f["column"] == name), None)
            for e in passes
        ]
        for name in names
    ]
    look = charts.layout("Drift per feature (effect / threshold; above 1 = drifted)", "time (UTC)", "")
    look["xaxis"]["type"] = "date"
    look["height"] = max(240, 28 * len(names) + 100)
    data = [
        {
            "type": "heatmap",
            "x": [_time(e.recorded_at) for e in passes],
            "y": names,
            "z": z,
            "zmin": 0,
            "zmax": 2,
            "colorscale": [[0, "#f0fdf4"], [0.5, "#fde68a"], [1, "#dc2626"]],
            "colorbar": {"title": {"text": "effect / threshold"}},
        }
    ]
    return {"data": data, "layout": look}


def _confidence(over_time: list[dict[str, Any]], version: str) -> charts.Figure:
    times = [row["start"][:19].replace("T", " ") for row in over_time]
    lines = {f"{version} {q}": [row[q] for row in over_time] for q in ("p10", "p50", "p90")}
    return charts.time_figure(
        f"Confidence of {version} over the last pass's window", "probability", times, lines
    )


def _quality(estimated: list[Evidence], realised: list[Evidence]) -> charts.Figure:
    lines: dict[str, list[float | None]] = {}
    records = sorted([*estimated, *realised], key=lambda e: e.recorded_at)
    times = [_time(e.recorded_at) for e in records]
    lines["estimated (CBPE)"] = [
        e.value if e.check_id == Check.MONITOR_ESTIMATED_QUALITY else None for e in records
    ]
    lines["realised (feedback)"] = [
        e.value if e.check_id == Check.MONITOR_ONLINE_QUALITY else None for e in records
    ]
    lines["validation"] = [e.details.get("offline") for e in records]
    lines["limit"] = [e.threshold for e in records]
    return charts.time_figure("Quality: estimated before labels, realised after", "metric", times, lines)


def _limit(charter: Charter, key: str) -> float:
    section, field = key.split(".")
    value = getattr(getattr(charter, section), field)
    return float(value if value is not None else question(key).default_value(charter.problem.task))


def _live(points: list[Any], gaps: Any, bucket_s: float, charter: Charter) -> dict[str, charts.Figure]:
    times = [_time(p.start + dt.timedelta(seconds=bucket_s / 2)) for p in points]
    shaded = [(_time(g.start), _time(g.end)) for g in gaps]

    def figure(title: str, axis: str, values: list[float | None], line: float, key: str) -> charts.Figure:
        return charts.time_figure(
            title, axis, times, {title.split(" (")[0]: values, f"limit ({key})": [line] * len(times)}, shaded
        )

    return {
        "latency": figure(
            "p99 latency (ms)",
            "ms",
            [p.p99_ms for p in points],
            _limit(charter, "serving.p99_latency_ms"),
            "serving.p99_latency_ms",
        ),
        "memory": figure(
            "resident memory (MB)",
            "MB",
            [p.rss_mb for p in points],
            _limit(charter, "serving.max_memory_mb"),
            "serving.max_memory_mb",
        ),
        "cpu": figure(
            "CPU (% of one core)",
            "%",
            [p.cpu_percent for p in points],
            charter.monitoring.max_cpu_percent,
            "monitoring.max_cpu_percent",
        ),
        "requests": figure(
            "requests per second",
            "requests/s",
            [p.requests_per_second if p.replicas else None for p in points],
            _limit(charter, "serving.min_throughput_rps"),
            "serving.min_throughput_rps",
        ),
    }
