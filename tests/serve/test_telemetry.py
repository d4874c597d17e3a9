"""Telemetry on a real store: Prometheus text parsed back, snapshots written on schedule, several workers."""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from taxiway.charter import Charter
from taxiway.monitor.live_limits import minute_hook
from taxiway.serve.telemetry import PredictionRecord, Telemetry
from taxiway.store import Store, StoreLocation
from taxiway.store.checks import Check
from taxiway.store.tables import ServingSnapshotRow

MONITOR_CHECKS = (
    Check.MONITOR_MEMORY,
    Check.MONITOR_CPU,
    Check.MONITOR_LATENCY,
    Check.MONITOR_REQUESTS,
    Check.MONITOR_CONFIDENCE,
)


def samples(payload: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics body, keyed by (name, labels), through Prometheus' own parser."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def snapshots(store: Store, replica_id: str = "r1") -> list[ServingSnapshotRow]:
    with store.session() as session:
        query = select(ServingSnapshotRow).where(ServingSnapshotRow.replica_id == replica_id)
        return list(session.scalars(query.order_by(ServingSnapshotRow.id)))


def serve_traffic(telemetry: Telemetry) -> list[float]:
    """A known mix: 40 answers by live v3 (2 by a fallback), 5 rejected, 3 errors, 10 canary, a shadow."""
    latencies = [0.0005 + 0.001 * i for i in range(58)]  # 0.5 ms, 1.5 ms, ...: none on a bucket bound
    for i in range(40):
        telemetry.request_done("/predict", 200, latencies[i], "v3", "blue", rows=2)
    for i in range(5):
        telemetry.request_done("/predict", 422, latencies[40 + i], None, None)
    for i in range(3):
        telemetry.request_done("/invocations", 503, latencies[45 + i], "v3", "blue")
    for i in range(10):
        telemetry.request_done("/predict", 200, latencies[48 + i], "v4", "canary", rows=1)
    reasons: list[str | None] = [None] * 78 + ["timeout", "model_error"]
    telemetry.rows_answered("v3", "live", "blue", np.full(80, 0.75), reasons)
    telemetry.rows_answered("v4", "canary", "canary", np.array([0.95] * 10), [None] * 10)
    telemetry.rows_answered("v4", "shadow", "shadow", np.array([0.5] * 80), [None] * 80)
    telemetry.shadow_compared("v4", 80, 60)
    telemetry.shadow_dropped(2)
    return latencies


def test_metrics_payload_reads_back_every_metric(store: Store) -> None:
    telemetry = Telemetry(store, "r1", log_predictions=False)
    serve_traffic(telemetry)
    telemetry.model_loaded("v3", "blue", 0.25)
    telemetry.model_loaded("v5", "green", 0.5)
    with telemetry.in_flight(), telemetry.in_flight():
        body, content_type = telemetry.metrics_payload()
    found = samples(body)
    assert content_type.startswith("text/plain")
    labels = {"route": "/predict", "status": "200", "version": "v3", "slot": "blue"}
    assert value(found, "taxiway_requests_total", **labels) == 40
    assert value(found, "taxiway_requests_total", route="/predict", status="422", version="", slot="") == 5
    assert value(found, "taxiway_request_duration_seconds_count", route="/predict") == 55
    assert value(found, "taxiway_request_duration_seconds_bucket", route="/predict", le="0.01") == 10
    assert value(found, "taxiway_requests_in_flight") == 2
    assert value(found, "taxiway_fallbacks_total", version="v3", reason="timeout") == 1
    assert value(found, "taxiway_predictions_total", version="v3", role="live", slot="blue") == 80
    assert value(found, "taxiway_prediction_confidence_count", version="v4", role="canary") == 10
    assert value(found, "taxiway_prediction_confidence_bucket", version="v3", role="live", le="0.7") == 0
    assert value(found, "taxiway_prediction_confidence_bucket", version="v3", role="live", le="0.8") == 80
    assert value(found, "taxiway_prediction_confidence_sum", version="v3", role="live") == pytest.approx(60)
    assert value(found, "taxiway_shadow_agreement_ratio", version="v4") == pytest.approx(0.75)
    assert value(found, "taxiway_shadow_dropped_total") == 2
    assert value(found, "taxiway_model_load_seconds", version="v3", slot="blue") == 0.25
    # A version just loaded shows its alerting series at 0 at once
    assert value(found, "taxiway_fallbacks_total", version="v5", reason="model_error") == 0
    assert value(found, "taxiway_predictions_total", version="v5", role="live", slot="green") == 0
    assert value(found, "taxiway_process_cpu_seconds_total") > 0
    assert value(found, "taxiway_process_resident_memory_bytes") > 10e6
    assert value(samples(telemetry.metrics_payload()[0]), "taxiway_requests_in_flight") == 0
    telemetry.stop()


def test_each_telemetry_has_its_own_registry(store: Store) -> None:
    first = Telemetry(store, "a", log_predictions=False)
    second = Telemetry(store, "b", log_predictions=False)
    first.request_done("/predict", 200, 0.01, "v1", "blue")
    labels = {"route": "/predict", "status": "200", "version": "v1", "slot": "blue"}
    assert value(samples(first.metrics_payload()[0]), "taxiway_requests_total", **labels) == 1
    assert ("taxiway_requests_total", frozenset(labels.items())) not in samples(second.metrics_payload()[0])


def _worker(database: str, artifacts: str, requests: int, ready: Any, finish: Any) -> None:
    """One server worker: records ``requests`` requests, publishes, waits for the parent, then stops."""
    store = Store.open(StoreLocation(database, artifacts))
    telemetry = Telemetry(store, f"worker-{os.getpid()}", log_predictions=False)
    for _ in range(requests):
        telemetry.request_done("/predict", 200, 0.002, "v3", "blue", rows=1)
    telemetry.rows_answered("v3", "live", "blue", np.full(requests, 0.9), [None] * requests)
    telemetry.metrics_payload()  # publishes this worker's figures to the shared folder
    ready.put(os.getpid())
    finish.wait(30)
    telemetry.stop()
    store.close()


def test_workers_in_separate_processes_add_up(
    tmp_path: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    database = store_uri
    Store.open(StoreLocation(database, str(tmp_path / "artifacts"))).close()  # migrate once, up front
    # Set before the workers start, so they import prometheus_client in multiprocess mode (the server's way).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    context = multiprocessing.get_context("spawn")
    ready, finish = context.Queue(), context.Event()
    workers = [
        context.Process(target=_worker, args=(database, str(tmp_path / "artifacts"), n, ready, finish))
        for n in (7, 5)
    ]
    for worker in workers:
        worker.start()
    try:
        pids = {ready.get(timeout=60), ready.get(timeout=60)}
        assert pids == {w.pid for w in workers}
        parent = Store.open(StoreLocation(database, str(tmp_path / "artifacts")))
        found = samples(Telemetry(parent, "parent", log_predictions=False).metrics_payload()[0])
        labels = {"route": "/predict", "status": "200", "version": "v3", "slot": "blue"}
        assert value(found, "taxiway_requests_total", **labels) == 12
        assert value(found, "taxiway_request_duration_seconds_count", route="/predict") == 12
        assert value(found, "taxiway_prediction_confidence_count", version="v3", role="live") == 12
        memory = value(found, "taxiway_process_resident_memory_bytes")
        assert memory > 2 * 10e6  # two live workers' resident memory, summed
    finally:
        finish.set()
        for worker in workers:
            worker.join(30)
    assert [w.exitcode for w in workers] == [0, 0]
    after = samples(Telemetry(parent, "parent", log_predictions=False).metrics_payload()[0])
    assert value(after, "taxiway_requests_total", **labels) == 12  # counters outlive the workers
    assert ("taxiway_process_resident_memory_bytes", frozenset()) not in after  # stopped workers hold none
    assert len(snapshots(parent, f"worker-{workers[0].pid}")) == 1  # each wrote its final snapshot
    parent.close()


def test_snapshots_on_schedule_with_the_window_figures(store: Store) -> None:
    telemetry = Telemetry(store, "r1", log_predictions=False, snapshot_seconds=0.4, flush_seconds=0.1)
    telemetry.generation = 7
    telemetry.slow_after_s = 0.030  # the latency budget: live's requests from 30.5 ms on, every canary one
    latencies = serve_traffic(telemetry)
    telemetry.start()
    wait_for(lambda: len(snapshots(store)) >= 3)
    telemetry.stop()
    rows = snapshots(store)
    first = rows[0]
    assert (first.requests, first.errors, first.rejected, first.rows, first.fallbacks) == (58, 3, 5, 90, 2)
    assert first.generation == 7
    assert 0.4 <= first.window_seconds < 1.5  # from the telemetry's creation to its first snapshot
    assert first.requests_per_second == pytest.approx(58 / first.window_seconds)
    assert first.error_rate == pytest.approx(3 / 58) and first.fallback_rate == pytest.approx(2 / 90)
    expected = np.percentile(latencies, [50, 95, 99]) * 1000
    assert [first.p50_ms, first.p95_ms, first.p99_ms] == pytest.approx(list(expected))
    assert first.mean_confidence == pytest.approx((80 * 0.75 + 10 * 0.95) / 90)
    assert first.rss_mb is not None and first.rss_mb > 10
    assert first.cpu_percent is not None and first.cpu_percent >= 0
    expected_by_version = {
        "live:v3": {"requests": 43, "errors": 3, "rows": 80, "fallbacks": 2, "confidence_sum": 60.0,
                    "confidence_count": 80, "compared": 0, "agreed": 0, "failed": 0, "slow": 13},
        "canary:v4": {"requests": 10, "errors": 0, "rows": 10, "fallbacks": 0, "confidence_sum": 9.5,
                      "confidence_count": 10, "compared": 0, "agreed": 0, "failed": 0, "slow": 10},
        "shadow:v4": {"requests": 0, "errors": 0, "rows": 80, "fallbacks": 0, "confidence_sum": 40.0,
                      "confidence_count": 80, "compared": 80, "agreed": 60, "failed": 0, "slow": 0},
    }  # fmt: skip
    assert set(first.by_version) == set(expected_by_version)
    for key, figures in expected_by_version.items():
        assert list(first.by_version[key]) == list(figures)  # the documented keys, in order
        assert first.by_version[key] == pytest.approx(figures)
    # Later windows had no traffic: they are heartbeats, about one interval apart.
    assert all(row.requests == 0 and row.p99_ms is None and row.by_version == {} for row in rows[1:])
    scheduled = rows[:-1]  # the last one is stop()'s
    gaps = [(b.recorded_at - a.recorded_at).total_seconds() for a, b in itertools.pairwise(scheduled)]
    # On schedule: a late one does not shift the ones after it, so the spacing averages the interval.
    assert all(0.05 < gap < 2.0 for gap in gaps) and 0.3 < sum(gaps) / len(gaps) < 0.8, gaps


def _charter(**serving: float) -> Charter:
    return Charter.model_validate(
        {
            "project": {"name": "t"},
            "problem": {"target": "y"},
            "serving": serving,
            # CPU depends on the machine's load: a limit no process reaches, as the others above
            "monitoring": {"max_error_rate": 0.5, "max_cpu_percent": 100_000},
        }
    )


def test_the_minute_hook_judges_the_live_limits_against_the_charter(store: Store) -> None:
    charter = _charter(p99_latency_ms=10_000, max_memory_mb=100_000, min_throughput_rps=10_000)
    telemetry = Telemetry(
        store, "r1", log_predictions=False, minute_hook=functools.partial(minute_hook, store, charter)
    )
    assert telemetry.write_snapshot()
    assert store.evidence.latest(MONITOR_CHECKS) == {}  # nothing judged before the hook runs
    serve_traffic(telemetry)
    assert telemetry.write_snapshot()
    telemetry.run_hook()
    latest = store.evidence.latest(MONITOR_CHECKS)
    assert set(latest) == {c for c in MONITOR_CHECKS if c != Check.MONITOR_CONFIDENCE}  # the monitor's
    for check, record in latest.items():
        assert (record.subject_kind, record.subject_id, record.origin) == ("deployment", "serving", "server")
        assert record.status == "pass", (check, record.value, record.threshold)
        assert record.threshold is not None and record.measured.window_end is not None
        assert record.expires_at is not None and record.expires_at > record.recorded_at
    assert latest[Check.MONITOR_LATENCY].limit_key == "serving.p99_latency_ms"
    assert latest[Check.MONITOR_MEMORY].limit_key == "serving.max_memory_mb"
    telemetry.stop()


def test_the_minute_hook_fails_a_limit_the_service_breaks(store: Store) -> None:
    charter = _charter(p99_latency_ms=0.001, max_memory_mb=1)  # no real process meets these
    telemetry = Telemetry(
        store, "r1", log_predictions=False, minute_hook=functools.partial(minute_hook, store, charter)
    )
    serve_traffic(telemetry)
    assert telemetry.write_snapshot()
    telemetry.run_hook()
    latest = store.evidence.latest(MONITOR_CHECKS)
    assert latest[Check.MONITOR_LATENCY].status == "fail"
    assert latest[Check.MONITOR_MEMORY].status == "fail"
    assert latest[Check.MONITOR_LATENCY].value > 0.001
    telemetry.stop()


def test_snapshot_thread_survives_a_store_error(store: Store) -> None:
    telemetry = Telemetry(store, "r1", log_predictions=False, snapshot_seconds=0.2, flush_seconds=0.1)
    table = ServingSnapshotRow.__table__
    table.drop(store.engine)  # a real failure: every snapshot write now errors in the database
    telemetry.start()
    telemetry.request_done("/predict", 200, 0.01, "v1", "blue", rows=1)
    wait_for(lambda: len(telemetry._unsaved) >= 2)  # two windows the store refused, kept in memory
    assert telemetry._thread is not None and telemetry._thread.is_alive()
    telemetry.request_done("/predict", 200, 0.01, "v1", "blue", rows=1)
    table.create(store.engine)
    wait_for(lambda: len(snapshots(store)) >= 4)
    telemetry.request_done("/predict", 200, 0.01, "v1", "blue", rows=1)
    telemetry.stop()
    rows = snapshots(store)
    assert sum(row.requests for row in rows) == 3  # the windows the store refused were kept, then written
    recorded = [row.recorded_at for row in rows]
    assert recorded == sorted(recorded)


def test_stop_flushes_the_log_and_writes_a_last_snapshot_once(store: Store, tmp_path: Path) -> None:
    from taxiway.serve.prediction_log import read_prediction_logs

    telemetry = Telemetry(store, "r1", log_uri=str(tmp_path / "logs"), flush_seconds=60)
    telemetry.start()
    record = PredictionRecord("q1", time.time(), "v1", "blue", "live", '{"x": 1}', "1", 0.9, None, 3.0)
    telemetry.log([record])
    telemetry.request_done("/predict", 200, 0.003, "v1", "blue", rows=1)
    telemetry.stop()
    telemetry.stop()
    assert len(snapshots(store)) == 1 and snapshots(store)[0].requests == 1
    assert list(read_prediction_logs(str(tmp_path / "logs"))["request_id"]) == ["q1"]


def test_disabled_telemetry_records_nothing(store: Store, tmp_path: Path) -> None:
    telemetry = Telemetry(store, "r1", enabled=False, log_uri=str(tmp_path / "logs"))
    telemetry.start()
    telemetry.request_done("/predict", 200, 0.003, "v1", "blue", rows=1)
    telemetry.log([PredictionRecord("q1", time.time(), "v1", "blue", "live", "{}", "1", None, None, 1.0)])
    assert telemetry.metrics_payload()[0] == b""
    telemetry.stop()
    assert snapshots(store) == [] and not (tmp_path / "logs").exists()


def test_latency_reservoir_stays_bounded(store: Store) -> None:
    from taxiway.serve import snapshot_window as module

    telemetry = Telemetry(store, "r1", log_predictions=False)
    for i in range(module.LATENCY_RESERVOIR + 5_000):
        telemetry.request_done("/predict", 200, 0.001 if i % 2 else 0.003, "v1", "blue")
    telemetry.metrics_payload()
    assert len(telemetry._window.latencies) == module.LATENCY_RESERVOIR
    telemetry.write_snapshot()
    row = snapshots(store)[0]
    assert row.requests == module.LATENCY_RESERVOIR + 5_000
    assert row.p99_ms == pytest.approx(3.0) and row.p50_ms is not None and 1.0 <= row.p50_ms <= 3.0
