"""`taxiway cd run` against real `taxiway serve` processes: shadow → canary → live on measured figures
(errors, fallbacks, latency and labelled quality, each by a sequential test), and a broken canary rolled back
under steady load within 2,000 requests with no failed request. Project and versions: tests/cd/helpers.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from taxiway.deploy import desired_state
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.tracking import start_run
from tests.cd.helpers import Rows, SteadyLoad, cd_project, cd_until, criteria
from tests.serve.server import ROW, cli, cli_result, running_server

GOAL_REQUESTS = 2_000  # issue 17: a broken canary is rolled back within this many requests
BUDGET_MS = 1_000


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # A latency budget this machine keeps even when busy: the good canary (gradient-boosted trees, slower
    # than live's linear model) must not be turned down for the machine's load (the slower canary's test
    # uses a tight one: tests/cd/test_canary_criteria.py).
    yield cd_project(tmp_path_factory, serving=f"p99_latency_ms = {BUDGET_MS}\n")


def test_a_better_version_goes_shadow_then_canary_then_live(project: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(project / "weather.csv")
    with running_server(project, log_dir=tmp_path) as server, Rows(server.url, frame, labels=True) as traffic:
        steps = cd_until(project, "promote", "--version", "v2")  # v3 is newer: named, v2 goes
    assert [s["action"] for s in steps] == ["shadow", "canary", "promote"], steps
    assert all(s["version"] == "v2" for s in steps)
    assert set(traffic.statuses) == {200} and set(traffic.feedback) <= {200}
    # Every criterion judged the good canary as good as live: latency against the charter's budget,
    # quality on the labels the client sent.
    judged = criteria(steps[-1])
    assert {name: c["verdict"] for name, c in judged.items()} == dict.fromkeys(
        ("errors", "fallbacks", "latency", "quality"), "as_good"
    ), judged
    assert judged["quality"]["canary"]["n"] >= 30 and judged["quality"]["live"]["n"] > 0
    assert f"{BUDGET_MS:g} ms (the charter's serving.p99_latency_ms)" in judged["latency"]["bad_means"]
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
    """The goal drill: under steady load, a canary that answers badly is rolled back by `cd run` before the
    clients sent 2,000 requests, and no request fails."""
    cli(project, "deploy", "v3", "--as", "canary", "--weight", "0.5", "--no-wait")  # a person's decision
    with running_server(project, log_dir=tmp_path) as server, SteadyLoad(server.url, ROW) as load:
        steps = cd_until(project, "stop-canary")
        rolled_back = time.monotonic()
        sent = load.sent_before(rolled_back)
        state = desired_state(Project.load(project).store)
        assert state.canary is None and state.live == 1
        deadline = time.monotonic() + 120
        while len(load.statuses) < sent + 20 and time.monotonic() < deadline:
            time.sleep(0.1)  # the server drops the canary; traffic goes on being answered
    assert steps[-1]["version"] == "v3"
    assert 0 < sent < GOAL_REQUESTS, f"rolled back after {sent} requests"
    canary = steps[-1]["details"]["canary"]
    assert 0 < canary["requests"] < GOAL_REQUESTS and canary["fallbacks"] == canary["rows"] > 0
    assert criteria(steps[-1])["fallbacks"]["verdict"] == "worse"
    assert load.statuses and set(load.statuses) == {200}, "a request failed"
    store = Project.load(project).store
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
