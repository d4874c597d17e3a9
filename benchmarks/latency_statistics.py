"""Which statistic of single-row timings reads the same on a quiet and on a busy machine? Recorded timings of
the model of benchmarks/latency_stability.py, read four ways.

A fresh process loads the model (pickled), caps its thread pools at 1, and times 4 rounds of 100 single-row
predictions, each after the reference workload of taxiway/validate/contention.py; every timing is kept. It
runs ``--repeats`` times as the machine is, beside one busy-spinning process per core, and beside one
(``memory``) or two (``memory x2``) processes per core streaming 64 MB through memory. Then each run's
timings are read as:

- ``best round p99``: the p99 of the round with the lowest p99 (the gate before; first 3 rounds);
- ``each row's best``: the p99 over rows of each row's fastest round;
- ``normalised``: as the gate reads it now (``read_latency``), the host's quiet reference being the lowest
  median reference time of all runs here;
- ``thread time p50`` beside ``CPU time p50``: the clock (CPU of the probe's thread vs of its process).

    .venv/bin/python benchmarks/latency_statistics.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from latency_stability import _spin, _stream, busy, weather_model  # this script's folder is on the path

from taxiway.train.packaging import load_model
from taxiway.validate.contention import read_latency

ROUNDS, ROWS = 4, 100

_TIMINGS = """
import json, pickle, sys, time
import pandas as pd
from threadpoolctl import threadpool_limits

model, rows = pickle.load(open(sys.argv[1], "rb"))
predict = model.predict_proba
with threadpool_limits(1):
    predict(rows.iloc[:1])
    from taxiway.validate.contention import reference_workload
    reference = reference_workload(1)
    reference()
    found = {"cpu": [], "thread": [], "reference": []}
    for _ in range(int(sys.argv[2])):
        cpu, thread, beside = [], [], []
        for index in range(int(sys.argv[3])):
            row = rows.iloc[index : index + 1]
            started = time.process_time()
            reference()
            beside.append(time.process_time() - started)
            started, own = time.process_time(), time.thread_time()
            predict(row)
            cpu.append(time.process_time() - started)
            thread.append(time.thread_time() - own)
        found["cpu"].append(cpu); found["thread"].append(thread); found["reference"].append(beside)
print(json.dumps(found))
"""


def timings(model_file: Path) -> dict[str, list[list[float]]]:
    """Every timing of one fresh process on the pickled model and rows in ``model_file``."""
    args = [sys.executable, "-c", _TIMINGS, str(model_file), str(ROUNDS), str(ROWS)]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    found = subprocess.run(args, env=env, cwd=model_file.parent, capture_output=True, text=True, check=True)
    return json.loads(found.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    saved, x = weather_model()
    cores = os.cpu_count() or 2
    conditions = {"as is": (0, _spin), "busy": (cores, _spin), "memory": (cores, _stream)}
    conditions["memory x2"] = (2 * cores, _stream)
    runs: list[tuple[str, float, dict[str, list[list[float]]]]] = []
    with tempfile.TemporaryDirectory() as folder:
        model_file = Path(folder) / "model.pickle"
        model = load_model(saved.data, saved.format, saved.trusted_types)
        model_file.write_bytes(pickle.dumps((model, x.iloc[:ROWS])))
        for _ in range(options.repeats):
            for condition, (processes, work) in conditions.items():
                with busy(processes, work):
                    runs.append((condition, os.getloadavg()[0], timings(model_file)))
                    print(f"{condition}: done", file=sys.stderr)
    host = min(float(np.median(found["reference"])) * 1000 for _, _, found in runs)
    statistics: dict[str, list[float]] = {}
    print(f"{cores} cores, {ROUNDS} rounds of {ROWS} rows a run; host's quiet reference {host:.2f} ms")
    print("| condition | load | best round p99 | each row's best | normalised (factor) | CPU / thread p50 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for condition, load, found in runs:
        cpu = np.array(found["cpu"]) * 1000
        best_round = min(float(np.percentile(r, 99)) for r in cpu[:3])
        reading = read_latency(found["cpu"], found["reference"], host)
        figures = {"best round p99": best_round, "each row's best": reading.raw_p99_ms}
        figures["normalised"] = reading.p99_ms
        for name, value in figures.items():
            statistics.setdefault(name, []).append(value)
        clocks = f"{np.median(cpu):.2f} / {np.median(found['thread']) * 1000:.2f}"
        print(
            f"| {condition} | {load:.1f} | {best_round:.2f} | {reading.raw_p99_ms:.2f} | "
            f"{reading.p99_ms:.2f} ({reading.contention:.2f}) | {clocks} |"
        )
    spreads = ", ".join(f"{name} {max(v) / min(v):.2f}x" for name, v in statistics.items())
    print(f"spread of all readings (largest / smallest): {spreads}")


if __name__ == "__main__":
    main()
