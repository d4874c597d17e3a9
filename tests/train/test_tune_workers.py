"""Distributed tuning: `taxiway train --tune N --workers K` and `taxiway tune-worker`, real processes sharing
one study through the store's database; a worker killed with kill -9 mid-trial loses nothing finished and
the study still gets its N trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.train._study_loop import TARGET_ATTR, WORKER_ATTR
from taxiway.train._study_storage import study_storage
from taxiway.train._trial import RUN_ID_ATTR
from taxiway.train.runs import get_run
from tests.train.test_tune import PIPELINE, SEARCH_SPACE, _tuning_project

TAXIWAY = [sys.executable, "-c", "from taxiway.cli import main; main()"]
DEADLINE_S = 300.0
# model(params) waits for a gate file before building the model (so a test can hold a worker back), and
# hangs for good from its Nth call on (so a test can kill the worker in the middle of a trial).
HOLD_AND_HANG = """
import os as _os
import time as _time
from pathlib import Path as _Path

_model = model
_CALLS = [0]


def model(params):
    _CALLS[0] += 1
    gate = _os.environ.get("TEST_GATE")
    while gate and not _Path(gate).exists():
        _time.sleep(0.05)
    if _CALLS[0] > int(_os.environ.get("TEST_HANG_AFTER", "1000000")):
        while True:
            _time.sleep(1)
    return _model(params)
