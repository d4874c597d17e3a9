"""`taxiway runs` and `taxiway runs show` through the real CLI, on a real project folder."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from taxiway.cli import app
from taxiway.cli.runs import parse_since
from taxiway.project import Project
from taxiway.store.tables import RunRow
from taxiway.train.tracking import start_run
from tests.backend import BACKEND

RUN_KEYS = [
    "id",
    "name",
    "kind",
    "status",
    "parent_id",
    "dataset_id",
    "split_id",
    "started_at",
    "ended_at",
    "duration_s",
    "params",
    "metrics",
    "tags",
    "lineage",
    "resources",
    "model_artifact",
    "predictions_artifact",
    "error",
]
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def backend() -> str:
    """The store backend of this run (TAXIWAY_TEST_BACKEND): each test runs on SQLite, then on PostgreSQL."""
    return BACKEND


def _run(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "runs", *args])


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one document


def _record(project_dir: Path) -> dict[str, str]:
    """A baseline 10 days old, a failed candidate 2 days old and a finished trial with everything."""
    project = Project.load(project_dir)
    store = project.store
    try:
        with start_run("majority", kind="baseline", project=project) as baseline:
            baseline.log_metric("roc_auc", 0.5)
        with pytest.raises(ValueError), start_run("gbm", kind="candidate", project=project) as failed:
            failed.log_params({"learning_rate": 0.1})
            raise ValueError("could not convert string to float: 'JFK'")
        with start_run("trial 7", kind="trial", project=project, parent_id=failed.id) as trial:
            trial.log_params({"learning_rate": 0.05, "max_depth": 6})
            trial.log_metrics({"roc_auc": 0.8712345, "log_loss": 0.41}, step=3)
            trial.set_tags({"sampler": "tpe"})
            trial.set_lineage({"git": {"commit": "abc123"}})
            trial.set_resources({"cpu_seconds": 3.5})
            model = trial.log_bytes("model.skops", b"weights")
            trial.set_model(model)
        with store.session() as session, session.begin():
            for run_id, age in ((baseline.id, 10), (failed.id, 2)):
                session.execute(
                    update(RunRow).where(RunRow.id == run_id).values(started_at=NOW - dt.timedelta(days=age))
                )
    finally:
        store.close()
    return {"baseline": baseline.id, "failed": failed.id, "trial": trial.id, "model": model}


def test_list_as_text_and_json(runner: CliRunner, project_dir: Path, backend: str) -> None:
    ids = _record(project_dir)
    text = _run(runner, project_dir)
    assert text.exit_code == 0, text.output
    assert text.stderr == ""
    lines = text.stdout.splitlines()
    assert "runs (3, newest first)" in lines[0]
    header = next(line for line in lines if "run" in line and "status" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == [
        "run",
        "name",
        "kind",
        "status",
        "roc_auc",  # the charter names no ranking metric: the default for classification
        "started (UTC)",
        "duration",
    ]
    rows = [line for line in lines if "r-" in line]
    assert [next(part for part in row.split() if part.startswith("r-")) for row in rows] == [
        ids["trial"],
        ids["failed"],
        ids["baseline"],
    ]
    assert "0.8712" in rows[0] and "finished" in rows[0] and " s " in rows[0] + " "
    assert "failed" in rows[1] and (NOW - dt.timedelta(days=2)).strftime("%Y-%m-%dT") in rows[1]

    document = _json(_run(runner, project_dir, "--format", "json"))
    assert list(document) == ["ranking_metric", "sort", "runs"] and document["ranking_metric"] == "roc_auc"
    assert document["sort"] is None
    runs = document["runs"]
    assert [run["id"] for run in runs] == [ids["trial"], ids["failed"], ids["baseline"]]
    assert all(list(run) == RUN_KEYS for run in runs)
    trial = runs[0]
    assert (trial["kind"], trial["status"], trial["parent_id"]) == ("trial", "finished", ids["failed"])
    assert trial["params"] == {"learning_rate": 0.05, "max_depth": 6}
    assert trial["metrics"] == {"roc_auc": 0.8712345, "log_loss": 0.41}
    assert trial["model_artifact"] == ids["model"] and trial["started_at"].endswith("+00:00")
    assert isinstance(trial["duration_s"], float)
    assert runs[1]["error"] == "ValueError: could not convert string to float: 'JFK'"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--kind", "baseline"], ["baseline"]),
        (["--status", "failed"], ["failed"]),
        (["--since", "5d"], ["trial", "failed"]),
        (["--since", "36h"], ["trial"]),
        (["--since", (NOW - dt.timedelta(days=3)).date().isoformat()], ["trial", "failed"]),
        (["--limit", "1"], ["trial"]),
        (["--kind", "trial", "--status", "failed"], []),
    ],
)
def test_list_filters(runner: CliRunner, project_dir: Path, args: list[str], expected: list[str]) -> None:
    ids = _record(project_dir)
    document = _json(_run(runner, project_dir, *args, "-f", "json"))
    assert [run["id"] for run in document["runs"]] == [ids[name] for name in expected]


def test_sort_puts_the_best_first_and_runs_without_the_metric_last(
    runner: CliRunner, project_dir: Path
) -> None:
    ids = _record(project_dir)
    project = Project.load(project_dir)
    with start_run("better", kind="trial", project=project) as better:
        better.log_metrics({"roc_auc": 0.93, "log_loss": 0.55})
    project.store.close()
    by_auc = _json(_run(runner, project_dir, "--sort", "roc_auc", "-f", "json"))
    assert by_auc["sort"] == "roc_auc"
    assert [run["id"] for run in by_auc["runs"]] == [better.id, ids["trial"], ids["baseline"], ids["failed"]]
    by_loss = _json(_run(runner, project_dir, "--sort", "log_loss", "--limit", "2", "-f", "json"))
    assert [run["id"] for run in by_loss["runs"]] == [ids["trial"], better.id], "a loss: lowest first"
    text = _run(runner, project_dir, "--sort", "log_loss", "--kind", "trial")
    assert "runs (2, best log_loss first)" in text.stdout and "0.55" in text.stdout
    empty = _run(runner, project_dir, "--sort", " ")
    assert empty.exit_code == 2 and "sort by an empty metric name" in empty.output


def test_ranking_metric_comes_from_the_charter(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    project_dir = make_project(tmp_path / "p", answers={"problem.ranking_metric": "log_loss"})
    _record(project_dir)
    text = _run(runner, project_dir)
    assert text.exit_code == 0, text.output
    assert "log_loss" in text.stdout and "0.41" in text.stdout
    assert _json(_run(runner, project_dir, "-f", "json"))["ranking_metric"] == "log_loss"


def test_empty(runner: CliRunner, project_dir: Path) -> None:
    text = _run(runner, project_dir)
    assert text.exit_code == 0
    assert text.stdout.startswith("no runs recorded yet;")
    assert _json(_run(runner, project_dir, "-f", "json")) == {
        "ranking_metric": "roc_auc",
        "sort": None,
        "runs": [],
    }
    filtered = _run(runner, project_dir, "--kind", "trial", "--since", "7d")
    assert filtered.stdout == "no runs match --kind trial --since 7d\n"


def test_show(runner: CliRunner, project_dir: Path, backend: str) -> None:
    ids = _record(project_dir)
    document = _json(_run(runner, project_dir, "show", ids["trial"][:6], "--format", "json"))
    assert list(document) == [*RUN_KEYS, "artifacts"]
    assert document["id"] == ids["trial"] and document["artifacts"] == {"model.skops": ids["model"]}
    assert (document["tags"], document["lineage"]) == ({"sampler": "tpe"}, {"git": {"commit": "abc123"}})
    assert document["resources"] == {"cpu_seconds": 3.5}

    text = _run(runner, project_dir, "show", ids["trial"])
    assert text.exit_code == 0, text.output
    for expected in (
        f"run {ids['trial']}",
        "trial 7",
        ids["failed"],
        "learning_rate",
        "0.05",
        "0.8712345",  # `show` prints every digit; the list rounds to 4
        "sampler",
        '{"commit": "abc123"}',
        "cpu_seconds",
        "model.skops",
        ids["model"],
    ):
        assert expected in text.stdout, expected

    failed = _run(runner, project_dir, "show", ids["failed"])
    assert "ValueError: could not convert string to float: 'JFK'" in failed.stdout
    assert "artifacts: none" in failed.stdout


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["--since", "last week"], "--since 'last week' is neither a date, a time nor an age", "7d"),
        (["--status", "done"], "unknown run status 'done'", "use one of: running, finished, failed"),
        (["--kind", "model"], "unknown run kind 'model'", "use one of: baseline, candidate, trial, custom"),
        (["--limit", "0"], "limit 0 is below 1", "positive"),
        (["show", "r-0000"], "no run starts with 'r-0000'", "run `taxiway runs` to list them"),
        (["show", "r-1"], "run 'r-1' is too short", "run `taxiway runs` to list them"),
        (["show", "gbm"], "no run 'gbm': run ids are 'r-' and hexadecimal digits", "taxiway runs"),
    ],
)
def test_bad_input_exits_2(
    runner: CliRunner, project_dir: Path, args: list[str], error: str, hint: str
) -> None:
    result = _run(runner, project_dir, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    message, hint_line = result.stderr.splitlines()
    assert message.startswith(f"error: {error}") and hint_line.startswith("hint: ") and hint in hint_line


def test_since_reads_dates_times_and_ages() -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert parse_since("30m", now) == now - dt.timedelta(minutes=30)
    assert parse_since("2w", now) == now - dt.timedelta(weeks=2)
    assert parse_since("2026-11-01T08:00:00Z", now) == dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    assert parse_since("2026-11-01T10:00+02:00", now) == dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    assert parse_since("2026-11-01 08:00", now) == dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
