"""`taxiway register` and `taxiway models`: exit codes, JSON documents and what people read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from tests.test_registry import _run


def _runs(project_dir: Path) -> tuple[str, str, str]:
    store = Project.load(project_dir).store
    try:
        return (
            _run(store, blessed=True, seed=1),
            _run(store, blessed=True, seed=2),
            _run(store, blessed=False),
        )
    finally:
        store.close()


def _json(runner: CliRunner, project_dir: Path, *args: str) -> tuple[int, Any]:
    result = runner.invoke(app, ["--project", str(project_dir), *args, "--format", "json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else result.output


def test_register_list_alias_and_show(runner: CliRunner, project_dir: Path) -> None:
    first, second, _ = _runs(project_dir)
    code, v1 = _json(runner, project_dir, "register", first, "--alias", "production")
    assert code == 0 and v1["name"] == "v1" and v1["is_new"] is True and v1["aliases"] == ["production"]
    assert v1["blessed"] is True and v1["forced"] is False and len(v1["artifact"]) == 64
    text = runner.invoke(app, ["--project", str(project_dir), "register", second])
    assert text.exit_code == 0 and text.stdout.startswith("registered v2: run " + second)
    again = runner.invoke(app, ["--project", str(project_dir), "register", second])
    assert f"run {second} is already registered as v2" in again.stdout

    code, moved = _json(runner, project_dir, "models", "alias", "production", "v2", "--reason", "canary ok")
    assert code == 0 and (moved["previous_version"], moved["version"]) == (1, 2)
    code, listed = _json(runner, project_dir, "models")
    assert code == 0 and [v["name"] for v in listed["versions"]] == ["v2", "v1"]
    assert listed["aliases"] == {"production": "v2"}
    assert [h["reason"] for h in listed["alias_history"]] == ["canary ok", None]
    code, shown = _json(runner, project_dir, "models", "show", "production")
    assert code == 0 and shown["name"] == "v2" and shown["lineage"]["run_id"] == second
    assert shown["blessing"]["passed"] is True and [g["gate"] for g in shown["blessing"]["gates"]] == [
        "beats_baseline",
        "latency_p99",
    ]
    assert [(h["previous_version"], h["version"]) for h in shown["alias_history"]] == [(1, 2)]
    table = runner.invoke(app, ["--project", str(project_dir), "models"])
    assert "Model versions" in table.stdout and "production" in table.stdout and "✓ #" in table.stdout
    shown_text = runner.invoke(app, ["--project", str(project_dir), "models", "show", "v1"])
    assert shown_text.exit_code == 0 and "Blessing #" in shown_text.stdout


def test_register_refuses_what_is_not_blessed_and_needs_a_reason_to_force(
    runner: CliRunner, project_dir: Path
) -> None:
    _, _, failed = _runs(project_dir)
    refused = runner.invoke(app, ["--project", str(project_dir), "register", failed])
    assert refused.exit_code == 1
    assert "error: run" in refused.output and "gates failed: beats_baseline" in refused.output
    assert "hint:" in refused.output and "--force --reason" in refused.output
    no_reason = runner.invoke(app, ["--project", str(project_dir), "register", failed, "--force"])
    assert no_reason.exit_code == 2 and "--force needs --reason" in no_reason.output
    code, forced = _json(runner, project_dir, "register", failed, "--force", "--reason", "demo: show it")
    assert code == 0 and forced["forced"] is True and forced["blessed"] is False
    assert forced["reason"] == "demo: show it"
    table = runner.invoke(app, ["--project", str(project_dir), "models"])
    assert "✗ forced" in table.stdout and "demo: show it" in table.stdout


def test_bad_references_are_bad_input(runner: CliRunner, project_dir: Path) -> None:
    empty = runner.invoke(app, ["--project", str(project_dir), "models"])
    assert empty.exit_code == 0 and "no model versions yet" in empty.stdout
    for args, message in (
        (["models", "show", "v3"], "no model version v3"),
        (["models", "show", "production"], "no model version or alias 'production'"),
        (["models", "alias", "Bad Name", "v1"], "alias 'Bad Name' is not a valid name"),
        (["register", "r-ffffffff"], "no run starts with 'r-ffffffff'"),
    ):
        result = runner.invoke(app, ["--project", str(project_dir), *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
