"""`taxiway init` unattended and on a real terminal, and `taxiway charter check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner

from taxiway.charter import load_charter
from taxiway.charter.model import answer
from taxiway.charter.questions import question, questions_for
from taxiway.cli import app

TAXIWAY = str(Path(sys.executable).parent / "taxiway")


def test_unattended_init_writes_charter_scaffold_and_gitignore(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "churn"
    result = runner.invoke(
        app,
        [
            "init",
            str(root),
            "--yes",
            "--target",
            "churned",
            "--metric",
            "pr_auc",
            "--answer",
            "serving.p99_latency_ms=40",
            "--owner",
            "Ana",
        ],
    )
    assert result.exit_code == 0, result.output
    charter = load_charter(root / "taxiway.toml")
    assert charter.project.name == "churn"
    assert (charter.problem.target, charter.problem.ranking_metric) == ("churned", "pr_auc")
    assert charter.serving.p99_latency_ms == 40.0 and charter.project.owner == "Ana"
    assert charter.problem.good_enough is None, "unanswered questions stay unanswered"
    assert "3 of 22 questions answered" in result.output  # data.test_set_reflects is asked too
    assert (root / "pipeline.py").is_file() and (root / "tests" / "test_pipeline.py").is_file()
    assert "kind: directional" in (root / "tests" / "behaviour.yaml").read_text(), "behaviour test examples"
    assert "# def search_space(trial)" in (root / "pipeline.py").read_text(), "a tuning example"
    assert {".taxiway/", "taxiway-test.xml", "taxiway-ci/"} <= set(
        (root / ".gitignore").read_text().splitlines()
    )


def test_the_starter_unit_tests_pass_on_the_starter_pipeline(runner: CliRunner, tmp_path: Path) -> None:
    for task in ("classification", "regression"):
        root = tmp_path / task
        runner.invoke(app, ["init", str(root), "--yes", "--target", "y", "--task", task])
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "3 passed" in run.stdout


def test_init_keeps_existing_files_and_refuses_to_overwrite_a_charter(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text("# mine\n")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    assert runner.invoke(app, ["init", str(tmp_path), "--yes", "--target", "y"]).exit_code == 0
    assert (tmp_path / "pipeline.py").read_text() == "# mine\n"
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.taxiway/\ntaxiway-test.xml\ntaxiway-ci/\n"
    again = runner.invoke(app, ["init", str(tmp_path), "--yes", "--target", "y"])
    assert again.exit_code == 2
    assert "already exists" in again.output and "--force" in again.output


def test_every_charter_key_is_a_flag_and_lists_are_comma_separated(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "hotels"
    answers = {
        "problem.domain_experts": "Ana, Bo",
        "data.protected_columns": "sex,race",
        "data.drop_columns": "id",
        "split.valid_fraction": "0.2",
        "validation.require_calibration": "yes",
        "problem.costs.false_negative": "5",
        "serving.fallback": "constant",
        "attest.D6": "https://wiki.example.com/d6, Ana, 2027-01-31",
        "train.params": '{"max_iter": 50}',
        "ct.window_days": "90",
    }
    flags = [part for key, value in answers.items() for part in ("--answer", f"{key}={value}")]
    result = runner.invoke(
        app,
        ["init", str(root), "--yes", "--target", "y", "--time-column", "day", "--group-column", "hotel"]
        + flags,
    )
    assert result.exit_code == 0, result.output
    charter = load_charter(root / "taxiway.toml")
    assert (charter.data.time_column, charter.data.group_column) == ("day", "hotel")
    assert charter.problem.domain_experts == ["Ana", "Bo"]
    assert charter.data.protected_columns == ["sex", "race"] and charter.data.drop_columns == ["id"]
    assert charter.split.valid_fraction == 0.2 and charter.validation.require_calibration is True
    assert charter.problem.costs is not None and charter.problem.costs.false_negative == 5.0
    assert (
        charter.serving.fallback == "constant" and charter.attest["D6"].link == "https://wiki.example.com/d6"
    )
    assert charter.train.params == {"max_iter": 50} and charter.ct.window_days == 90.0
    assert "needs the project in git: git init" in result.output


def test_the_time_column_is_an_answer_like_any_other(runner: CliRunner, tmp_path: Path) -> None:
    """Issue 18: `--answer data.time_column=...` was refused as "not a charter question"."""
    root = tmp_path / "hotels"
    args = ["init", str(root), "--yes", "--target", "price", "--task", "regression"]
    result = runner.invoke(app, [*args, "--answer", "data.time_column=day", "-a", "data.group_column=hotel"])
    assert result.exit_code == 0, result.output
    charter = load_charter(root / "taxiway.toml")
    assert (charter.data.time_column, charter.data.group_column) == ("day", "hotel")


def test_an_unknown_key_suggests_the_closest_and_lists_each_key_once(
    runner: CliRunner, tmp_path: Path
) -> None:
    args = ["init", str(tmp_path / "p"), "--yes", "--target", "y", "-a", "data.time_col=t"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "did you mean 'data.time_column'?" in result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ") and "(" in line]
    assert "data.time_column" in listed and "problem.domain_experts" in listed
    assert len(listed) == len(set(listed)), "each key once"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--yes"], "--target is required with --yes"),
        (["--yes", "--target", "y", "--metric", "auc"], "unknown metric 'auc'"),
        (["--yes", "--target", "y", "--task", "ranking"], "--task 'ranking' is not a task"),
        (
            ["--yes", "--target", "y", "--task", "regression", "--metric", "roc_auc"],
            "does not fit task 'regression'",
        ),
        (["--yes", "--target", "y", "--answer", "serving.p99=5"], "'serving.p99' is not a charter key"),
        (["--yes", "--target", "y", "--answer", "serving.freshness_days=weekly"], "'weekly' is not valid"),
        (
            ["--yes", "--target", "y", "--answer", "ct.window_days=30"],
            "ct.window_days: a 30-day window needs data.time_column",
        ),
        (["--target", "y"], "no terminal to ask"),
    ],
)
def test_bad_init_input_exits_2_and_writes_nothing(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "p" / "taxiway.toml").exists()


def test_init_asks_every_question_on_a_real_terminal(tmp_path: Path) -> None:
    root = tmp_path / "asked"
    child = pexpect.spawn(
        TAXIWAY,
        ["init", str(root)],
        encoding="utf-8",
        timeout=30,
        env={"PATH": str(Path(sys.executable).parent), "NO_COLOR": "1", "COLUMNS": "200"},
    )
    child.expect("classification or a regression")
    child.sendline("regression")
    child.expect("target to predict")
    child.sendline("price")
    answers = {
        "business goal": "Price listings fairly",
        "responsible": "Ana",
        "single metric": "rmsee",  # a typo is caught and asked again
        "over_prediction|too high": "2",
        "good enough": "not a number",  # asked again after the error
    }
    asked = 0
    for q in questions_for("regression"):
        child.expect(r"\?")
        asked += 1
        reply = ""
        for key, value in answers.items():
            if any(part in q.prompt for part in key.split("|")):
                reply = value
        child.sendline(reply)
        if reply == "rmsee":
            child.expect("did you mean 'rmse'")
            child.sendline("rmse")
        if reply == "not a number":
            child.expect("not valid")
            child.sendline("12.5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert asked == len(questions_for("regression"))
    charter = load_charter(root / "taxiway.toml")
    assert charter.problem.task == "regression" and charter.problem.target == "price"
    assert answer(charter, "project.business_goal") == "Price listings fairly"
    assert answer(charter, "problem.ranking_metric") == "rmse"
    assert answer(charter, "problem.good_enough") == 12.5
    assert answer(charter, "project.team_sync") is None  # Enter leaves a question unanswered


def test_charter_check_reports_unanswered_questions(runner: CliRunner, project_dir: Path) -> None:
    result = runner.invoke(app, ["--project", str(project_dir), "charter", "check", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["answered"] == 0
    assert {
        "path": "serving.freshness_days",
        "question": question("serving.freshness_days").prompt,
        "default_in_use": 30,
    } in report["unanswered"]
    text = runner.invoke(app, ["--project", str(project_dir), "charter", "check"])
    assert "is valid: 0 of 22 questions answered" in text.stdout
    assert "✗ project.owner" in text.stdout


def test_charter_check_explains_a_bad_file(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "taxiway.toml"
    bad.write_text('[project]\nname = "p"\n[problem]\ntarget = "y"\nranking_metric = "acuracy"\n')
    result = runner.invoke(app, ["charter", "check", str(bad)])
    assert result.exit_code == 2
    assert "problem.ranking_metric: unknown metric 'acuracy'" in result.output
    assert "hint: did you mean 'accuracy'?" in result.output
    assert "Traceback" not in result.output