"""


_ENGINES: list[Any] = []  # engines this module opened (probes, the studies' storages): closed after each test


@pytest.fixture(autouse=True)
def _close_study_storages() -> Iterator[None]:
    yield
    while _ENGINES:
        _ENGINES.pop().dispose()


def _study(root: Path, name: str) -> optuna.Study | None:
    """The study, once a worker has made it (this process never creates Optuna's tables: the workers do).

    One probe engine looks for it: an `RDBStorage` made at every poll before the tables exist fails in its
    constructor, leaving its engine's connection open (on PostgreSQL, one server process per poll).
    """
    storage = study_storage(Project.load(root).location.database)
    if not _ENGINES:
        _ENGINES.append(create_engine(storage.url, **storage.engine_kwargs))
    with _ENGINES[0].connect() as connection:
        if not inspect(connection).has_table("studies") or not inspect(connection).has_table("version_info"):
            return None
        found = connection.execute(text("SELECT 1 FROM studies WHERE study_name = :n"), {"n": name}).first()
    if found is None:
        return None
    options = {"engine_kwargs": storage.engine_kwargs, "skip_table_creation": True}
    rdb = optuna.storages.RDBStorage(storage.url, **options)
    _ENGINES.append(rdb.engine)
    return optuna.load_study(study_name=name, storage=rdb)


def _trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False)


def _wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"waited {DEADLINE_S} s for {what}")


def test_workers_on_one_machine_share_the_trials_without_overshooting(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = _tuning_project(tmp_path / "p", make_project, runner, SEARCH_SPACE)
    (root / "pipeline.py").write_text(PIPELINE + SEARCH_SPACE + HOLD_AND_HANG)
    gate = tmp_path / "gate"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXIWAY_") or k == "TAXIWAY_STORE_URI"}
    command = [*TAXIWAY, "--project", str(root), "train", "--tune", "6", "--workers", "2", "--study", "pair"]
    train = subprocess.Popen(
        [*command, "--format", "json"],
        env={**env, "TEST_GATE": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        study = _wait_for(lambda: _study(root, "pair"), "the study")

        def both_working() -> bool:
            running = [t for t in _trials(study) if t.state.name == "RUNNING"]
            return len({t.user_attrs.get(WORKER_ATTR) for t in running}) == 2

        _wait_for(both_working, "a trial from each of the two processes")  # both wait at the gate
        gate.touch()
        out, err = train.communicate(timeout=DEADLINE_S)
    finally:
        if train.poll() is None:
            train.kill()
            train.communicate()
    assert train.returncode in (0, 1), err.decode()[-2000:]
    report = json.loads(out)["study"]
    assert report["n_trials"] == 6 and report["n_complete"] + report["n_pruned"] == 6, report
    assert study.user_attrs[TARGET_ATTR] == 6
    assert len({t.user_attrs[WORKER_ATTR] for t in _trials(study)}) == 2
    store = Project.load(root).store
    runs = [get_run(store, t.user_attrs["taxiway_run_id"]) for t in _trials(study)]
    assert {run.status for run in runs} == {"finished"} and len({run.id for run in runs}) == 6
    store.close()


def test_a_worker_killed_mid_trial_loses_no_finished_trial_and_the_study_completes(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = _tuning_project(tmp_path / "p", make_project, runner, SEARCH_SPACE)
    (root / "pipeline.py").write_text(PIPELINE + SEARCH_SPACE + HOLD_AND_HANG)
    gate = tmp_path / "gate"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXIWAY_") or k == "TAXIWAY_STORE_URI"}
    first = subprocess.Popen(
        [*TAXIWAY, "--project", str(root), "train", "--tune", "4", "--heartbeat", "1", "--study", "s"]
        + ["--format", "json"],
        env={**env, "TEST_GATE": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    doomed = None
    try:
        study = _wait_for(lambda: _study(root, "s"), "the first worker to make the study")
        _wait_for(lambda: TARGET_ATTR in study.user_attrs or study.user_attrs, "the study's target")
        doomed = subprocess.Popen(
            [*TAXIWAY, "--project", str(root), "tune-worker", "--study", "s", "--heartbeat", "1"],
            env={**env, "TEST_HANG_AFTER": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        mine = f":{doomed.pid}"

        def doomed_mid_trial() -> bool:
            own = [t for t in _trials(study) if t.user_attrs.get(WORKER_ATTR, "").endswith(mine)]
            states = sorted(t.state.name for t in own)
            running = [t for t in own if t.state.name == "RUNNING"]
            # In the trial's run (its id recorded), not between asking for the trial and starting the run.
            started = bool(running) and RUN_ID_ATTR in running[0].user_attrs
            return len(own) == 2 and started and states[0] in ("COMPLETE", "PRUNED")

        _wait_for(doomed_mid_trial, "the second worker to finish one trial and start another")
        finished_before = {
            t.number: (t.state, t.value)
            for t in _trials(study)
            if t.user_attrs.get(WORKER_ATTR, "").endswith(mine) and t.state.is_finished()
        }
        hung = next(
            t
            for t in _trials(study)
            if t.user_attrs.get(WORKER_ATTR, "").endswith(mine) and not t.state.is_finished()
        )
        os.kill(doomed.pid, signal.SIGKILL)
        assert doomed.wait(30) == -signal.SIGKILL
        gate.touch()  # the first worker goes on: it must find the silent trial and have it run again
        out, err = first.communicate(timeout=DEADLINE_S)
    finally:
        for process in (first, doomed):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
        if doomed is not None and doomed.stderr is not None:
            doomed.stderr.close()
    assert first.returncode in (0, 1), err.decode()[-2000:]
    report = json.loads(out)["study"]

    trials = {t.number: t for t in _trials(study)}
    for number, (state, value) in finished_before.items():
        assert (trials[number].state, trials[number].value) == (state, value), "a finished trial was kept"
    assert trials[hung.number].state.name == "FAIL"
    retries = [
        t
        for t in trials.values()
        if t.system_attrs.get("failed_trial") == hung.number and t.number != hung.number
    ]
    assert len(retries) == 1 and retries[0].state.name in ("COMPLETE", "PRUNED")
    assert retries[0].params == hung.params, "the retry runs the same parameters"
    finished = [t for t in trials.values() if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4 and report["n_complete"] + report["n_pruned"] == 4, report
    store = Project.load(root).store
    killed_run = get_run(store, hung.user_attrs["taxiway_run_id"])
    # Its owner process is gone (found by pid on this machine) or silent (no heartbeat): failed, saying why.
    error = killed_run.error or ""
    assert killed_run.status == "failed" and ("killed?" in error or "stopped sending heartbeats" in error)
    assert get_run(store, retries[0].user_attrs["taxiway_run_id"]).status == "finished"
    store.close()


def test_a_worker_with_no_study_to_join_is_told_how_to_start_one(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = _tuning_project(tmp_path / "p", make_project, runner, SEARCH_SPACE)
    result = runner.invoke(app, ["--project", str(root), "tune-worker", "--study", "nobody-started-this"])
    assert result.exit_code == 2, result.output
    assert "no study 'nobody-started-this' is being tuned" in result.output
    assert "taxiway train --tune N" in result.output and "Traceback" not in result.output
