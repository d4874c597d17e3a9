"""Drills: deploys that must not turn into outages, on real `taxiway serve` processes and real artifacts.

- a tampered artifact is refused before anything is recorded, also when no server runs;
- a deployed model that a server refuses at load is named as such by /predict, /health and `taxiway status`
  (exit 1), with the command that fixes it;
- `deploy v2`, `deploy v1`, `deploy v2 --as canary`, `rollback` does not make the canary 100% live;
- data with duplicate rows trains a model that deploys and serves (the skew replay aligns rows by position).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pandas as pd
import pytest

from taxiway.data.split import get_split, split_frames
from taxiway.project import Project
from taxiway.registry import get_version
from taxiway.store.checks import Check
from taxiway.train.runs import get_run, list_runs
from tests.serve.server import (
    READY_TIMEOUT_S,
    ROW,
    Server,
    Traffic,
    cli,
    cli_result,
    deployed_project,
    running_server,
    start_server,
    stop_server,
)
from tests.train.test_train_cli import weather_rows
from tests.validate.trained_model import trained_copy


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed_project(tmp_path_factory, "drills-deploy")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drills-deploy-logs")


def _state(project: Path) -> dict[str, Any]:
    return json.loads(cli(project, "status", "--format", "json"))["state"]  # type: ignore[no-any-return]


@contextmanager
def _tampered(project: Path, version: str) -> Iterator[None]:
    """``version``'s artifact with one byte flipped, restored when the block ends."""
    store = Project.load(project).store
    path = store.artifacts.path_of(get_version(store, version).artifact)
    fs, _ = fsspec.core.url_to_fs(store.artifacts.uri)
    with fs.open(path, "rb") as handle:
        original = handle.read()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0xFF
    with fs.open(path, "wb") as handle:
        handle.write(bytes(changed))
    try:
        yield
    finally:
        with fs.open(path, "wb") as handle:
            handle.write(original)


def test_a_tampered_artifact_is_refused_before_anything_is_recorded_with_no_server(project: Path) -> None:
    before = _state(project)
    with _tampered(project, "v2"):
        result = cli_result(project, "deploy", "v2", "--force", "--reason", "drill")
    assert result.exit_code == 2, result.output
    assert "error: v2 cannot be deployed: artifact" in result.output
    assert "was changed after it was written" in result.output
    assert "hint: nothing was changed" in result.output
    assert _state(project) == before  # no refused version recorded live: a restart serves what served


def _poll_health(server: Server, status: int) -> dict[str, Any]:
    """/health once it answers ``status`` (the server loads, then decides)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.log.read_text()
            try:
                response = client.get(f"{server.url}/health")
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == status:
                return response.json()  # type: ignore[no-any-return]
            time.sleep(0.1)
    pytest.fail(f"/health did not answer {status}: {server.log.read_text()}")


def test_a_model_refused_at_load_is_named_by_predict_health_and_status(project: Path, logs: Path) -> None:
    assert _state(project)["live"] == 1
    with _tampered(project, "v1"):  # changed after it was deployed: the server finds out as it loads
        server = start_server(project, log_dir=logs)
        try:
            health = _poll_health(server, 503)
            assert health["status"] == "refused the deployed model", health
            assert "v1 could not be loaded: ArtifactCorruptError" in health["error"], health
            with server.client() as client:
                answer = client.post("/predict", json={"row": ROW})
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"].startswith(
                "a model is deployed but this server refused it, so it serves nothing"
            )
            assert "v1 could not be loaded: ArtifactCorruptError" in body["error"]
            assert "taxiway rollback" in body["hint"] and "taxiway deploy vN" in body["hint"]
            status = cli_result(project, "status")
            assert status.exit_code == 1, status.output
            assert "refused generation" in status.output and "ArtifactCorruptError" in status.output
            document = json.loads(cli_result(project, "status", "--format", "json").stdout)
            assert document["served"] is False and document["problems"][-1].startswith(
                "fix: taxiway rollback"
            )
        finally:
            stop_server(server)


def test_a_rollback_onto_the_canary_is_refused_and_traffic_keeps_flowing(project: Path, logs: Path) -> None:
    with (
        running_server(project, log_dir=logs) as server,
        Traffic(server, threads=2, prefix="canary") as traffic,
    ):
        traffic.wait_for(10)
        cli(project, "deploy", "v2", "--force", "--reason", "drill")
        cli(project, "deploy", "v1", "--force", "--reason", "drill")
        cli(project, "deploy", "v2", "--as", "canary", "--weight", "0.3", "--force", "--reason", "drill")
        before = _state(project)
        refused = cli_result(project, "rollback")
        assert refused.exit_code == 2, refused.output
        assert (
            "error: rolling back would make the canary v2 100% live: it was live before v1, and is the "
            "canary now" in " ".join(refused.output.split())
        )
        assert "taxiway undeploy canary" in refused.output
        assert _state(project) == before
        done = time.monotonic()
        traffic.wait_for(20, sent_after=done)
        cli(project, "undeploy", "canary")
    assert {a.status for a in traffic.answered} == {200}
    assert {a.version for a in traffic.answered} <= {"v1", "v2"}


@pytest.fixture(scope="module")
def duplicated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weather project whose data holds 400 exact copies of rows, trained (about 40 s)."""
    root = tmp_path_factory.mktemp("drills-duplicates") / "weather"
    base = trained_copy(tmp_path_factory, root)  # its charter and pipeline; data and runs replaced below
    rows = weather_rows(800)
    pd.concat([rows, rows.iloc[:400]], ignore_index=True).to_csv(base / "weather.csv", index=False)
    (base / "schema.yaml").unlink(missing_ok=True)
    cli(base, "data", "add", str(base / "weather.csv"))
    cli_result(base, "train")  # exit 1 when the candidate does not beat the baseline: both are registered
    return base


