"""Distributed tuning on PostgreSQL: how much a second worker buys, and whether a trial's storage cost grows
with the study.

1. **Workers**: one project (6,000 generated rows, 20 features; a histogram-boosting model of 40 iterations,
   one thread per worker), its study in a fresh PostgreSQL database; ``tune_candidate(n_trials=N,
   workers=K)`` for K = 1 and K = 2, each on a new study of N trials (200 by default). Goal: 2 workers on this
   2-core machine ≥ 1.7× faster than 1.
2. **Storage overhead per trial**: the worker loop taxiway runs (`taxiway.train._study_loop`: the study lock,
   ask, heartbeat, tell, the count against the target) with an objective that does no work and Optuna's
   random sampler (TPE's own cost grows with the trials by design; this measures the storage), for 10,000
   trials of one study. Reported: the median seconds per trial over trials 1,000–1,200 and 9,800–10,000, and
   the growth between them. Goal: ≤ 20 %.

   ``--interleaved``: two studies filled to 1,000 and 10,000 finished trials, then 200 trials of each in
   alternating blocks of 20 (machine load falls on both alike). Same goal.

Usage: .venv/bin/python benchmarks/tuning.py [--trials 200] [--overhead-trials 10000] [--skip-workers]
       [--interleaved [--measured 200]]
Needs the local PostgreSQL server (TAXIWAY_TEST_POSTGRES, as the tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from taxiway.charter import render_charter
from taxiway.project import Project
from taxiway.train._study_loop import (
    HEARTBEAT_S,
    WORKER_ATTR,
    heartbeat_storage,
    raise_target,
    work_until_target,
)
from taxiway.train._study_storage import study_lock, study_storage
from taxiway.train.runner import prepare_training
from taxiway.train.tune import tune_candidate

ADMIN = os.environ.get("TAXIWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PIPELINE = """
from sklearn.ensemble import HistGradientBoostingClassifier


def model(params):
    return HistGradientBoostingClassifier(max_iter=MAX_ITER, **params)


def search_space(trial):
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 48, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 1.0, log=True),
    }
