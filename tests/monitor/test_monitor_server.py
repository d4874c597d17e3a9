"""`taxiway monitor` on a real `taxiway serve`: real requests, real Parquet logs, real /feedback labels.

One module-scoped server answers the weather rows (drift-free: the project's own data) and then the same
rows with humidity shifted; the monitor must pass the first window and flag the second, fire its alert to
a local webhook, and the server's minute hook must have judged the live limits on its own.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select

from taxiway.monitor.reference import load_reference
from taxiway.project import Project
from taxiway.serve.prediction_log import read_prediction_logs
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.tables import ReferenceProfileRow, ServingSnapshotRow
from tests.serve.server import Server, cli_result, deployed_project, running_server

WAIT_S = 120
T = TypeVar("T")


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        _Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, webhook: str) -> Path:
    root = deployed_project(tmp_path_factory, "monitor")
    charter = root / "taxiway.toml"
    text = charter.read_text(encoding="utf-8")
    # Limits this loaded 2-core machine meets whatever else runs: the test is about the judging, not speed.
    text = text.replace("[serving]", "[serving]\np99_latency_ms = 60000\nmax_memory_mb = 100000", 1)
    text += (
        "\n[monitoring]\nmin_rows = 100\nmin_production_rows = 200\nalert_for_minutes = 0\n"
        f'max_cpu_percent = 10000\nmax_fallback_rate = 1.0\nwebhook_url = "{webhook}"\n'
    )
    charter.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(project, "--monitor-every", "2", log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


def _rows(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "weather.csv")


def _send(server: Server, frame: pd.DataFrame, prefix: str, *, labels: bool) -> int:
    features = frame.drop(columns=["warm"])
    sent = 0
    with server.client() as client:
        for start in range(0, len(frame), 50):
            part = features.iloc[start : start + 50]
            rows = json.loads(part.to_json(orient="records"))
            request_id = f"{prefix}-{start}"
            answer = client.post("/predict", json={"rows": rows}, headers={"x-request-id": request_id})
            assert answer.status_code == 200, answer.text
            sent += len(rows)
            if labels:
                truth = frame["warm"].iloc[start : start + 50].tolist()
                body = {
                    "labels": [
                        {"request_id": request_id, "row": i, "label": int(v)} for i, v in enumerate(truth)
                    ]
                }
                assert client.post("/feedback", json=body).status_code in (200, 202)
    return sent


def _wait_on_store(project: Path, read: Callable[[Store], T | None], waiting_for: str) -> T:
    """Poll the project's store with ``read`` until it returns something, within ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    store = Project.load(project).store
    try:
        while (found := read(store)) is None:
            assert time.monotonic() < deadline, f"{waiting_for}: not in {WAIT_S} s"
            time.sleep(0.3)
        return found
    finally:
        store.close()


def _wait_logged(project: Path, prefix: str, count: int) -> None:
    def logged(store: Store) -> bool | None:
        return (read_prediction_logs(store)["request_id"].str.startswith(prefix)).sum() >= count or None

    _wait_on_store(project, logged, f"{count} {prefix} rows logged")


def _wait_heartbeat(project: Path) -> None:
    """Until the server wrote a snapshot with traffic and judged it (its minute hook): downtime is measured
    from heartbeats, and a window before the first one has none."""

    def judged_by_server(store: Store) -> bool | None:
        found = store.evidence.latest_about(Check.MONITOR_LATENCY, "deployment", "v1")
        return (found is not None and found.origin == "server") or None

    _wait_on_store(project, judged_by_server, "a live latency judgement by the server")


