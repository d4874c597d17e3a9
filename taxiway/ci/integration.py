"""The full-pipeline integration test (ML Test Score I3), on a sample of the current dataset version.

In a sandbox (a temporary copy of the project's charter and code, with a store of its own, so nothing of the
real project changes): data add → split and its checks → train → validate → register → deploy → a real
`taxiway serve` process → its answers compared with the same version's answers computed in this process →
Ctrl+C, and the server must exit 0. Each stage is a separate `taxiway` process, as a user runs them.

Validation may fail its gates on a small sample (too few rows to show an improvement); the test is about
the pipeline running end to end, so a stage passes when it ran and gave a verdict (exit 0 or 1) and fails
when it crashed or refused its input (any other exit code).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from taxiway.ci.junit import Case
from taxiway.data.versions import latest_dataset, load_dataset
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.uris import ARTIFACTS_URI_ENV, STORE_URI_ENV

TAXIWAY = [sys.executable, "-c", "from taxiway.cli import main; main()"]
COMPARED_ROWS = 50  # rows sent to the server and predicted in-process
_STAGE_TIMEOUT_S = 300.0
_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 30.0
_RAN = (0, 1)  # a verdict: pass or fail; anything else is a crash or a refusal


@dataclass
class IntegrationRun:
    """The stages of one integration test, each a JUnit case, and how many served answers differed."""

    dataset: str
    rows: int
    cases: list[Case] = field(default_factory=list)
    compared: int = 0
    mismatches: int = 0
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(1 for case in self.cases if case.failure is not None)


def run_integration(
    project: Project, *, rows: int | None = None, progress: Callable[[str], None] | None = None
) -> IntegrationRun:
    """Run the pipeline end to end on ``rows`` sampled rows and record ``pipeline.integration``.

    Example (shell):
        taxiway test --only integration

    Raises:
        TaxiwayError: the project has no dataset version to sample.
    """
    store, charter = project.store, project.charter
    version = latest_dataset(store)
    if version is None:
        raise TaxiwayError(
            "the integration test needs data: the project has no dataset version",
            hint="add one: taxiway data add FILE",
        )
    size = rows or charter.ci.integration_rows
    frame = load_dataset(store, version)
    sample = frame.sample(n=min(size, len(frame)), random_state=charter.split.seed).sort_index()
    run = IntegrationRun(dataset=version.id, rows=len(sample))
    say = progress or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="taxiway-integration-") as folder:
        sandbox = _sandbox(project.root, Path(folder))
        sample.to_csv(sandbox / "sample.csv", index=False)
        env = {**os.environ, STORE_URI_ENV: f"sqlite:///{sandbox / 'store.db'}"}
        env[ARTIFACTS_URI_ENV] = str(sandbox / "artifacts")
        env.pop("TAXIWAY_PROJECT", None)
        if _pipeline(run, sandbox, env, say):
            say("serve")
            _serve_and_compare(run, sandbox, env, sample.drop(columns=[charter.problem.target]))
    _record(project, run)
    return run


def _sandbox(root: Path, folder: Path) -> Path:
    """A copy of the project's charter, code and declarations (not its data or store)."""
    sandbox = folder / "project"
    sandbox.mkdir()
    for path in root.iterdir():
        if path.is_file() and path.suffix in (".toml", ".py", ".yaml", ".yml"):
            shutil.copy2(path, sandbox / path.name)
    if (root / "tests").is_dir():
        shutil.copytree(root / "tests", sandbox / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    return sandbox


def _pipeline(run: IntegrationRun, sandbox: Path, env: dict[str, str], say: Callable[[str], None]) -> bool:
    """data → split and checks → train → validate → register → deploy; False at the first stage that broke."""
    stages: list[tuple[str, list[str]]] = [
        ("data add", ["data", "add", str(sandbox / "sample.csv")]),
        ("data split and checks", ["data", "split"]),
        ("train", ["train", "--format", "json"]),
    ]
    for name, args in stages:
        say(name)
        if _stage(run, name, args, sandbox, env) is None:
            return False
    trained = json.loads(run.outputs["train"])
    candidate = str(trained["verdict"]["best_candidate"])
    for name, args in (
        ("validate", ["validate", candidate]),
        ("register", ["register", candidate, "--force", "--reason", "integration test"]),
        ("deploy", ["deploy", "v1", "--force", "--reason", "integration test", "--no-wait"]),
    ):
        say(name)
        if _stage(run, name, args, sandbox, env) is None:
            return False
    return True


def _stage(run: IntegrationRun, name: str, args: list[str], sandbox: Path, env: dict[str, str]) -> str | None:
    """Run one stage; its standard output, or None when it broke (recorded as a failed case)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [*TAXIWAY, "--project", str(sandbox), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=_STAGE_TIMEOUT_S,
            check=False,
        )
        failure = None
        if done.returncode not in _RAN:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            failure = f"`taxiway {' '.join(args)}` exited with {done.returncode}:\n{tail}"
    except subprocess.TimeoutExpired:
        failure = f"`taxiway {' '.join(args)}` ran past {_STAGE_TIMEOUT_S:g} s"
    run.cases.append(Case("integration", name, time.perf_counter() - started, failure=failure))
    if failure is not None:
        return None
    run.outputs[name] = done.stdout
    return done.stdout


def _serve_and_compare(run: IntegrationRun, sandbox: Path, env: dict[str, str], inputs: Any) -> None:
    started = time.perf_counter()
    rows = json.loads(inputs.head(COMPARED_ROWS).to_json(orient="records", date_format="iso"))
    process = subprocess.Popen(
        [*TAXIWAY, "--project", str(sandbox), "serve", "--port", "0"],
        cwd=sandbox,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    failure: str | None = None
    try:
        served = _served_answers(process, rows)
        expected = _in_process_answers(sandbox, env, rows)
        run.compared = len(rows)
        differing = [(a, b) for a, b in zip(served, expected, strict=False) if not _same(a, b)]
        run.mismatches = len(differing) + abs(len(served) - len(expected))
        if run.mismatches:
            first = f"; first: served {differing[0][0]}, in-process {differing[0][1]}" if differing else ""
            failure = f"{run.mismatches} of {len(rows)} served answers differ from the in-process ones{first}"
    except (TaxiwayError, httpx.HTTPError, OSError) as error:
        failure = f"serving failed: {error}"
    finally:
        stopped = _stop(process)
    run.cases.append(Case("integration", "serve and compare", time.perf_counter() - started, failure=failure))
    run.cases.append(Case("integration", "stop the server", 0.0, failure=stopped))


def _served_answers(process: subprocess.Popen[bytes], rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if " at " not in line:
        raise TaxiwayError(f"taxiway serve did not start: {line.strip() or 'no output'}")
    url = line.split(" at ")[1].split()[0].rstrip("/")
    deadline = time.monotonic() + _READY_TIMEOUT_S
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            if process.poll() is not None:
                raise TaxiwayError(f"taxiway serve exited with {process.returncode} before it was ready")
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TaxiwayError(f"taxiway serve was not ready within {_READY_TIMEOUT_S:g} s")
            time.sleep(0.1)
        response = client.post("/predict", json={"rows": rows})
    if response.status_code != 200:
        raise TaxiwayError(f"/predict answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    # The native answer says {"used": false} or {"used": true, "reason": ...}; in-process, the reason or None.
    reasons = [f.get("reason") if f.get("used") else None for f in body["fallback"]]
    return list(zip(body["predictions"], body["confidence"], reasons, strict=True))


def _in_process_answers(
    sandbox: Path, env: dict[str, str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    import pandas as pd

    from taxiway.serve.served_model import load_served_model
    from taxiway.store import Store
    from taxiway.store.uris import StoreLocation

    charter = Project.load(sandbox).charter
    store = Store.open(StoreLocation(env[STORE_URI_ENV], env[ARTIFACTS_URI_ENV]))
    try:
        served = load_served_model(store, "v1", charter, root=sandbox)
        frame = pd.DataFrame(rows)
        answer = served.answer(served.contract.coerce(frame))
    finally:
        store.close()
    # numpy scalars as the JSON answer carries them (int64 → int, float64 → float)
    predictions = [p.item() if hasattr(p, "item") else p for p in answer.predictions]
    return list(zip(predictions, answer.confidence, answer.fallback, strict=True))


def _same(served: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    for a, b in zip(served, expected, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None:
                # JSON has no NaN: a served null stands for an in-process NaN
                if not (a is None and b is not None and math.isnan(float(b))):
                    return False
            elif not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif a != b:
            return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> str | None:
    """Ctrl+C the server; a failure message unless it exits 0 in time."""
    if process.stdout is not None:
        process.stdout.close()
    if process.poll() is not None:
        return f"taxiway serve had already exited with {process.returncode}"
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"taxiway serve did not stop within {_STOP_TIMEOUT_S:g} s of Ctrl+C"
    return None if code == 0 else f"taxiway serve exited with {code} on Ctrl+C"


def _record(project: Project, run: IntegrationRun) -> None:
    project.store.evidence.record(
        Check.PIPELINE_INTEGRATION,
        subject_kind="dataset",
        subject_id=run.dataset,
        value=float(run.failures),
        limit=Limit(0, "<="),
        measured=Measurement(sample_size=run.rows, method="data → train → validate → register → serve"),
        details={
            "stages": [
                {"stage": c.name, "seconds": round(c.seconds, 2), "failure": c.failure} for c in run.cases
            ],
            "compared": run.compared,
            "mismatches": run.mismatches,
        },
    )
