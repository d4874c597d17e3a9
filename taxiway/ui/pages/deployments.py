"""The deployments page: the desired state and its history, the replicas applying it, each role's serving
figures, and the serving snapshots over time with the downtime between them.

It reads what `taxiway status` reads, through the same functions (`desired_state`, `deployment_history`,
`list_replicas`, `role_figures`), over the same window (the last 15 minutes unless ``?window=`` says how
many), and the series and gaps of `taxiway.monitor.uptime`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from taxiway.deploy.figures import role_figures
from taxiway.deploy.health import candidate_alerts, not_served
from taxiway.deploy.replicas import Replica, list_replicas
from taxiway.deploy.state import DeploymentState, deployment_history, desired_state
from taxiway.monitor.uptime import Gap, SeriesPoint, downtime, requests_series
from taxiway.registry import list_versions
from taxiway.store import Store
from taxiway.store.tables import utcnow
from taxiway.ui import charts
from taxiway.ui.state import render, ui_state

router = APIRouter()
WINDOWS = {15: "15 min", 60: "1 h", 360: "6 h", 1440: "24 h"}  # offered; any 1..MAX_WINDOW minutes works
DEFAULT_WINDOW = 15  # as `taxiway status`
MAX_WINDOW = 1440
HISTORY_LIMIT = 50
MAX_BUCKETS = 90  # points per chart
MIN_BUCKET_S = 30.0  # three snapshot intervals, so a bucket of a running replica is never empty


@dataclass(frozen=True)
class ReplicaLine:
    """One replica as the page shows it: its liveness, heartbeat age, whether it lags the desired state."""

    replica: Replica
    state: str  # alive, stale or stopped
    age_s: float
    behind: bool  # it has not applied the desired generation (or failed to)
    slots: list[tuple[str, str, str]]  # (slot, version, role)


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(
    request: Request,
    window: Annotated[
        int, Query(ge=1, le=MAX_WINDOW, description="minutes of serving figures")
    ] = DEFAULT_WINDOW,
) -> HTMLResponse:
    """The desired deployment, its changes, the replicas, figures per role and charts over ``window`` min."""
    store = ui_state(request).store
    now = utcnow()
    since = now - dt.timedelta(minutes=window)
    desired = desired_state(store)
    # As `taxiway status`: stale and stopped servers stay on show for the window, so a crash is not hidden.
    replicas = [
        r for r in list_replicas(store, include_stale=True) if r.is_alive(now) or r.heartbeat_at >= since
    ]
    bucket_s = max(MIN_BUCKET_S, window * 60 / MAX_BUCKETS)
    points = requests_series(store, since, now, bucket_s)
    uptime = downtime(store, since=since, until=now)
    served = any(point.replicas for point in points)
    figures = role_figures(store, since)
    context: dict[str, Any] = {
        # The same judgements as `taxiway status`: not served (with the fix), failing shadow or canary.
        "problems": not_served(desired, [r for r in replicas if r.is_alive(now)]),
        "alerts": candidate_alerts(desired, figures),
        "desired": desired,
        "history": deployment_history(store, limit=HISTORY_LIMIT),
        "replicas": [_line(r, desired, now) for r in replicas],
        "figures": figures,
        "window": window,
        "windows": WINDOWS,
        "window_label": WINDOWS.get(window, f"{window} min"),
        "since": since,
        "now": now,
        "bucket_s": bucket_s,
        "uptime": uptime,
        "charts": _charts(points, uptime.gaps, bucket_s) if served else {},
        "first_version": _first_to_deploy(store) if desired.generation == 0 else None,
    }
    return render(request, "deployments.html", context, active="deployments")


def slots_of(slots: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(slot, version, role) of what a replica reported; whatever a server put in a slot, shown as it is.

    Example:
        >>> slots_of({"green": {"version": "v2", "role": "standby"}, "blue": {"version": 3, "role": "live"}})
        [('blue', 'v3', 'live'), ('green', 'v2', 'standby')]
        >>> slots_of({"odd": "v9"})
        [('odd', 'v9', '')]
    """
    found = []
    for slot, held in sorted(slots.items()):
        if isinstance(held, dict):
            version = held.get("version")
            name = f"v{version}" if isinstance(version, int) else str(version or "-")
            found.append((slot, name, str(held.get("role") or "")))
        else:
            found.append((slot, str(held), ""))
    return found


def _line(replica: Replica, desired: DeploymentState, now: dt.datetime) -> ReplicaLine:
    if replica.stopped_at is not None:
        state = "stopped"
    else:
        state = "alive" if replica.is_alive(now) else "stale"
    return ReplicaLine(
        replica=replica,
        state=state,
        age_s=max(0.0, (now - replica.heartbeat_at).total_seconds()),
        behind=not replica.has_applied(desired.generation),
        slots=slots_of(replica.slots),
    )


def _first_to_deploy(store: Store) -> str | None:
    """The version to suggest deploying first: the newest blessed one, else the newest; None: none yet."""
    versions = list_versions(store)
    blessed = [v for v in versions if v.is_blessed]
    return (blessed or versions)[0].name if versions else None


def _charts(points: list[SeriesPoint], gaps: tuple[Gap, ...], bucket_s: float) -> dict[str, charts.Figure]:
    """Requests, latency, CPU, memory and answer quality over time; buckets without a snapshot break lines."""
    times = [_time(p.start + dt.timedelta(seconds=bucket_s / 2)) for p in points]
    shaded = [(_time(gap.start), _time(gap.end)) for gap in gaps]

    def known(values: list[float | None]) -> list[float | None]:
        return [value if point.replicas else None for value, point in zip(values, points, strict=True)]

    def figure(title: str, axis: str, lines: dict[str, list[float | None]], **options: Any) -> charts.Figure:
        return charts.time_figure(title, axis, times, lines, shaded, **options)

    return {
        "requests": figure(
            "Requests per second",
            "requests/s",
            {"requests/s": known([p.requests_per_second for p in points])},
        ),
        "latency": figure(
            "Latency (the slowest replica's window)",
            "ms",
            {
                "p50": [p.p50_ms for p in points],
                "p95": [p.p95_ms for p in points],
                "p99": [p.p99_ms for p in points],
            },
        ),
        "cpu": figure("CPU, all replicas (100% = one core)", "%", {"CPU": [p.cpu_percent for p in points]}),
        "memory": figure("Resident memory, all replicas", "MB", {"RSS": [p.rss_mb for p in points]}),
        "answers": figure(
            "Answers: fallback rate, error rate, mean confidence",
            "share",
            {
                "fallback rate": [p.fallback_rate for p in points],
                "error rate": known([p.error_rate for p in points]),
                "mean confidence": [p.mean_confidence for p in points],
            },
            percent=True,
        ),
    }


def _time(moment: dt.datetime) -> str:
    """A UTC time as Plotly reads it without shifting it to the browser's zone."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