"""


def database() -> str:
    name = f"taxiway_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop(uri: str) -> None:
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{uri.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def project(root: Path, uri: str, fit_iterations: int = 40) -> Project:
    from sklearn.datasets import make_classification

    root.mkdir(parents=True)
    charter = render_charter(
        name="bench", task="classification", target="y", answers={"problem.ranking_metric": "log_loss"}
    )
    charter = charter.replace("\n[store]\n", f'\n[store]\nuri = "{uri}"\n', 1)
    (root / "taxiway.toml").write_text(charter, encoding="utf-8")
    pipeline = PIPELINE.replace("MAX_ITER", str(fit_iterations))
    (root / "pipeline.py").write_text(pipeline, encoding="utf-8")
    x, y = make_classification(n_samples=6_000, n_features=20, n_informative=8, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)]).assign(y=y)
    frame.to_csv(root / "rows.csv", index=False)
    from taxiway.data.versions import add_dataset

    loaded = Project.load(root)
    add_dataset(loaded.store, root / "rows.csv", target="y")
    return loaded


def workers(trials: int, fit_iterations: int = 40) -> dict[str, Any]:
    """Seconds for ``trials`` trials with 1 worker, then 2, then 2 and 1 again (ABBA: a warm-up or a drift of
    the machine's load falls on both alike); the medians. ``fit_iterations`` sets a trial's size."""
    uri = database()
    try:
        with tempfile.TemporaryDirectory() as folder:
            setup = prepare_training(project(Path(folder) / "p", uri, fit_iterations))
            seconds: dict[int, list[float]] = {1: [], 2: []}
            for number, count in enumerate((1, 2, 2, 1)):
                started = time.perf_counter()
                name = f"bench-{number}-{count}"
                report = tune_candidate(setup, n_trials=trials, workers=count, study_name=name)
                seconds[count].append(time.perf_counter() - started)
                finished = report.n_complete + report.n_pruned + report.n_failed
                took = seconds[count][-1]
                line = f"  {count} worker(s): {trials} trials in {took:.1f} s ({finished} finished)"
                if count == 2:
                    start_up = first_trial_of_helper(uri, name)
                    line += f"; the helper's first trial {start_up:.1f} s after the first"
                print(line)
            setup.project.store.close()
    finally:
        drop(uri)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    return {"one": one, "two": two, "speedup": one / two}


def first_trial_of_helper(uri: str, study_name: str) -> float:
    """Seconds from the study's first trial to the first trial a second process ran: the helper's start-up."""
    import optuna

    storage = study_storage(uri)
    rdb = optuna.storages.RDBStorage(storage.url, engine_kwargs=storage.engine_kwargs)
    study = optuna.load_study(study_name=study_name, storage=rdb)
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    first = min(t.datetime_start for t in trials)
    by_worker: dict[str, Any] = {}
    for trial in trials:
        worker = str(trial.user_attrs.get(WORKER_ATTR))
        by_worker[worker] = min(by_worker.get(worker, trial.datetime_start), trial.datetime_start)
    rdb.engine.dispose()
    return max(by_worker.values()).timestamp() - first.timestamp() if len(by_worker) > 1 else float("nan")


def overhead(trials: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    uri = database()
    try:
        with tempfile.TemporaryDirectory() as folder:
            loaded = project(Path(folder) / "p", uri)
            store = loaded.store
            storage = study_storage(uri)
            with study_lock(store, storage):
                rdb = heartbeat_storage(storage.url, storage.engine_kwargs, store, heartbeat_s=HEARTBEAT_S)
                study = optuna.create_study(
                    storage=rdb, study_name="overhead", sampler=optuna.samplers.RandomSampler(seed=0)
                )
                raise_target(study, trials)
            stamps: list[float] = []

            def objective(trial: Any) -> float:
                stamps.append(time.perf_counter())
                return float(trial.suggest_float("x", 0.0, 1.0))

            work_until_target(study, objective, lambda: study_lock(store, storage))
            rdb.engine.dispose()
            store.close()
    finally:
        drop(uri)
    per_trial = np.diff(np.array(stamps))
    early = float(statistics.median(per_trial[1_000:1_200]))
    late = float(statistics.median(per_trial[trials - 200 : trials]))
    return {"early_ms": early * 1e3, "late_ms": late * 1e3, "growth": late / early - 1}


def overhead_interleaved(early: int, late: int, measured: int, block: int = 20) -> dict[str, Any]:
    """The per-trial storage time at trial ``early`` and at trial ``late``, measured side by side.

    Two studies in one database, filled with ``early`` and ``late`` finished trials (Optuna's
    ``add_trials``), then ``measured`` trials of each, in alternating blocks of ``block``: load from other
    processes on the machine falls on both alike, which a 10,000-trial run of an hour does not give.
    """
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    uri = database()
    gaps: dict[str, list[float]] = {"early": [], "late": []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            loaded = project(Path(folder) / "p", uri)
            store = loaded.store
            storage = study_storage(uri)
            studies = {}
            with study_lock(store, storage):
                rdb = heartbeat_storage(storage.url, storage.engine_kwargs, store, heartbeat_s=HEARTBEAT_S)
                for name, size in (("early", early), ("late", late)):
                    study = optuna.create_study(
                        storage=rdb, study_name=name, sampler=optuna.samplers.RandomSampler(seed=0)
                    )
                    space = {"x": FloatDistribution(0.0, 1.0)}
                    for start in range(0, size, 1_000):
                        count = min(1_000, size - start)
                        study.add_trials(
                            [create_trial(params={"x": 0.5}, distributions=space, value=0.5)] * count
                        )
                    study.set_user_attr("taxiway_target_trials", size)
                    studies[name] = study
            print(f"  studies filled: {early:,} and {late:,} finished trials")
            while min(len(g) for g in gaps.values()) < measured:
                for name, study in studies.items():
                    stamps: list[float] = []

                    def objective(trial: Any, stamps: list[float] = stamps) -> float:
                        stamps.append(time.perf_counter())
                        return float(trial.suggest_float("x", 0.0, 1.0))

                    with study_lock(store, storage):
                        raise_target(study, block)
                    work_until_target(study, objective, lambda: study_lock(store, storage))
                    gaps[name].extend(np.diff(np.array(stamps)).tolist())
            rdb.engine.dispose()
            store.close()
    finally:
        drop(uri)
    early_s = float(statistics.median(gaps["early"]))
    late_s = float(statistics.median(gaps["late"]))
    return {"early_ms": early_s * 1e3, "late_ms": late_s * 1e3, "growth": late_s / early_s - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--fit-iterations",
        type=int,
        default=40,
        help="boosting iterations of a trial's model (40: ~0.2 s a trial here; 400: ~1 s)",
    )
    parser.add_argument("--overhead-trials", type=int, default=10_000)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="part 2 as two studies filled to 1,000 and --overhead-trials trials, measured side by side",
    )
    parser.add_argument("--measured", type=int, default=200, help="with --interleaved: trials per study")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    if not args.skip_workers:
        size = f"{args.fit_iterations} boosting iterations each"
        print(f"1. a study of {args.trials} trials ({size}), 1 worker then 2:")
        found = workers(args.trials, args.fit_iterations)
        verdict = "met" if found["speedup"] >= 1.7 else "NOT met"
        print(f"   speedup {found['speedup']:.2f}x (goal >= 1.7x: {verdict})")
    if args.interleaved:
        print(f"2. storage overhead per trial at trial 1,000 and at trial {args.overhead_trials:,}:")
        found = overhead_interleaved(1_000, args.overhead_trials, args.measured)
        verdict = "met" if found["growth"] <= 0.20 else "NOT met"
        print(
            f"   at 1,000: {found['early_ms']:.2f} ms; at {args.overhead_trials:,}: "
            f"{found['late_ms']:.2f} ms (medians of {args.measured}); growth {found['growth']:+.0%} "
            f"(goal <= +20%: {verdict})"
        )
        return
    print(f"2. storage overhead per trial over {args.overhead_trials:,} trials:")
    found = overhead(args.overhead_trials)
    verdict = "met" if found["growth"] <= 0.20 else "NOT met"
    print(
        f"   trials 1,000-1,200: {found['early_ms']:.2f} ms; last 200: {found['late_ms']:.2f} ms; "
        f"growth {found['growth']:+.0%} (goal <= +20%: {verdict})"
    )


if __name__ == "__main__":
    main()
