"""Telemetry of a real server: the prediction log survives kill -9, snapshots, heartbeats, server evidence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from taxiway.project import Project
from taxiway.serve.logs import read_feedback, read_predictions
from taxiway.store.checks import Check
from taxiway.store.tables import ServingReplicaRow, ServingStatsRow
from tests.serve.conftest import RunningServer, request_rows

FLUSH_S = 0.3


def test_a_kill_during_logging_loses_at_most_one_flush_and_the_files_stay_readable(
    weather_project: Path, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(weather_project, "--flush-interval", str(FLUSH_S), "--no-telemetry")
    with httpx.Client(base_url=server.url) as client:
        flushed = [
            client.post("/predict", json={"rows": request_rows(2, start=n)}).headers["x-request-id"]
            for n in range(40)
        ]
    time.sleep(FLUSH_S * 4)  # these answers are now written
    stop = threading.Event()
    during: list[str] = []

    def keep_sending() -> None:
        with httpx.Client(base_url=server.url) as client:
            while not stop.is_set():
                try:
                    during.append(
                        client.post("/predict", json={"rows": request_rows(1)}).headers["x-request-id"]
                    )
                except httpx.HTTPError:
                    return

    sender = threading.Thread(target=keep_sending)
    sender.start()
    time.sleep(FLUSH_S * 3)
    server.kill()  # SIGKILL while answers are being logged and files written
    stop.set()
    sender.join(10)

    restarted = start_server(weather_project, "--flush-interval", str(FLUSH_S), "--no-telemetry")
    after = httpx.post(f"{restarted.url}/predict", json={"rows": request_rows(1)}).headers["x-request-id"]
    restarted.stop()  # a clean stop writes what is buffered
    project = Project.load(weather_project)
    logged = read_predictions(project.store)  # every file on disk reads: none is half-written
    ids = set(logged["request_id"])
    assert set(flushed) <= ids and after in ids
    assert len(logged[logged["request_id"].isin(flushed)]) == 80
    lost = [request for request in during if request not in ids]
    answered_per_second = len(during) / (FLUSH_S * 3)
    assert len(lost) <= answered_per_second * FLUSH_S * 2 + 5, (len(lost), len(during))
    project.store.close()


def test_snapshots_heartbeats_feedback_and_server_evidence(
    weather_project: Path, start_server: Callable[..., RunningServer]
) -> None:
    server = start_server(weather_project, "--snapshot-interval", "0.5", "--flush-interval", "0.2")
    with httpx.Client(base_url=server.url) as client:
        answers = [client.post("/predict", json={"rows": request_rows(1, start=n)}) for n in range(20)]
        bad = client.post("/predict", json={"rows": [{"origin": "EWR"}]})
        label = client.post("/feedback", json={"request_id": answers[0].headers["x-request-id"], "label": 1})
        wrong = client.post("/feedback", json={"request_id": "x", "labels": 3})
    assert bad.status_code == 422 and label.status_code == 202 and wrong.status_code == 422
    time.sleep(1.5)
    project = Project.load(weather_project)
    store = project.store
    with store.session() as session:
        stats = list(session.scalars(select(ServingStatsRow)))
        replicas = list(session.scalars(select(ServingReplicaRow)))
    assert sum(row.requests for row in stats) == 21 and sum(row.errors for row in stats) == 1
    live = [row for row in stats if row.requests]
    assert live[0].p99_ms is not None and live[0].rss_bytes > 10e6 and live[0].mean_confidence > 0.5
    (replica,) = replicas
    assert replica.status == "serving" and replica.live_version == answers[0].json()["model_version"]
    feedback = read_feedback(store)
    assert (
        feedback["request_id"].tolist() == [answers[0].headers["x-request-id"]]
        and feedback["label"][0] == "1"
    )
    checks = [
        Check.MONITOR_MEMORY,
        Check.MONITOR_CPU,
        Check.MONITOR_LATENCY,
        Check.MONITOR_DOWNTIME,
        Check.MONITOR_REQUESTS,
        Check.MONITOR_CONFIDENCE,
        Check.SERVE_FALLBACK,
        Check.MONITOR_SKEW,
    ]
    evidence = store.evidence.latest(checks)
    assert set(evidence) == set(checks)
    assert all(record.origin == "server" for record in evidence.values())
    assert evidence[Check.MONITOR_MEMORY].value > 10 and evidence[Check.MONITOR_SKEW].status == "pass"
    store.close()
