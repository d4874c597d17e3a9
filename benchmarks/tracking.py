"""Tracking speed: taxiway's `log_metric` against MLflow's `log_batch` and `log_metric`, in one run.

The workload: 100 runs, each with 10 params and 3 metrics over 50 steps (15,000 metric points), into a
fresh SQLite store in a temporary folder. A pass is timed from the first call until the last run has
ended, its data committed; store creation (tables, migrations) and imports are outside the timing.
After each pass the script counts the stored points and stops if any is missing.

- taxiway: ``start_run`` / ``log_param`` / ``log_metric`` one call per value, as in a training loop.
- MLflow ``log_batch``: ``MlflowClient`` with one ``log_batch`` per run holding all its params and
  points: the fastest way MLflow offers, and one a training loop can only use after the fact.
- MLflow per call: ``mlflow.start_run`` / ``log_param`` / ``log_metric``, one call per value. It
  commits every value (~4 ms each), so by default it records the first 20 runs of the workload per
  pass and the rate is given for those (``--per-call-runs 100`` records all of them: ~60 s a pass).

Run from the repository root (the ``bench`` extra installs MLflow):

    .venv/bin/python benchmarks/tracking.py [--repeats 3] [--per-call-runs 20]

Figures are medians over the repeats; results and the machine are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

# MLflow 3 sends usage telemetry unless told not to; a benchmark must not wait on the network.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

RUNS, PARAMS, STEPS = 100, 10, 50
METRICS = ("loss", "accuracy", "roc_auc")
POINTS = RUNS * STEPS * len(METRICS)
GOAL_RATIO, GOAL_POINTS_PER_S = 10.0, 50_000.0
# Precomputed, so that making up numbers costs nothing inside the timed loops.
VALUES = [[0.5 + 0.4 * math.sin(step / 7 + k) for k in range(len(METRICS))] for step in range(STEPS)]

Pass = Callable[[Path, int], float]  # (empty folder, number of runs) -> seconds


def taxiway_pass(folder: Path, runs: int) -> float:
    """The workload through taxiway's tracking API, one call per value."""
    from sqlalchemy import func, select

    from taxiway.store import Store, StoreLocation
    from taxiway.store.tables import MetricPointRow, RunRow
    from taxiway.train.tracking import start_run

    store = Store.open(StoreLocation(f"sqlite:///{folder / 'taxiway.db'}", str(folder / "artifacts")))
    started = time.perf_counter()
    for r in range(runs):
        with start_run(f"run {r}", store=store) as run:
            for p in range(PARAMS):
                run.log_param(f"param_{p}", p * 0.5)
            for step, values in enumerate(VALUES):
                for key, value in zip(METRICS, values, strict=True):
                    run.log_metric(key, value, step=step)
    elapsed = time.perf_counter() - started
    with store.session() as session:
        points = session.scalar(select(func.count()).select_from(MetricPointRow))
        finished = session.scalar(select(func.count()).select_from(RunRow).where(RunRow.status == "finished"))
    store.close()
    _verify("taxiway", points, finished, runs)
    return elapsed


def mlflow_batch_pass(folder: Path, runs: int) -> float:
    """The workload through MLflow's client, one ``log_batch`` per run."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.create_experiment("bench", artifact_location=(folder / "mlartifacts").as_uri())
    started = time.perf_counter()
    for r in range(runs):
        run_id = client.create_run(experiment, run_name=f"run {r}").info.run_id
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, now, step)
            for step, values in enumerate(VALUES)
            for key, value in zip(METRICS, values, strict=True)
        ]
        params = [Param(f"param_{p}", str(p * 0.5)) for p in range(PARAMS)]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id)
    elapsed = time.perf_counter() - started
    _verify("MLflow log_batch", *_mlflow_counts(folder), runs)
    return elapsed


def mlflow_per_call_pass(folder: Path, runs: int) -> float:
    """The workload through MLflow's fluent API, one call per value."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = mlflow.create_experiment("bench", artifact_location=(folder / "mlartifacts").as_uri())
    started = time.perf_counter()
    for r in range(runs):
        with mlflow.start_run(experiment_id=experiment, run_name=f"run {r}"):
            for p in range(PARAMS):
                mlflow.log_param(f"param_{p}", p * 0.5)
            for step, values in enumerate(VALUES):
                for key, value in zip(METRICS, values, strict=True):
                    mlflow.log_metric(key, value, step=step)
    elapsed = time.perf_counter() - started
    _verify("MLflow per call", *_mlflow_counts(folder), runs)
    return elapsed


