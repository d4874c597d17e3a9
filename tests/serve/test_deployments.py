"""Deployments end to end: real `taxiway serve` processes following `taxiway deploy`, under real traffic.

One project for the module; the tests change its deployment in order, on purpose:

1. ``TestOneServer`` shares a two-worker server: blue/green switch and rollback under load, shadow, canary,
   and `taxiway deploy` waiting for both workers; it leaves v1 live alone.
2. kill -9 while logging, then a restart (servers of its own).
3. a tampered artifact (last: while it lasts v2 cannot load; its bytes are restored afterwards).

Tests 2 and 3 start from v1 live alone, whatever an earlier test left.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fsspec
import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from taxiway.project import Project
from taxiway.registry import get_version, load_model_version
from taxiway.serve.prediction_log import log_root, read_prediction_logs
from taxiway.serve.telemetry import Telemetry
from taxiway.store.checks import Check
from tests.serve.server import (
    ROW,
    Server,
    Traffic,
    cli,
    cli_result,
    deployed_project,
    running_server,
    start_server,
    stop_server,
    wait_for_workers,
    wait_ready,
)

# The prediction log is flushed every `flush_seconds` (not a CLI option: the default is what serves).
FLUSH_SECONDS = float(inspect.signature(Telemetry).parameters["flush_seconds"].default)
CANARY_WEIGHT, CANARY_TOLERANCE = 0.3, 0.08


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "deployments")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployments-logs")


@pytest.fixture(scope="module")
def rows(project: Path) -> pd.DataFrame:
    frame = pd.read_csv(project / "weather.csv").drop(columns=["warm"])
    return frame.sample(n=60, random_state=7).reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")  # type: ignore[return-value]


def _status(project: Path) -> dict[str, Any]:
    return json.loads(cli(project, "status", "--format", "json"))  # type: ignore[no-any-return]


def _replicas_of(server: Server, project: Path) -> list[dict[str, Any]]:
    port = int(server.url.rsplit(":", 1)[1])
    return [r for r in _status(project)["replicas"] if r["port"] == port and r["alive"]]


def _health(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/health", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _skew_checks(project: Path, version: str) -> int:
    """How many times a server loaded ``version`` (each load replays the skew check and records it)."""
    history = Project.load(project).store.evidence.history(Check.MONITOR_SKEW, limit=1000)
    return sum(1 for evidence in history if evidence.subject_id == version)


@pytest.fixture(scope="class")
def server(project: Path, logs: Path) -> Iterator[Server]:
    """A two-worker server for the tests of one class (stopped when the class is done)."""
    with running_server(project, "--workers", "2", log_dir=logs) as server:
        wait_for_workers(project, server, 2)
        yield server


class TestOneServer:
    """A two-worker server following the deployment as it changes."""

    def test_blue_green_switch_and_rollback_lose_no_request(self, project: Path, server: Server) -> None:
        for replica in _replicas_of(server, project):
            assert replica["slots"] == {"blue": {"version": "v1", "role": "live"}}, replica
        with Traffic(server, threads=4, prefix="switch") as traffic:
            traffic.wait_for(40)
            deploying = time.monotonic()
            cli(project, "deploy", "v2", "--force", "--reason", "x")
            deployed = time.monotonic()
            traffic.wait_for(40, sent_after=deployed)
            replicas = _replicas_of(server, project)
            assert len(replicas) == 2
            for replica in replicas:  # v1 stays warm in the other slot
                assert replica["slots"] == {
                    "green": {"version": "v2", "role": "live"},
                    "blue": {"version": "v1", "role": "standby"},
                }, replica
            assert _health(server)["slots"] == replicas[0]["slots"]
            loads_of_v1 = _skew_checks(project, "v1")
            rolling_back = time.monotonic()
            cli(project, "rollback")
            rolled_back = time.monotonic()
            traffic.wait_for(40, sent_after=rolled_back)
        answered = traffic.answered
        failed = [a for a in answered if a.status != 200]
        assert not failed, f"{len(failed)} of {len(answered)} requests failed: {failed[:5]}"
        assert {a.version for a in answered} == {"v1", "v2"}
        assert {a.version for a in answered if a.done < deploying} == {"v1"}
        assert {a.version for a in answered if deployed < a.sent and a.done < rolling_back} == {"v2"}
        assert {a.version for a in answered if a.sent > rolled_back} == {"v1"}
        # The switch back is to the warm standby: same slot as before, and v1 was not loaded again.
        assert _skew_checks(project, "v1") == loads_of_v1
        for replica in _replicas_of(server, project):
            assert replica["slots"] == {
                "blue": {"version": "v1", "role": "live"},
                "green": {"version": "v2", "role": "standby"},
            }, replica
        assert _health(server)["slots"]["blue"] == {"version": "v1", "role": "live"}
        evidence = Project.load(project).store.evidence.latest(
            [Check.DEPLOY_BLUE_GREEN, Check.DEPLOY_ROLLBACK]
        )
        switch, rollback = evidence[Check.DEPLOY_BLUE_GREEN], evidence[Check.DEPLOY_ROLLBACK]
        assert switch.status == rollback.status == "pass"
        assert (switch.details["from"], switch.details["to"], switch.details["slot"]) == ("v1", "v2", "green")
        assert (rollback.details["from"], rollback.details["to"], rollback.details["slot"]) == (
            "v2",
            "v1",
            "blue",
        )

    def test_shadow_sees_live_traffic_and_its_agreement_is_measured(
        self, project: Path, server: Server, rows: pd.DataFrame
    ) -> None:
        cli(project, "deploy", "v2", "--as", "shadow")
        store = Project.load(project).store
        sent = 0
        with server.client() as client:
            for n, start in enumerate(range(0, len(rows), 6)):
                part = rows.iloc[start : start + 6]
                response = client.post(
                    "/predict", json={"rows": _records(part)}, headers={"x-request-id": f"shadow-{n}"}
                )
                assert response.status_code == 200, response.text
                assert response.json()["model"] == {"version": "v1", "role": "live", "slot": "blue"}
                sent += len(part)
        # What the servers must report: the share of rows on which v2 says what v1 says (offline).
        v1, v2 = (load_model_version(store, name, root=project) for name in ("v1", "v2"))
        inputs = rows[list(v1.feature_names_in_)]
        agreed = int(np.sum(v1.predict(inputs) == v2.predict(inputs)))

        # Each worker writes its figures to the store every ~10 s (only code can change the interval).
        deadline = time.monotonic() + 30
        while True:
            figures = {f["key"]: f for f in _status(project)["figures"]}
            shadow = figures.get("shadow:v2", {"compared": 0})
            if shadow["compared"] >= sent or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert shadow["compared"] == sent, figures
        assert shadow["agreed"] == agreed
        assert 0.0 < shadow["agreement"] <= 1.0
        assert shadow["agreement"] == pytest.approx(agreed / sent)
        assert figures["live:v1"]["rows"] >= sent

        deadline = time.monotonic() + 10 * FLUSH_SECONDS
        while True:
            logged = read_prediction_logs(store)
            ours = logged[logged["request_id"].str.startswith("shadow-")]
            if (ours["role"] == "shadow").sum() >= sent or time.monotonic() > deadline:
                break
            time.sleep(FLUSH_SECONDS / 2)
        assert Counter(ours["role"]) == {"live": sent, "shadow": sent}
        assert set(ours.loc[ours["role"] == "shadow", "version"]) == {"v2"}
        assert set(ours.loc[ours["role"] == "shadow", "slot"]) == {"shadow"}

    def test_a_canary_answers_its_share_and_a_key_sticks_to_one_version(
        self, project: Path, server: Server
    ) -> None:
        weight = str(CANARY_WEIGHT)
        cli(project, "deploy", "v2", "--as", "canary", "--weight", weight, "--force", "--reason", "x")
        local = threading.local()  # one keep-alive client per thread
        clients: list[httpx.Client] = []

        def ask(key: str | None) -> dict[str, Any]:
            if not hasattr(local, "client"):
                local.client = server.client()
                clients.append(local.client)
            body: dict[str, Any] = {"row": ROW} if key is None else {"row": ROW, "key": key}
            response = local.client.post("/predict", json=body)
            assert response.status_code == 200, response.text
            return response.json()["model"]  # type: ignore[no-any-return]

        try:
            with ThreadPoolExecutor(4) as pool:
                unkeyed = list(pool.map(ask, [None] * 400))
                keys = [f"user-{n}" for n in range(20) for _ in range(3)]
                keyed = list(pool.map(ask, keys))
        finally:
            for client in clients:
                client.close()
        assert {(m["version"], m["role"], m["slot"]) for m in unkeyed} == {
            ("v1", "live", "blue"),
            ("v2", "canary", "canary"),
        }
        share = sum(m["version"] == "v2" for m in unkeyed) / len(unkeyed)
        assert abs(share - CANARY_WEIGHT) <= CANARY_TOLERANCE, share
        by_key: dict[str, set[str]] = {}
        for key, model in zip(keys, keyed, strict=True):
            by_key.setdefault(key, set()).add(model["version"])
        assert all(len(versions) == 1 for versions in by_key.values()), by_key
        assert {next(iter(v)) for v in by_key.values()} == {"v1", "v2"}, "20 keys, some on each side"

    def test_deploy_waits_for_both_workers(self, project: Path, server: Server) -> None:
        output = json.loads(cli(project, "deploy", "v2", "--as", "shadow", "--format", "json"))
        generation = output["state"]["generation"]
        assert output["rollout"] == {"status": "applied", "error": None}
        port = int(server.url.rsplit(":", 1)[1])
        applied = [r for r in output["replicas"] if r["port"] == port]
        assert len(applied) == 2 and len({r["pid"] for r in applied}) == 2, applied
        assert all(r["generation"] == generation and r["error"] is None for r in applied), applied
        listed = _replicas_of(server, project)
        assert [(r["id"], r["generation"]) for r in listed] == [(r["id"], generation) for r in applied]
        assert all(r["slots"]["shadow"] == {"version": "v2", "role": "shadow"} for r in listed), listed
        # Leave v1 live alone for the tests that follow.
        cli(project, "undeploy", "shadow")
        state = _status(project)["state"]
        assert (state["live"], state["shadow"], state["canary"]) == (1, None, None)


def _only_v1_live(project: Path) -> None:
    """Make the desired state v1 live with no shadow or canary (no server runs: nothing to wait for)."""
    state = _status(project)["state"]
    if state["live"] != 1:
        cli(project, "deploy", "v1", "--force", "--reason", "tests start from v1", "--no-wait")
    for role in ("shadow", "canary"):
        if state[role] is not None:
            cli(project, "undeploy", role, "--no-wait")
    state = _status(project)["state"]
    assert (state["live"], state["shadow"], state["canary"]) == (1, None, None), state


def _log_files(project: Path) -> list[str]:
    """Every prediction log file under a readable name (temporary ones start with a dot)."""
    fs, root = fsspec.core.url_to_fs(log_root(Project.load(project).store))
    names = [path for path in fs.find(root) if path.endswith(".parquet")]
    return [path for path in names if not path.rsplit("/", 1)[1].startswith((".", "_"))]


def test_kill_9_while_logging_loses_at_most_the_last_flush(project: Path, logs: Path) -> None:
    _only_v1_live(project)
    server = start_server(project, log_dir=logs)
    try:
        wait_ready(server)
        with Traffic(server, threads=2, prefix="killed") as traffic:
            traffic.wait_for(20)
            time.sleep(4 * FLUSH_SECONDS)
            killed = time.monotonic()
            server.process.kill()  # kill -9, while both clients are being answered and logged
            server.process.wait()
            time.sleep(0.2)
    finally:
        stop_server(server)
    answered = [a for a in traffic.answered if a.status == 200]
    early = {a.request_id for a in answered if a.done < killed - 2 * FLUSH_SECONDS}
    assert len(early) >= 20

    fs, _ = fsspec.core.url_to_fs(log_root(Project.load(project).store))
    files = _log_files(project)
    for path in files:  # every file written before the kill is whole
        with fs.open(path, "rb") as handle:
            pq.read_table(handle)
    logged = read_prediction_logs(Project.load(project).store)
    ours = set(logged.loc[logged["request_id"].str.startswith("killed-"), "request_id"])
    assert len(ours) >= len(early)
    assert early <= ours, f"{len(early - ours)} requests answered over 2 flushes before the kill are lost"
    assert ours <= {a.request_id for a in answered}

    with running_server(project, log_dir=logs) as again, again.client() as client:
        for n in range(25):
            response = client.post("/predict", json={"row": ROW}, headers={"x-request-id": f"again-{n}"})
            assert response.status_code == 200, response.text
            assert response.json()["model"]["version"] == "v1"
    after = read_prediction_logs(Project.load(project).store)  # the restarted server flushed as it stopped
    assert len(after) == len(logged) + 25
    assert (after["request_id"].str.startswith("again-")).sum() == 25
    assert set(after.loc[after["request_id"].str.startswith("killed-"), "request_id"]) == ours
    assert len(_log_files(project)) > len(files)


def test_a_tampered_artifact_is_refused_while_the_old_version_serves(project: Path, logs: Path) -> None:
    _only_v1_live(project)
    store = Project.load(project).store
    path = store.artifacts.path_of(get_version(store, "v2").artifact)
    fs, _ = fsspec.core.url_to_fs(store.artifacts.uri)
    # Tampered only once the server runs: v2's bytes are also v1's fallback (the same linear baseline),
    # which the server loads at start; v2 itself it loads only when deployed.
    with running_server(project, log_dir=logs) as server:
        assert _health(server)["slots"] == {"blue": {"version": "v1", "role": "live"}}
        with fs.open(path, "rb") as handle:
            original = handle.read()
        tampered = bytearray(original)
        tampered[len(tampered) // 2] ^= 0xFF
        try:
            with fs.open(path, "wb") as handle:
                handle.write(bytes(tampered))
            before = _status(project)["state"]
            result = cli_result(project, "deploy", "v2", "--force", "--reason", "x")
            # Refused before anything is recorded: no server is asked, nothing to undo at a restart.
            assert result.exit_code != 0, result.output
            assert "v2 cannot be deployed" in result.output, result.output
            assert "changed after it was written" in result.output, result.output
            assert "nothing was changed" in result.output, result.output
            assert _status(project)["state"] == before
            with server.client() as client:
                for _ in range(5):
                    response = client.post("/predict", json={"row": ROW})
                    assert response.status_code == 200, response.text
                    assert response.json()["model"] == {"version": "v1", "role": "live", "slot": "blue"}
            health = _health(server)
            assert health["status"] == "ready" and health["error"] is None, health
            assert health["slots"] == {"blue": {"version": "v1", "role": "live"}}
        finally:
            with fs.open(path, "wb") as handle:
                handle.write(original)
