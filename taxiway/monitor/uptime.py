"""Uptime: downtime and traffic over time, read from the serving snapshots every replica writes (~10 s).

A snapshot is a replica's heartbeat. Downtime is any stretch longer than 2.5 heartbeat intervals in which no
replica wrote one: a single late snapshot is not an outage, two missed in a row are.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

from sqlalchemy import func, select

from taxiway.errors import TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, Limit, Measurement
from taxiway.store.tables import ServingSnapshotRow, utcnow

MISSED_HEARTBEATS = 2.5  # a gap longer than this many intervals is downtime


@dataclass(frozen=True)
class Gap:
    """A stretch with no heartbeat from any replica."""

    start: dt.datetime
    end: dt.datetime
    seconds: float


@dataclass(frozen=True)
class DowntimeReport:
    """How long the service was down between ``since`` and ``until``, and when.

    ``observed_seconds`` starts at ``since``, or at the first heartbeat when the service started later (time
    before it ever served is not downtime). ``uptime_ratio`` is None when nothing was observed.
    """

    since: dt.datetime
    until: dt.datetime
    expected_interval_s: float
    observed_seconds: float
    down_seconds: float
    uptime_ratio: float | None
    gaps: tuple[Gap, ...]
    snapshots: int


@dataclass(frozen=True)
class SeriesPoint:
    """The whole service over one time bucket (all replicas added up).

    ``p50_ms``, ``p95_ms``, ``p99_ms`` are the worst replica window's (percentiles of different windows cannot
    be merged); ``fallback_rate`` is the share of answered rows the fallback answered; ``cpu_percent`` and
    ``rss_mb`` add up each replica's mean over the bucket (100% = one core busy).
    """

    start: dt.datetime
    replicas: int
    requests: int
    requests_per_second: float
    errors: int
    error_rate: float
    p99_ms: float | None
    cpu_percent: float | None
    rss_mb: float | None
    mean_confidence: float | None
    p50_ms: float | None = None
    p95_ms: float | None = None
    fallback_rate: float | None = None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def downtime(
    store: Store, *, since: dt.datetime, until: dt.datetime | None = None, expected_interval_s: float = 10.0
) -> DowntimeReport:
    """Find the gaps in the replicas' heartbeats between ``since`` and ``until`` (default: now).

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> downtime(store, since=utcnow() - dt.timedelta(hours=1)).uptime_ratio is None  # never served
        True
    """
    since, until = _utc(since), _utc(until or utcnow())
    if until <= since or not expected_interval_s > 0:
        raise TaxiwayError(
            f"downtime between {since.isoformat()} and {until.isoformat()} every {expected_interval_s} s "
            "asks about an empty stretch",
            hint="give until after since and a heartbeat interval above 0 s (servers write one every 10 s)",
        )
    at = ServingSnapshotRow.recorded_at
    with store.session() as session:
        times = list(session.scalars(select(at).where(at > since, at <= until).order_by(at)))
        before = session.scalar(select(func.max(at)).where(at <= since))
    if before is None and not times:
        return DowntimeReport(since, until, expected_interval_s, 0.0, 0.0, None, (), 0)
    # Serving had begun by `since` only if a heartbeat came before it; otherwise it began at the first one.
    beats = [*([before] if before is not None else []), *times, until]
    limit = MISSED_HEARTBEATS * expected_interval_s
    gaps: list[Gap] = []
    for previous, following in itertools.pairwise(beats):
        if (following - previous).total_seconds() > limit:
            start = max(previous, since)
            gaps.append(Gap(start, following, (following - start).total_seconds()))
    observed = (until - (since if before is not None else times[0])).total_seconds()
    down = sum(gap.seconds for gap in gaps)
    ratio = 1.0 - down / observed if observed > 0 else None
    return DowntimeReport(since, until, expected_interval_s, observed, down, ratio, tuple(gaps), len(times))


def record_downtime(
    store: Store,
    report: DowntimeReport,
    *,
    min_uptime: float = 0.99,
    subject: str = "serving",
    expires_at: dt.datetime | None = None,
) -> Evidence:
    """Record `Check.MONITOR_DOWNTIME`: the share of the window with a heartbeat, against ``min_uptime``
    (the charter's ``monitoring.min_uptime``). No heartbeat at all is an uptime of 0: nothing served.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> report = downtime(store, since=utcnow() - dt.timedelta(hours=1))
        >>> record_downtime(store, report).status  # no heartbeat at all: nothing is monitored
        'fail'
    """
    return store.evidence.record(
        Check.MONITOR_DOWNTIME,
        subject_kind="deployment",
        subject_id=subject,
        value=report.uptime_ratio if report.uptime_ratio is not None else 0.0,
        limit=Limit(min_uptime, ">=", key="monitoring.min_uptime"),
        measured=Measurement(
            report.snapshots, report.since, report.until, "share of the window with a replica heartbeat"
        ),
        expires_at=expires_at,
        details={
            "source": "serving_snapshots (one heartbeat per replica every ~10 s)",
            "expected_interval_s": report.expected_interval_s,
            "gap_threshold_s": MISSED_HEARTBEATS * report.expected_interval_s,
            "observed_seconds": report.observed_seconds,
            "down_seconds": report.down_seconds,
            "snapshots": report.snapshots,
            "uptime_ratio": report.uptime_ratio,
            "never_served": report.uptime_ratio is None,
            "gaps": [
                {"start": g.start.isoformat(), "end": g.end.isoformat(), "seconds": g.seconds}
                for g in report.gaps
            ],
        },
    )


def requests_series(
    store: Store, since: dt.datetime, until: dt.datetime | None = None, bucket_s: float = 60.0
) -> list[SeriesPoint]:
    """The service's traffic, latency, CPU, memory and confidence per ``bucket_s`` (empty buckets included).

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> now = utcnow()
        >>> [p.replicas for p in requests_series(store, now - dt.timedelta(minutes=3), now, 60)]
        [0, 0, 0]
    """
    since, until = _utc(since), _utc(until or utcnow())
    if until <= since or not bucket_s > 0:
        raise TaxiwayError(
            f"requests series from {since.isoformat()} to {until.isoformat()} in {bucket_s} s buckets "
            "is empty",
            hint="give until after since and a bucket size above 0 s",
        )
    count = math.ceil((until - since).total_seconds() / bucket_s)
    buckets: list[list[ServingSnapshotRow]] = [[] for _ in range(count)]
    at = ServingSnapshotRow.recorded_at
    with store.session() as session:
        for row in session.scalars(select(ServingSnapshotRow).where(at > since, at <= until).order_by(at)):
            index = min(int((row.recorded_at - since).total_seconds() // bucket_s), count - 1)
            buckets[index].append(row)
    return [
        _point(since + dt.timedelta(seconds=i * bucket_s), rows, bucket_s) for i, rows in enumerate(buckets)
    ]


def _point(start: dt.datetime, rows: list[ServingSnapshotRow], bucket_s: float) -> SeriesPoint:
    requests = sum(r.requests for r in rows)
    errors = sum(r.errors for r in rows)
    per_replica: dict[str, list[ServingSnapshotRow]] = {}
    for row in rows:
        per_replica.setdefault(row.replica_id, []).append(row)
    cpu = [_mean([r.cpu_percent for r in rs]) for rs in per_replica.values()]
    rss = [_mean([r.rss_mb for r in rs]) for rs in per_replica.values()]
    confidence_sum = confidence_count = 0.0
    for row in rows:
        by_version = row.by_version if isinstance(row.by_version, dict) else {}
        for key, figures in by_version.items():
            # what callers were answered with; an entry some other writer left malformed is skipped
            if str(key).startswith("shadow:") or not isinstance(figures, dict):
                continue
            total, count = figures.get("confidence_sum", 0.0), figures.get("confidence_count", 0)
            if isinstance(total, int | float) and isinstance(count, int | float):
                confidence_sum += total
                confidence_count += count
    answered = sum(r.rows or 0 for r in rows)
    fallbacks = sum(r.fallbacks or 0 for r in rows)
    return SeriesPoint(
        start=start,
        replicas=len(per_replica),
        requests=requests,
        requests_per_second=requests / bucket_s,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        p99_ms=_worst([r.p99_ms for r in rows]),
        cpu_percent=_total(cpu),
        rss_mb=_total(rss),
        mean_confidence=confidence_sum / confidence_count if confidence_count else None,
        p50_ms=_worst([r.p50_ms for r in rows]),
        p95_ms=_worst([r.p95_ms for r in rows]),
        fallback_rate=fallbacks / answered if answered else None,
    )


def _worst(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _total(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
