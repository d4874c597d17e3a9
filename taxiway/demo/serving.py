"""The demo's serving stage: a real `taxiway serve` process, test traffic, shadow, promotion and rollback.

Everything goes through the same commands a team would use (the deploy library calls behind
`taxiway deploy/promote/rollback`) and a real HTTP server on 127.0.0.1; the figures printed come from the
server's answers and its prediction log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from taxiway.data.split import current_split, split_frames
from taxiway.demo.flights import TARGET
from taxiway.deploy.changes import deploy, promote, rollback
from taxiway.deploy.health import MIN_ROWS
from taxiway.deploy.replicas import wait_for_generation
from taxiway.deploy.state import DeploymentState
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.registry import ModelVersion, list_versions, register
from taxiway.train.runner import TrainingReport

TRAFFIC_ROWS = 1_000  # single-row requests; --quick sends a fifth
SHADOW_ROWS = 300
CLIENT_THREADS = 4
READY_TIMEOUT_S = 120
_REASON = "demo: shows deployment on a model that did not pass every gate"

__all__ = ["ServingDemo", "TrafficReport", "run_serving_demo"]


@dataclass
class TrafficReport:
    """What a replay of rows through the server got back."""

    sent: int = 0
    answered: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # HTTP status -> requests
    fallbacks: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for people: answered, refused, fallbacks, latency, throughput."""
        p50, p99 = np.percentile(self.latencies_ms, [50, 99]) if self.latencies_ms else (0.0, 0.0)
        refused = ", ".join(f"{count} × {status}" for status, count in sorted(self.refused.items())) or "none"
        fell = ", ".join(f"{reason} {count}" for reason, count in self.fallbacks.most_common()) or "none"
        versions = ", ".join(f"{name} {count}" for name, count in sorted(self.versions.items()))
        return (
            f"{self.sent:,} requests in {self.seconds:.1f} s ({self.sent / max(self.seconds, 1e-9):,.0f}/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms): answered {self.answered:,} by {versions}; "
            f"refused {refused}; fallback answered {fell}"
        )


@dataclass(frozen=True)
class ServingDemo:
    """What the serving stage did."""

    url: str
    first: ModelVersion
    second: ModelVersion
    traffic: TrafficReport
    agreement: float | None
    steps: list[str]


