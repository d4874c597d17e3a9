"""The dashboard's speed: the runs page over 10,000 runs, the compare page for two runs of 50,000 rows each.

Builds a store in a temporary folder: 10,000 runs inserted directly (one SQLAlchemy Core insert, as the
tracking API's flush writes them) with 10 metrics and 6 params each, plus twice ``--pairs`` pairs of runs
whose 50,000-row validation predictions are logged through the tracking API. For half the pairs, each run's
bootstrap replicates are then computed and stored by ``record_replicates``, the call training makes after
storing a run's predictions (its time per run is reported: the cost moved from the page to training); the
other half are left as user code that logs predictions itself leaves them. Then starts
`taxiway ui --port 0` (a real uvicorn on 127.0.0.1) and times pages with httpx, reporting medians.

The compare page keeps comparisons it computed (keyed by the predictions' content digests), so first views
and later views ("warm") are reported apart. Each first view is the first request for a pair never compared
before: of a pair without stored replicates (the paired bootstrap runs, then stores each run's replicates),
of a pair whose replicates training stored, and of a pair of the first kind again with the runs the other
way round (another comparison for the page, which reads the replicates its first view stored).

Beside each page's times, the median CPU time the server process spent answering it (all its threads,
user + system; read from /proc in 10 ms ticks): on a shared machine, wall times grow with the other jobs'
load, CPU time much less.

Goals (benchmark, not test): runs page < 300 ms, compare page < 1 s.

Usage: .venv/bin/python benchmarks/ui.py [--runs 10000] [--rows 50000] [--pairs 5] [--repeats 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import psutil
from sqlalchemy import Table, insert

from taxiway.charter import render_charter
from taxiway.measure.predictions import Predictions
from taxiway.measure.scores import score_predictions
from taxiway.project import Project
from taxiway.store.tables import RunRow
from taxiway.train.replicates import ReplicateSettings, record_replicates
from taxiway.train.tracking import start_run

METRICS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "brier",
    "expected_cost",
)
KINDS = ("trial",) * 8 + ("candidate", "baseline")
TAXIWAY = str(Path(sys.executable).with_name("taxiway"))


Pair = tuple[str, str]


def build(
    root: Path, *, runs: int, rows: int, pairs: int
) -> tuple[list[Pair], list[Pair], list[tuple[float, float]]]:
    """The project folder with its store; returns the pairs of run ids to compare without and with stored
    replicates, and the seconds (wall, CPU) each ``record_replicates`` call took."""
    root.mkdir(parents=True)
    charter = render_charter(
        name="bench",
        task="classification",
        target="y",
        answers={"problem.ranking_metric": "roc_auc", "problem.good_enough": 0.9},
    )
    (root / "taxiway.toml").write_text(charter, encoding="utf-8")
    project = Project.load(root)
    store = project.store
    rng = np.random.default_rng(0)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    records: list[dict[str, Any]] = []
    for index in range(runs):
        began = start + dt.timedelta(seconds=int(rng.integers(0, 60 * 86400)))
        quality = float(rng.uniform(0.6, 0.97))
        records.append(
            {
                "id": f"r-{uuid.uuid4().hex[:12]}",
                "name": f"trial-{index}",
                "kind": KINDS[index % len(KINDS)],
                "status": "finished" if index % 50 else "failed",
                "parent_id": None,
                "dataset_id": None,
                "split_id": None,
                "params": {
                    "learning_rate": float(rng.uniform(0.01, 0.3)),
                    "max_depth": int(rng.integers(2, 12)),
                    "max_iter": int(rng.integers(50, 500)),
                    "l2": float(rng.uniform(0, 1)),
                    "min_samples_leaf": int(rng.integers(5, 100)),
                    "seed": index,
                },
                "metrics": {name: float(np.clip(quality + rng.normal(0, 0.02), 0, 1)) for name in METRICS},
                "lineage": {},
                "resources": {"fit_seconds": float(rng.uniform(0.1, 30))},
                "tags": {},
                "started_at": began,
                "ended_at": began + dt.timedelta(seconds=float(rng.uniform(1, 600))),
            }
        )
    with store.engine.begin() as connection:
        connection.execute(insert(cast(Table, RunRow.__table__)), records)
    chosen: dict[bool, list[Pair]] = {False: [], True: []}
    recorded: list[tuple[float, float]] = []
    settings = ReplicateSettings.from_charter(project.charter)  # what the compare page compares with
    y = rng.integers(0, 2, rows)
    keys = np.array([f"{i:016x}" for i in range(rows)], dtype=object)
    for pair in range(2 * pairs):
        stored = pair % 2 == 1
        ids = []
        for noise in (1.0, 1.05):
            score = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise, rows))))
            p = Predictions(
                keys, y, (score >= 0.5).astype(int), np.column_stack([1 - score, score]), np.array([0, 1])
            )
            with start_run(f"pair-{pair}-noise-{noise}", kind="candidate", store=store) as run:
                run.log_metrics(score_predictions(p))
                run.log_param("decision_threshold", 0.5)
                run.set_predictions(run.log_bytes("predictions.parquet", p.to_parquet()))
            if stored:
                wall, cpu = time.perf_counter(), time.process_time()
                if record_replicates(store, run.id, settings) is None:
                    raise SystemExit(f"run {run.id}: replicates not stored (see the warning above)")
                recorded.append((time.perf_counter() - wall, time.process_time() - cpu))
            ids.append(run.id)
        chosen[stored].append((ids[0], ids[1]))
    store.close()
    return chosen[False], chosen[True], recorded


def timed(
    client: httpx.Client, server: psutil.Process, path: str, params: Any = None, headers: Any = None
) -> tuple[float, float]:
    """Seconds until the response arrived, and the server's CPU seconds meanwhile."""
    cpu = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    response = client.get(path, params=params, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {path} {params}: {response.status_code}\n{response.text[:2000]}")
    return elapsed, sum(server.cpu_times()[:2]) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taxiway-bench-ui-") as folder:
        root = Path(folder) / "project"
        began = time.perf_counter()
        cold, stored, recorded = build(root, runs=args.runs, rows=args.rows, pairs=args.pairs)
        print(
            f"built {args.runs:,} runs + {4 * args.pairs} runs of {args.rows:,} rows "
            f"in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
        server = subprocess.Popen(
            [TAXIWAY, "--project", str(root), "ui", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().decode().split(" at ")[1].split()[0].rstrip("/")
            report(url, psutil.Process(server.pid), cold, stored, args)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)

        walls, cpus = [wall for wall, _ in recorded], [cpu for _, cpu in recorded]
        print(
            f"record_replicates, per run of {args.rows:,} rows (read its predictions, score the charter's "
            f"resamples, store): median {statistics.median(walls) * 1000:.0f} ms "
            f"(min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}, n={len(walls)}), "
            f"CPU {statistics.median(cpus) * 1000:.0f} ms"
        )


def report(
    url: str, server: psutil.Process, cold: list[Pair], stored: list[Pair], args: argparse.Namespace
) -> None:
    pages = {
        "runs page, default (sorted by roc_auc in SQL)": ("/runs", None),
        "runs page, sorted by log_loss ascending": ("/runs", {"sort": "metric:log_loss", "order": "asc"}),
        "runs page, page 150 of 200": ("/runs", {"page": "150"}),
        "runs page, filtered (kind, name, dates)": (
            "/runs",
            {"kind": "trial", "q": "trial-9", "since": "2026-10-15", "until": "2026-11-15"},
        ),
        "runs table only (htmx swap, sorted by f1)": ("/runs", {"sort": "metric:f1"}),
    }
    rows: list[tuple[str, list[tuple[float, float]]]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        timed(client, server, "/runs")  # warm-up: imports, first connection
        for label, (path, params) in pages.items():
            headers = {"HX-Request": "true"} if "htmx" in label else None
            rows.append((label, [timed(client, server, path, params, headers) for _ in range(args.repeats)]))

        def compare(a: str, b: str) -> tuple[float, float]:
            return timed(client, server, "/compare", [("run", a), ("run", b)])

        first = [compare(a, b) for a, b in cold]
        read = [compare(a, b) for a, b in stored]
        reversed_ = [compare(b, a) for a, b in cold]
        warm = [compare(a, b) for a, b in cold + stored for _ in range(3)]
        shape = f"2 runs × {args.rows:,} rows"
        rows.append((f"compare page, {shape}, first view, no stored replicates (paired bootstrap)", first))
        rows.append((f"compare page, {shape}, first view, replicates stored by training", read))
        rows.append(
            ("compare page, first view of those first pairs reversed (replicates stored by it)", reversed_)
        )
        rows.append(("compare page, same pairs viewed again (kept comparison)", warm))
    load = os.getloadavg()
    print(
        f"\n{args.runs:,} runs; {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n"
    )
    print("| page | median | min | max | n | server CPU |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, measured in rows:
        times = [elapsed for elapsed, _ in measured]
        cpu = statistics.median(spent for _, spent in measured)
        print(
            f"| {label} | {statistics.median(times) * 1000:.0f} ms | {min(times) * 1000:.0f} ms | "
            f"{max(times) * 1000:.0f} ms | {len(times)} | {cpu * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
