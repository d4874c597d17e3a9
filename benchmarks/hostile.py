"""Hostile requests: the CPU and memory one request can make a server spend, taxiway against MLflow, one run.

The model and the servers are those of benchmarks/serving.py (scikit-learn's breast-cancer data, 30 float
columns, a ``HistGradientBoostingClassifier`` trained by `taxiway train`; ``taxiway serve --workers 2`` and
``mlflow models serve --env-manager local --workers 2``). Each server gets the same corpus, in its own
protocol (taxiway: ``{"rows": [...]}`` on ``/predict``; MLflow: ``{"dataframe_records": [...]}`` on
``/invocations``):

- ``unknown_keys``: one valid row plus 500,000 unknown keys (about 7 MB);
- ``spread_keys``: 2,000 valid rows each with 10 unknown keys of its own (20,000 distinct columns);
- ``empty_rows``: 10,000 empty rows (40 KB);
- ``long_text``: one valid row whose first field is 5,000,000 characters of text;
- ``deep_nesting``: one row whose first field is 100,000 nested lists;
- ``valid_max``: 10,000 valid rows (the most a taxiway request may hold: the legitimate worst case).

Per request: the answer's status and size, the CPU time all the server's processes spent from sending the
request until they are idle again (a server that keeps computing after the client gave up is charged for
it), that CPU time per 100 KB of body, and the growth of the server's resident memory (peak during the
request, sampled every 0.1 s, over the RSS before it). A body under 2 MB is sent several times in a row (up to
50) and the CPU divided, since a process's CPU clock ticks every 10 ms; a body under 100 KB counts as 100 KB
(every request has a fixed cost). Each measurement runs ``--repeat`` times; medians.

Goal (issue 14): no request costs taxiway more than 10 ms of CPU per 100 KB, and its memory stays within
the serving budget (150 MB above a worker at rest) under the whole corpus.

Usage (from the repository root; MLflow's venv as in benchmarks/serving.py, created when missing):

    .venv/bin/python benchmarks/hostile.py [--servers taxiway,mlflow] [--repeat 3]

Writes benchmarks/results/hostile-<date>-<time>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving  # the servers, the model and the venvs of the serving benchmark

GOAL_MS_PER_100KB = 10.0
MEMORY_BUDGET_MB = 150.0
IDLE_CPU_S = 0.05  # CPU seconds per half second below which the server counts as idle again
CLIENT_TIMEOUT_S = 120.0
RESULTS = serving.HERE / "results"


def corpus(row: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """The hostile requests as lists of rows (each protocol wraps them in its own body)."""
    first = next(iter(row))
    unknown = {**row, **{f"k{n}": 0 for n in range(500_000)}}
    spread = [{**row, **{f"r{n}_{k}": 0 for k in range(10)}} for n in range(2_000)]
    nested: Any = 0
    for _ in range(100_000):
        nested = [nested]
    return {
        "unknown_keys": [unknown],
        "spread_keys": spread,
        "empty_rows": [{}] * 10_000,
        "long_text": [{**row, first: "x" * 5_000_000}],
        "deep_nesting": [{**row, first: nested}],
        "valid_max": [row] * 10_000,
    }


def body_of(server: str, rows: list[dict[str, Any]]) -> bytes:
    document = {"dataframe_records": rows} if server == "mlflow" else {"rows": rows}
    try:
        return json.dumps(document).encode()
    except RecursionError:  # the nested case: written by hand, as a client could
        depth = 100_000
        head = json.dumps({k: v for k, v in rows[0].items() if not isinstance(v, list)})[1:-1]
        first = next(k for k, v in rows[0].items() if isinstance(v, list))
        inner = "[" * depth + "0" + "]" * depth
        rows_text = "[{" + f'"{first}": {inner}, ' + head + "}]"
        key = "dataframe_records" if server == "mlflow" else "rows"
        return ('{"' + key + '": ' + rows_text + "}").encode()


def tree_cpu(running: serving.Running) -> float:
    total = 0.0
    for process in running.tree():
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def tree_rss(running: serving.Running) -> int:
    total = 0
    for process in running.tree():
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def one_request(running: serving.Running, path: str, body: bytes, times: int = 1) -> dict[str, Any]:
    """Send ``body`` ``times`` times in a row; charge the server's CPU until it is idle again, divided by
    ``times`` (a process's CPU clock ticks every 10 ms: a small request is timed over several); sample its
    memory meanwhile."""
    before_cpu, before_rss = tree_cpu(running), tree_rss(running)
    peak = [before_rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], tree_rss(running))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    status: int | None = None
    size = 0
    try:
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
            for _ in range(times):
                answer = client.post(
                    running.spec.url + path, content=body, headers={"content-type": "application/json"}
                )
                status, size = answer.status_code, len(answer.content)
    except httpx.HTTPError as error:
        status = None
        size = -1
        print(f"  {type(error).__name__}", file=sys.stderr)
    answered = time.monotonic() - began
    last = tree_cpu(running)
    while True:  # until the server stops computing on it (checked every half second)
        time.sleep(0.5)
        now = tree_cpu(running)
        if now - last < IDLE_CPU_S:
            break
        last = now
    stop.set()
    sampler.join()
    cpu = (tree_cpu(running) - before_cpu) / times
    return {
        "status": status,
        "answer_bytes": size,
        "seconds_to_answer": answered / times,
        "cpu_ms": cpu * 1000,
        # A body under 100 KB counts as 100 KB: every request has a fixed cost (HTTP, routing, the answer).
        "cpu_ms_per_100kb": cpu * 1000 / (max(len(body), 100_000) / 100_000),
        "rss_growth_mb": (peak[0] - before_rss) / 1e6,
    }


def measure(
    running: serving.Running, requests: dict[str, list[dict[str, Any]]], repeat: int
) -> dict[str, Any]:
    name = running.spec.name
    path = "/invocations" if name == "mlflow" else "/predict"
    found: dict[str, Any] = {}
    for case, rows in requests.items():
        body = body_of(name, rows)
        tries = []
        for _ in range(repeat):
            print(f"{name}: {case} ({len(body):,} bytes)", file=sys.stderr, flush=True)
            tries.append(one_request(running, path, body, times=max(1, min(50, 2_000_000 // len(body)))))
        found[case] = {
            "body_bytes": len(body),
            "status": [t["status"] for t in tries],
            "answer_bytes": statistics.median(t["answer_bytes"] for t in tries),
            "cpu_ms": statistics.median(t["cpu_ms"] for t in tries),
            "cpu_ms_per_100kb": statistics.median(t["cpu_ms_per_100kb"] for t in tries),
            "rss_growth_mb": max(t["rss_growth_mb"] for t in tries),
            "seconds_to_answer": statistics.median(t["seconds_to_answer"] for t in tries),
        }
    return found


def table(results: dict[str, Any]) -> str:
    servers = list(results["servers"])
    lines = [
        "| request | body | "
        + " | ".join(f"{s} status, CPU ms (per 100 KB), RSS +MB, answer" for s in servers)
        + " |",
        "|---|---:|" + "---|" * len(servers),
    ]
    for case in next(iter(results["servers"].values())):
        cells = []
        for server in servers:
            m = results["servers"][server][case]
            cells.append(
                f"{m['status'][0]}, {m['cpu_ms']:.0f} ({m['cpu_ms_per_100kb']:.2f}), "
                f"{m['rss_growth_mb']:.0f}, {m['answer_bytes']:,.0f} B"
            )
        body = results["servers"][servers[0]][case]["body_bytes"]
        lines.append(f"| {case} | {body / 1000:,.0f} KB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="taxiway,mlflow")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    serving.check_tools(names)
    work = Path(tempfile.mkdtemp(prefix="taxiway-bench-hostile-"))
    root, model_path, row = serving.build_project(work)
    row_path = work / "row.json"
    row_path.write_text(json.dumps(row), encoding="utf-8")
    mlflow = serving.log_mlflow_model(work, model_path, row_path) if "mlflow" in names else None
    made = serving.specs(
        names, root=root, model_path=model_path, row=row, mlflow=mlflow, workers=args.workers, work=work
    )
    requests = corpus(row)
    results: dict[str, Any] = {
        "benchmark": "hostile",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": serving.machine(),
        "servers": {},
    }
    for spec in made:
        with serving.started(spec, work) as running:
            serving.wait_ready(running, timeout_s=180, workers=args.workers)
            results["servers"][spec.name] = measure(running, requests, args.repeat)
    taxiway = results["servers"].get("taxiway", {})
    results["goal"] = {
        "worst_cpu_ms_per_100kb": max((m["cpu_ms_per_100kb"] for m in taxiway.values()), default=None),
        "worst_rss_growth_mb": max((m["rss_growth_mb"] for m in taxiway.values()), default=None),
        "cpu_goal_ms_per_100kb": GOAL_MS_PER_100KB,
        "memory_budget_mb": MEMORY_BUDGET_MB,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"hostile-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table(results))
    print(json.dumps(results["goal"], indent=2))
    print(f"written: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
