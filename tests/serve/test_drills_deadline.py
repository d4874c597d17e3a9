"""Drill: a request past its deadline is cancelled, not abandoned, on a real `taxiway serve`.

The model is the weather project's own pipeline with one more step in front: a transformer that burns CPU
for every row it passes on (``DRILL_BURN_MS`` milliseconds of this thread's CPU a row; 0 while training, so
training runs at its usual speed, and set only in the server's environment). 10,000 rows are then ~20 s of
CPU against a 1 s deadline: the client must get its 408 and the worker must stop computing (it once
computed on for minutes after the client had its answer), while good requests keep being answered.
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


_plain_model = model


def model(params):
    return Pipeline([("burn", BurnPerRow()), *_plain_model(params).steps])
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weather project with the burning step trained into a new candidate, registered and live."""
    root = deployed_project(tmp_path_factory, "drills-deadline")
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


@pytest.fixture(scope="module")
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
    with Traffic(server, threads=1, prefix="beside-late") as traffic:
        traffic.wait_for(5)
        with server.client() as client:
            response = client.post("/predict", content=body, headers={"content-type": "application/json"})
        cpu_at_answer, answered_at = _cpu_seconds(server), time.monotonic()
        assert response.status_code == 408, response.text[:500]
        assert response.json() == {
            "error": f"no answer within {TIMEOUT_S:g} s",
            "hint": "send fewer rows per request, or start the server with a longer --timeout",
        }
        traffic.wait_for(5, sent_after=answered_at)  # good requests are answered meanwhile
    _wait_until_idle(server)
    # CPU, not wall time: whatever the load, the 10,000 rows are ~20 s of CPU, of which at most the first
    # second's worth was done by the 408. Abandoned, the rest (~19 s) was computed for nobody; cancelled,
    # what follows the 408 is the chunk under way (~0.2 s) and the good requests.
    after = _cpu_seconds(server) - cpu_at_answer
    assert after < 5, f"{after:.1f} s of CPU after the request timed out"
    assert all(a.status == 200 for a in traffic.answered), {(a.status, a.error) for a in traffic.answered}
    assert "Traceback" not in server.log.read_text()
    with server.client() as client:
        good = client.post("/predict", json={"row": ROW})
    assert good.status_code == 200, good.text
