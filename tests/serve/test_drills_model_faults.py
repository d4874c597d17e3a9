"""Drills on a real `taxiway serve` with a model built here: one slow per row, one failing rows live answers.

The model is the weather project's own pipeline with two more steps in front, trained by `taxiway train`:

- a transformer that burns CPU for every row it passes on (``DRILL_BURN_MS`` milliseconds of this thread's
  CPU a row). 10,000 rows are then ~20 s of CPU against a 1 s deadline: the client must get its 408 and the
  worker must stop computing (it once computed on for minutes after the client had its answer);
- a transformer that raises on rows whose ``visib`` is ``DRILL_FAIL_VISIB`` (7.77: no weather row holds it,
  so the replay of stored rows at load passes). As the shadow of the plain v1, it fails every such row live
  answers: that must be judged `fail` and shown as an alert by `taxiway status` (it was a log line).

Both variables are unset while training (it runs at its usual speed) and set only in a server's
environment. Each drill also asserts that good requests keep being answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
import pytest

from taxiway.project import Project
from taxiway.train.runs import list_runs
from tests.serve.server import ROW, Server, Traffic, cli, cli_result, deployed_project, running_server

BURN_MS_PER_ROW = 2  # 10,000 rows: 20 s of CPU on a quiet core
TIMEOUT_S = 1  # the server's --timeout
FAIL_VISIB = 7.77  # the shadow raises on rows with this visibility
IDLE_CPU_S = 0.3  # CPU a second the server's processes may use when no request is computed (heartbeats)
SETTLE_TIMEOUT_S = 90  # how long the worker may take to stop, at any load

BURNING_PIPELINE = '''

# ---- added by the deadline drill ---------------------------------------------------------------------
import os as _os
import time as _time

from sklearn.base import BaseEstimator as _BaseEstimator
from sklearn.base import TransformerMixin as _TransformerMixin


class BurnPerRow(_TransformerMixin, _BaseEstimator):
    """Rows unchanged, after DRILL_BURN_MS milliseconds of this thread's CPU per row."""

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        until = _time.thread_time() + float(_os.environ.get("DRILL_BURN_MS", "0")) / 1000 * len(x)
        while _time.thread_time() < until:
            pass
        return x


class FailOnMarkedRows(_TransformerMixin, _BaseEstimator):
    """Rows unchanged, unless one has visib == DRILL_FAIL_VISIB: then it raises, as a broken model would."""

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        marker = _os.environ.get("DRILL_FAIL_VISIB")
        if marker is not None and (x["visib"] == float(marker)).any():
            raise ValueError("a marked row: this drill's model fails on it")
        return x


_plain_model = model


def model(params):
    steps = [("burn", BurnPerRow()), ("fail", FailOnMarkedRows()), *_plain_model(params).steps]
    return Pipeline(steps)
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weather project (v1, v2 registered) with the drill's steps trained into v3, registered and live.

    About 30 s on a quiet machine: the drills need a real model whose own code is slow or fails."""
    root = deployed_project(tmp_path_factory, "drills-model-faults")
    with (root / "pipeline.py").open("a", encoding="utf-8") as pipeline:
        pipeline.write(BURNING_PIPELINE)
    cli_result(root, "train")  # exit 1 when the candidate does not beat the baseline: it is recorded anyway
    store = Project.load(root).store
    newest = next(run for run in list_runs(store) if run.name == "candidate")
    store.close()
    registered = json.loads(
        cli(root, "register", newest.id, "--force", "--reason", "drill", "--format", "json")
    )
    cli(root, "deploy", f"v{registered['version']}", "--force", "--reason", "drill", "--no-wait")
    return root


@pytest.fixture
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("drills-deadline-logs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRILL_BURN_MS", str(BURN_MS_PER_ROW))  # the server's environment only
        with running_server(project, "--workers", "2", "--timeout", str(TIMEOUT_S), log_dir=logs) as server:
            yield server


def _cpu_seconds(server: Server) -> float:
    """User and system CPU time of the server and its workers so far."""
    parent = psutil.Process(server.process.pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def _wait_until_idle(server: Server) -> None:
    """Until a second passes in which the server's processes use less than IDLE_CPU_S of CPU."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        before, started = _cpu_seconds(server), time.monotonic()
        time.sleep(1)
        used = (_cpu_seconds(server) - before) / (time.monotonic() - started)
        if used < IDLE_CPU_S:
            return
        assert time.monotonic() < deadline, f"the server still uses {used:.2f} s of CPU a second"


