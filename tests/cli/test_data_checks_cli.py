"""`taxiway data split` and `taxiway data check` through the real CLI, on a real project folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from taxiway.charter import render_charter
from taxiway.cli import app
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.tables import EvidenceRow, SplitRow
from tests.backend import BACKEND
from tests.data.split_helpers import cancer, events

SPLIT_KEYS = ["id", "short_id", "dataset_id", "strategy", "settings", "counts", "manifest", "created_at"]
REPORT_KEYS = [
    "check_id",
    "status",
    "verdict",
    "summary",
    "value",
    "threshold",
    "comparison",
    "limit_key",
    "warning",
    "details",
    "parts",
    "findings",
    "notes",
]
DATA_CHECKS = [Check.DATA_LEAKAGE, Check.DATA_SAME_DISTRIBUTION, Check.DATA_DEV_POWER]


@pytest.fixture
def backend() -> str:
    """The store backend of this run (TAXIWAY_TEST_BACKEND): each test runs on SQLite, then on PostgreSQL."""
    return BACKEND


def _project(
    root: Path, *, answers: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = render_charter(
        name="checks", task="classification", target="label", answers=answers or {}, settings=settings
    )
    (root / "taxiway.toml").write_text(text, encoding="utf-8")
    return root


def _run(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "data", *args])


def _json(result: Result, exit_code: int = 0) -> Any:
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)  # the whole of stdout is one document


def _add(runner: CliRunner, project: Path, frame: pd.DataFrame, name: str = "data.parquet") -> str:
    path = project / name
    frame.to_parquet(path, index=False)
    return str(_json(_run(runner, project, "add", str(path), "-f", "json"))["version"]["id"])


def _counts(project: Path) -> tuple[int, int]:
    store = Project.load(project).store
    try:
        with store.session() as session:
            return (
                session.scalar(select(func.count()).select_from(SplitRow)) or 0,
                session.scalar(select(func.count()).select_from(EvidenceRow)) or 0,
            )
    finally:
        store.close()


def _latest(project: Path) -> dict[str, Any]:
    store = Project.load(project).store
    try:
        return dict(store.evidence.latest([Check.DATA_SPLIT, *DATA_CHECKS]))
    finally:
        store.close()


def test_split_and_check(runner: CliRunner, tmp_path: Path, backend: str) -> None:
    project = _project(tmp_path / "p", answers={"problem.smallest_improvement": 0.3})
    dataset = _add(runner, project, cancer())
    document = _json(_run(runner, project, "split", "--format", "json"))
    assert list(document) == ["is_new", "split", "checks"] and document["is_new"] is True
    split = document["split"]
    assert list(split) == SPLIT_KEYS and split["dataset_id"] == dataset and split["strategy"] == "random"
    assert split["short_id"] == split["id"][:12] and split["created_at"].endswith("+00:00")
    assert sum(split["counts"][name] for name in ("train", "valid", "test")) == 569
    checks = document["checks"]
    assert list(checks) == ["passed", "checks"] and checks["passed"] is True
    assert list(checks["checks"]) == ["leakage", "same_distribution", "dev_power"]
    for report in checks["checks"].values():
        assert list(report) == REPORT_KEYS and report["status"] == "pass"
    leakage = checks["checks"]["leakage"]
    assert [part["name"] for part in leakage["parts"]] == [
        "duplicate_features",
        "duplicate_rows",
        "duplicates_within",
        "near_duplicates",
        "group_overlap",
        "time_overlap",
        "target_leakage",
        "combinations",
        "post_event",
        "id_like",
    ]
    power = checks["checks"]["dev_power"]
    assert power["value"] == power["details"]["mde"] <= power["threshold"] == 0.3

    evidence = _latest(project)
    assert {check: record.subject_id for check, record in evidence.items()} == {
        check: split["id"] for check in [Check.DATA_SPLIT, *DATA_CHECKS]
    }
    assert evidence[Check.DATA_DEV_POWER].details["n_valid"] == split["counts"]["valid"]

    before = _counts(project)
    again = _run(runner, project, "split")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"already split as {split['short_id']}: random split")
    assert "nothing written" in again.stdout and _counts(project) == before

    text = _run(runner, project, "check")
    assert text.exit_code == 0, text.output
    for expected in (
        f"data checks of split {split['short_id']}",
        "same distribution",
        "dev-set power",
        "all checks pass",
    ):
        assert expected in text.stdout, expected
    assert _counts(project) == (before[0], before[1] + 3)  # three new evidence records, no new split
    checked = _json(_run(runner, project, "check", "--split", split["id"][:8], "-f", "json"))
    assert list(checked) == ["split", "passed", "checks"] and checked["split"] == split


def test_a_failing_check_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    # 0.005 of ROC AUC: far below what 85 validation rows detect
    project = _project(tmp_path / "p", answers={"problem.smallest_improvement": 0.005})
    _add(runner, project, cancer())
    made = _run(runner, project, "split")
    assert made.exit_code == 1, made.output
    assert made.stdout.startswith("made split ") and "dev-set power: FAIL" in made.stdout
    assert "validation rows are needed" in made.stdout and "a check failed" in made.stdout
    assert "or set problem.smallest_improvement = " in made.stdout  # 569 rows cannot show 0.005
    document = _json(_run(runner, project, "check", "-f", "json"), exit_code=1)
    assert document["passed"] is False and document["checks"]["dev_power"]["status"] == "fail"
    assert _latest(project)[Check.DATA_DEV_POWER].status == "fail"


def test_an_unanswered_smallest_improvement_is_derived_and_recorded_as_a_warning(
    runner: CliRunner, tmp_path: Path
) -> None:
    project = _project(tmp_path / "p")
    _add(runner, project, cancer())
    made = _run(runner, project, "split", "--format", "json")
    assert made.exit_code == 0, made.output  # a warning is no failed check
    power = json.loads(made.stdout)["checks"]["checks"]["dev_power"]
    assert power["verdict"] == "warn" and power["status"] == "warn"
    assert power["details"]["smallest_improvement_is_default"] is True
    assert power["threshold"] == power["details"]["smallest_improvement"] >= power["value"]
    assert "set problem.smallest_improvement in taxiway.toml" in power["findings"][0]["message"]
    assert _latest(project)[Check.DATA_DEV_POWER].status == "warn"


def test_a_leak_fails_the_check_with_the_column_and_the_key_to_set(runner: CliRunner, tmp_path: Path) -> None:
    project = _project(tmp_path / "p", answers={"problem.smallest_improvement": 0.3})
    leaky = cancer().assign(diagnosis=lambda f: f["label"].where(f.index % 40 != 0, 1 - f["label"]))
    _add(runner, project, leaky)
    made = _run(runner, project, "split")
    assert made.exit_code == 1, made.output
    assert "leakage: FAIL" in made.stdout and "label_copy" not in made.stdout  # people read sentences
    assert "'diagnosis' equals" in made.stdout and "data.drop_columns" in made.stdout
    document = _json(_run(runner, project, "check", "-f", "json"), exit_code=1)
    part = next(p for p in document["checks"]["leakage"]["parts"] if p["name"] == "target_leakage")
    finding = part["findings"][0]
    assert part["verdict"] == "fail" and finding["check"] == "label_copy"
    assert finding["columns"] == ["diagnosis"] and finding["figures"]["agreement"] > 0.95
    assert finding["examples"] and set(finding["examples"][0]) == {"row_key", "diagnosis", "label"}
    assert _latest(project)[Check.DATA_LEAKAGE].status == "fail"


def test_time_split_text(runner: CliRunner, tmp_path: Path) -> None:
    settings = {"data.time_column": "when", "data.group_column": "user", "data.drop_columns": ["event_id"]}
    project = _project(tmp_path / "p", answers={"problem.smallest_improvement": 0.5}, settings=settings)
    drifting = events(1500).assign(x=lambda f: f["x"] + np.linspace(0, 4, len(f)))  # x grows over time
    _add(runner, project, drifting)
    made = _run(runner, project, "split")
    assert made.exit_code == 0, made.output
    # The default shuffled holdout: validation and test share the recent period, so x's drift does not
    # tell them apart.
    assert "time split by when (training before 2024-02-" in made.stdout
    assert "validation and test look alike" in made.stdout and "label=1" in made.stdout
    assert "expected with a time split" in made.stdout  # users seen in training meet the model again
    assert _latest(project)[Check.DATA_SAME_DISTRIBUTION].status == "pass"
    override = _json(_run(runner, project, "split", "--strategy", "group", "-f", "json"))
    assert override["split"]["strategy"] == "group"
    assert _latest(project)[Check.DATA_SPLIT].status == "fail"  # not the split the charter asks for


def test_split_an_older_version(runner: CliRunner, tmp_path: Path) -> None:
    project = _project(tmp_path / "p", answers={"problem.smallest_improvement": 0.5})
    first = _add(runner, project, events(600), "a.parquet")
    _add(runner, project, events(900), "b.parquet")
    document = _json(_run(runner, project, "split", "--version", first[:8], "-f", "json"))
    assert document["split"]["dataset_id"] == first


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["split"], "error: no dataset version is stored yet", "hint: add one with `taxiway data add FILE`"),
        (["check"], "error: no dataset version is stored yet", "hint: add one with `taxiway data add FILE`"),
    ],
)
def test_nothing_to_split_or_check(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str, hint: str
) -> None:
    result = _run(runner, _project(tmp_path / "p"), *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [message, hint]


def test_bad_input_exits_2_and_writes_nothing(runner: CliRunner, tmp_path: Path, backend: str) -> None:
    project = _project(tmp_path / "p", settings={"data.group_column": "usr"})
    _add(runner, project, events(300))
    before = _counts(project)
    result = _run(runner, project, "split")
    assert result.exit_code == 2 and result.stdout == ""
    error, hint = result.stderr.splitlines()
    assert error.startswith(
        "error: column 'usr' (data.group_column in taxiway.toml) is not in dataset version"
    )
    assert hint == "hint: did you mean 'user'? fix data.group_column in taxiway.toml"
    assert _counts(project) == before

    unsplit = _run(runner, project, "check")
    assert (
        unsplit.exit_code == 2
        and "has no split yet" in unsplit.stderr
        and "taxiway data split" in unsplit.stderr
    )
    unknown = _run(runner, project, "check", "--split", "abcdef")
    assert unknown.exit_code == 2 and "no split starts with 'abcdef'" in unknown.stderr
    strategy = _run(runner, project, "split", "--strategy", "stratified")
    assert strategy.exit_code == 2 and "stratified" in strategy.stderr
    assert _counts(project) == before
