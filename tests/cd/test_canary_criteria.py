"""Each canary criterion can fail a canary on its own, through real `taxiway serve` and `taxiway cd run`:
latency (a canary that answers the same, only slower) and realised quality (a canary whose answers the
/feedback labels show wrong). The good canary passing every criterion: tests/cd/test_cd.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone

from taxiway.deploy import desired_state
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.packaged import PIPELINE_MODULE, import_pipeline
from tests.cd.helpers import Rows, cd_project, cd_until, criteria, linear_model, register_model
from tests.serve.server import Traffic, cli, running_server

# A model that answers as live does, slower: appended to the project's pipeline.py, where a served model's
# own classes live (a real model version, loaded by the server like any other).
SLEEPY = '''

import time as _time

from sklearn.base import BaseEstimator, ClassifierMixin


class Sleepy(BaseEstimator, ClassifierMixin):
    """Answers as ``model`` does, after ``seconds`` (the CD latency test's slow canary)."""

    def __init__(self, model=None, seconds=0.4):
        self.model = model
        self.seconds = seconds

    def fit(self, X=None, y=None):
        self.classes_ = self.model.classes_
        self.feature_names_in_ = self.model.feature_names_in_
        return self

    def predict_proba(self, X):
        _time.sleep(self.seconds)
        return self.model.predict_proba(X)

    def predict(self, X):
        _time.sleep(self.seconds)
        return self.model.predict(X)
'''
BUDGET_MS = 250  # live answers one row in a few ms; the slow canary takes 400 ms or more


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield cd_project(tmp_path_factory, serving=f"p99_latency_ms = {BUDGET_MS}\n")


def _stopped(project: Path, name: str) -> None:
    store = Project.load(project).store
    state = desired_state(store)
    assert state.canary is None and state.live == 1
    record = store.evidence.latest_about(Check.DEPLOY_CD, "model", name)
    assert record is not None and record.status == "fail" and record.origin == "cd"
    assert record.value is not None and record.threshold is not None and record.value >= record.threshold
    store.close()


def test_a_slower_canary_is_rolled_back_on_latency(project: Path, tmp_path: Path) -> None:
    with (project / "pipeline.py").open("a", encoding="utf-8") as code:
        code.write(SLEEPY)
    try:
        import_pipeline(project)
        slow = sys.modules[PIPELINE_MODULE].Sleepy(linear_model(project), seconds=0.4).fit()
        name = register_model(project, "slow", slow)
    finally:
        sys.modules.pop(PIPELINE_MODULE, None)
    cli(project, "deploy", name, "--as", "canary", "--weight", "0.5", "--no-wait")
    # One client thread: each request waits for the one before, so live's answers never queue behind the
    # canary's and the comparison is of the models, not of the queue.
    with running_server(project, log_dir=tmp_path) as server, Traffic(server, threads=1) as traffic:
        steps = cd_until(project, "stop-canary")
    assert steps[-1]["version"] == name
    judged = criteria(steps[-1])
    latency = judged["latency"]
    assert latency["verdict"] == "worse", judged
    assert f"{BUDGET_MS} ms (the charter's serving.p99_latency_ms)" in latency["bad_means"]
    assert latency["canary"]["rate"] > latency["live"]["rate"] + 0.05
    assert judged["errors"]["verdict"] != "worse" and judged["fallbacks"]["verdict"] != "worse"
    assert "latency" in steps[-1]["why"]
    assert all(a.status == 200 for a in traffic.answered), "a request failed"
    _stopped(project, name)


def test_a_canary_whose_labels_show_it_worse_is_rolled_back(project: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(project / "weather.csv")
    # The linear model fitted to the opposite labels: as confident as live (the same fallbacks, the same
    # speed), and wrong where live is right. Only the labels can tell.
    flipped = clone(linear_model(project)).fit(frame.drop(columns=["warm"]), 1 - frame["warm"])
    name = register_model(project, "flipped", flipped)
    cli(project, "deploy", name, "--as", "canary", "--weight", "0.5", "--no-wait")
    with running_server(project, log_dir=tmp_path) as server, Rows(server.url, frame, labels=True) as traffic:
        steps = cd_until(project, "stop-canary")
    judged = criteria(steps[-1])
    quality = judged["quality"]
    assert quality["verdict"] == "worse", judged
    assert quality["canary"]["n"] >= 30 and quality["canary"]["rate"] > quality["live"]["rate"] + 0.05
    assert "quality" in steps[-1]["why"]
    assert set(traffic.statuses) == {200} and traffic.feedback and set(traffic.feedback) == {200}
    _stopped(project, name)