def _monitor(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli_result(project, "monitor", "--format", "json", *args)
    document = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, document


def _judgement(document: dict[str, Any], check: str) -> dict[str, Any]:
    found = [j for j in document["judgements"] if j["check"] == check and not j["details"].get("alert_key")]
    assert found, (check, [j["check"] for j in document["judgements"]])
    return found[0]


def test_registering_builds_the_reference_profile(project: Path) -> None:
    profile = load_reference(Project.load(project).store, 1)
    assert profile is not None and profile.rows > 100
    assert set(profile.kinds) >= {"humid", "dewp", "origin"} and profile.kinds["origin"] == "categorical"
    assert profile.data["calibration"]["x"] and profile.data["quality"]["roc_auc"] > 0.8


def test_drift_free_traffic_passes_and_labels_give_realised_quality(project: Path, server: Server) -> None:
    rows = _rows(project).sample(n=600, random_state=1)
    _send(server, rows, "steady", labels=True)
    _wait_logged(project, "steady", 600)
    _wait_heartbeat(project)
    code, report = _monitor(project, "--since", "1h")
    assert report, code
    assert report["version"] == "v1" and report["rows"] >= 600 and report["enough_rows"]
    drift = _judgement(report, Check.MONITOR_DRIFT)
    assert (drift["status"], drift["value"]) == ("pass", 0.0), drift["details"]["drifted"]
    assert {d["column"] for d in report["drift"]} >= {"humid", "origin"}
    assert report["estimated"]["metric"] == "roc_auc" and report["estimated"]["roc_auc"] > 0.7
    realised = _judgement(report, Check.MONITOR_ONLINE_QUALITY)
    assert realised["sample_size"] >= 600 and realised["value"] > 0.8
    assert realised["limit_key"] == "monitoring.max_quality_drop"
    domain = _judgement(report, Check.DATA_REFLECTS_PRODUCTION)
    assert domain["status"] == "pass" and domain["value"] < 0.6, report["domain"]
    assert _judgement(report, Check.MONITOR_STALENESS)["status"] == "pass"
    assert report["confidence"] and 0.5 <= report["confidence"][0]["mean"] <= 1.0
    assert code == 0, [j for j in report["judgements"] if j["status"] == "fail"]


def test_the_servers_minute_hook_judges_the_live_limits(project: Path, server: Server) -> None:
    _wait_heartbeat(project)
    store = Project.load(project).store
    latency = store.evidence.latest_about(Check.MONITOR_LATENCY, "deployment", "v1")
    assert latency is not None and latency.origin == "server"
    assert latency.limit_key == "serving.p99_latency_ms" and latency.status == "pass"
    assert latency.expires_at is not None and latency.measured.sample_size
    downtime = store.evidence.latest_about(Check.MONITOR_DOWNTIME, "deployment", "v1")
    assert downtime is not None and downtime.limit_key == "monitoring.min_uptime"
    deadline = time.monotonic() + WAIT_S
    while (packages := store.evidence.latest_about(Check.MONITOR_DEPENDENCIES, "deployment", "v1")) is None:
        assert time.monotonic() < deadline, "the server judged no serving environment"
        time.sleep(0.5)
    assert (packages.status, packages.value, packages.origin) == ("pass", 0.0, "server")


def test_shifted_traffic_is_flagged_and_its_alert_fires(project: Path, server: Server) -> None:
    start = dt.datetime.now(dt.UTC)
    rows = _rows(project).sample(n=400, random_state=2)
    rows = rows.assign(humid=np.clip(rows["humid"] + 35, 0, 100), dewp=rows["dewp"] + 25)
    _send(server, rows, "shifted", labels=False)
    _wait_logged(project, "shifted", 400)
    code, report = _monitor(project, "--since", start.isoformat())
    assert code == 1
    drifted = {d["column"] for d in report["drift"] if d["drifted"]}
    assert {"humid", "dewp"} <= drifted, report["drift"]
    assert "origin" not in drifted  # untouched columns stay quiet
    firing = [a for a in report["alerts"] if a["state"] == "firing" and a["rule"] == "monitor.drift"]
    assert any(a["subject"].endswith(":humid") for a in firing), report["alerts"]
    assert any("humid" in body["text"] for body in _Receiver.bodies), _Receiver.bodies


def test_a_window_too_small_to_judge_says_so(project: Path, server: Server) -> None:
    start = dt.datetime.now(dt.UTC)
    _send(server, _rows(project).iloc[:20], "tiny", labels=False)
    _wait_logged(project, "tiny", 20)
    code, report = _monitor(project, "--since", start.isoformat())
    assert code == 3 and not report["enough_rows"]
    assert not [
        j for j in report["judgements"] if j["check"] in ("monitor.drift", "monitor.estimated_quality")
    ]
    assert any("fewer than monitoring.min_rows" in note for note in report["notes"])


def test_a_version_never_served_is_a_clear_error(project: Path, server: Server) -> None:
    _send(server, _rows(project).iloc[:5], "live-only", labels=False)  # v1 answers; v2 never did
    _wait_logged(project, "live-only", 5)
    result = cli_result(project, "monitor", "--version", "v2", "--since", "1h")
    assert result.exit_code == 2  # bad input, as every TaxiwayError
    assert "no prediction of v2 was logged" in result.output and "hint:" in result.output


def test_a_version_without_a_reference_profile_gets_one_built_from_its_validation_rows(
    project: Path, server: Server
) -> None:
    """A version registered before monitoring existed has no profile: a pass builds it, the same one."""
    store = Project.load(project).store
    try:
        before = load_reference(store, 1)
        assert before is not None
        with store.write_session() as session, session.begin():
            session.execute(delete(ReferenceProfileRow).where(ReferenceProfileRow.version == 1))
        assert load_reference(store, 1) is None
    finally:
        store.close()
    _send(server, _rows(project).iloc[:5], "unprofiled", labels=False)
    _wait_logged(project, "unprofiled", 5)
    code, report = _monitor(project, "--since", "1h")
    assert report, code
    assert _judgement(report, Check.MONITOR_DRIFT)["sample_size"] >= 600
    store = Project.load(project).store
    try:
        rebuilt = load_reference(store, 1)
    finally:
        store.close()
    assert rebuilt is not None and rebuilt.source == before.source and rebuilt.data == before.data


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_prometheus_scrapes_the_server_and_fires_the_charters_rule(
    project: Path, server: Server, tmp_path: Path
) -> None:
    """A real Prometheus (Debian's) scrapes `taxiway serve` and evaluates the rules taxiway wrote: a latency
    limit no server meets (1 µs) must fire, with the charter's name and check on it."""
    import shutil
    import subprocess

    import httpx

    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is needed: run make test as root"
    strict = tmp_path / "strict"
    strict.mkdir()
    text = (project / "taxiway.toml").read_text(encoding="utf-8")
    (strict / "taxiway.toml").write_text(
        text.replace("p99_latency_ms = 60000", "p99_latency_ms = 0.001").replace(
            "alert_for_minutes = 0", "alert_for_minutes = 0\nlive_window_minutes = 0.5"
        ),
        encoding="utf-8",
    )
    rules = tmp_path / "rules.yml"
    result = cli_result(
        strict, "monitor", "--prometheus-rules", str(rules), "--since", "1h", "--version", "v1"
    )
    assert rules.is_file(), result.output
    host_port = server.url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        f"scrape_configs:\n  - job_name: taxiway\n    static_configs:\n      - targets: ['{host_port}']\n",
        encoding="utf-8",
    )
    port = _free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + WAIT_S
        firing: list[dict[str, Any]] = []
        with httpx.Client(timeout=5) as client:
            while not firing:
                assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
                _send(server, _rows(project).iloc[:50], f"prom-{time.monotonic_ns()}", labels=False)
                try:
                    alerts = client.get(f"http://127.0.0.1:{port}/api/v1/alerts").json()["data"]["alerts"]
                except (httpx.TransportError, ValueError, KeyError):
                    alerts = []
                firing = [
                    a
                    for a in alerts
                    if a["labels"]["alertname"] == "TaxiwayLatencyP99" and a["state"] == "firing"
                ]
                time.sleep(0.5)
        labels = firing[0]["labels"]
        assert (labels["check"], labels["project"]) == ("monitor.latency", "weather")
        assert not [a for a in alerts if a["labels"]["alertname"] == "TaxiwayDown"]  # it is up
    finally:
        process.terminate()
        process.wait(30)


