"""Live limits: the serving snapshots of a recent window judged against the charter, every minute.

The server calls :func:`minute_hook` from its telemetry thread once a minute (``taxiway serve`` wires it);
`taxiway monitor` calls :func:`judge_live` too. Each judgement is recorded as evidence about the live
deployment that expires after a few intervals: when the service stops, nothing renews it and the checklist
shows the monitoring as stale rather than proven forever.

Figures over the window (all replicas):

- latency: the worst replica's request-weighted mean of its 10 s windows' p99, vs ``serving.p99_latency_ms``;
- memory: the largest resident memory any replica reported, against ``serving.max_memory_mb``;
- CPU: the busiest replica's mean CPU (percent of one core), against ``monitoring.max_cpu_percent``;
- errors: 5xx answers / requests, against ``monitoring.max_error_rate``;
- fallback: rows the fallback answered / rows answered, against ``monitoring.max_fallback_rate``;
- requests: requests per second against the capacity measured for the version (``taxiway monitor capacity``),
  else the charter's ``serving.min_throughput_rps``: traffic above what was proven sustainable fails;
- downtime: share of the window with a heartbeat, against ``monitoring.min_uptime``;
- resource regression (O6): latency and memory against the live version's first window, throughput against
  the version before (``monitor/resource_regression.py``), against ``monitoring.max_resource_growth``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.deploy.state import deployment_history, desired_state, went_live_at
from taxiway.monitor.judgement import Judgement
from taxiway.monitor.resource_regression import judge_resource_regression, largest_rss, worst_replica_p99
from taxiway.monitor.uptime import downtime
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement, started_by
from taxiway.store.tables import ServingSnapshotRow, utcnow

HOOK_SECONDS = 60.0  # how often the server judges its live limits
EXPIRY_INTERVALS = 3  # a record outlives this many hook intervals, then reads as stale

_log = logging.getLogger(__name__)


def _setting(charter: Charter, key: str) -> float:
    section, name = key.split(".")
    value = getattr(getattr(charter, section), name)
    if value is None:
        value = question(key).default_value(charter.problem.task)
    return float(value)


def live_subject(store: Store) -> str:
    """The subject live evidence is about: the live version's name (``serving`` before any deploy)."""
    live = desired_state(store).live
    return f"v{live}" if live is not None else "serving"


def capacity_of(store: Store, subject: str) -> float | None:
    """The capacity (requests/s within the p99 limit) measured for ``subject`` by a load test, if any."""
    evidence = store.evidence.latest_about(Check.MONITOR_CAPACITY, "deployment", subject)
    return evidence.value if evidence is not None and evidence.value else None


def judge_live(store: Store, charter: Charter, *, now: dt.datetime | None = None) -> list[Judgement]:
    """The live limits over the last ``monitoring.live_window_minutes`` of snapshots (none: nothing judged
    but downtime, which then fails: no heartbeat means nothing is served or monitored).

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.charter import Charter
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> [(str(j.check), j.status) for j in judge_live(store, c)]
        [('monitor.downtime', 'fail')]
    """
    until = now or utcnow()
    minutes = charter.monitoring.live_window_minutes
    since = until - dt.timedelta(minutes=minutes)
    subject = live_subject(store)
    at = ServingSnapshotRow.recorded_at
    with store.session() as session:
        rows = list(session.scalars(select(ServingSnapshotRow).where(at > since, at <= until).order_by(at)))
    judgements = [_downtime(store, charter, subject, since, until)]
    if not rows:
        return judgements
    by_replica: dict[str, list[ServingSnapshotRow]] = {}
    for row in rows:
        by_replica.setdefault(row.replica_id, []).append(row)
    requests = sum(r.requests for r in rows)
    base = {"replicas": sorted(by_replica), "snapshots": len(rows)}

    def judgement(check: Check, value: float, limit: Limit, n: int, method: str, **extra: Any) -> Judgement:
        return Judgement(
            check,
            "deployment",
            subject,
            float(value),
            limit,
            Measurement(n, since, until, method),
            {**base, **extra},
        )

    worst_p99 = worst_replica_p99(rows)
    if worst_p99 is not None:
        judgements.append(
            judgement(
                Check.MONITOR_LATENCY,
                worst_p99,
                Limit(_setting(charter, "serving.p99_latency_ms"), "<=", key="serving.p99_latency_ms"),
                requests,
                "worst replica's request-weighted mean of its 10 s windows' p99 latency (ms)",
            )
        )
    rss = largest_rss(rows)
    if rss is not None:
        judgements.append(
            judgement(
                Check.MONITOR_MEMORY,
                rss,
                Limit(_setting(charter, "serving.max_memory_mb"), "<=", key="serving.max_memory_mb"),
                sum(1 for r in rows if r.rss_mb is not None),
                "largest resident memory (MB) any replica reported",
            )
        )
    cpu = [_mean([r.cpu_percent for r in rs]) for rs in by_replica.values()]
    known_cpu = [v for v in cpu if v is not None]
    if known_cpu:
        judgements.append(
            judgement(
                Check.MONITOR_CPU,
                max(known_cpu),
                Limit(charter.monitoring.max_cpu_percent, "<=", key="monitoring.max_cpu_percent"),
                len(rows),
                "busiest replica's mean CPU over the window (percent of one core)",
            )
        )
    if requests:
        errors = sum(r.errors for r in rows)
        judgements.append(
            judgement(
                Check.MONITOR_ERRORS,
                errors / requests,
                Limit(charter.monitoring.max_error_rate, "<=", key="monitoring.max_error_rate"),
                requests,
                "5xx answers / requests",
                errors=errors,
            )
        )
    answered = sum(r.rows or 0 for r in rows)
    if answered:
        fallbacks = sum(r.fallbacks or 0 for r in rows)
        judgements.append(
            judgement(
                Check.MONITOR_FALLBACK,
                fallbacks / answered,
                Limit(charter.monitoring.max_fallback_rate, "<=", key="monitoring.max_fallback_rate"),
                answered,
                "rows the fallback answered / rows answered",
                fallbacks=fallbacks,
            )
        )
    capacity = capacity_of(store, subject)
    limit = (
        Limit(capacity, "<=", key=None)
        if capacity is not None
        else Limit(_setting(charter, "serving.min_throughput_rps"), "<=", key="serving.min_throughput_rps")
    )
    seconds = max(
        (
            until - max(since, rows[0].recorded_at - dt.timedelta(seconds=rows[0].window_seconds))
        ).total_seconds(),
        1.0,
    )
    judgements.append(
        judgement(
            Check.MONITOR_REQUESTS,
            requests / seconds,
            limit,
            requests,
            "requests per second over the window, against the capacity proven for the version",
            capacity_source="load test (monitor.capacity)" if capacity is not None else "charter",
        )
    )
    regression = _resource_regression(store, charter, rows, subject=subject, since=since, until=until)
    if regression is not None:
        judgements.append(regression)
    return judgements


