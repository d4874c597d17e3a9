"""`taxiway validate` refuses what it cannot validate with the fix (the gates themselves: tests/validate)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.train.tracking import start_run


def test_nothing_to_validate_says_what_to_do(runner: CliRunner, project_dir: Path) -> None:
    result = runner.invoke(app, ["--project", str(project_dir), "validate"])
    assert result.exit_code == 2
    assert "no RUN given, and no training verdict" in result.output and "taxiway train" in result.output
    missing = runner.invoke(app, ["--project", str(project_dir), "validate", "r-abcdef"])
    assert missing.exit_code == 2 and "no run starts with 'r-abcdef'" in missing.output


def test_a_run_without_a_model_or_split_is_refused(runner: CliRunner, project_dir: Path) -> None:
    store = Project.load(project_dir).store
    with start_run("custom", store=store) as run:
        run.log_metric("loss", 0.2)
    store.close()
    result = runner.invoke(app, ["--project", str(project_dir), "validate", run.id, "--format", "json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"run {run.id} (custom) has no packaged model or no split" in result.output