def _mlflow_counts(folder: Path) -> tuple[int, int]:
    with sqlite3.connect(folder / "mlflow.db") as connection:
        points = connection.execute("SELECT count(*) FROM metrics").fetchone()[0]
        finished = connection.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0]
    connection.close()
    return points, finished


def _verify(tool: str, points: int | None, finished: int | None, runs: int) -> None:
    expected = runs * STEPS * len(METRICS)
    if points != expected or finished != runs:
        sys.exit(f"{tool}: {points} of {expected} points and {finished} of {runs} finished runs stored")


def measure(tool: Pass, runs: int) -> float:
    """Points per second of one pass, in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="taxiway-bench-") as folder:
        seconds = tool(Path(folder), runs)
    return runs * STEPS * len(METRICS) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes per tool (default 3)")
    parser.add_argument(
        "--per-call-runs",
        type=int,
        default=20,
        help="runs MLflow's per-call pass records (default 20 of 100)",
    )
    args = parser.parse_args()
    per_call_runs = min(max(args.per_call_runs, 1), RUNS)
    import mlflow  # noqa: F401 - imported here, untimed; it sets its loggers up as it loads

    for name in ("mlflow", "alembic"):  # their INFO lines about creating tables are not results
        logging.getLogger(name).setLevel(logging.WARNING)
    versions = ", ".join(
        f"{label} {number}"
        for label, number in (
            ("Python", platform.python_version()),
            ("SQLite", sqlite3.sqlite_version),
            ("SQLAlchemy", version("sqlalchemy")),
            ("taxiway", version("taxiway")),
            ("MLflow", version("mlflow-skinny")),
        )
    )
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; {os.cpu_count()} CPUs")
    print(versions)
    print(
        f"workload: {RUNS} runs × {PARAMS} params × {len(METRICS)} metrics × {STEPS} steps "
        f"= {POINTS:,} points; {args.repeats} passes each, after one untimed warm-up pass of 2 runs\n"
    )
    tools: dict[str, tuple[Pass, int]] = {
        "taxiway": (taxiway_pass, RUNS),
        "MLflow log_batch": (mlflow_batch_pass, RUNS),
        "MLflow per call": (mlflow_per_call_pass, per_call_runs),
    }
    for tool, _ in tools.values():  # first calls load code lazily; a training job pays that once
        measure(tool, 2)
    rates: dict[str, list[float]] = {name: [] for name in tools}
    for repeat in range(args.repeats):  # interleaved, so drift on the machine hits every tool alike
        for name, (tool, runs) in tools.items():
            rates[name].append(measure(tool, runs))
        shown = ", ".join(f"{name} {values[-1]:,.0f}" for name, values in rates.items())
        print(f"pass {repeat + 1}: {shown} points/s", flush=True)
    taxiway, batch, per_call = (statistics.median(values) for values in rates.values())
    scope = "all runs" if per_call_runs == RUNS else f"first {per_call_runs} of {RUNS} runs per pass"
    print("\nmedians, points/s from the first call until the data is committed and the runs ended:")
    print(
        f"  taxiway log_metric, one call per value {taxiway:>10,.0f}  ({POINTS / taxiway:.3f} s a workload)"
    )
    print(f"  MLflow log_batch, one call per run     {batch:>10,.0f}  ({POINTS / batch:.2f} s a workload)")
    print(f"  MLflow log_metric, one call per value  {per_call:>10,.0f}  ({scope})")
    print(f"taxiway / MLflow log_batch: {taxiway / batch:.1f}×")
    print(f"taxiway / MLflow per call:  {taxiway / per_call:.0f}×")
    met = taxiway / batch >= GOAL_RATIO and taxiway >= GOAL_POINTS_PER_S
    goal = f"≥ {GOAL_RATIO:g}× MLflow log_batch and ≥ {GOAL_POINTS_PER_S:,.0f} points/s"
    print(f"goal ({goal}): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
