"""`taxiway deploy`, `promote`, `rollback`, `undeploy` and `status`: exit codes, JSON documents, waiting for
the servers, and errors that read as `error: …` / `hint: …`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.deploy import desired_state, report_replica
from taxiway.project import Project
from taxiway.store import Store
from taxiway.store.tables import ServingSnapshotRow
from tests.deploy.test_state import register_versions

STATE_KEYS = [
    "generation",
    "live",
    "previous_live",
    "shadow",
    "canary",
    "canary_weight",
    "action",
    "forced",
    "reason",
    "created_at",
]
REPLICA_KEYS = [
    "id",
    "host",
    "port",
    "pid",
    "alive",
    "generation",
    "slots",
    "error",
    "started_at",
    "heartbeat_at",
    "heartbeat_age_seconds",
    "stopped_at",
]


@pytest.fixture
def store(project_dir: Path) -> Iterator[Store]:
    """The project's own store (SQLite), with v1, v2, v3 blessed and v4 registered unblessed."""
    opened = Project.load(project_dir).store
    register_versions(opened, True, True, True, False)
    yield opened
    opened.close()


def invoke(runner: CliRunner, project_dir: Path, *args: str) -> Any:
    # These versions hold a few bytes, not a model: loading them in a scratch process is not what these
    # tests are about (tests/serve/test_drills_deploy.py is).
    extra = ["--no-check"] if args[:1] == ("deploy",) and "--help" not in args else []
    return runner.invoke(app, ["--project", str(project_dir), *args, *extra])


