"""`taxiway next` and `taxiway up`: the next command from the project's state, never one that does not
exist."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.cli.app import VERBS
from tests.train.test_train_cli import weather_rows


def _next(runner: CliRunner, root: Path) -> str:
    result = runner.invoke(app, ["--project", str(root), "next"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_next_follows_the_first_hour_step_by_step(runner: CliRunner, tmp_path: Path, make_project) -> None:  # type: ignore[no-untyped-def]
    root = make_project(tmp_path / "p", target="warm")
    assert _next(runner, root).startswith("next: taxiway data add FILE")
    weather_rows(600).to_csv(tmp_path / "weather.csv", index=False)
    assert (
        runner.invoke(app, ["--project", str(root), "data", "add", str(tmp_path / "weather.csv")]).exit_code
        == 0
    )
    assert _next(runner, root).startswith("next: taxiway data split")
    runner.invoke(app, ["--project", str(root), "data", "split"])
    # `data split` ran the data checks too: next is training, not a command already run
    assert _next(runner, root).startswith("next: taxiway train")


def test_a_next_line_follows_a_command_when_asked(
    runner: CliRunner, tmp_path: Path, make_project, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    root = make_project(tmp_path / "p", target="warm")
    weather_rows(600).to_csv(tmp_path / "weather.csv", index=False)
    monkeypatch.setenv("TAXIWAY_NEXT", "1")
    added = runner.invoke(app, ["--project", str(root), "data", "add", str(tmp_path / "weather.csv")])
    assert added.exit_code == 0, added.output
    assert "next: taxiway data split" in added.stderr


def test_up_without_data_stops_at_what_a_person_must_give(
    runner: CliRunner, tmp_path: Path, make_project
) -> None:  # type: ignore[no-untyped-def]
    root = make_project(tmp_path / "p", target="warm")
    result = runner.invoke(app, ["--project", str(root), "up"])
    assert result.exit_code == 0, result.output
    assert "the next needs you: taxiway data add FILE" in result.stdout


def test_up_stops_at_a_failing_step_with_its_exit_code(
    runner: CliRunner, tmp_path: Path, make_project
) -> None:  # type: ignore[no-untyped-def]
    root = make_project(tmp_path / "p", target="warm")
    (tmp_path / "empty.csv").write_text("")
    result = runner.invoke(app, ["--project", str(root), "up", str(tmp_path / "empty.csv")])
    assert result.exit_code == 2
    assert "is empty" in result.output and "up: stopped at `taxiway data add" in result.output


def test_next_and_up_are_listed_first_in_help(runner: CliRunner) -> None:
    names = [verb.name for verb in VERBS]
    assert names.index("up") < names.index("data") and names.index("next") < names.index("data")


def test_the_guide_counts_the_test_files_pytest_would_collect(tmp_path: Path) -> None:
    from taxiway.guide.steps import _has_team_tests
    from taxiway.scaffold.write import write_scaffold

    root = tmp_path / "p"
    root.mkdir()
    write_scaffold(root, name="p", task="classification")
    assert (root / "tests").is_dir()
    assert not _has_team_tests(root)  # only the starter test `taxiway init` wrote
    (root / "tests" / "features_test.py").write_text("def test_it():\n    assert 1 + 1 == 2\n")
    assert _has_team_tests(root)  # pytest's other default pattern, *_test.py
