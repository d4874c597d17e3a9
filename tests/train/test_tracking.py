"""The tracking API on real stores: what a run records, when it is written, and how it ends."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

import taxiway
from taxiway.errors import ArtifactCorruptError, DataError, NotFoundError, StoreError, TaxiwayError
from taxiway.measure.predictions import Predictions
from taxiway.project import Project
from taxiway.store import Store, StoreLocation
from taxiway.store.tables import MetricPointRow, RunRow
from taxiway.train import tracking
from taxiway.train.runs import get_run, metric_history, run_artifacts
from taxiway.train.tracking import start_run


def _points(store: Store, run_id: str | None = None) -> int:
    query = select(func.count()).select_from(MetricPointRow)
    if run_id is not None:
        query = query.where(MetricPointRow.run_id == run_id)
    with store.session() as session:
        return session.scalar(query) or 0


def test_everything_logged_round_trips(store: Store) -> None:
    with start_run("gbm", kind="candidate", store=store, tags={"team": "flights"}) as run:
        assert run.id.startswith("r-") and len(run.id) == 14
        assert get_run(store, run.id).status == "running"  # committed before anything is logged
        run.log_param("learning_rate", 0.1)
        run.log_params({"max_depth": np.int64(6), "layers": (64, 32), "loss": "log_loss", "seed": None})
        run.log_params({"learning_rate": 0.05, "early_stopping": True})  # merged: the last value wins
        run.set_tags({"stage": "tuning", "note": np.float32(0.5)})
        run.set_lineage({"git": {"commit": "abc123", "dirty": False}, "dataset": "ds1"})
        run.set_lineage({"code": ["pipeline.py"]})
        run.set_resources({"cpu_seconds": 12.5, "peak_memory_bytes": 2**31})
        run.log_metrics({"loss": 0.9, "accuracy": 0.6}, step=0)
        run.log_metrics({"loss": np.float64(0.4), "accuracy": 0.8}, step=1)
        run.log_metric("n_trees", 100)
    found = get_run(store, run.id)
    assert (found.name, found.kind, found.status, found.error) == ("gbm", "candidate", "finished", None)
    assert found.params == {
        "learning_rate": 0.05,
        "max_depth": 6,
        "layers": [64, 32],
        "loss": "log_loss",
        "seed": None,
        "early_stopping": True,
    }
    assert found.tags == {"team": "flights", "stage": "tuning", "note": 0.5}
    assert found.lineage == {
        "git": {"commit": "abc123", "dirty": False},
        "dataset": "ds1",
        "code": ["pipeline.py"],
    }
    assert found.resources == {"cpu_seconds": 12.5, "peak_memory_bytes": 2**31}
    assert found.metrics == {"loss": 0.4, "accuracy": 0.8, "n_trees": 100.0}
    assert [value for _, value, _ in metric_history(store, run.id, "loss")] == [0.9, 0.4]
    assert found.ended_at is not None and found.duration_s is not None and found.duration_s >= 0


def test_latest_value_is_the_highest_step_then_the_latest_time(store: Store) -> None:
    with start_run(store=store) as run:
        run.log_metric("loss", 0.5, step=5, timestamp=1000.0)
        run.log_metric("loss", 0.9, step=2, timestamp=2000.0)  # logged later, but an earlier step
        run.log_metric("loss", 0.3, step=5, timestamp=999.0)  # same step, earlier time
        run.flush()
        assert get_run(store, run.id).metrics == {"loss": 0.5}
        run.log_metric("loss", 0.7, step=1)  # a later flush does not forget the step-5 value
        run.log_metric("auc", 0.6, step=0, timestamp=10.0)
        run.log_metric("auc", 0.65, step=0, timestamp=10.0)  # a tie: the last one logged
    assert get_run(store, run.id).metrics == {"loss": 0.5, "auc": 0.65}
    assert metric_history(store, run.id, "loss") == [
        (1, 0.7, pytest.approx(time.time(), abs=60)),
        (2, 0.9, 2000.0),
        (5, 0.3, 999.0),
        (5, 0.5, 1000.0),
    ]


def test_a_crash_in_the_block_fails_the_run_and_keeps_what_was_logged(store: Store) -> None:
    with pytest.raises(ValueError, match="bad shape"), start_run(store=store) as run:
        run.log_params({"alpha": 1})
        for step in range(7):
            run.log_metric("loss", 1 / (step + 1), step=step)
        raise ValueError("bad shape (3, 4)")
    found = get_run(store, run.id)
    assert (found.status, found.error) == ("failed", "ValueError: bad shape (3, 4)")
    assert found.ended_at is not None and found.params == {"alpha": 1}
    assert _points(store, run.id) == 7 and found.metrics == {"loss": 1 / 7}


def test_interrupt_fails_and_clean_exit_finishes(store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), start_run(store=store) as interrupted:
        raise KeyboardInterrupt
    with pytest.raises(SystemExit), start_run(store=store) as exited:
        sys.exit(0)
    assert get_run(store, interrupted.id).error == "KeyboardInterrupt"
    assert get_run(store, exited.id).status == "finished"


def test_points_wait_for_flush_every_or_the_end(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking, "FLUSH_EVERY", 10)
    run = start_run(store=store)
    for step in range(10):
        run.log_metric("loss", 0.1, step=step)
    assert _points(store, run.id) == 10  # the tenth call wrote all ten, in the calling thread
    for step in range(10, 13):
        run.log_metric("loss", 0.2, step=step)
    run.end()
    assert _points(store, run.id) == 13
    assert get_run(store, run.id).metrics == {"loss": 0.2}


def test_a_quiet_run_is_flushed_within_the_interval(store: Store) -> None:
    run = start_run(store=store)
    run.log_metric("loss", 0.5)
    run.log_params({"alpha": 2})
    deadline = time.monotonic() + tracking.FLUSH_INTERVAL_S * 3
    while _points(store, run.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = get_run(store, run.id)
    assert _points(store, run.id) == 1 and found.params == {"alpha": 2} and found.status == "running"
    run.end("failed", error="stopped by hand")
    run.end()  # a second end changes nothing
    assert (get_run(store, run.id).status, get_run(store, run.id).error) == ("failed", "stopped by hand")


def test_artifacts_are_stored_by_content_and_verified_on_read(store: Store, tmp_path: Path) -> None:
    model = tmp_path / "model.skops"
    model.write_bytes(b"model weights")
    with start_run(store=store) as run:
        digest = run.log_artifact(model)
        renamed = run.log_artifact(model, name="models/best.skops")
        notes = run.log_bytes("notes.txt", b"tried depth 6", media_type="text/plain")
        table = Predictions(
            row_key=np.arange(2), y_true=np.array([0, 1]), y_pred=np.array([0, 0])
        ).to_parquet()
        predictions = run.log_bytes("predictions.parquet", table, media_type="application/vnd.apache.parquet")
        run.set_model(digest)
        run.set_predictions(predictions)
        with pytest.raises(NotFoundError, match="no artifact 'feed'"):
            run.set_model("feed")
    assert digest == renamed == hashlib.sha256(b"model weights").hexdigest()
    assert run_artifacts(store, run.id) == {
        "model.skops": digest,
        "models/best.skops": digest,
        "notes.txt": notes,
        "predictions.parquet": predictions,
    }
    found = get_run(store, run.id)
    assert (found.model_artifact, found.predictions_artifact) == (digest, predictions)
    assert store.artifacts.get_bytes(digest) == b"model weights"
    Path(store.artifacts.path_of(digest)).write_bytes(b"model weights, edited")
    with pytest.raises(ArtifactCorruptError, match="changed after it was written"):
        store.artifacts.get_bytes(digest)


def test_a_file_that_is_not_predictions_is_refused_where_it_enters(store: Store) -> None:
    # The run page and the compare page read this file later; a text file named as predictions used to
    # make both answer 500. It is refused here instead, and the run keeps no predictions.
    frame = Predictions(row_key=np.arange(2), y_true=np.array([0, 1]), y_pred=np.array([0, 0])).to_frame()
    with start_run(store=store) as run:
        notes = run.log_bytes("notes.txt", b"tried depth 6", media_type="text/plain")
        no_y_pred = run.log_bytes("p.parquet", _parquet(frame.drop(columns="y_pred")), media_type="x/parquet")
        with pytest.raises(DataError, match="the predictions file is not Parquet"):
            run.set_predictions(notes)
        with pytest.raises(DataError, match="lacks the column.s. y_pred"):
            run.set_predictions(no_y_pred)
    assert get_run(store, run.id).predictions_artifact is None


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (lambda run: run.log_metric("loss", float("nan"), step=3), "metric 'loss' at step 3 is nan"),
        (lambda run: run.log_metric("loss", float("inf")), "metric 'loss' at step 0 is inf"),
        (lambda run: run.log_metric("loss", "0.5"), r"'0.5' \(str\) is not a number"),
        (lambda run: run.log_metric("loss", np.array([0.1, 0.2])), "is not a number"),
        (lambda run: run.log_metric("loss", 0.5, step=1.5), "step 1.5 is not an integer"),
        (lambda run: run.log_metric("loss", 0.5, step=2**63), "step 9223372036854775808 is not an integer"),
        (lambda run: run.log_metric("loss", 0.5, timestamp="now"), "timestamp 'now' is not seconds"),
        (lambda run: run.log_metric("", 0.5), "metric name '' is not a string of 1 to 200 characters"),
        (lambda run: run.log_metric("x" * 201, 0.5), "metric name 'xxx"),
        (lambda run: run.log_param("estimator", object()), "param 'estimator' = <object object at"),
        (lambda run: run.log_param("grid", {"a": 1}), r"param 'grid' = \{'a': 1\} is a dict"),
        (lambda run: run.log_param("alpha", float("nan")), "param 'alpha' is nan: JSON has no NaN"),
        (lambda run: run.set_tags(["a"]), "tags must be a dict of name → value, got list"),
        (lambda run: run.set_lineage({"when": {1, 2}}), "lineage 'when' = {1, 2} is a set"),
        (lambda run: run.log_artifact("/no/such/file"), "artifact '/no/such/file' is not a file"),
        (lambda run: run.end("done"), "unknown end status 'done'"),
    ],
)
def test_bad_values_are_refused_where_they_are_logged(store: Store, log: object, message: str) -> None:
    with start_run(store=store) as run:
        with pytest.raises(TaxiwayError, match=message) as caught:
            log(run)  # type: ignore[operator]
        assert caught.value.hint
        run.log_metric("loss", np.float32(0.25), step=np.int64(4))  # the run goes on: NumPy numbers are fine
    assert get_run(store, run.id).metrics == {"loss": 0.25}


def test_bad_starts_and_use_after_end(store: Store) -> None:
    with pytest.raises(TaxiwayError, match="unknown run kind 'model'") as caught:
        start_run(kind="model", store=store)
    assert "baseline, candidate, trial, custom" in caught.value.hint
    with pytest.raises(NotFoundError, match="no parent run 'r-000000000000'"):
        start_run(store=store, parent_id="r-000000000000")
    with pytest.raises(NotFoundError, match="no dataset version 'abc'"):
        start_run(store=store, dataset_id="abc")
    with start_run("parent", store=store) as parent:
        pass
    with start_run("child", kind="trial", store=store, parent_id=parent.id) as child:
        pass
    assert get_run(store, child.id).parent_id == parent.id
    with pytest.raises(TaxiwayError, match=f"run {child.id} has ended"):
        child.log_metric("loss", 1.0)
    with pytest.raises(TaxiwayError, match="has ended"):
        child.log_params({"a": 1})
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(RunRow)) == 2


@pytest.mark.one_backend  # moves the SQLite file away to make the store fail
def test_a_store_error_keeps_the_points_for_the_next_flush(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    store = Store.open(StoreLocation(f"sqlite:///{folder / 'taxiway.db'}", str(folder / "artifacts")))
    run = start_run(store=store)
    run.log_metric("loss", 0.5)
    store.engine.dispose()  # the next flush must open the file again, and will not find it
    folder.rename(tmp_path / "moved")
    with pytest.raises(
        StoreError, match=f"could not record run {run.id} in the store: unable to open"
    ) as caught:
        run.flush()
    assert "written by the next flush() or end()" in caught.value.hint
    (tmp_path / "moved").rename(folder)
    run.end()
    assert _points(store, run.id) == 1 and get_run(store, run.id).status == "finished"
    store.close()


@pytest.mark.one_backend  # about the default: the SQLite file in the project folder
def test_without_a_store_the_working_project_is_used(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_dir)
    with taxiway.start_run("from the project") as run:
        run.log_metric("loss", 0.1)
    project = Project.load(project_dir)
    try:
        assert get_run(project.store, run.id).metrics == {"loss": 0.1}
    finally:
        project.store.close()
    assert (project_dir / ".taxiway" / "taxiway.db").is_file()


def _python(code: str, *, uri: str, artifacts: str) -> list[str]:
    """The command that runs ``code`` after opening the store at ``uri`` as ``store``."""
    preamble = f"""
        import sys, time
        from taxiway.store import Store, StoreLocation
        from taxiway.train import tracking
        from taxiway.train.tracking import start_run
        store = Store.open(StoreLocation({uri!r}, {artifacts!r}))
    """
    return [sys.executable, "-c", textwrap.dedent(preamble) + textwrap.dedent(code)]


def _shared(store_uri: str, tmp_path: Path) -> tuple[Store, str, str]:
    """The store this process reads, and the URIs the child processes open it with."""
    artifacts = str(tmp_path / "artifacts")
    return Store.open(StoreLocation(store_uri, artifacts)), store_uri, artifacts


@pytest.mark.parametrize("ending", ["normal", "uncaught"])
def test_a_run_left_open_is_flushed_and_ended_at_exit(tmp_path: Path, store_uri: str, ending: str) -> None:
    store, uri, artifacts = _shared(store_uri, tmp_path)
    code = textwrap.dedent("""
        run = start_run("left open", store=store)
        for step in range(12_345):  # two automatic flushes and a remainder
            run.log_metric("loss", step / 1000, step=step)
        run.log_params({"alpha": 3})
        print(run.id, flush=True)
    """)
    if ending == "uncaught":
        code += "raise RuntimeError('out of memory')\n"
    done = subprocess.run(
        _python(code, uri=uri, artifacts=artifacts), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == (0 if ending == "normal" else 1), done.stderr
    run_id = done.stdout.strip()
    found = get_run(store, run_id)
    assert _points(store, run_id) == 12_345 and found.params == {"alpha": 3}
    assert found.metrics == {"loss": 12.344}
    if ending == "normal":
        assert (found.status, found.error) == ("finished", None)
    else:
        assert (found.status, found.error) == ("failed", "RuntimeError: out of memory")
    store.close()


def test_a_forked_child_leaves_its_parents_runs_alone(tmp_path: Path, store_uri: str) -> None:
    store, uri, artifacts = _shared(store_uri, tmp_path)
    code = """
        import os
        from taxiway.train.runs import get_run
        run = start_run("parent", store=store)
        run.log_metric("loss", 1.0)
        child = os.fork()
        if child == 0:
            sys.exit(0)  # the child runs its exit hooks: they must not flush or end the parent's run
        os.waitpid(child, 0)
        print(get_run(store, run.id).status, flush=True)
        run.log_metric("loss", 0.5, step=1)
        print(run.id, flush=True)
    """
    done = subprocess.run(
        _python(code, uri=uri, artifacts=artifacts), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    status_after_child, run_id = done.stdout.split()
    assert status_after_child == "running"
    assert get_run(store, run_id).status == "finished" and _points(store, run_id) == 2
    store.close()


def test_processes_logging_at_once_lose_no_points(tmp_path: Path, store_uri: str) -> None:
    store, uri, artifacts = _shared(store_uri, tmp_path)
    go = tmp_path / "go"
    code = f"""
        tracking.FLUSH_EVERY = 250  # many small transactions, so the writers contend for the lock
        from pathlib import Path
        while not Path({str(go)!r}).exists():
            time.sleep(0.005)
        for r in range(3):
            with start_run(f"writer {{sys.argv[1]}} run {{r}}", store=store) as run:
                for step in range(4_000):
                    run.log_metrics({{"loss": step / 4000, "accuracy": 1 - step / 4000}}, step=step)
                    if step % 1000 == 0:
                        run.log_params({{f"p{{step}}": step}})
    """
    writers = [
        subprocess.Popen(
            [*_python(code, uri=uri, artifacts=artifacts), str(number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(2)
    ]
    time.sleep(1.0)  # both have imported taxiway and opened the store
    go.touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=300)
        assert writer.returncode == 0, errors
    with store.session() as session:
        runs = list(session.scalars(select(RunRow)))
    assert len(runs) == 6 and {run.status for run in runs} == {"finished"}
    assert all(len(run.params) == 4 for run in runs)
    assert {_points(store, run.id) for run in runs} == {8_000}
    store.close()
