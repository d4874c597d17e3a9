"""What the CD tests share: the weather project with a CD policy, traffic with labels, models built in a
test, and `taxiway cd run` repeated until it takes a step.

The weather project (tests/validate/trained_model.py): its linear baseline is v1 (live), its candidate v2,
and v3 its constant baseline: a model that answers badly (the same 0.55 probability for every row, below
the charter's ``serving.min_confidence`` of 0.6, so the fallback answers every row it serves). The starter
candidate does not pass every gate on 1,500 rows, so each version's blessing is written here with the
validation metric its run measured; what CD does with them is what is tested.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx
import numpy as np
import pandas as pd
import pytest

from taxiway import registry
from taxiway.project import Project
from taxiway.registry.blessing import GateResult, save_blessing
from taxiway.train.packaging import save_model
from taxiway.train.runs import list_runs
from taxiway.train.tracking import start_run
from tests.serve.server import cli, cli_result
from tests.validate.trained_model import trained_copy

POLICY = """
[deploy.policy]
shadow_rows = 40
shadow_agreement = 0.5
canary_weight = 0.5
canary_requests = 40
canary_labels = 30
bake_minutes = 0
"""
DECIDE_TIMEOUT_S = 300
LABELS_PER_POST = 40  # /feedback is rate-limited per client: labels go in batches


def bless(project: Project, run_id: str, log_loss: float) -> None:
    gates = [GateResult("beats_baseline", "pass", 0.0, 0.0, "stated by the test")]
    test = {"metric": "log_loss", "value": log_loss, "rows": 225, "metrics": {"log_loss": log_loss}}
    with project.store.write_session() as session, session.begin():
        save_blessing(session, run_id, gates, test_metrics=test, evaluation={})


def cd_project(factory: pytest.TempPathFactory, *, serving: str = "") -> Path:
    """The weather project with v1 live, v2 (better) and v3 (answers badly) registered and blessed."""
    root = trained_copy(factory, factory.mktemp("cd") / "weather")
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    charter = charter.replace("[serving]\n", f"[serving]\nmin_confidence = 0.6\n{serving}", 1)
    (root / "taxiway.toml").write_text(charter + POLICY, encoding="utf-8")
    loaded = Project.load(root)
    runs = {run.name: run for run in list_runs(loaded.store)}
    linear, candidate, broken = runs["linear"], runs["candidate"], runs["constant"].id
    bless(loaded, linear.id, linear.metrics["log_loss"])
    bless(loaded, candidate.id, candidate.metrics["log_loss"])
    bless(loaded, broken, 0.01)  # on paper, far better than either
    for run_id in (linear.id, candidate.id, broken):
        registry.register(loaded.store, run_id)
    loaded.store.close()
    assert candidate.metrics["log_loss"] < linear.metrics["log_loss"]
    cli(root, "deploy", "v1", "--no-wait")
    return root


def register_model(root: Path, name: str, estimator: Any) -> str:
    """Register ``estimator`` (built in the test) as a new version trained on the linear baseline's data."""
    from taxiway.train.setup import predict_rows
    from taxiway.validate.run_model import load_run_model

    project = Project.load(root)
    base = {run.name: run for run in list_runs(project.store)}["linear"]
    valid = load_run_model(project, base.id).frames.valid
    features = [str(name) for name in estimator.feature_names_in_]
    # What it answers on the validation rows, stored as training stores them: deploy replays them (skew).
    predictions = predict_rows(estimator, valid[features], valid["warm"], "classification")
    with start_run(name, store=project.store, dataset_id=base.dataset_id, split_id=base.split_id) as run:
        saved = save_model(estimator)
        run.set_model(run.log_bytes(saved.name, saved.data))
        run.set_tags({"model_format": saved.format, "trusted_types": saved.trusted_types})
        run.set_predictions(run.log_bytes("predictions.parquet", predictions.to_parquet()))
    bless(project, run.id, base.metrics["log_loss"])
    version, _ = registry.register(project.store, run.id)
    project.store.close()
    return version.name


def linear_model(root: Path) -> Any:
    """The live linear baseline's fitted estimator (v1)."""
    project = Project.load(root)
    try:
        return registry.load_model_version(project.store, "v1", root=root)
    finally:
        project.store.close()


class _ClientThread:
    """One client thread against ``url``, started by ``with`` and stopped (joined) when the block ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []  # each request's HTTP status (0: no HTTP answer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _send(self) -> None:
        raise NotImplementedError


class Rows(_ClientThread):
    """One client thread posting real weather rows, a few per request, until stopped; with ``labels``, it
    also sends each answered row's true label to /feedback (by the request id the answer carries)."""

    def __init__(self, url: str, frame: pd.DataFrame, *, labels: bool = False) -> None:
        super().__init__(url)
        self.labels = labels
        self.rows = frame.drop(columns=["warm"]).to_dict(orient="records")
        self.truth = frame["warm"].tolist()
        self.feedback: list[int] = []

    def _send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n, pending = 0, []
            while not self._stop.is_set():
                at = [(n + k) % len(self.rows) for k in range(4)]
                n += 4
                try:
                    answer = client.post("/predict", json={"rows": [_clean(self.rows[i]) for i in at]})
                    self.statuses.append(answer.status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
                    continue
                if self.labels and answer.status_code == 200:
                    request_id = answer.json()["request_id"]
                    pending += [
                        {"request_id": request_id, "row": k, "label": self.truth[i]} for k, i in enumerate(at)
                    ]
                    if len(pending) >= LABELS_PER_POST:
                        self.feedback.append(client.post("/feedback", json={"labels": pending}).status_code)
                        pending = []


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()
    }


def cd_until(root: Path, wanted: str, *first: str) -> list[dict[str, Any]]:
    """Run `taxiway cd run` (the first time with ``first``) until it takes the step ``wanted``; every step
    it took, in order."""
    steps: list[dict[str, Any]] = []
    deadline = time.monotonic() + DECIDE_TIMEOUT_S
    while time.monotonic() < deadline:
        result = cli_result(root, "cd", "run", "--format", "json", *(first if not steps else ()))
        assert result.exit_code == 0, result.output
        step = json.loads(result.output)
        if step["action"] != "wait":
            steps.append(step)
        if step["action"] == wanted:
            return steps
        assert step["action"] not in ("stop-shadow", "stop-canary", "rollback", "refuse") or wanted in (
            "stop-canary",
            "stop-shadow",
        ), steps
        time.sleep(1)
    pytest.fail(f"cd run did not {wanted} within {DECIDE_TIMEOUT_S} s: {steps}")


def criteria(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A canary step's criteria by name: verdict, canary and live counts, the sequential test."""
    return {c["name"]: c for c in step["details"]["criteria"]}


class SteadyLoad(_ClientThread):
    """Steady load: one client thread sending ``{"row": ROW}`` at ``rate`` requests a second (paced, not as
    fast as the server answers), recording when each was sent and its status (0: no HTTP answer)."""

    def __init__(self, url: str, row: dict[str, Any], *, rate: float = 10.0) -> None:
        super().__init__(url)
        self.row, self.interval = row, 1.0 / rate
        self.sent: list[float] = []

    def sent_before(self, moment: float) -> int:
        return sum(1 for sent in list(self.sent) if sent < moment)

    def _send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            due = time.monotonic()
            while not self._stop.wait(max(0.0, due - time.monotonic())):
                due += self.interval
                self.sent.append(time.monotonic())
                try:
                    self.statuses.append(client.post("/predict", json={"row": self.row}).status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
