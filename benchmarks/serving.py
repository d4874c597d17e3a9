"""Serving speed: `taxiway serve` against `mlflow models serve` and `bentoml serve`, one model, one run.

The model: scikit-learn's breast-cancer data (569 rows, 30 numeric columns) in a taxiway project built in a
temporary folder (`taxiway init`, `data add`, `train` with a `pipeline.py` whose model is a plain
``HistGradientBoostingClassifier(random_state=0)``), the trained candidate registered as v1 and deployed.
That fitted estimator is exported once (pickle) and served unchanged by every server:

- **taxiway**: ``taxiway serve --workers 2 --threads 1``: native ``POST /predict`` with ``{"row": {...}}``;
  input validation, fallback, telemetry and prediction logging on (the defaults);
- **taxiway-bare**: the same with ``--no-telemetry --no-log``, to price telemetry and logging;
- **mlflow**: ``mlflow models serve --env-manager local --workers 2`` (MLflow 3: FastAPI on uvicorn) of the
  model logged with ``mlflow.sklearn.log_model`` (benchmarks/serving_mlflow_model.py); ``POST /invocations``
  with ``{"dataframe_records": [{...}]}``;
- **bentoml**: ``bentoml serve`` of benchmarks/serving_bentoml_service.py (``@bentoml.service(workers=2)``,
  one sync ``@bentoml.api`` around ``predict_proba``); ``POST /predict`` with ``{"row": {...}}``.

Every server answers ``predict_proba`` of one row, and every answer is checked against the in-process
probabilities before the load starts. Every server's environment holds ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` = 1. MLflow and BentoML run from their own venvs
(``benchmarks/.venvs/mlflow``, ``benchmarks/.venvs/bentoml``: full ``mlflow`` would downgrade the project's
pyarrow), with the same scikit-learn version as the project's venv.

Load: ``wrk`` (benchmarks/wrk/post_json.lua POSTs one single-row JSON body per request) at concurrency 1, 8
and 32 (``-t1 -c1``, ``-t2 -c8``, ``-t2 -c32``), each level after a warm-up at that level; ``--latency``
percentiles. Per server and level: requests/s, p50/p90/p99 latency, non-2xx answers, and the CPU time all the
server's processes used per request. After the load: RSS (and USS) of each server process.

The floor: ``predict_proba`` on a one-row DataFrame in a fresh process (threadpool limited to 1), median of
1,000 calls; the same process gives the memory reference: the RSS of a bare Python process holding only
numpy, pandas, scikit-learn and the loaded model (after one prediction).

Goals (issue 7): at c=32 taxiway >= 10x MLflow's and >= 2x BentoML's requests/s with a lower p99 than both;
at c=1 taxiway's p50 within 1 ms of the floor; telemetry and logging cost < 10 % of requests/s at c=32; a
worker's RSS at most the bare model process + 150 MB. The two goals that compare taxiway with itself are
judged on ``--pairs`` back-to-back pairs after the rounds (telemetry on then off, or off then on, seconds
apart; a fresh floor right before each c=1 run), because the machine's speed drifts more between two
servers' turns at a level than the 10 % or 1 ms being measured; the level medians are reported beside them.

Usage (from the repository root; ``apt-get install wrk``; venvs as in docs/benchmarks.md):

    .venv/bin/python benchmarks/serving.py [--servers taxiway,mlflow,bentoml] [--quick]
    .venv/bin/python benchmarks/serving.py --summarize benchmarks/results/serving-*.json

Writes benchmarks/results/serving-<date>-<time>.json; ``--summarize`` prints the medians of several result
files. Servers are started in new sessions on free 127.0.0.1 ports and stopped (and their process trees
killed) at the end, also on errors and Ctrl+C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
TAXIWAY = str(BIN / "taxiway")
LUA = HERE / "wrk" / "post_json.lua"
VENVS = HERE / ".venvs"
RESULTS = HERE / "results"
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "BENTOML_DO_NOT_TRACK": "True"}
# Variables of the calling shell that would point a server at another project, store or metrics folder.
DROPPED_ENV = ("TAXIWAY_PROJECT", "TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI", "PROMETHEUS_MULTIPROC_DIR")
CONFIGS = ("taxiway", "taxiway-bare", "mlflow", "bentoml")
LABELS = {
    "taxiway": "taxiway (telemetry + logging on)",
    "taxiway-bare": "taxiway (--no-telemetry --no-log)",
    "mlflow": "MLflow `models serve`",
    "bentoml": "BentoML `serve`",
}
PIPELINE = '''"""The serving benchmark's model: a plain HistGradientBoostingClassifier (no feature step)."""

from sklearn.ensemble import HistGradientBoostingClassifier


def model(params):
    return HistGradientBoostingClassifier(random_state=0, **params)
