"""Deployments end to end: blue/green switch and rollback under load, a refused artifact, shadow, canary."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.serve import deployment
from taxiway.serve.logs import read_predictions
from taxiway.store.checks import Check
from tests.serve.conftest import Load, RunningServer, register_versions, request_rows

FORCED = ["--force", "--reason", "test: versions are not validated here"]


def _run(runner: CliRunner, root: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["--project", str(root), *args, "--format", "json"])
    text = result.stdout.strip()
    return result.exit_code, json.loads(text) if text.startswith("{") else {"output": result.output}


def test_switch_and_rollback_under_load_lose_no_request(
    weather_project: Path, runner: CliRunner, start_server: Callable[..., RunningServer]
) -> None:
    first, second = register_versions(weather_project)
    assert _run(runner, weather_project, "deploy", first, *FORCED)[0] == 0  # no replica yet: recorded only
    server = start_server(weather_project, "--no-log", workers=2)
    load = Load(server.url, clients=4)
    try:
        time.sleep(1.0)
        code, switched = _run(runner, weather_project, "deploy", second, *FORCED)
        assert code == 0 and len(switched["applied"]) == 2, switched  # both workers report the generation
        after_switch = time.monotonic()
        time.sleep(1.0)
        code, rolled = _run(runner, weather_project, "rollback", "--reason", "test")
        assert code == 0 and rolled["live_version"] == first, rolled
        after_rollback = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
    assert load.failures == [] and {status for _, status, _ in load.answers} == {200}
    assert len(load.answers) > 50
    assert load.versions_since(after_switch) >= {second} and load.versions_since(after_rollback) == {first}
    project = Project.load(weather_project)
    evidence = project.store.evidence.latest([Check.DEPLOY_BLUE_GREEN, Check.DEPLOY_ROLLBACK])
    assert (
        evidence[Check.DEPLOY_BLUE_GREEN].status == "pass"
        and evidence[Check.DEPLOY_ROLLBACK].status == "pass"
    )
    assert evidence[Check.DEPLOY_ROLLBACK].details["replicas_applied"] == 2
    project.store.close()


def test_a_tampered_artifact_is_refused_while_the_old_version_keeps_serving(
    weather_project: Path, runner: CliRunner, start_server: Callable[..., RunningServer]
) -> None:
    first, second = register_versions(weather_project)
    _run(runner, weather_project, "deploy", first, *FORCED)
    server = start_server(weather_project, "--no-log")
    project = Project.load(weather_project)
    from taxiway import registry

    artifact = Path(project.store.artifacts.path_of(registry.get_version(project.store, second).artifact))
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    project.store.close()
    code, result = _run(runner, weather_project, "deploy", second, *FORCED, "--timeout", "20")
    assert code == 1, result
    (refused,) = result["refused"]
    assert "was changed after it was written" in refused["error"]
    answer = httpx.post(f"{server.url}/predict", json={"rows": request_rows(1)})
    assert answer.status_code == 200 and answer.json()["model_version"] == first
    code, status = _run(runner, weather_project, "status")
    assert status["replicas"][0]["live_version"] == first and "changed" in status["replicas"][0]["error"]


def test_shadow_sees_live_traffic_and_canary_gets_its_share_by_key(
    weather_project: Path, runner: CliRunner, start_server: Callable[..., RunningServer]
) -> None:
    first, second = register_versions(weather_project)
    _run(runner, weather_project, "deploy", first, *FORCED)
    server = start_server(weather_project, "--snapshot-interval", "0.5", "--flush-interval", "0.2")
    assert _run(runner, weather_project, "deploy", second, "--as", "shadow")[0] == 0
    with httpx.Client(base_url=server.url) as client:
        live = [client.post("/predict", json={"rows": request_rows(2, start=n)}) for n in range(30)]
    assert {answer.json()["model_version"] for answer in live} == {first}
    time.sleep(1.5)  # shadow answers, a snapshot and a log flush
    code, status = _run(runner, weather_project, "status")
    shadow = next(figure for figure in status["figures"] if figure["role"] == "shadow")  # type: ignore[union-attr]
    assert shadow["model_version"] == second and 0.5 <= shadow["shadow_agreement"] <= 1.0
    logged = read_predictions(Project.load(weather_project).store)
    assert Counter(logged["role"])["shadow"] == 60 and Counter(logged["role"])["live"] == 60

    assert _run(runner, weather_project, "deploy", second, "--as", "canary", "--weight", "0.3")[0] == 0
    keys = [f"customer-{n}" for n in range(300)]
    with httpx.Client(base_url=server.url) as client:
        chosen = {
            key: client.post(
                "/predict", json={"rows": request_rows(1)}, headers={"x-request-key": key}
            ).headers["x-taxiway-model-version"]
            for key in keys
        }
        again = {
            key: client.post(
                "/predict", json={"rows": request_rows(1)}, headers={"x-request-key": key}
            ).headers["x-taxiway-model-version"]
            for key in keys[:50]
        }
    share = sum(version == second for version in chosen.values()) / len(keys)
    assert 0.2 <= share <= 0.4, share
    assert all(chosen[key] == version for key, version in again.items())  # sticky by key
    code, promoted = _run(runner, weather_project, "promote")
    assert code == 0 and promoted["live_version"] == second and promoted["canary_version"] is None


def test_only_blessed_versions_go_live_unless_forced_with_a_reason(weather_project: Path) -> None:
    first, second = register_versions(weather_project)
    project = Project.load(weather_project)
    store = project.store
    with pytest.raises(TaxiwayError, match="registered without a blessing"):
        deployment.deploy(store, first)
    with pytest.raises(TaxiwayError, match="has no live version yet"):
        deployment.deploy(store, second, role="shadow")
    state = deployment.deploy(store, first, force=True, reason="hotfix")
    assert state.generation == 1 and state.live_version == first and not state.can_roll_back
    with pytest.raises(TaxiwayError, match="a canary needs --weight"):
        deployment.deploy(store, second, role="canary")
    with pytest.raises(TaxiwayError, match="no canary or shadow version to promote"):
        deployment.promote(store)
    with pytest.raises(TaxiwayError, match="no earlier live version"):
        deployment.rollback(store)
    deployment.deploy(store, second, role="canary", weight=0.1)  # a canary needs no blessing
    state = deployment.promote(store)
    assert (state.live_version, state.previous_version, state.canary_version) == (second, first, None)
    state = deployment.rollback(store, reason="worse")
    assert (state.live_version, state.previous_version, state.generation) == (first, second, 4)
    events = deployment.history(store)
    assert [event.action for event in events] == ["rollback", "promote", "canary", "live"]
    assert events[-1].forced and events[-1].reason == "hotfix" and events[0].reason == "worse"
    store.close()