def test_data_with_duplicate_rows_deploys_and_serves(duplicated: Path, logs: Path) -> None:
    store = Project.load(duplicated).store
    runs = [run for run in list_runs(store) if run.name == "candidate"]
    newest = runs[0]
    run = get_run(store, newest.id)
    assert run.split_id is not None
    valid = split_frames(store, get_split(store, run.split_id)).valid
    assert valid.index.duplicated().any(), "the drill needs identical rows in the validation split"
    registered = cli(duplicated, "register", newest.id, "--force", "--reason", "drill", "--format", "json")
    version = json.loads(registered)["version"]
    # No server runs: the scratch process loads it and replays its stored rows before it is recorded.
    deployed = cli_result(duplicated, "deploy", f"v{version}", "--force", "--reason", "drill", "--no-wait")
    assert deployed.exit_code == 0, deployed.output
    assert _state(duplicated)["live"] == version
    with running_server(duplicated, log_dir=logs) as server, server.client() as client:
        answer = client.post("/predict", json={"row": ROW})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"]["version"] == f"v{version}"
    skew = store.evidence.latest_about(Check.MONITOR_SKEW, "model", f"v{version}")
    assert skew is not None and skew.status == "pass" and skew.value == 0.0, skew


def test_shadow_evidence_is_judged_only_after_enough_rows(project: Path, logs: Path) -> None:
    from taxiway.deploy.health import MIN_ROWS

    state = _state(project)
    if state["canary"] is not None:
        cli(project, "undeploy", "canary", "--no-wait")
    if _state(project)["live"] != 1:
        cli(project, "deploy", "v1", "--force", "--reason", "drill", "--no-wait")
    store = Project.load(project).store
    with running_server(project, log_dir=logs) as server, server.client() as client:
        cli(project, "deploy", "v2", "--as", "shadow")
        assert client.post("/predict", json={"row": ROW}).status_code == 200
        # One row seen: nothing judged yet (it was `pass` after one row, or before any traffic).
        assert store.evidence.latest_about(Check.DEPLOY_SHADOW, "model", "v2") is None
        rows = [ROW] * 50
        deadline = time.monotonic() + 60
        while store.evidence.latest_about(Check.DEPLOY_SHADOW, "model", "v2") is None:
            assert time.monotonic() < deadline, "the shadow was not judged after 200 rows"
            assert client.post("/predict", json={"rows": rows}).status_code == 200
        cli(project, "undeploy", "shadow")
    judged = store.evidence.latest_about(Check.DEPLOY_SHADOW, "model", "v2")
    assert judged is not None and judged.status == "pass", judged
    assert judged.value == 0.0 and judged.details["rows"] >= MIN_ROWS
    assert judged.details["compared"] == judged.details["rows"] and judged.details["failed"] == 0


def test_a_shadow_needing_a_field_live_does_not_take_is_refused_and_reported(
    tmp_path_factory: pytest.TempPathFactory, logs: Path
) -> None:
    """Live is a model trained without `dewp`; v1 (which needs it) as shadow would fail every row it gets."""
    root = deployed_project(tmp_path_factory, "drills-shadow-inputs")
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    (root / "taxiway.toml").write_text(
        charter.replace("[data]\n", '[data]\ndrop_columns = ["dewp"]\n', 1), encoding="utf-8"
    )
    cli_result(root, "train")  # exit 1 when the candidate does not beat the baseline: it is recorded anyway
    store = Project.load(root).store
    newest = next(run for run in list_runs(store) if run.name == "candidate")
    registered = json.loads(
        cli(root, "register", newest.id, "--force", "--reason", "drill", "--format", "json")
    )
    without_dewp = registered["version"]
    cli(root, "deploy", f"v{without_dewp}", "--force", "--reason", "drill", "--no-wait")
    with (
        running_server(root, log_dir=logs) as server,
        Traffic(server, threads=2, prefix="shadow-in") as traffic,
    ):
        traffic.wait_for(10)
        before = _state(root)
        result = cli_result(root, "deploy", "v1", "--as", "shadow")
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert f"the shadow v1 needs dewp, which live v{without_dewp}'s requests do not carry" in text
        assert f"every server refused it: back to generation {before['generation'] + 2}" in text
        state = _state(root)
        assert (state["live"], state["shadow"], state["action"]) == (without_dewp, None, "revert-refused")
        done = time.monotonic()
        traffic.wait_for(10, sent_after=done)
    assert {a.status for a in traffic.answered} == {200}
    assert {a.version for a in traffic.answered} == {f"v{without_dewp}"}
