"""Runs on PostgreSQL at team size: 100,000 runs × 50 metrics, sorted by a metric.

Builds a fresh PostgreSQL database with 100,000 runs of 50 metrics each (inserted as the tracking API's
flush writes them: one Core insert per batch), then times, in this process, the two queries that answer
`taxiway runs --sort METRIC --limit 50` (`list_runs`) and the runs page of `taxiway ui` sorted by a metric
(`query_runs`, 50 a page, with its count), reporting median and p95 over ``--repeats``.

MLflow side by side: the same runs (same ids' count, the same metric values) in MLflow's own schema, in a
second fresh database made by MLflow's `SqlAlchemyStore` (its migrations), loaded with PostgreSQL's COPY
into ``runs``, ``metrics`` (one point per metric, as a finished run logs it) and ``latest_metrics``; then
MLflow's `search_runs` ordered by the metric, 50 results (what its tracking server does for the UI and for
`mlflow.search_runs`). Both are timed in this process against the same server.

Goal (issue 19): p95 < 500 ms for taxiway's.

Usage: .venv/bin/python benchmarks/runs_postgres.py [--runs 100000] [--metrics 50] [--repeats 20]
[--no-mlflow] (MLflow: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import uuid
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, text

from taxiway.store import Store, StoreLocation
from taxiway.store.tables import RunRow
from taxiway.train.run_search import RunQuery, query_runs
from taxiway.train.runs import list_runs

ADMIN = os.environ.get("TAXIWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def metric_names(metrics: int) -> list[str]:
    return ["roc_auc", "log_loss", *(f"metric_{i}" for i in range(metrics - 2))]


def build(store: Store, runs: int, metrics: int) -> None:
    rng = np.random.default_rng(0)
    names = metric_names(metrics)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    batch: list[dict[str, Any]] = []
    with store.engine.begin() as connection:
        for index in range(runs):
            began = start + dt.timedelta(seconds=int(index * 30))
            batch.append(
                {
                    "id": f"r-{uuid.uuid4().hex[:12]}",
                    "name": f"trial {index}",
                    "kind": "trial",
                    "status": "finished",
                    "params": {"learning_rate": float(rng.uniform(0.01, 0.3))},
                    "metrics": {name: float(rng.uniform()) for name in names},
                    "lineage": {},
                    "resources": {},
                    "tags": {},
                    "started_at": began,
                    "ended_at": began + dt.timedelta(seconds=20),
                }
            )
            if len(batch) == 5_000:
                connection.execute(insert(RunRow), batch)
                batch = []
        if batch:
            connection.execute(insert(RunRow), batch)
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE runs"))


def build_mlflow(uri: str, runs: int, metrics: int) -> tuple[Any, str]:
    """MLflow's SQL store in the database at ``uri``, with the same runs; returns it and the experiment id."""
    import psycopg
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, "/tmp/taxiway-bench-mlflow-artifacts")
    experiment = store.create_experiment("bench")
    rng = np.random.default_rng(0)  # the same values as taxiway's runs, drawn in the same order
    names = metric_names(metrics)
    start_ms = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with connection.cursor() as cursor:
            with (
                cursor.copy(
                    "COPY runs (run_uuid, name, source_type, status, start_time, end_time, lifecycle_stage, "
                    "artifact_uri, experiment_id, user_id) FROM STDIN"
                ) as run_copy,
            ):
                ids = [uuid.uuid4().hex for _ in range(runs)]
                for index, run_id in enumerate(ids):
                    began = start_ms + index * 30_000
                    run_copy.write_row(
                        (
                            run_id,
                            f"trial {index}",
                            "LOCAL",
                            "FINISHED",
                            began,
                            began + 20_000,
                            "active",
                            f"/tmp/a/{run_id}",
                            int(experiment),
                            "bench",
                        )
                    )
            values = []
            for run_id in ids:
                rng.uniform(0.01, 0.3)  # taxiway's learning rate, drawn to keep the metric values equal
                values.append((run_id, [float(rng.uniform()) for _ in names]))
            for table in ("metrics", "latest_metrics"):
                with cursor.copy(
                    f"COPY {table} (key, value, timestamp, step, is_nan, run_uuid) FROM STDIN"
                ) as copy:
                    for run_id, row in values:
                        for name, value in zip(names, row, strict=True):
                            copy.write_row((name, value, start_ms, 0, False, run_id))
        connection.commit()
        connection.execute("ANALYZE")
    return store, experiment


def timed(call: Any, repeats: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1e3, float(np.percentile(seconds, 95)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    name = f"taxiway_bench_{uuid.uuid4().hex[:12]}"
    mlflow_name = f"{name}_mlflow"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{mlflow_name}"'))
    try:
        uri = ADMIN.rsplit("/", 1)[0] + f"/{name}"
        store = Store.open(StoreLocation(uri, "/tmp/taxiway-bench-artifacts"))
        started = time.perf_counter()
        build(store, args.runs, args.metrics)
        took = time.perf_counter() - started
        print(f"{args.runs:,} runs × {args.metrics} metrics inserted in {took:.0f} s")
        cases = {
            "taxiway runs --sort roc_auc --limit 50": lambda: list_runs(store, sort="roc_auc", limit=50),
            "taxiway runs --sort log_loss --limit 50": lambda: list_runs(store, sort="log_loss", limit=50),
            "runs page, sorted by roc_auc": lambda: query_runs(store, RunQuery.parse({}, "roc_auc")),
            "runs page 100, sorted by log_loss": lambda: query_runs(
                store, RunQuery.parse({"sort": "metric:log_loss", "page": "100"}, "roc_auc")
            ),
        }
        medians = {}
        for label, call in cases.items():
            median, p95 = timed(call, args.repeats)
            medians[label] = median
            verdict = "met" if p95 < 500 else "NOT met"
            print(f"{label}: median {median:.0f} ms, p95 {p95:.0f} ms (goal p95 < 500 ms: {verdict})")
        store.close()
        if not args.no_mlflow:
            from mlflow.entities import ViewType

            started = time.perf_counter()
            mlflow_store, experiment = build_mlflow(
                ADMIN.rsplit("/", 1)[0] + f"/{mlflow_name}", args.runs, args.metrics
            )
            print(f"MLflow: the same runs loaded in {time.perf_counter() - started:.0f} s")
            for metric, order, ours in (
                ("roc_auc", "DESC", "taxiway runs --sort roc_auc --limit 50"),
                ("log_loss", "ASC", "taxiway runs --sort log_loss --limit 50"),
            ):

                def search(metric: str = metric, order: str = order) -> Any:
                    return mlflow_store.search_runs(
                        [experiment],
                        "",
                        ViewType.ACTIVE_ONLY,
                        max_results=50,
                        order_by=[f"metrics.{metric} {order}"],
                    )

                assert len(search()) == 50
                median, p95 = timed(search, args.repeats)
                print(
                    f"MLflow search_runs order_by metrics.{metric} {order}, 50 results: median "
                    f"{median:.0f} ms, p95 {p95:.0f} ms; taxiway is {median / medians[ours]:.1f}x faster "
                    "(medians)"
                )
            mlflow_store.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{mlflow_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
