"""Downtime and the requests series, from serving snapshots written to a real store with holes in them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taxiway.errors import TaxiwayError
from taxiway.monitor import downtime, record_downtime, requests_series
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.tables import ServingSnapshotRow

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def heartbeats(store: Store, replica: str, seconds: range, **figures: Any) -> None:
    """One snapshot of ``replica`` at each of ``seconds`` after T0."""
    with store.write_session() as session, session.begin():
        for s in seconds:
            session.add(
                ServingSnapshotRow(replica_id=replica, recorded_at=at(s), window_seconds=10.0, **figures)
            )


def test_a_hole_in_the_heartbeats_is_downtime(store: Store) -> None:
    heartbeats(store, "a", range(5, 100, 10))  # ... 85, 95
    heartbeats(store, "a", range(205, 300, 10))  # 205, ... 295: nothing for 110 s
    report = downtime(store, since=T0, until=at(300))
    assert [(g.start, g.end, g.seconds) for g in report.gaps] == [(at(95), at(205), 110.0)]
    assert report.down_seconds == 110.0
    assert report.observed_seconds == 295.0  # the service began at its first heartbeat, after `since`
    assert report.uptime_ratio == pytest.approx(1 - 110 / 295)
    assert report.snapshots == 20


def test_another_replica_covers_the_hole_of_one(store: Store) -> None:
    heartbeats(store, "a", range(5, 100, 10))
    heartbeats(store, "a", range(205, 300, 10))
    heartbeats(store, "b", range(0, 300, 10))
    report = downtime(store, since=T0, until=at(300))
    assert report.gaps == () and report.uptime_ratio == 1.0


def test_a_late_heartbeat_is_not_an_outage(store: Store) -> None:
    heartbeats(store, "a", range(0, 100, 10))
    heartbeats(store, "a", range(110, 200, 10))  # one heartbeat (at 100) missed: 20 s, below 2.5 intervals
    assert downtime(store, since=at(1), until=at(200)).gaps == ()
    assert len(downtime(store, since=at(1), until=at(200), expected_interval_s=5).gaps) == 1


def test_serving_before_since_makes_the_start_count(store: Store) -> None:
    heartbeats(store, "a", range(0, 50, 10))  # served until 40 ...
    heartbeats(store, "a", range(200, 300, 10))  # ... and again from 200
    report = downtime(store, since=at(100), until=at(300))
    assert [(g.start, g.end, g.seconds) for g in report.gaps] == [(at(100), at(200), 100.0)]
    assert report.observed_seconds == 200.0 and report.uptime_ratio == 0.5


def test_silence_until_the_end_is_downtime(store: Store) -> None:
    heartbeats(store, "a", range(0, 100, 10))
    report = downtime(store, since=at(1), until=at(400))
    assert [(g.start, g.end) for g in report.gaps] == [(at(90), at(400))]
    assert report.down_seconds == 310.0


def test_downtime_evidence(store: Store) -> None:
    never = record_downtime(store, downtime(store, since=T0, until=at(300)))
    assert (never.status, never.value, never.details["never_served"]) == ("fail", 0.0, True)
    heartbeats(store, "a", range(5, 100, 10))
    steady = record_downtime(store, downtime(store, since=T0, until=at(100)), min_uptime=0.99)
    assert (steady.status, steady.value, steady.limit_key) == ("pass", 1.0, "monitoring.min_uptime")
    heartbeats(store, "a", range(205, 300, 10))
    evidence = record_downtime(store, downtime(store, since=T0, until=at(300)))
    assert store.evidence.latest([Check.MONITOR_DOWNTIME])[Check.MONITOR_DOWNTIME].id == evidence.id
    assert (evidence.check_id, evidence.subject_kind, evidence.status) == (
        "monitor.downtime",
        "deployment",
        "fail",  # 110 s of 295 down: far below 99% uptime
    )
    assert evidence.value == pytest.approx(1 - 110 / 295)
    assert evidence.measured.sample_size == 20 and evidence.threshold == 0.99
    assert evidence.details["down_seconds"] == 110.0
    assert evidence.details["gaps"] == [
        {"start": at(95).isoformat(), "end": at(205).isoformat(), "seconds": 110.0}
    ]


def test_a_question_about_an_empty_stretch_is_refused(store: Store) -> None:
    with pytest.raises(TaxiwayError, match="asks about an empty stretch"):
        downtime(store, since=at(10), until=at(5))
    with pytest.raises(TaxiwayError, match="is empty") as caught:
        requests_series(store, at(0), at(60), bucket_s=0)
    assert "bucket size" in caught.value.hint


def test_requests_series_adds_replicas_up_per_bucket(store: Store) -> None:
    live = {"confidence_sum": 8.0, "confidence_count": 10}
    shadow = {"confidence_sum": 1.0, "confidence_count": 10}
    figures = {"requests": 100, "errors": 2, "cpu_percent": 40.0, "rss_mb": 200.0, "p99_ms": 12.0,
               "p50_ms": 2.0, "p95_ms": 8.0, "rows": 100, "fallbacks": 5,
               "by_version": {"live:v3": live, "shadow:v4": shadow}}  # fmt: skip
    heartbeats(store, "a", range(10, 60, 10), **figures)  # 5 in the first minute
    slower = {"p99_ms": 30.0, "p95_ms": 9.0, "cpu_percent": 20.0}
    heartbeats(store, "b", range(10, 60, 10), **{**figures, **slower})
    heartbeats(store, "a", range(130, 180, 10), **figures)  # the second minute is silent
    points = requests_series(store, T0, at(180), bucket_s=60)
    assert [p.start for p in points] == [at(0), at(60), at(120)]
    first, silent, last = points
    assert (first.replicas, first.requests, first.errors) == (2, 1000, 20)
    assert first.requests_per_second == pytest.approx(1000 / 60)
    assert first.error_rate == pytest.approx(0.02)
    assert (first.p50_ms, first.p95_ms, first.p99_ms) == (2.0, 9.0, 30.0)  # the worst replica's
    assert first.fallback_rate == pytest.approx(0.05)
    assert first.cpu_percent == pytest.approx(60.0) and first.rss_mb == pytest.approx(400.0)
    assert first.mean_confidence == pytest.approx(0.8)  # the shadow's confidence is not what callers got
    assert (silent.replicas, silent.requests, silent.p99_ms, silent.cpu_percent) == (0, 0, None, None)
    assert silent.fallback_rate is None
    assert (last.replicas, last.requests, last.cpu_percent) == (1, 500, 40.0)


def test_a_malformed_by_version_entry_is_skipped_not_a_crash(store: Store) -> None:
    odd = {"live:v3": {"confidence_sum": 4.0, "confidence_count": 5}, "live:v4": "not figures",
           "live:v5": {"confidence_sum": "many", "confidence_count": 3}}  # fmt: skip
    heartbeats(store, "a", range(10, 60, 10), requests=10, by_version=odd)
    heartbeats(store, "b", range(10, 60, 10), requests=10, by_version=["a", "list"])
    (point,) = requests_series(store, T0, at(60), bucket_s=60)
    assert point.requests == 100 and point.mean_confidence == pytest.approx(0.8)
