"""Continuous training hands a better model to continuous delivery, end to end: a new dataset version
triggers `taxiway ct run`, which retrains, validates the candidate against live on the same new test rows,
registers it and hands it to CD (shadow); `taxiway cd run` then takes it canary and live against a real
`taxiway serve` answering real traffic. Then the guard rail: a retrain not better than the new live by the
charter's smallest improvement is never registered, so never delivered."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from taxiway import registry
from taxiway.deploy import desired_state
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.runs import list_runs
from tests.cd.helpers import POLICY, Rows, bless, cd_until
from tests.serve.server import cli, cli_result, running_server
from tests.train.test_train_cli import weather_rows
from tests.validate.trained_model import trained_copy

SMALLEST = "smallest_improvement = {}\n"


def _smallest_improvement(root: Path, value: float) -> None:
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    kept = [line for line in charter.splitlines(keepends=True) if not line.startswith("smallest_improvement")]
    charter = "".join(kept).replace("[problem]\n", "[problem]\n" + SMALLEST.format(value), 1)
    (root / "taxiway.toml").write_text(charter, encoding="utf-8")


def _ct_run(root: Path) -> dict[str, object]:
    result = cli_result(root, "ct", "run", "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.output)
    return document


def test_a_new_dataset_version_is_retrained_validated_and_delivered_live(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = trained_copy(tmp_path_factory, tmp_path_factory.mktemp("ct-cd") / "weather")
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    # A latency budget the machine keeps even when busy: the retrained trees are slower than live's linear
    # model, and what is tested here is the loop, not the machine's load.
    charter = charter.replace("[serving]\n", "[serving]\np99_latency_ms = 1000\n", 1)
    (root / "taxiway.toml").write_text(charter + POLICY, encoding="utf-8")
    project = Project.load(root)  # live: the linear baseline trained on the first 1,500 rows
    linear = {run.name: run for run in list_runs(project.store)}["linear"]
    bless(project, linear.id, linear.metrics["log_loss"])
    registry.register(project.store, linear.id)
    project.store.close()
    cli(root, "deploy", "v1", "--no-wait")
    _smallest_improvement(root, 0.01)
    weather_rows(3_000).to_csv(root / "weather.csv", index=False)
    cli(root, "data", "add", str(root / "weather.csv"))  # the trigger: a new dataset version

    # Better by more than the smallest improvement: registered, and CD puts it in shadow beside live.
    handed = _ct_run(root)
    assert handed["action"] == "handed_to_cd" and handed["version"] == "v2", handed
    assert [t["kind"] for t in handed["triggers"]] == ["new_data"]  # type: ignore[attr-defined]
    details = handed["details"]
    assert isinstance(details, dict) and details["live_version"] == "v1" and details["blessed"] is True
    assert details["live"] - details["candidate"] >= 0.01  # log loss, paired on the same new test rows
    assert desired_state(Project.load(root).store).shadow == 2

    frame = pd.read_csv(root / "weather.csv")
    with running_server(root, log_dir=tmp_path) as server, Rows(server.url, frame) as traffic:
        steps = cd_until(root, "promote")
    assert [s["action"] for s in steps] == ["canary", "promote"] and {s["version"] for s in steps} == {"v2"}
    assert set(traffic.statuses) == {200}
    store = Project.load(root).store
    assert desired_state(store).live == 2
    delivered = [e for e in store.evidence.history(Check.DEPLOY_CD) if e.subject_id == "v2"]
    assert [e.details["step"].split(":")[0] for e in reversed(delivered)] == ["shadow", "canary", "live"]
    assert {e.origin for e in delivered} == {"cd"} and {e.status for e in delivered} == {"pass"}
    store.close()

    # The guard rail: more data again, and the team now asks for a gain of 0.03: the retrain is validated
    # against the new live v2 on the same new test rows, gains less, and is never registered or delivered.
    _smallest_improvement(root, 0.03)
    weather_rows(4_000).to_csv(root / "weather.csv", index=False)
    cli(root, "data", "add", str(root / "weather.csv"))
    refused = _ct_run(root)
    assert refused["action"] == "retrained" and refused["version"] is None, refused
    store = Project.load(root).store
    record = store.evidence.latest_about(Check.CT_RETRAIN, "run", str(refused["run_id"]))
    assert record is not None and record.status == "fail" and record.details["live_version"] == "v2"
    assert record.limit_key == "problem.smallest_improvement" and record.threshold == 0.03
    assert record.value is not None and record.value < 0.03
    assert sorted(v.name for v in registry.list_versions(store)) == ["v1", "v2"]
    assert json.loads(cli_result(root, "cd", "run", "--format", "json").output)["action"] == "wait"
    state = desired_state(store)
    assert state.live == 2 and state.shadow is None and state.canary is None
    store.close()
