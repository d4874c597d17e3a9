"""When to retrain: `taxiway ct simulate`'s policies replayed on the NYC flights of 2013, labels 7 days late.

The goal (issue 17): the charter's default policy keeps the cumulative ROC AUC within 0.005 of retraining
every day while running at most 25% of its retrains; no promoted version is worse than the one it replaced
on the holdout it was judged on. The anchors (TFX, SageMaker, KServe, Vertex, MLflow, CML) ship no such
replay, so the comparison is between policies, with retraining every day as the reference.

    .venv/bin/python benchmarks/ct_simulate.py --rows 50000 --out ct_simulate.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from taxiway.ct.simulate import POLICIES, Settings, simulate
from taxiway.demo.flights import TARGET, flights_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="a reproducible sample of the flights")
    parser.add_argument("--delay", type=int, default=7, help="days before a flight's label arrives")
    parser.add_argument("--out", type=Path, default=None, help="write every outcome as JSON here")
    args = parser.parse_args()
    frame = flights_frame(rows=args.rows).drop(columns=["year"])
    settings = Settings(time_column="time_hour", target=TARGET, label_delay_days=args.delay)
    started = time.perf_counter()
    outcomes = simulate(
        frame, settings, policies=POLICIES, progress=lambda p: print(f"replaying {p} ...", flush=True)
    )
    daily = next(o for o in outcomes if o.policy == "daily")
    print(f"\n{len(frame):,} flights, labels {args.delay} days late, {time.perf_counter() - started:.0f} s")
    print(
        f"{'policy':10} {'ROC AUC':>8} {'vs daily':>9} {'retrains':>9} {'share':>6} {'promoted':>9} "
        f"{'stale days':>11}"
    )
    for o in outcomes:
        share = o.retrains / daily.retrains if daily.retrains else float("nan")
        print(
            f"{o.policy:10} {o.roc_auc:8.4f} {o.roc_auc - daily.roc_auc:+9.4f} {o.retrains:9d} {share:6.0%} "
            f"{o.promoted:9d} {o.stale_days:11d}"
        )
    charter = next(o for o in outcomes if o.policy == "charter")
    gap, share = daily.roc_auc - charter.roc_auc, charter.retrains / daily.retrains
    print(
        f"\ncharter policy: {gap:+.4f} ROC AUC below daily (goal ≤ 0.005), "
        f"{share:.0%} of its retrains (goal ≤ 25%)"
    )
    print(f"promotions worse on their holdout: {sum(o.worse_promotions for o in outcomes)} (goal 0)")
    if args.out:
        args.out.write_text(
            json.dumps([{**o.summary(), "decisions": o.decisions} for o in outcomes], indent=1)
        )


if __name__ == "__main__":
    main()