def as_json(runner: CliRunner, project_dir: Path, *args: str) -> tuple[int, Any]:
    result = invoke(runner, project_dir, *args, "--format", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else result.output


def serve(store: Store, port: int, generation: int, *, error: str | None = None) -> None:
    """Report as a running server serving ``generation``."""
    report_replica(
        store,
        f"127.0.0.1:{port}:42",
        host="127.0.0.1",
        port=port,
        pid=42,
        generation=generation,
        slots={"blue": {"version": 1, "role": "live"}, "green": {"version": 2, "role": "canary"}},
        error=error,
    )


def test_deploy_promote_rollback_and_undeploy_with_no_server_running(
    runner: CliRunner, project_dir: Path, store: Store
) -> None:
    code, first = as_json(runner, project_dir, "deploy", "v1")
    assert code == 0 and list(first) == ["changed", "state", "rollout", "replicas"]
    assert list(first["state"]) == STATE_KEYS and first["changed"] is True
    assert (first["state"]["generation"], first["state"]["live"], first["state"]["action"]) == (
        1,
        1,
        "deploy-live",
    )
    assert first["rollout"] == {"status": "no_replicas", "error": None} and first["replicas"] == []

    text = invoke(runner, project_dir, "deploy", "v2", "--reason", "better")
    assert text.exit_code == 0 and text.stdout.startswith("generation 2: live v2 (before: v1)")
    assert "no server is running: the change applies when one starts" in text.stdout
    same = invoke(runner, project_dir, "deploy", "v2")
    assert same.exit_code == 0 and same.stdout.startswith("nothing changed: generation 2: live v2")

    code, canary = as_json(runner, project_dir, "deploy", "v3", "--as", "canary", "--weight", "0.1")
    assert code == 0 and (canary["state"]["canary"], canary["state"]["canary_weight"]) == (3, 0.1)
    code, shadow = as_json(runner, project_dir, "deploy", "v4", "--as", "shadow", "--no-wait")
    assert code == 0 and shadow["state"]["shadow"] == 4 and shadow["rollout"]["status"] == "not_waited"
    code, promoted = as_json(runner, project_dir, "promote", "--from", "canary", "--reason", "canary held up")
    assert code == 0 and promoted["state"]["live"] == 3 and promoted["state"]["previous_live"] == 2
    code, back = as_json(runner, project_dir, "rollback", "--reason", "errors doubled")
    assert code == 0 and (back["state"]["live"], back["state"]["action"]) == (2, "rollback")
    code, stopped = as_json(runner, project_dir, "undeploy", "shadow")
    assert code == 0 and stopped["state"]["shadow"] is None and stopped["state"]["generation"] == 7
    code, models = as_json(runner, project_dir, "models")
    assert models["aliases"] == {"production": "v2"}


def test_bad_input_reads_as_error_and_hint(runner: CliRunner, project_dir: Path, store: Store) -> None:
    for args, code, message in (
        (["rollback"], 2, "nothing to roll back to: nothing was ever deployed"),
        (["deploy", "v9"], 2, "no model version v9"),
        (["deploy", "v4"], 1, "v4 is not blessed (registered with --force: demo)"),
        (["deploy", "v4", "--force"], 2, "--force needs --reason"),
        (["deploy", "v2", "--as", "canary"], 2, "a canary needs --weight"),
        (
            ["deploy", "v2", "--as", "canary", "--weight", "2"],
            2,
            "--weight 2.0 is not a share between 0 and 1",
        ),
        (["deploy", "v2", "--as", "shadow"], 2, "nothing is live, so v2 cannot be the shadow"),
        (["promote"], 2, "there is no shadow or canary to promote"),
        (["undeploy", "canary"], 2, "there is no canary to stop"),
    ):
        result = invoke(runner, project_dir, *args)
        assert result.exit_code == code and f"error: {message}" in result.stderr, (args, result.output)
        assert "hint: " in result.stderr and "Traceback" not in result.output
    for args, option in (
        (["deploy", "v2", "--as", "blue"], "--as"),
        (["undeploy", "live"], "'live' is not one of"),
        (["promote", "--from", "live"], "--from"),
        (["status", "--window", "0"], "--window"),
    ):
        result = invoke(runner, project_dir, *args)
        assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output, args
    invoke(runner, project_dir, "deploy", "v1")
    invoke(runner, project_dir, "deploy", "v2", "--as", "shadow")
    invoke(runner, project_dir, "deploy", "v3", "--as", "canary", "--weight", "0.5")
    both = invoke(runner, project_dir, "promote")
    assert both.exit_code == 2 and "hint: pass --from shadow or --from canary" in both.stderr
    assert desired_state(store).generation == 3


def test_deploy_waits_until_the_running_servers_apply_it(
    runner: CliRunner, project_dir: Path, store: Store
) -> None:
    invoke(runner, project_dir, "deploy", "v1")
    serve(store, 8000, 1)

    def apply_when_asked() -> None:
        deadline = time.monotonic() + 10
        while desired_state(store).generation < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a server reconciles within a second
        serve(store, 8000, 2)

    thread = threading.Thread(target=apply_when_asked)
    thread.start()
    result = invoke(runner, project_dir, "deploy", "v2", "--timeout", "10")
    thread.join()
    assert result.exit_code == 0, result.output
    assert "generation 2: live v2" in result.stdout and "Replicas" in result.stdout
    assert "127.0.0.1:8000" in result.stdout and "blue: v1 live, green: v2 canary" in result.stdout
    assert "waiting up to 10 s" in result.stderr

    code, applied = as_json(runner, project_dir, "deploy", "v1", "--timeout", "0.3")
    assert code == 1 and applied["rollout"]["status"] == "failed"  # the server is still on 2, now 3 is asked
    assert (
        "did not apply generation 3 within 0.3 s: 127.0.0.1:8000:42 is on generation 2"
        in applied["rollout"]["error"]
    )
    assert [list(r) for r in applied["replicas"]] == [REPLICA_KEYS] and applied["replicas"][0][
        "alive"
    ] is True
    assert desired_state(store).live == 1  # the change is recorded; the server has not followed it yet


def test_a_server_that_fails_the_change_makes_deploy_exit_1(
    runner: CliRunner, project_dir: Path, store: Store
) -> None:
    invoke(runner, project_dir, "deploy", "v1")
    serve(store, 8001, 2, error="model v2 failed its skew check")  # what it reports after trying generation 2
    result = invoke(runner, project_dir, "deploy", "v2")
    assert result.exit_code == 1 and result.stdout.startswith("generation 2: live v2")
    assert (
        "error: replica 127.0.0.1:8001:42 failed to apply generation 2: model v2 failed its skew check"
        in (result.stderr)
    )
    # Every server refused it: the version it replaced is the desired state again (a restart serves it).
    assert "every server refused it: back to generation 3: live v1" in result.stderr
    assert "hint: nothing is left changed" in result.stderr
    assert desired_state(store).live == 1 and desired_state(store).action == "revert-refused"


def test_status_shows_the_state_the_servers_and_the_figures(
    runner: CliRunner, project_dir: Path, store: Store
) -> None:
    code, empty = as_json(runner, project_dir, "status")
    assert (
        code == 0 and empty["state"]["generation"] == 0 and empty["replicas"] == [] and empty["figures"] == []
    )
    nothing = invoke(runner, project_dir, "status")
    assert "generation 0: nothing deployed" in nothing.stdout and "taxiway deploy vN" in nothing.stdout

    invoke(runner, project_dir, "deploy", "v1", "--no-wait")
    invoke(runner, project_dir, "deploy", "v2", "--as", "canary", "--weight", "0.2", "--reason", "try it")
    serve(store, 8000, 2)
    with store.write_session() as session, session.begin():
        session.add(
            ServingSnapshotRow(
                replica_id="127.0.0.1:8000:42",
                window_seconds=10.0,
                by_version={
                    "live:v1": {
                        "requests": 80,
                        "rows": 800,
                        "fallbacks": 8,
                        "confidence_sum": 640.0,
                        "confidence_count": 800,
                    },
                    "canary:v2": {
                        "requests": 20,
                        "rows": 200,
                        "errors": 1,
                        "confidence_sum": 150.0,
                        "confidence_count": 200,
                        "compared": 200,
                        "agreed": 180,
                    },
                },
            )
        )

    code, doc = as_json(runner, project_dir, "status", "--window", "5")
    assert code == 0 and list(doc) == [
        "state",
        "served",
        "problems",
        "alerts",
        "replicas",
        "window_minutes",
        "since",
        "figures",
        "history",
    ]
    assert doc["served"] is True and doc["problems"] == []
    assert doc["alerts"] == [
        "canary v2 answered 5.0% of its requests with an error: taxiway undeploy canary stops it"
    ]
    assert doc["state"]["canary"] == 2 and doc["state"]["reason"] == "try it" and doc["window_minutes"] == 5
    assert [list(r) for r in doc["replicas"]] == [REPLICA_KEYS] and doc["replicas"][0]["generation"] == 2
    assert [f["key"] for f in doc["figures"]] == ["live:v1", "canary:v2"]
    assert doc["figures"][0]["fallback_rate"] == 0.01 and doc["figures"][1]["agreement"] == 0.9
    assert [h["generation"] for h in doc["history"]] == [2, 1] and list(doc["history"][0]) == STATE_KEYS

    text = invoke(runner, project_dir, "status")
    assert text.exit_code == 0
    for expected in (
        "Desired deployment",
        "live v1, canary v2 at 20%",
        "deploy-canary at",
        ": try it",
        "Replicas",
        "alive",
        "Serving, last 15 min",
        "1.0%",
        "90.0%",
        "Canary beside live",
        "0.800",
        "0.750",
    ):
        assert expected in text.stdout, (expected, text.stdout)


def test_canary_beside_live_compares_with_the_version_live_now(
    runner: CliRunner, project_dir: Path, store: Store
) -> None:
    """A live change within the window leaves two live versions in the figures; the canary is compared
    with the one live now (it was compared with whichever came first)."""
    invoke(runner, project_dir, "deploy", "v3", "--no-wait")
    invoke(runner, project_dir, "deploy", "v1", "--no-wait")  # back to an older version: listed after v3
    invoke(runner, project_dir, "deploy", "v2", "--as", "canary", "--weight", "0.2", "--no-wait")
    figures = {
        "live:v3": {"requests": 80, "rows": 800, "confidence_sum": 640.0, "confidence_count": 800},
        "live:v1": {"requests": 10, "rows": 100, "confidence_sum": 90.0, "confidence_count": 100},
        "canary:v2": {"requests": 20, "rows": 200, "confidence_sum": 150.0, "confidence_count": 200},
    }
    with store.write_session() as session, session.begin():
        session.add(
            ServingSnapshotRow(replica_id="127.0.0.1:8000:42", window_seconds=10.0, by_version=figures)
        )
    text = invoke(runner, project_dir, "status")
    assert text.exit_code == 0, text.output
    beside = text.stdout.split("Canary beside live", 1)[1]
    assert "live v1" in beside and "canary v2" in beside and "live v3" not in beside, beside
    assert "0.900" in beside and "0.750" in beside and "0.800" not in beside, beside