def _resource_regression(
    store: Store,
    charter: Charter,
    rows: list[ServingSnapshotRow],
    *,
    subject: str,
    since: dt.datetime,
    until: dt.datetime,
) -> Judgement | None:
    """O6: the window against the live version's first window (monitor/resource_regression.py)."""
    state = desired_state(store)
    if state.live is None:
        return None
    began = live_since(store)
    first: list[ServingSnapshotRow] = []
    if began is not None:
        at = ServingSnapshotRow.recorded_at
        with store.session() as session:
            first = list(
                session.scalars(select(ServingSnapshotRow).where(at > began, at <= began + (until - since)))
            )
    before = capacity_of(store, f"v{state.previous_live}") if state.previous_live is not None else None
    return judge_resource_regression(
        subject,
        now=rows,
        first=first,
        since=since,
        until=until,
        live_since=began,
        capacity=capacity_of(store, subject),
        capacity_before=before,
        max_growth=charter.monitoring.max_resource_growth,
    )


def live_since(store: Store) -> dt.datetime | None:
    """When the version live now became live and stayed so (None: nothing is live)."""
    return went_live_at(deployment_history(store, limit=10_000))


def _downtime(
    store: Store, charter: Charter, subject: str, since: dt.datetime, until: dt.datetime
) -> Judgement:
    report = downtime(store, since=since, until=until)
    return Judgement(
        Check.MONITOR_DOWNTIME,
        "deployment",
        subject,
        report.uptime_ratio if report.uptime_ratio is not None else 0.0,
        Limit(charter.monitoring.min_uptime, ">=", key="monitoring.min_uptime"),
        Measurement(report.snapshots, since, until, "share of the window with a replica heartbeat"),
        {
            "down_seconds": report.down_seconds,
            "observed_seconds": report.observed_seconds,
            "gaps": [
                {"start": g.start.isoformat(), "end": g.end.isoformat(), "seconds": g.seconds}
                for g in report.gaps
            ],
            "never_served": report.uptime_ratio is None,
        },
    )


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def record_live(store: Store, charter: Charter, *, now: dt.datetime | None = None) -> list[Judgement]:
    """Judge the live limits, record each as evidence expiring after a few intervals, update the alerts."""
    from taxiway.monitor.alerts import update_alerts  # alerts read judgements; no cycle at import time

    now = now or utcnow()
    judgements = judge_live(store, charter, now=now)
    expires = now + dt.timedelta(seconds=EXPIRY_INTERVALS * HOOK_SECONDS)
    for judgement in judgements:
        judgement.record(store, expires_at=expires)
    update_alerts(store, charter, judgements, now=now)
    return judgements


def judge_dependencies(store: Store, *, now: dt.datetime | None = None) -> Judgement | None:
    """O1 from inside the serving process: its Python, platform and package versions against those the live
    version was trained with (the run's lineage); None before anything is deployed.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> judge_dependencies(store) is None
        True
    """
    from taxiway.registry import get_version
    from taxiway.train.reproduce import environment_differences

    subject = live_subject(store)
    if subject == "serving":
        return None
    lineage = get_version(store, subject).lineage
    differences = environment_differences(dict(lineage.get("environment") or {}))
    until = now or utcnow()
    return Judgement(
        Check.MONITOR_DEPENDENCIES,
        "deployment",
        subject,
        float(len(differences)),
        Limit(0, "<="),
        Measurement(len(differences), until, until, "packages, Python and platform: serving vs training"),
        {"differences": differences},
    )


def minute_hook(store: Store, charter: Charter) -> None:
    """What the server's telemetry thread calls every minute: the live limits and the serving environment
    against training's, recorded by the server."""
    with started_by("server"):
        judgements = record_live(store, charter)
        dependencies = judge_dependencies(store)
        if dependencies is not None and not any(j.check == Check.MONITOR_DEPENDENCIES for j in judgements):
            expires = utcnow() + dt.timedelta(seconds=EXPIRY_INTERVALS * HOOK_SECONDS)
            dependencies.record(store, expires_at=expires)
