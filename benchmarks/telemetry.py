"""Telemetry cost on the request path: what `Telemetry` adds to each request, with and without it.

Issue 7 asks that telemetry and the prediction log cost under 10% of throughput at ~1,500 requests/s on
2 cores. This measures the calls a server makes per request, as fast as one thread can make them:

    with telemetry.in_flight():
        telemetry.request_done(...)
        telemetry.rows_answered(...)
        telemetry.log([PredictionRecord(...) per row])   # the records are built only when the log is on

- ``off``: ``Telemetry(enabled=False)``: every call returns at once (what a server with telemetry off pays).
- ``on``: metrics, snapshots and the prediction log, with the background thread running (flush every 1 s,
  snapshot every 10 s) into a fresh SQLite store and a local log folder. Its work (folding into Prometheus,
  writing Parquet, snapshots) runs in the same process, under the same GIL, so it is inside the timing:
  the figure is the whole cost, not just the append on the request path.
- ``on, multiprocess``: the same in a child process with ``PROMETHEUS_MULTIPROC_DIR`` set, as the server runs
  several workers (metric updates then go to memory-mapped files).

Run from the repository root:

    .venv/bin/python benchmarks/telemetry.py [--requests 200000] [--rows 1] [--repeats 3]

It prints calls per second, then microseconds per request: wall, CPU of the calling thread (what the request
path pays) and CPU of the whole process (the calls plus the background thread's work), and what the
difference costs at 1,500 requests/s on 2 cores. Figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RPS, CORES, GOAL_SHARE = 1_500, 2, 0.10


Timing = tuple[float, float, float]  # seconds: wall, CPU of the calling thread, CPU of the process


def one_pass(requests: int, rows: int, *, enabled: bool) -> Timing:
    """Make the calls of ``requests`` requests of ``rows`` rows and time them."""
    import numpy as np

    from taxiway.serve.telemetry import PredictionRecord, Telemetry
    from taxiway.store import Store, StoreLocation

    folder = Path(tempfile.mkdtemp(prefix="taxiway-bench-"))
    store = Store.open(StoreLocation(f"sqlite:///{folder / 'taxiway.db'}", str(folder / "artifacts")))
    telemetry = Telemetry(store, "bench:8000:1", enabled=enabled)
    telemetry.start()
    confidence = np.full(rows, 0.87)
    reasons: list[str | None] = [None] * rows
    inputs = json.dumps({"distance": 1200, "carrier": "UA", "origin": "JFK", "hour": 7})
    logging = telemetry.prediction_log is not None
    started, own, cpu = time.perf_counter(), time.thread_time(), time.process_time()
    for i in range(requests):
        with telemetry.in_flight():
            now = time.time()
            telemetry.request_done("/predict", 200, 0.0031, "v3", "blue", rows)
            telemetry.rows_answered("v3", "live", "blue", confidence, reasons)
            if logging:
                telemetry.log(
                    [
                        PredictionRecord(
                            f"req-{i}", now, "v3", "blue", "live", inputs, '"late"', 0.87, None, 3.1
                        )
                        for _ in range(rows)
                    ]
                )
    own = time.thread_time() - own
    telemetry.stop()  # the last flush and snapshot are part of the cost
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    return wall, own, cpu


def measure(requests: int, rows: int, repeats: int, *, enabled: bool) -> Timing:
    passes = [one_pass(requests, rows, enabled=enabled) for _ in range(repeats)]
    wall, own, cpu = (statistics.median(p[i] for p in passes) for i in range(3))
    return wall, own, cpu


def in_multiprocess_mode(requests: int, rows: int, repeats: int) -> Timing:
    """The ``on`` pass in a child whose environment names a metrics folder before anything is imported."""
    with tempfile.TemporaryDirectory() as shared:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": shared}
        args = [
            sys.executable,
            __file__,
            "--child",
            "--requests",
            str(requests),
            "--rows",
            str(rows),
            "--repeats",
            str(repeats),
        ]
        out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    wall, own, cpu = json.loads(out.strip().splitlines()[-1])
    return float(wall), float(own), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    n, rows, repeats = options.requests, options.rows, options.repeats
    if options.child:
        print(json.dumps(measure(n, rows, repeats, enabled=True)))
        return
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"{n:,} requests of {rows} row(s), median of {repeats}"
    )
    results = {
        "off": measure(n, rows, repeats, enabled=False),
        "on": measure(n, rows, repeats, enabled=True),
        "on, multiprocess": in_multiprocess_mode(n, rows, repeats),
    }
    print(
        f"{'telemetry':<18}{'calls/s':>10}{'wall µs':>10}{'caller µs':>11}{'process µs':>12}  (per request)"
    )
    for name, (wall, own, cpu) in results.items():
        print(
            f"{name:<18}{n / wall:>10,.0f}{wall / n * 1e6:>10.2f}{own / n * 1e6:>11.2f}{cpu / n * 1e6:>12.2f}"
        )
    for name in ("on", "on, multiprocess"):
        extra_us = (results[name][2] - results["off"][2]) / n * 1e6
        share = extra_us * 1e-6 * TARGET_RPS / CORES
        print(
            f"{name}: +{extra_us:.2f} CPU µs per request = {share:.2%} of {CORES} cores at "
            f"{TARGET_RPS:,} requests/s (goal: under {GOAL_SHARE:.0%})"
        )


if __name__ == "__main__":
    main()