def test_loadtest_measures_capacity_with_wrk_and_live_throughput_is_judged_against_it(
    project: Path, server: Server, tmp_path: Path
) -> None:
    row = json.loads(_rows(project).drop(columns=["warm"]).head(1).to_json(orient="records"))[0]
    with server.client() as client:  # a warm server: wrk's first second is not spent loading anything
        assert client.post("/predict", json={"rows": [row]}).status_code == 200
    result = cli_result(
        project, "loadtest", "--url", f"{server.url}/predict", "--duration", "2", "--max-connections", "2",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    measured = json.loads(result.stdout)
    assert measured["steps"] and measured["steps"][0]["requests_per_second"] > 0
    store = Project.load(project).store
    capacity = store.evidence.latest_about(Check.MONITOR_CAPACITY, "deployment", "v1")
    assert capacity is not None and capacity.value == pytest.approx(measured["capacity_rps"])
    assert capacity.limit_key == "serving.min_throughput_rps"
    assert capacity.status == ("pass" if measured["capacity_rps"] >= capacity.threshold else "fail")
    # A charter asking for far more than any server gives: the same measurement fails.
    strict = tmp_path / "strict"
    strict.mkdir()
    text = (project / "taxiway.toml").read_text(encoding="utf-8")
    (strict / "taxiway.toml").write_text(
        text.replace("[serving]", "[serving]\nmin_throughput_rps = 10000000", 1), encoding="utf-8"
    )
    failed = cli_result(
        strict, "loadtest", "--url", f"{server.url}/predict", "--duration", "1", "--max-connections", "1",
        "--row", json.dumps(row),
    )  # fmt: skip
    assert failed.exit_code == 1 and "fail" in failed.stdout, failed.output


def test_watch_repeats_passes_recorded_by_the_monitor(project: Path, server: Server) -> None:
    import subprocess

    from tests.serve.server import TAXIWAY

    process = subprocess.Popen(
        [
            TAXIWAY,
            "--project",
            str(project),
            "monitor",
            "--watch",
            "--every",
            "1",
            "--since",
            "1h",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        documents = 0
        deadline = time.monotonic() + WAIT_S
        while documents < 2:
            assert time.monotonic() < deadline and process.poll() is None, "taxiway monitor --watch stopped"
            documents += process.stdout.readline() == "}\n"  # emit_json ends each document with a lone brace
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    store = Project.load(project).store
    drift = store.evidence.latest_about(Check.MONITOR_DRIFT, "deployment", "v1")
    assert drift is not None and drift.origin == "monitor"
    assert (
        drift.expires_at is not None and (drift.expires_at - drift.measured.window_end).total_seconds() == 3
    )


def _wait_refusals_counted(project: Path, since: dt.datetime, count: int) -> None:
    """Until the replicas' snapshots after ``since`` counted ``count`` refused requests (every ~10 s)."""

    def counted(store: Store) -> bool | None:
        with store.session() as session:
            refused = session.scalar(
                select(func.coalesce(func.sum(ServingSnapshotRow.rejected), 0)).where(
                    ServingSnapshotRow.recorded_at > since
                )
            )
        return int(refused or 0) >= count or None

    _wait_on_store(project, counted, f"{count} refusals in the snapshots")


def _next_snapshot(project: Path) -> dt.datetime:
    """When the replicas next record a snapshot (every ~10 s): traffic before it is counted in it or earlier.

    A window that starts there holds the requests sent after it alone. One that starts at an arbitrary
    moment would share its first snapshot with what an earlier test sent (wrk's thousands of requests in
    the load test), and a share of refused requests would be diluted by them.
    """
    asked = dt.datetime.now(dt.UTC)

    def newest_after(store: Store) -> dt.datetime | None:
        with store.session() as session:
            recorded = ServingSnapshotRow.recorded_at
            newest = session.scalar(select(func.max(recorded)).where(recorded > asked))
        return newest if newest is None or newest.tzinfo is not None else newest.replace(tzinfo=dt.UTC)

    return _wait_on_store(project, newest_after, "a new snapshot")


def test_refused_inputs_fail_the_live_invariants(project: Path, server: Server) -> None:
    start = _next_snapshot(project)
    _send(server, _rows(project).sample(n=300, random_state=3), "invariants", labels=False)
    with server.client() as client:
        for _ in range(3):  # a field of the wrong type, the others missing: the contract refuses the request
            assert client.post("/predict", json={"rows": [{"humid": "very"}]}).status_code == 422
    _wait_logged(project, "invariants", 300)
    _wait_refusals_counted(project, start, 3)
    code, report = _monitor(project, "--since", start.isoformat())
    inputs = _judgement(report, Check.MONITOR_INPUT_SCHEMA)
    assert inputs["status"] == "fail" and inputs["limit_key"] == "monitoring.max_input_violation_rate"
    assert inputs["details"]["refused_requests"] >= 3 and inputs["value"] > inputs["threshold"]
    assert code == 1
    # v1 went live minutes ago: no first window to compare with yet, so no resource regression is judged
    assert not [j for j in report["judgements"] if j["check"] == Check.MONITOR_RESOURCE_REGRESSION]


def test_a_serving_environment_unlike_trainings_fails_the_dependencies_check(
    project: Path, server: Server
) -> None:
    """Last in the module: it rewrites v1's recorded training environment (numpy 0.0.1) in the real store."""
    from taxiway.monitor.live_limits import judge_dependencies
    from taxiway.store.tables import ModelVersionRow

    store = Project.load(project).store
    with store.write_session() as session, session.begin():
        row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.version == 1))
        assert row is not None
        environment = dict(row.lineage.get("environment") or {})
        environment["packages"] = {**environment.get("packages", {}), "numpy": "0.0.1"}
        row.lineage = {**row.lineage, "environment": environment}
    judged = judge_dependencies(store)
    assert judged is not None and judged.status == "fail"
    assert {d["name"] for d in judged.details["differences"]} == {"numpy"}