'''

# Run in a fresh process of the project's venv: the floor (predict_proba on one row) and the RSS of a bare
# process holding the libraries and the model. argv: model.pkl row.json calls
PROBE = r"""
import json, pickle, statistics, sys, time
import psutil
me = psutil.Process()
mb = lambda: me.memory_info().rss / 2**20
started = mb()
import numpy, pandas as pd, sklearn.ensemble
from threadpoolctl import threadpool_limits
libraries = mb()
with open(sys.argv[1], "rb") as file:
    model = pickle.load(file)
row = json.loads(open(sys.argv[2]).read())
columns = list(model.feature_names_in_)
frame = pd.DataFrame([row])[columns]
threadpool_limits(1)
model.predict_proba(frame)
loaded = mb()
calls = int(sys.argv[3])
def timed(call):
    for _ in range(50):
        call()
    seconds = []
    for _ in range(calls):
        begin = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - begin)
    seconds.sort()
    return {"median_ms": statistics.median(seconds) * 1e3, "p99_ms": seconds[int(0.99 * len(seconds))] * 1e3,
            "min_ms": seconds[0] * 1e3}
predict = timed(lambda: model.predict_proba(frame))
with_frame = timed(lambda: model.predict_proba(pd.DataFrame([row])[columns]))
print(json.dumps({"predict_proba": predict, "frame_and_predict_proba": with_frame, "calls": calls,
                  "rss_mb": {"interpreter": started, "libraries": libraries, "model_loaded": loaded,
                             "after_timing": mb()}}))
"""


class BenchmarkError(RuntimeError):
    """Something the benchmark cannot work around; the message says what."""


# ---- the model and the project ---------------------------------------------------------------------------


def taxiway_cli(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    result = subprocess.run(
        [TAXIWAY, "--project", str(root), *args],
        check=False,
        capture_output=True,
        text=True,
        env=server_env({}),
    )
    if result.returncode not in ok:
        raise BenchmarkError(f"taxiway {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def build_project(work: Path) -> tuple[Path, Path, dict[str, float]]:
    """The deployed taxiway project, the exported model (pickle) and the request row."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    from taxiway.project import Project
    from taxiway.registry import load_model_version

    root = work / "project"
    root.mkdir(parents=True)
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [str(name).replace(" ", "_") for name in data.columns]
    data.to_csv(root / "cancer.csv", index=False)
    taxiway_cli(
        root, "init", str(root), "--yes", "--name", "cancer", "--task", "classification", "--target", "target"
    )
    (root / "pipeline.py").write_text(PIPELINE, encoding="utf-8")
    taxiway_cli(root, "data", "add", str(root / "cancer.csv"))
    # exit 1: a check failed (the candidate may not beat the linear baseline on this easy data); still served
    trained = json.loads(taxiway_cli(root, "train", "--format", "json", ok=(0, 1)))
    run = next(item["run_id"] for item in trained["runs"] if item["name"] == "candidate")
    taxiway_cli(root, "register", run, "--force", "--reason", "serving benchmark")
    taxiway_cli(root, "deploy", "v1", "--force", "--reason", "serving benchmark", "--no-wait")

    project = Project.load(root)
    try:
        model = load_model_version(project.store, "v1", root=root)
    finally:
        project.store.close()
    model_path = work / "model.pkl"
    with model_path.open("wb") as file:
        pickle.dump(model, file)
    columns = [str(name) for name in model.feature_names_in_]
    features = data[columns]
    confident = model.predict_proba(features).max(axis=1) >= 0.99
    row = {name: float(value) for name, value in features[confident].iloc[0].items()}
    check = pd.DataFrame([row])[columns]
    assert model.predict_proba(check).max() >= 0.99
    return root, model_path, row


def probe(model_path: Path, row_path: Path, calls: int) -> dict[str, Any]:
    """The floor and the bare process's RSS, from a fresh interpreter of this venv."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(model_path), str(row_path), str(calls)],
        capture_output=True,
        text=True,
        env=server_env({}),
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def expected_probabilities(model_path: Path, row: dict[str, float]) -> list[float]:
    import pandas as pd

    with model_path.open("rb") as file:
        model = pickle.load(file)
    return [float(p) for p in model.predict_proba(pd.DataFrame([row])[list(model.feature_names_in_)])[0]]


def log_mlflow_model(work: Path, model_path: Path, row_path: Path) -> dict[str, str]:
    result = subprocess.run(
        [
            str(VENVS / "mlflow" / "bin" / "python"),
            str(HERE / "serving_mlflow_model.py"),
            str(model_path),
            str(row_path),
            str(work / "mlflow"),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=server_env({}),
    )
    if result.returncode != 0:
        raise BenchmarkError(f"logging the model with mlflow.sklearn failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---- servers ---------------------------------------------------------------------------------------------


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in DROPPED_ENV}
    env.update(THREAD_ENV)
    env.update(QUIET_ENV)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


@dataclass
class ServerSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    health: str
    predict: str
    body: dict[str, Any]
    cwd: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def probabilities_of(name: str, answer: dict[str, Any]) -> list[float]:
    if name == "mlflow":
        return [float(p) for p in answer["predictions"][0]]
    return [float(p) for p in answer["probabilities"][0]]


def specs(
    names: list[str],
    *,
    root: Path,
    model_path: Path,
    row: dict[str, float],
    mlflow: dict[str, str] | None,
    workers: int,
    work: Path,
) -> list[ServerSpec]:
    made = []
    for name in names:
        port = free_port()
        if name.startswith("taxiway"):
            argv = [
                TAXIWAY,
                "--project",
                str(root),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--threads",
                "1",
            ]
            if name == "taxiway-bare":
                argv += ["--no-telemetry", "--no-log"]
            made.append(
                ServerSpec(name, argv, server_env({}), port, "/health", "/predict", {"row": row}, root)
            )
        elif name == "mlflow":
            assert mlflow is not None
            venv = VENVS / "mlflow" / "bin"
            argv = [
                str(venv / "mlflow"),
                "models",
                "serve",
                "-m",
                mlflow["model_uri"],
                "--env-manager",
                "local",
                "--workers",
                str(workers),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ]
            env = server_env(
                {
                    "PATH": f"{venv}{os.pathsep}{os.environ.get('PATH', '')}",
                    "MLFLOW_TRACKING_URI": mlflow["tracking_uri"],
                }
            )
            body = {"dataframe_records": [row]}
            made.append(ServerSpec(name, argv, env, port, "/health", "/invocations", body, work))
        elif name == "bentoml":
            venv = VENVS / "bentoml" / "bin"
            argv = [
                str(venv / "bentoml"),
                "serve",
                "serving_bentoml_service:Classifier",
                "--working-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            env = server_env(
                {
                    "PATH": f"{venv}{os.pathsep}{os.environ.get('PATH', '')}",
                    "BENTOML_HOME": str(work / "bentoml-home"),
                    "SERVING_BENCH_MODEL": str(model_path),
                    "SERVING_BENCH_WORKERS": str(workers),
                    "PYTHONDONTWRITEBYTECODE": "1",
                }
            )
            made.append(ServerSpec(name, argv, env, port, "/readyz", "/predict", {"row": row}, work))
    return made


@dataclass
class Running:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    log: Path
    known: dict[int, psutil.Process] = field(default_factory=dict)  # every process of its tree ever seen

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for process in processes:
            self.known.setdefault(process.pid, process)
        return processes

    def log_tail(self, chars: int = 3000) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


def role(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    if "resource_tracker" in command:
        return "helper"
    if "spawn_main" in command or "_bentoml_impl.worker" in command:
        return "worker"
    return "supervisor"


def workers_of(running: Running) -> list[psutil.Process]:
    return [process for process in running.tree() if role(process) == "worker"]


@contextmanager
def started(spec: ServerSpec, work: Path) -> Iterator[Running]:
    """A server started in its own session; stopped, and every process of its tree killed, at the end."""
    log = work / f"{spec.name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=spec.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(spec, process, log)
    try:
        yield running
    finally:
        stop(running)


def stop(running: Running) -> None:
    running.tree()
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(running.process.pid, signal.SIGINT)
    try:
        running.process.wait(20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait(10)
    # BentoML's workers run in sessions of their own; anything of the tree still alive is killed by its id
    deadline = time.monotonic() + 10
    for process in running.known.values():
        with suppress(psutil.Error):
            process.wait(max(0.1, deadline - time.monotonic()))
        with suppress(psutil.Error):
            if process.is_running():
                process.kill()


def wait_ready(running: Running, *, timeout_s: float, workers: int) -> dict[str, Any]:
    """Poll the health route, then require a few good predictions and every worker up."""
    spec = running.spec
    began = time.monotonic()
    deadline = began + timeout_s
    seen_workers: set[int] = set()
    body = json.dumps(spec.body).encode()
    headers = {"content-type": "application/json"}
    good = 0
    with httpx.Client(base_url=spec.url, timeout=10) as client:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                raise BenchmarkError(
                    f"{spec.name} exited with {running.process.returncode}:\n{running.log_tail()}"
                )
            current = {process.pid for process in workers_of(running)}
            seen_workers |= current
            try:
                if client.get(spec.health).status_code == 200:
                    answer = client.post(spec.predict, content=body, headers=headers)
                    good = good + 1 if answer.status_code == 200 else 0
                    if good >= 5 and len(current) >= workers:
                        return {
                            "seconds": time.monotonic() - began,
                            "answer": answer.json(),
                            # worker processes that were replaced while it started (uvicorn restarts a
                            # worker that does not answer its supervisor within its health-check timeout)
                            "worker_restarts": len(seen_workers - current),
                        }
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    raise BenchmarkError(
        f"{spec.name} was not ready within {timeout_s:g} s ({len(seen_workers)} worker processes seen, "
        f"{good} good answers):\n{running.log_tail()}"
    )


# ---- load ------------------------------------------------------------------------------------------------


def wrk(url: str, body_file: Path, *, connections: int, seconds: float) -> dict[str, Any]:
    threads = min(2, connections)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "WRK_BODY_FILE": str(body_file)}
    result = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=seconds + 120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if result.returncode != 0 or not lines:
        raise BenchmarkError(
            f"wrk failed ({result.returncode}): {result.stdout[-2000:]} {result.stderr[-2000:]}"
        )
    raw = json.loads(lines[-1].removeprefix("WRK_JSON "))
    latency = raw["latency_us"]
    seconds_run = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "threads": threads,
        "seconds": seconds_run,
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds_run,
        "p50_ms": latency["p50"] / 1e3,
        "p90_ms": latency["p90"] / 1e3,
        "p99_ms": latency["p99"] / 1e3,
        "max_ms": latency["max"] / 1e3,
        "mean_ms": latency["mean"] / 1e3,
        "errors": raw["errors"],
        "failed": sum(raw["errors"].values()),
    }


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    used: dict[int, float] = {}
    for process in processes:
        with suppress(psutil.Error):
            times = process.cpu_times()
            used[process.pid] = times.user + times.system
    return used


def memory(running: Running) -> list[dict[str, Any]]:
    rows = []
    for process in running.tree():
        with suppress(psutil.Error):
            info = process.memory_full_info()
            rows.append(
                {
                    "pid": process.pid,
                    "role": role(process),
                    "command": " ".join(process.cmdline())[:160],
                    "rss_mb": info.rss / 2**20,
                    "uss_mb": info.uss / 2**20,
                }
            )
    return rows


def bring_up(
    spec: ServerSpec, running: Running, *, workers: int, timeout_s: float, expected: list[float]
) -> dict[str, Any]:
    """Wait until ``spec`` answers, check its answer against the model in this process."""
    result: dict[str, Any] = {"name": spec.name, "label": LABELS[spec.name], "argv": spec.argv, "levels": {}}
    ready = wait_ready(running, timeout_s=timeout_s, workers=workers)
    result["startup_s"] = ready["seconds"]
    result["worker_restarts_at_startup"] = ready["worker_restarts"]
    answered = probabilities_of(spec.name, ready["answer"])
    difference = max(abs(a - b) for a, b in zip(answered, expected, strict=True))
    if difference > 1e-9:
        raise BenchmarkError(f"{spec.name} answered {answered}, the model in process {expected}")
    if spec.name.startswith("taxiway"):
        result["fallback"] = ready["answer"]["fallback"]
    print(f"  {spec.name}: ready in {ready['seconds']:.1f} s, answer checked", file=sys.stderr, flush=True)
    return result


def load_level(
    running: Running, work: Path, *, connections: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """One wrk run at ``connections`` after a warm-up at the same level, with the server's CPU time."""
    spec = running.spec
    body_file = work / f"{spec.name}-body.json"
    body_file.write_text(json.dumps(spec.body), encoding="utf-8")
    url = spec.url + spec.predict
    if warmup > 0:
        wrk(url, body_file, connections=connections, seconds=warmup)
    processes = running.tree()
    before = cpu_seconds(processes)
    figures = wrk(url, body_file, connections=connections, seconds=seconds)
    after = cpu_seconds(processes)
    used = sum(after[pid] - before[pid] for pid in after if pid in before)
    figures["server_cpu_ms_per_request"] = used * 1e3 / max(figures["requests"], 1)
    figures["load_average_1m"] = os.getloadavg()[0]
    print(
        f"  {spec.name} c={connections}: {figures['rps']:,.0f} req/s, "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, {figures['failed']} failed",
        file=sys.stderr,
        flush=True,
    )
    return figures


def record_memory(running: Running, result: dict[str, Any], workers: int) -> None:
    processes_memory = memory(running)
    result["memory"] = processes_memory
    worker_rss = [row["rss_mb"] for row in processes_memory if row["role"] == "worker"]
    result["worker_rss_mb"] = worker_rss
    result["all_processes_rss_mb"] = sum(row["rss_mb"] for row in processes_memory)
    if len(worker_rss) != workers:
        name = running.spec.name
        raise BenchmarkError(f"{name}: found {len(worker_rss)} worker processes, expected {workers}")


MEDIAN_KEYS = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "server_cpu_ms_per_request")


def median_level(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A level's figures over rounds: the median of each, every round kept under ``rounds``."""
    if len(rounds) == 1:
        return {**rounds[0], "rounds": rounds}
    merged = dict(rounds[0])
    for key in (*MEDIAN_KEYS, "load_average_1m"):
        merged[key] = statistics.median(figures[key] for figures in rounds)
    merged["requests"] = sum(figures["requests"] for figures in rounds)
    merged["failed"] = sum(figures["failed"] for figures in rounds)
    merged["rounds"] = rounds
    return merged


def run_servers(
    made: list[ServerSpec],
    work: Path,
    results: dict[str, Any],
    *,
    levels: list[int],
    rounds: int,
    seconds: float,
    warmup: float,
    workers: int,
    timeout_s: float,
    expected: list[float],
    pairs: int = 0,
    probe_args: tuple[Path, Path, int] | None = None,
) -> None:
    """Start every server, then load them in turn, level by level (the order rotates each round), so that
    the machine's changing load falls on all of them alike; the paired checks; memory after the load; stop
    them all."""
    with ExitStack() as stack:
        up: list[Running] = []
        for spec in made:
            print(f"{spec.name}: {' '.join(spec.argv)}", file=sys.stderr, flush=True)
            running = stack.enter_context(started(spec, work))
            try:
                results["servers"][spec.name] = bring_up(
                    spec, running, workers=workers, timeout_s=timeout_s, expected=expected
                )
            except BenchmarkError as error:
                print(f"  {spec.name} FAILED: {error}", file=sys.stderr, flush=True)
                results["servers"][spec.name] = {"name": spec.name, "error": str(error)}
                stop(running)
                continue
            up.append(running)
        measured = {running.spec.name: {c: [] for c in levels} for running in up}
        for round_index in range(rounds):
            turn = round_index % max(len(up), 1)
            for connections in levels:
                for running in up[turn:] + up[:turn]:
                    name = running.spec.name
                    if "error" in results["servers"][name]:
                        continue
                    try:
                        figures = load_level(
                            running, work, connections=connections, seconds=seconds, warmup=warmup
                        )
                    except BenchmarkError as error:
                        print(f"  {name} FAILED: {error}", file=sys.stderr, flush=True)
                        results["servers"][name]["error"] = str(error)
                        continue
                    figures["round"] = round_index
                    measured[name][connections].append(figures)
        if pairs and probe_args is not None:
            healthy = [r for r in up if "error" not in results["servers"][r.spec.name]]
            results["paired"] = paired_checks(
                healthy, work, top=max(levels), pairs=pairs, seconds=seconds, probe_args=probe_args
            )
        for running in up:
            result = results["servers"][running.spec.name]
            figures_by_level = measured[running.spec.name]
            result["levels"] = {str(c): median_level(f) for c, f in figures_by_level.items() if f}
            try:
                record_memory(running, result, workers)
            except BenchmarkError as error:
                result["error"] = str(error)


def paired_checks(
    up: list[Running],
    work: Path,
    *,
    top: int,
    pairs: int,
    seconds: float,
    probe_args: tuple[Path, Path, int],
) -> dict[str, Any]:
    """The two goals that compare taxiway with itself, measured in back-to-back pairs.

    A shared machine's speed drifts by tens of percent from one minute to the next, which is the time
    between two servers' turns at a level; a goal of "within 10 %" or "within 1 ms" drowns in that. So each
    pair measures both sides within seconds of each other (the order alternating), and the goal is judged
    on the median of the pairs: requests/s with telemetry and logging on over off at the top concurrency,
    and taxiway's c=1 p50 minus a floor measured right before it in a fresh process.
    """
    by_name = {running.spec.name: running for running in up}
    on, off = by_name.get("taxiway"), by_name.get("taxiway-bare")
    found: dict[str, Any] = {"pairs": pairs, "seconds": seconds}
    if on is not None and off is not None:
        kept = []
        for index in range(pairs):
            rps = {}
            for running in (on, off) if index % 2 == 0 else (off, on):
                figures = load_level(running, work, connections=top, seconds=seconds, warmup=1.0)
                rps[running.spec.name] = figures["rps"]
            kept.append(rps["taxiway"] / rps["taxiway-bare"])
        found["telemetry_rps_ratio"] = {"median": statistics.median(kept), "pairs": kept}
    if on is not None:
        differences, floors = [], []
        for _ in range(pairs):
            floor = probe(*probe_args)["predict_proba"]["median_ms"]
            figures = load_level(on, work, connections=1, seconds=seconds, warmup=1.0)
            floors.append(floor)
            differences.append(figures["p50_ms"] - floor)
        found["c1_p50_minus_floor_ms"] = {
            "median": statistics.median(differences),
            "pairs": differences,
            "floors_ms": floors,
        }
    return found


# ---- report ----------------------------------------------------------------------------------------------


def level(results: dict[str, Any], name: str, connections: int) -> dict[str, Any] | None:
    server = results["servers"].get(name)
    if not server or "error" in server or not server.get("levels"):
        return None
    return server["levels"].get(str(connections))  # type: ignore[no-any-return]


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """The goals of issue 7, from one result (or from the medians of several)."""
    top = max(results["settings"]["levels"])
    floor = results["floor"]["predict_proba"]["median_ms"]
    bare_rss = results["floor"]["rss_mb"]["model_loaded"]
    mine, bare = level(results, "taxiway", top), level(results, "taxiway-bare", top)
    out: dict[str, Any] = {"concurrency": top}
    for other, times in (("mlflow", 10.0), ("bentoml", 2.0)):
        theirs = level(results, other, top)
        if mine and theirs:
            out[f"rps_vs_{other}"] = {
                "value": mine["rps"] / theirs["rps"],
                "goal": f">= {times:g}",
                "met": mine["rps"] / theirs["rps"] >= times,
            }
            out[f"p99_vs_{other}"] = {
                "value": mine["p99_ms"] / theirs["p99_ms"],
                "goal": "< 1 (lower p99)",
                "met": mine["p99_ms"] < theirs["p99_ms"],
            }
            out[f"cpu_per_request_vs_{other}"] = {
                "value": mine["server_cpu_ms_per_request"] / theirs["server_cpu_ms_per_request"]
            }
    paired = results.get("paired", {})
    single = level(results, "taxiway", 1)
    if "c1_p50_minus_floor_ms" in paired:
        value = paired["c1_p50_minus_floor_ms"]["median"]
        out["c1_p50_minus_floor_ms"] = {"value": value, "goal": "<= 1 ms", "met": value <= 1.0}
    if single:
        out["c1_p50_minus_floor_ms_levels"] = {"value": single["p50_ms"] - floor}
    for name in ("taxiway", "mlflow", "bentoml"):
        single = level(results, name, 1)
        if single:
            out[f"{name}_c1_p50_over_floor"] = {"value": single["p50_ms"] / floor}
    if "telemetry_rps_ratio" in paired:
        cost = 1 - paired["telemetry_rps_ratio"]["median"]
        out["telemetry_cost"] = {"value": cost, "goal": "< 10 %", "met": cost < 0.10}
    if mine and bare:
        out["telemetry_cost_levels"] = {"value": 1 - mine["rps"] / bare["rps"]}
        extra = mine["server_cpu_ms_per_request"] - bare["server_cpu_ms_per_request"]
        out["telemetry_cpu_ms_per_request"] = {"value": extra}
    server = results["servers"].get("taxiway")
    if server and server.get("worker_rss_mb"):
        over = max(server["worker_rss_mb"]) - bare_rss
        out["worker_rss_over_bare_model_mb"] = {"value": over, "goal": "<= 150 MB", "met": over <= 150}
    return out


def verdict(item: dict[str, Any]) -> str:
    if "met" not in item:
        return ""
    return "met" if item["met"] else "NOT met"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| server | concurrency | requests/s | p50 ms | p99 ms | server CPU ms/request | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in CONFIGS:
        server = results["servers"].get(name)
        if not server:
            continue
        if "error" in server:
            lines.append(f"| {LABELS[name]} | | failed: {server['error'].splitlines()[0][:80]} | | | | |")
            continue
        for connections in results["settings"]["levels"]:
            figures = server["levels"].get(str(connections))
            if figures:
                lines.append(
                    f"| {LABELS[name]} | {connections} | {figures['rps']:,.0f} | {figures['p50_ms']:.2f} | "
                    f"{figures['p99_ms']:.2f} | {figures['server_cpu_ms_per_request']:.2f} | "
                    f"{figures['failed']:g} |"
                )
    floor = results["floor"]
    lines += [
        "",
        (
            f"Floor: `predict_proba` on a one-row DataFrame, median of {floor['calls']:,} calls: "
            f"{floor['predict_proba']['median_ms']:.3f} ms (p99 {floor['predict_proba']['p99_ms']:.3f} ms); "
            f"building the DataFrame from a dict too: {floor['frame_and_predict_proba']['median_ms']:.3f} ms."
        ),
        "",
        "| server | worker RSS MB (each) | all its processes MB | start-up s |",
        "| --- | --- | ---: | ---: |",
    ]
    for name in CONFIGS:
        server = results["servers"].get(name)
        if server and "worker_rss_mb" in server:
            each = ", ".join(f"{rss:.0f}" for rss in server["worker_rss_mb"])
            total, startup = server["all_processes_rss_mb"], server["startup_s"]
            lines.append(f"| {LABELS[name]} | {each} | {total:.0f} | {startup:.1f} |")
    rss = floor["rss_mb"]
    lines += [
        "",
        (
            f"Bare process (Python + numpy, pandas, scikit-learn + the model, one prediction made): "
            f"{rss['model_loaded']:.0f} MB RSS (libraries alone {rss['libraries']:.0f} MB, interpreter "
            f"{rss['interpreter']:.0f} MB)."
        ),
        "",
    ]
    goals = ratios(results)
    top = goals["concurrency"]
    names = {
        "rps_vs_mlflow": f"taxiway / MLflow requests/s at c={top}",
        "rps_vs_bentoml": f"taxiway / BentoML requests/s at c={top}",
        "p99_vs_mlflow": f"taxiway / MLflow p99 at c={top}",
        "p99_vs_bentoml": f"taxiway / BentoML p99 at c={top}",
        "cpu_per_request_vs_mlflow": f"taxiway / MLflow server CPU per request at c={top}",
        "cpu_per_request_vs_bentoml": f"taxiway / BentoML server CPU per request at c={top}",
        "c1_p50_minus_floor_ms": "taxiway c=1 p50 minus the floor (ms), median of back-to-back pairs",
        "c1_p50_minus_floor_ms_levels": "taxiway c=1 p50 minus the floor (ms), from the level medians",
        "telemetry_cost": f"requests/s lost to telemetry + logging at c={top}, median of back-to-back pairs",
        "telemetry_cost_levels": f"requests/s lost to telemetry + logging at c={top}, from the level medians",
        "telemetry_cpu_ms_per_request": f"server CPU ms per request added by telemetry + logging at c={top}",
        "worker_rss_over_bare_model_mb": "largest taxiway worker RSS minus the bare model process (MB)",
        "taxiway_c1_p50_over_floor": "taxiway c=1 p50 / floor",
        "mlflow_c1_p50_over_floor": "MLflow c=1 p50 / floor",
        "bentoml_c1_p50_over_floor": "BentoML c=1 p50 / floor",
    }
    lines += ["| ratio | value | goal | |", "| --- | ---: | --- | --- |"]
    for key, label in names.items():
        item = goals.get(key)
        if item:
            value = item["value"]
            shown = f"{value:.1%}" if key.startswith("telemetry_cost") else f"{value:,.2f}"
            lines.append(f"| {label} | {shown} | {item.get('goal', '')} | {verdict(item)} |")
    return "\n".join(lines)


def taxiway_revision() -> dict[str, Any]:
    """The commit the server code came from, and its files under taxiway/ that differ from it (read-only)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=False, capture_output=True, text=True)
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "taxiway"], check=False, capture_output=True, text=True
    )
    if head.returncode != 0:
        return {}
    return {
        "taxiway_commit": head.stdout.strip(),
        "taxiway_uncommitted": [line[3:] for line in changed.stdout.splitlines()],
    }


def versions() -> dict[str, Any]:
    from importlib.metadata import version

    import taxiway

    found: dict[str, Any] = {
        "taxiway": taxiway.__version__,
        **taxiway_revision(),
        "python": platform.python_version(),
        **{name: version(name) for name in ("scikit-learn", "pandas", "numpy", "uvicorn", "fastapi")},
    }
    script = (
        "import json, importlib.metadata as m, platform\n"
        "names = {names!r}\n"
        "out = {{n: m.version(n) for n in names}}\n"
        "out['python'] = platform.python_version()\n"
        "print(json.dumps(out))"
    )
    for venv, names in (
        ("mlflow", ["mlflow", "scikit-learn", "pandas", "numpy", "uvicorn", "fastapi"]),
        ("bentoml", ["bentoml", "scikit-learn", "pandas", "numpy", "uvicorn", "starlette"]),
    ):
        python = VENVS / venv / "bin" / "python"
        if python.exists():
            answer = subprocess.run(
                [str(python), "-c", script.format(names=names)], check=False, capture_output=True, text=True
            )
            if answer.returncode == 0:
                found[f"{venv}_venv"] = json.loads(answer.stdout)
    wrk_version = subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True)
    found["wrk"] = (wrk_version.stdout or wrk_version.stderr).split("Copyright")[0].strip()
    return found


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "memory_gb": psutil.virtual_memory().total / 2**30,
    }


# ---- medians of several runs -----------------------------------------------------------------------------


def summarize(paths: list[Path]) -> dict[str, Any]:
    """One result whose figures are the medians over ``paths`` (run with the same levels)."""
    runs = [json.loads(path.read_text()) for path in paths]
    merged = json.loads(json.dumps(runs[0]))
    merged["summarized_from"] = [str(path) for path in paths]

    def median_of(getter: Any) -> float | None:
        values = []
        for run in runs:
            with suppress(KeyError, TypeError, IndexError, ValueError):
                values.append(float(getter(run)))
        return statistics.median(values) if values else None

    for part in ("predict_proba", "frame_and_predict_proba"):
        for key in ("median_ms", "p99_ms", "min_ms"):
            merged["floor"][part][key] = median_of(lambda r, p=part, k=key: r["floor"][p][k])
    for key in merged["floor"]["rss_mb"]:
        merged["floor"]["rss_mb"][key] = median_of(lambda r, k=key: r["floor"]["rss_mb"][k])
    for name, server in merged["servers"].items():
        if "error" in server or not server.get("levels"):
            continue
        for connections, figures in server["levels"].items():
            for key in (*MEDIAN_KEYS, "load_average_1m"):
                figures[key] = median_of(
                    lambda r, n=name, c=connections, k=key: r["servers"][n]["levels"][c][k]
                )
            figures["failed"] = max(
                run["servers"].get(name, {}).get("levels", {}).get(connections, {}).get("failed", 0)
                for run in runs
            )
            figures["rps_each_run"] = [
                run["servers"].get(name, {}).get("levels", {}).get(connections, {}).get("rps") for run in runs
            ]
            figures.pop("rounds", None)
        count = len(server["worker_rss_mb"])
        server["worker_rss_mb"] = [
            median_of(lambda r, n=name, i=i: sorted(r["servers"][n]["worker_rss_mb"])[i])
            for i in range(count)
        ]
        server["all_processes_rss_mb"] = median_of(lambda r, n=name: r["servers"][n]["all_processes_rss_mb"])
        server["startup_s"] = median_of(lambda r, n=name: r["servers"][n]["startup_s"])
    merged["ratios"] = ratios(merged)
    return merged


# ---- main ------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers",
        default="taxiway,mlflow,bentoml",
        help="comma-separated: taxiway (with and without telemetry), taxiway-bare, mlflow, bentoml",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip taxiway --no-telemetry --no-log")
    parser.add_argument("--quick", action="store_true", help="3 s per level, 1 s warm-up: a smoke run")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each level")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated wrk connection counts")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of every server")
    parser.add_argument(
        "--rounds", type=int, default=1, help="passes over every level and server (figures: medians)"
    )
    parser.add_argument("--floor-calls", type=int, default=1000)
    parser.add_argument(
        "--pairs",
        type=int,
        default=6,
        help="back-to-back pairs for the goals that compare taxiway with itself (telemetry on/off at the top "
        "concurrency; c=1 p50 against a floor measured just before); 0 skips them",
    )
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--output", type=Path, help="result JSON (default benchmarks/results/serving-*.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, project)")
    parser.add_argument(
        "--summarize",
        nargs="+",
        type=Path,
        metavar="RESULT",
        help="print the medians of these result files and exit",
    )
    return parser.parse_args()


def chosen(args: argparse.Namespace) -> list[str]:
    names: list[str] = []
    for token in (part.strip() for part in args.servers.split(",") if part.strip()):
        if token == "taxiway":
            names += ["taxiway"] if args.no_bare else ["taxiway", "taxiway-bare"]
        elif token in CONFIGS:
            names.append(token)
        else:
            raise SystemExit(f"unknown server {token!r}; choose from taxiway, taxiway-bare, mlflow, bentoml")
    return list(dict.fromkeys(names))


def venv_requirements(venv: str) -> list[str]:
    """What a tool's venv gets: the tool and this venv's scikit-learn (the pickled model must load as is)."""
    from importlib.metadata import version

    tool = {"mlflow": "mlflow>=3,<4", "bentoml": "bentoml>=1.4,<1.5"}[venv]
    return [tool, f"scikit-learn=={version('scikit-learn')}", f"pandas=={version('pandas')}"]


def check_tools(names: list[str]) -> None:
    """wrk must be installed; a missing MLflow or BentoML venv is created (pip, from the package index)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    for venv in ("mlflow", "bentoml"):
        folder = VENVS / venv
        if venv not in names or (folder / "bin" / venv).exists():
            continue
        requirements = venv_requirements(venv)
        print(f"creating {folder}: pip install {' '.join(requirements)}", file=sys.stderr, flush=True)
        # the venv module of this interpreter: the tools run on the same Python version as taxiway
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *requirements], check=True)


def main() -> int:
    args = parse_args()
    if args.summarize:
        merged = summarize(args.summarize)
        print(markdown(merged))
        print(json.dumps({"ratios": merged["ratios"]}, indent=2))
        return 0
    names = chosen(args)
    check_tools(names)
    seconds, warmup = (3.0, 1.0) if args.quick else (args.seconds, args.warmup)
    levels = [int(part) for part in args.concurrency.split(",")]

    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the `finally` blocks that stop the servers

    signal.signal(signal.SIGTERM, terminated)
    began = time.monotonic()
    now = dt.datetime.now().astimezone()
    work = Path(tempfile.mkdtemp(prefix="taxiway-bench-serving-"))
    results: dict[str, Any] = {
        "benchmark": "serving",
        "date": now.isoformat(timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv]),
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "settings": {
            "levels": levels,
            "seconds": seconds,
            "warmup_s": warmup,
            "workers": args.workers,
            "rounds": args.rounds,
            "pairs": args.pairs,
            "thread_env": THREAD_ENV,
            "wrk_threads": {str(c): min(2, c) for c in levels},
            "dataset": "sklearn breast cancer (569 rows, 30 float columns)",
            "model": "HistGradientBoostingClassifier(random_state=0), fitted by `taxiway train`",
        },
        "servers": {},
    }
    try:
        print(f"building the project and the model in {work}", file=sys.stderr, flush=True)
        root, model_path, row = build_project(work)
        row_path = work / "row.json"
        row_path.write_text(json.dumps(row), encoding="utf-8")
        expected = expected_probabilities(model_path, row)
        results["versions"] = versions()
        results["floor"] = probe(model_path, row_path, args.floor_calls)
        print(
            f"floor: predict_proba {results['floor']['predict_proba']['median_ms']:.3f} ms (median)",
            file=sys.stderr,
            flush=True,
        )
        mlflow = log_mlflow_model(work, model_path, row_path) if "mlflow" in names else None
        made = specs(
            names,
            root=root,
            model_path=model_path,
            row=row,
            mlflow=mlflow,
            workers=args.workers,
            work=work,
        )
        run_servers(
            made,
            work,
            results,
            levels=levels,
            rounds=args.rounds,
            seconds=seconds,
            warmup=warmup,
            workers=args.workers,
            timeout_s=args.startup_timeout,
            expected=expected,
            pairs=args.pairs,
            probe_args=(model_path, row_path, args.floor_calls),
        )
        results["load_average_at_end"] = os.getloadavg()
        results["wall_seconds"] = time.monotonic() - began
        results["ratios"] = ratios(results)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    output = args.output or RESULTS / f"serving-{now:%Y-%m-%d-%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    print(f"\n{len(names)} servers in {results['wall_seconds']:.0f} s; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
