"""Has the live version's serving slowed or grown since it went live? (``monitor.resource_regression``, O6)

The ML Test Score's O6 asks that a model has not seen a dramatic or slow-leak regression in serving latency,
throughput or memory. Absolute limits (``serving.p99_latency_ms``, ``serving.max_memory_mb``) are judged
every minute on their own; a regression is a change, so this compares the live window with the same version's
**first window after it went live**, on the machines, replicas and traffic it was deployed to:

- latency: the worst replica's request-weighted p99, now / at first;
- memory: the largest resident memory any replica reported, now / at first (a slow leak grows it);
- throughput: the capacity load-tested for the version live before / for this one (``taxiway loadtest``), when
  both were measured.

The judged value is the worst of those ratios, against ``monitoring.max_resource_growth``. Until the version
has been live for two windows there is no first window to compare with, and nothing is judged: no record, no
pass.
Training speed is not judged here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from taxiway.monitor.judgement import Judgement
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.tables import ServingSnapshotRow


def worst_replica_p99(rows: Sequence[ServingSnapshotRow]) -> float | None:
    """The largest request-weighted mean p99 (ms) of any replica's snapshots; None without timed requests.

    Example:
        >>> r = lambda replica, p99, n: ServingSnapshotRow(replica_id=replica, p99_ms=p99, requests=n)
        >>> worst_replica_p99([r("a", 10.0, 90), r("a", 30.0, 10), r("b", 15.0, 5)])
        15.0
    """
    by_replica: dict[str, list[tuple[float, int]]] = {}
    for row in rows:
        if row.p99_ms is not None and row.requests:
            by_replica.setdefault(row.replica_id, []).append((row.p99_ms, row.requests))
    means = [sum(v * n for v, n in pairs) / sum(n for _, n in pairs) for pairs in by_replica.values()]
    return max(means) if means else None


def largest_rss(rows: Sequence[ServingSnapshotRow]) -> float | None:
    """The largest resident memory (MB) any snapshot reported; None when none did."""
    known = [r.rss_mb for r in rows if r.rss_mb is not None]
    return max(known) if known else None


def judge_resource_regression(
    subject: str,
    *,
    now: Sequence[ServingSnapshotRow],
    first: Sequence[ServingSnapshotRow],
    since: dt.datetime,
    until: dt.datetime,
    live_since: dt.datetime | None,
    capacity: float | None = None,
    capacity_before: float | None = None,
    max_growth: float,
) -> Judgement | None:
    """The worst growth of the window's latency and memory over the version's first live window, and of the
    throughput lost against the version live before it (None: no first window yet, or nothing to compare).

    ``now``: the window's snapshots (``since``..``until``); ``first``: those of the window of the same length
    that began when the version went live (``live_since``).

    Example:
        >>> at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        >>> snap = lambda p99, rss: ServingSnapshotRow(replica_id="r", p99_ms=p99, rss_mb=rss, requests=100)
        >>> later = at + dt.timedelta(hours=5)
        >>> j = judge_resource_regression("v3", now=[snap(24.0, 900.0)], first=[snap(20.0, 300.0)],
        ...     since=later, until=later + dt.timedelta(hours=1), live_since=at, max_growth=1.5)
        >>> j.value, j.status, j.details["worst"]
        (3.0, 'fail', 'memory')
    """
    if live_since is None or live_since + (until - since) > since:
        return None  # the version is newer than two windows: its first window is not over, or is this one
    parts: dict[str, dict[str, Any]] = {}
    for name, unit, measure in (("latency p99", "ms", worst_replica_p99), ("memory", "MB", largest_rss)):
        current, at_first = measure(now), measure(first)
        if current is not None and at_first:
            parts[name] = {"now": current, "at_first": at_first, "unit": unit, "ratio": current / at_first}
    if capacity and capacity_before:
        parts["throughput"] = {
            "now": capacity,
            "before": capacity_before,
            "unit": "requests/s within the p99 limit",
            "ratio": capacity_before / capacity,
        }
    if not parts:
        return None
    worst = max(parts, key=lambda part: parts[part]["ratio"])
    requests = sum(r.requests or 0 for r in now)
    return Judgement(
        Check.MONITOR_RESOURCE_REGRESSION,
        "deployment",
        subject,
        float(parts[worst]["ratio"]),
        Limit(max_growth, "<=", key="monitoring.max_resource_growth"),
        Measurement(requests, since, until, "worst ratio of latency, memory or lost throughput to the first"),
        {"worst": worst, "parts": parts, "live_since": live_since.isoformat()},
    )
