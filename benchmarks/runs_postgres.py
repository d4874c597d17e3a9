"""Runs on PostgreSQL at team size: 100,000 runs × 50 metrics, sorted by a metric.

Builds a fresh PostgreSQL database with 100,000 runs of 50 metrics each (inserted as the tracking API's
flush writes them: one Core insert per batch), then times, in this process, the two queries that answer
`taxiway runs --sort METRIC --limit 50` (`list_runs`) and the runs page of `taxiway ui` sorted by a metric
(`query_runs`, 50 a page, with its count), reporting median and p95 over ``--repeats``.

Goal (issue 19): p95 < 500 ms for both. MLflow's `search_runs` over the same runs is not measured yet.

Usage: .venv/bin/python benchmarks/runs_postgres.py [--runs 100000] [--metrics 50] [--repeats 20]
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
from taxiway.ui.run_table import RunQuery, query_runs

from taxiway.store import Store, StoreLocation
from taxiway.store.tables import RunRow
from taxiway.train.runs import list_runs

ADMIN = os.environ.get("TAXIWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def build(store: Store, runs: int, metrics: int) -> None:
    rng = np.random.default_rng(0)
    names = ["roc_auc", "log_loss", *(f"metric_{i}" for i in range(metrics - 2))]
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
    args = parser.parse_args()
    name = f"taxiway_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
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
        for label, call in cases.items():
            median, p95 = timed(call, args.repeats)
            verdict = "met" if p95 < 500 else "NOT met"
            print(f"{label}: median {median:.0f} ms, p95 {p95:.0f} ms (goal p95 < 500 ms: {verdict})")
        store.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