def test_a_request_past_its_deadline_stops_being_computed(server: Server) -> None:
    _wait_until_idle(server)  # the workers' loads and skew replays are done
    body = orjson.dumps({"rows": [ROW] * 10_000})
    with Traffic(server, threads=1, prefix="during-late") as during:
        during.wait_for(5)
        with server.client() as client:
            response = client.post("/predict", content=body, headers={"content-type": "application/json"})
        cpu_at_answer = _cpu_seconds(server)
        assert response.status_code == 408, response.text[:500]
        assert response.json() == {
            "error": f"no answer within {TIMEOUT_S:g} s",
            "hint": "send fewer rows per request, or start the server with a longer --timeout",
        }
    _wait_until_idle(server)
    # CPU, not wall time: whatever the load, the 10,000 rows are ~20 s of CPU, of which at most the first
    # second's worth was done by the 408. Abandoned, the rest (~19 s) was computed for nobody; cancelled,
    # what follows the 408 is the chunk under way (~0.2 s).
    after = _cpu_seconds(server) - cpu_at_answer
    assert after < 5, f"{after:.1f} s of CPU after the request timed out"
    # A good request queued behind the late one on its worker may pass its own 1 s deadline: 408 too.
    assert {a.status for a in during.answered} <= {200, 408}, {(a.status, a.error) for a in during.answered}
    with Traffic(server, threads=2, prefix="after-late") as following:
        following.wait_for(10)  # the worker is free: it would still be computing for nobody
    assert {a.status for a in following.answered} == {200}, {(a.status, a.error) for a in following.answered}
    assert "Traceback" not in server.log.read_text()


def _alerts(project: Path) -> list[str]:
    result = cli_result(project, "status", "--format", "json")
    assert result.exit_code == 0, result.output  # alerts are not problems: the desired state is served
    alerts: list[str] = json.loads(result.stdout)["alerts"]
    return alerts


def test_a_shadow_failing_the_rows_live_answers_is_judged_fail_and_shown_as_an_alert(
    project: Path, tmp_path: Path
) -> None:
    from taxiway.deploy.health import MIN_ROWS
    from taxiway.store.checks import Check

    drilled = json.loads(cli(project, "status", "--format", "json"))["state"]["live"]
    cli(project, "deploy", "v1", "--force", "--reason", "drill", "--no-wait")
    marked = {**ROW, "visib": FAIL_VISIB}
    store = Project.load(project).store
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DRILL_FAIL_VISIB", str(FAIL_VISIB))
            with running_server(project, log_dir=tmp_path) as server, server.client() as client:
                cli(project, "deploy", f"v{drilled}", "--as", "shadow")  # it loads: no stored row is marked
                deadline = time.monotonic() + SETTLE_TIMEOUT_S
                while store.evidence.latest_about(Check.DEPLOY_SHADOW, "model", f"v{drilled}") is None:
                    assert time.monotonic() < deadline, "the shadow was not judged"
                    answer = client.post("/predict", json={"rows": [marked] * 50})
                    assert answer.status_code == 200, answer.text  # live v1 answers them
                    assert answer.json()["model"]["version"] == "v1"
                judged = store.evidence.latest_about(Check.DEPLOY_SHADOW, "model", f"v{drilled}")
                assert judged is not None and judged.status == "fail", judged
                assert judged.value == 1.0 and judged.details["rows"] >= MIN_ROWS
                assert judged.details["failed"] == judged.details["rows"]
                assert judged.details["first_failure"] == "the model raised on these rows"
                while not (alerts := _alerts(project)):  # the next serving snapshot (every 10 s) has it
                    assert time.monotonic() < deadline, "no alert in taxiway status"
                    time.sleep(0.5)
                (alert,) = alerts
                assert alert.startswith(f"shadow v{drilled} failed "), alert
                assert alert.endswith(
                    "rows (100.0%): `taxiway logs` shows why; taxiway undeploy shadow stops it"
                ), alert
                good = client.post("/predict", json={"row": ROW})
                assert good.status_code == 200 and good.json()["model"]["version"] == "v1", good.text
                cli(project, "undeploy", "shadow")
    finally:
        store.close()