def run_serving_demo(
    project: Project,
    training: TrainingReport,
    version: ModelVersion,
    console: Console,
    *,
    quick: bool = False,
) -> ServingDemo:
    """Deploy ``version`` live, replay test traffic with bad rows, then shadow, promote and roll back v2."""
    # A shadow is judged once it has answered MIN_ROWS rows: even --quick sends that many and a few more.
    traffic_rows, shadow_rows = (
        (TRAFFIC_ROWS // 5, MIN_ROWS + 20) if quick else (TRAFFIC_ROWS, max(SHADOW_ROWS, MIN_ROWS + 20))
    )
    console.rule("7. serving: deploy, traffic, shadow, promote, rollback")
    store = project.store
    second = _second_version(project, training)
    steps: list[str] = []
    rows = _test_rows(project)
    _apply(project, deploy(store, version.name, "live", force=not version.is_blessed, reason=_REASON), steps)
    with _server(project.root) as url, httpx.Client(base_url=url, timeout=30) as client:
        console.print(f"taxiway serve is up at {url} with {version.name} live (blue slot)")
        traffic = _replay(client, _with_bad_rows(rows.head(traffic_rows)))
        console.print(f"test traffic with bad and out-of-range rows: {traffic.line()}", highlight=False)

        _apply(project, deploy(store, second.name, "shadow", force=True, reason=_REASON), steps)
        shadow_traffic = _replay(client, rows.iloc[traffic_rows : traffic_rows + shadow_rows])
        agreement = _agreement(client, second.name, rows=shadow_rows)
        shown = "not measured" if agreement is None else f"{agreement:.1%}"
        console.print(
            f"{second.name} in shadow: live answers still from {', '.join(shadow_traffic.versions)}; "
            f"shadow agreed with live on {shown} of rows",
            highlight=False,
        )
        for action in ("promote", "rollback"):
            started = time.perf_counter()
            state = _promote(project, second) if action == "promote" else rollback(store, reason="demo")
            _apply(project, state, steps)
            applied = time.perf_counter() - started
            after = _replay(client, rows.iloc[:50])
            console.print(
                f"{action}: generation {state.generation} applied by every replica in {applied:.2f} s; "
                f"now answering: {', '.join(after.versions)}; refused {sum(after.refused.values())}",
                highlight=False,
            )
    for step in steps:
        console.print(f"  {step}", highlight=False)
    return ServingDemo(url, version, second, traffic, agreement, steps)


def _second_version(project: Project, training: TrainingReport) -> ModelVersion:
    """The best baseline, registered too: a real second model to shadow, promote and roll back from."""
    baseline = training.verdict.best_baseline.run_id
    for existing in list_versions(project.store):
        if existing.run_id == baseline:
            return existing
    version, _ = register(project.store, baseline, force=True, reason="demo: a second version to deploy")
    return version


def _promote(project: Project, second: ModelVersion) -> DeploymentState:
    """Promote the shadow; an unblessed one only goes live by a forced deploy, which records why."""
    if second.is_blessed:
        return promote(project.store, reason="demo: the shadow agreed with live")
    return deploy(project.store, second.name, "live", force=True, reason=_REASON)


def _apply(project: Project, state: DeploymentState, steps: list[str]) -> None:
    replicas = wait_for_generation(project.store, state.generation, timeout_s=READY_TIMEOUT_S)
    applied = f"applied by {len(replicas)} replica(s)" if replicas else "applies when a server starts"
    steps.append(f"generation {state.generation}: {state.describe()} ({applied})")


def _test_rows(project: Project) -> pd.DataFrame:
    split = current_split(project.store)
    assert split is not None  # the demo split the data before training
    return split_frames(project.store, split).test.drop(columns=[TARGET]).reset_index(drop=True)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: JSON values, missing as null, times as ISO text."""
    plain = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    return orjson.loads(orjson.dumps(plain, default=str))  # type: ignore[no-any-return]


def _with_bad_rows(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as records, every 50th out of range, every 50th (offset 25) unseen, every 100th broken."""
    records = _records(rows)
    for position in range(0, len(records), 50):
        records[position]["distance"] = float(records[position]["distance"] or 0) * 30 + 50_000
    for position in range(25, len(records), 50):
        records[position]["dest"] = "ZZZ"
    for position in range(10, len(records), 100):
        records[position]["distance"] = "far"  # a type the schema refuses: 422
    return records


def _replay(client: httpx.Client, rows: pd.DataFrame | list[dict[str, Any]]) -> TrafficReport:
    records = rows if isinstance(rows, list) else _records(rows)
    report = TrafficReport()

    def send(row: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        started = time.perf_counter()
        answer = client.post("/predict", content=orjson.dumps({"row": row}))
        return answer.status_code, answer.json(), (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for status, body, latency in pool.map(send, records):
            report.sent += 1
            report.latencies_ms.append(latency)
            if status != 200:
                report.refused[status] = report.refused.get(status, 0) + 1
                continue
            report.answered += 1
            report.versions[body["model"]["version"]] += 1
            for fallback in body["fallback"]:
                if fallback["used"]:
                    report.fallbacks[fallback["reason"].split(":")[0]] += 1
    report.seconds = time.perf_counter() - started
    return report


def _agreement(client: httpx.Client, shadow: str, *, rows: int, wait_s: float = 15.0) -> float | None:
    """Share of rows the shadow's model answered like the live model, from the server's /metrics."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        totals = {"taxiway_shadow_compared_total": 0.0, "taxiway_shadow_agreed_total": 0.0}
        for family in text_string_to_metric_families(client.get("/metrics").text):
            for sample in family.samples:
                if sample.name in totals and sample.labels.get("version") == shadow:
                    totals[sample.name] += sample.value
        compared, agreed = totals.values()
        if compared >= rows:  # telemetry folds figures in every second, off the request path
            return agreed / compared
        time.sleep(0.5)
    return None


class _server:
    """`taxiway serve --port 0` for the project, until the block ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        taxiway = str(Path(sys.executable).with_name("taxiway"))
        self.process = subprocess.Popen(
            [taxiway, "--project", str(self.root), "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        url = line.split(" at ")[1].split()[0].rstrip("/")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise TaxiwayError(
            f"the demo's `taxiway serve` did not become ready within {READY_TIMEOUT_S} s",
            hint=f"run `taxiway --project {self.root} serve` to see why",
        )

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
