"""Serving figures per role and version on every backend: sums added across snapshots and replicas, rates
computed after adding, and only the snapshots inside the window."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taxiway.deploy.figures import RoleFigures, role_figures
from taxiway.store import Store
from taxiway.store.tables import ServingSnapshotRow, utcnow


def snapshot(store: Store, replica: str, by_version: dict[str, Any], *, minutes_ago: float = 1) -> None:
    """One snapshot as a server writes it every few seconds."""
    with store.write_session() as session, session.begin():
        session.add(
            ServingSnapshotRow(
                replica_id=replica,
                recorded_at=utcnow() - dt.timedelta(minutes=minutes_ago),
                window_seconds=10.0,
                by_version=by_version,
            )
        )


def sums(
    requests: int,
    rows: int,
    *,
    errors: int = 0,
    fallbacks: int = 0,
    confidence: float = 0.0,
    compared: int = 0,
    agreed: int = 0,
) -> dict[str, Any]:
    return {
        "requests": requests,
        "errors": errors,
        "rows": rows,
        "fallbacks": fallbacks,
        "confidence_sum": confidence * rows,
        "confidence_count": rows,
        "compared": compared,
        "agreed": agreed,
    }


def test_figures_add_up_across_snapshots_and_replicas_within_the_window(store: Store) -> None:
    snapshot(
        store,
        "a",
        {
            "live:v3": sums(10, 100, errors=1, fallbacks=2, confidence=0.8),
            "shadow:v4": sums(10, 100, confidence=0.6, compared=100, agreed=90),
        },
    )
    snapshot(
        store,
        "a",
        {
            "live:v3": sums(30, 300, fallbacks=2, confidence=0.9),
            "shadow:v4": sums(30, 300, confidence=0.7, compared=300, agreed=290),
        },
        minutes_ago=2,
    )
    snapshot(
        store,
        "b",
        {
            "live:v3": sums(60, 600, errors=1, confidence=0.7),
            "canary:v5": sums(5, 50, fallbacks=5, confidence=0.5, compared=50, agreed=40),
        },
    )
    snapshot(store, "b", {"live:v2": sums(999, 9999)}, minutes_ago=30)  # before the window: left out

    figures = role_figures(store, utcnow() - dt.timedelta(minutes=15))
    assert [f.key for f in figures] == ["live:v3", "canary:v5", "shadow:v4"]
    live, canary, shadow = figures
    assert (live.requests, live.rows, live.errors, live.fallbacks) == (100, 1000, 2, 4)
    assert live.error_rate == pytest.approx(0.02) and live.fallback_rate == pytest.approx(0.004)
    # Weighted by rows, not the mean of each snapshot's mean: (80 + 270 + 420) / 1000.
    assert live.mean_confidence == pytest.approx(0.77) and live.agreement is None
    assert shadow.agreement == pytest.approx(380 / 400) and shadow.mean_confidence == pytest.approx(0.675)
    assert (canary.fallback_rate, canary.agreement) == (pytest.approx(0.1), pytest.approx(0.8))
    assert [f.key for f in role_figures(store, utcnow() - dt.timedelta(minutes=60))][:2] == [
        "live:v3",
        "live:v2",
    ]


def test_keys_and_values_a_server_should_not_have_written_count_as_nothing(store: Store) -> None:
    snapshot(
        store,
        "a",
        {
            "live:v3": {"requests": 4, "rows": "many", "confidence_sum": None, "errors": True},
            "blue:v3": sums(1, 1),
            "live:3": sums(1, 1),
            "canary:v5": [1, 2],
        },
    )
    snapshot(store, "b", {})
    [live] = role_figures(store, utcnow() - dt.timedelta(minutes=15))
    assert (live.key, live.requests, live.rows, live.errors, live.mean_confidence) == (
        "live:v3",
        4,
        0,
        0,
        None,
    )


def test_no_snapshots_no_figures(store: Store) -> None:
    assert role_figures(store, utcnow() - dt.timedelta(minutes=15)) == []


def test_figures_as_json_have_stable_keys() -> None:
    doc = RoleFigures("canary", 5, requests=2, rows=4, confidence_sum=2.0, confidence_count=4).to_json()
    assert list(doc) == [
        "key",
        "role",
        "version",
        "requests",
        "errors",
        "rows",
        "fallbacks",
        "confidence_sum",
        "confidence_count",
        "compared",
        "agreed",
        "failed",
        "slow",
        "error_rate",
        "fallback_rate",
        "mean_confidence",
        "agreement",
        "failure_rate",
        "slow_rate",
    ]
    assert (doc["key"], doc["mean_confidence"], doc["agreement"], doc["error_rate"]) == (
        "canary:v5",
        0.5,
        None,
        0.0,
    )
