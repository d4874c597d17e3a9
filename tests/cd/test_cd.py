"""`taxiway cd run` against real `taxiway serve` processes: shadow → canary → live on measured figures, and a
broken canary rolled back by the sequential test with no failed request.

The weather project (tests/validate/trained_model.py): its linear baseline is v1 (live), its candidate v2,
and v3 its constant baseline: a model that answers badly (the same 0.55 probability for every row, below
the charter's ``serving.min_confidence`` of 0.6, so the fallback answers every row it serves). The starter
candidate does not pass every gate on 1,500 rows, so each version's blessing is written here with the
validation metric its run measured; what CD does with them is what is tested.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import httpx
import numpy as np
import pandas as pd
import pytest

from taxiway import registry
from taxiway.deploy import desired_state
from taxiway.project import Project
from taxiway.registry.blessing import GateResult, save_blessing
from taxiway.store.checks import Check
from taxiway.train.runs import list_runs
from taxiway.train.tracking import start_run
from tests.serve.server import Traffic, cli, cli_result, running_server
from tests.validate.trained_model import trained_copy

POLICY = """
[deploy.policy]
shadow_rows = 40
shadow_agreement = 0.5
canary_weight = 0.5
canary_requests = 40
bake_minutes = 0
"""
DECIDE_TIMEOUT_S = 300


def _bless(project: Project, run_id: str, log_loss: float) -> None:
    gates = [GateResult("beats_baseline", "pass", 0.0, 0.0, "stated by the test")]
    test = {"metric": "log_loss", "value": log_loss, "rows": 225, "metrics": {"log_loss": log_loss}}
    with project.store.write_session() as session, session.begin():
        save_blessing(session, run_id, gates, test_metrics=test, evaluation={})


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = trained_copy(tmp_path_factory, tmp_path_factory.mktemp("cd") / "weather")
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    charter = charter.replace("[serving]\n", "[serving]\nmin_confidence = 0.6\n", 1)
    (root / "taxiway.toml").write_text(charter + POLICY, encoding="utf-8")
    loaded = Project.load(root)
    runs = {run.name: run for run in list_runs(loaded.store)}
    linear, candidate, broken = runs["linear"], runs["candidate"], runs["constant"].id
    _bless(loaded, linear.id, linear.metrics["log_loss"])
    _bless(loaded, candidate.id, candidate.metrics["log_loss"])
    _bless(loaded, broken, 0.01)  # on paper, far better than either
    for run_id in (linear.id, candidate.id, broken):
        registry.register(loaded.store, run_id)
    loaded.store.close()
    assert candidate.metrics["log_loss"] < linear.metrics["log_loss"]
    cli(root, "deploy", "v1", "--no-wait")
    yield root


class Rows:
    """One client thread posting real weather rows, a few per request, until stopped."""

    def __init__(self, url: str, frame: pd.DataFrame) -> None:
        self.url, self.rows = url, frame.drop(columns=["warm"]).to_dict(orient="records")
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                part = [_clean(self.rows[(n + k) % len(self.rows)]) for k in range(4)]
                n += 4
                try:
                    self.statuses.append(client.post("/predict", json={"rows": part}).status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()
    }


def _cd_until(root: Path, wanted: str, *first: str) -> list[dict[str, Any]]:
    """Run `taxiway cd run` (the first time with ``first``) until it takes the step ``wanted``; every step
    it took, in order."""
    import json

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


def test_a_better_version_goes_shadow_then_canary_then_live(project: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(project / "weather.csv")
    with running_server(project, log_dir=tmp_path) as server, Rows(server.url, frame) as traffic:
        steps = _cd_until(project, "promote", "--version", "v2")  # v3 is newer: named, v2 goes
    assert [s["action"] for s in steps] == ["shadow", "canary", "promote"], steps
    assert all(s["version"] == "v2" for s in steps)
    assert set(traffic.statuses) == {200}
    store = Project.load(project).store
    assert desired_state(store).live == 2
    records = [e for e in store.evidence.history(Check.DEPLOY_CD) if e.subject_id == "v2"]
    assert (
        len(records) == 3
        and {e.origin for e in records} == {"cd"}
        and {e.status for e in records} == {"pass"}
    )
    # The canary's verdict is the sequential test's: its log-likelihood ratio below the upper bound.
    promoted = records[0]
    assert (
        promoted.value is not None and promoted.threshold is not None and promoted.value < promoted.threshold
    )
    assert promoted.measured.sample_size and promoted.measured.sample_size >= 40


def test_a_broken_canary_is_rolled_back_without_a_failed_request(project: Path, tmp_path: Path) -> None:
    cli(project, "deploy", "v3", "--as", "canary", "--weight", "0.5", "--no-wait")  # a person's decision
    with running_server(project, log_dir=tmp_path) as server, Traffic(server, threads=2) as traffic:
        steps = _cd_until(project, "stop-canary")
    assert steps[-1]["version"] == "v3"
    canary = steps[-1]["details"]["canary"]
    assert 0 < canary["requests"] < 2000 and canary["fallbacks"] == canary["rows"] > 0
    assert all(a.status == 200 for a in traffic.answered), "a request failed"
    store = Project.load(project).store
    state = desired_state(store)
    assert state.canary is None and state.live == 1
    record = store.evidence.latest_about(Check.DEPLOY_CD, "model", "v3")
    assert record is not None and record.status == "fail" and record.origin == "cd"
    # Turned down once, v3 is not offered again; v2 (better than live) is.
    step = cli_result(project, "cd", "run", "--format", "json")
    assert '"version": "v2"' in step.output and '"action": "shadow"' in step.output, step.output


def test_refusals_deploy_nothing(project: Path) -> None:
    store = Project.load(project).store
    before = desired_state(store).generation
    with start_run("unvalidated", store=store) as run:
        run.set_model(run.log_bytes("model.skops", b"never validated"))
    forced = cli_result(project, "register", run.id, "--force", "--reason", "test")
    assert forced.exit_code == 0, forced.output
    refused = cli_result(project, "cd", "run", "--version", "v4")
    assert refused.exit_code == 2 and "never blessed" in refused.output and "hint:" in refused.output
    assert desired_state(store).generation == before
    record = store.evidence.latest_about(Check.DEPLOY_CD, "model", "v4")
    assert record is not None and record.status == "fail" and record.origin == "cd"


def test_a_policy_that_cannot_be_met_is_refused(project: Path) -> None:
    with (project / "taxiway.toml").open("a", encoding="utf-8") as charter:
        charter.write("\n")
    text = (project / "taxiway.toml").read_text().replace("canary_weight = 0.5", "canary_weight = 1.5")
    (project / "taxiway.toml").write_text(text)
    result = cli_result(project, "cd", "run")
    assert result.exit_code != 0 and "canary_weight" in result.output
