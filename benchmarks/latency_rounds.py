"""Does the latency probe's early stop (a round that lowers the p99 by 10% or less) move its readings?
Interleaved against a probe that always times every round, on the model of benchmarks/latency_stability.py.

    .venv/bin/python benchmarks/latency_rounds.py [--repeats 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latency_stability import weather_model  # this script's folder is on the path when it runs

from taxiway.validate import serving

NEVER = -1.0  # an agreement no round reaches: the probe then always times ROUNDS rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    options = parser.parse_args()
    saved, x = weather_model()
    found: dict[str, list[tuple[float, int]]] = {
        "stops when a round changes little": [],
        f"always {serving.ROUNDS} rounds": [],
    }
    rule = serving.ROUNDS_AGREE
    for _ in range(options.repeats):
        for name, agree in zip(found, (rule, NEVER), strict=True):
            serving.ROUNDS_AGREE = agree
            measured = serving.start_serving_probe(
                saved.data,
                model_format=saved.format,
                trusted_types=saved.trusted_types,
                rows=x.iloc[:1000],
                method="predict_proba",
            ).result()
            found[name].append((measured.p99_ms, measured.rounds))
            print(f"{name}: p99 {measured.p99_ms:.2f} ms, {measured.rounds} rounds", file=sys.stderr)
    serving.ROUNDS_AGREE = rule
    print(f"load average {os.getloadavg()[0]:.1f}, {options.repeats} readings each")
    print("| probe | p99 ms (rounds) | spread | median |")
    print("| --- | --- | ---: | ---: |")
    for name, values in found.items():
        p99s = [value for value, _ in values]
        readings = ", ".join(f"{value:.2f} ({rounds})" for value, rounds in values)
        print(f"| {name} | {readings} | {max(p99s) / min(p99s):.2f}x | {statistics.median(p99s):.2f} |")


if __name__ == "__main__":
    main()
