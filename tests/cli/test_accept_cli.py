"""`taxiway accept` and `taxiway check --explain`: a person's acceptance of a warning, bound to the subject
the checklist reads, and the chain behind one item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from tests.checklist.world import World, build_world


@pytest.fixture
def world(project_dir: Path, make_project: Any) -> Iterator[World]:
    make_project(project_dir, answers={"serving.max_memory_mb": 512.0})
    built = build_world(project_dir)
    yield built
    built.store.close()


def _run(runner: CliRunner, world: World, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(world.root), *args])


def _state(runner: CliRunner, world: World, item_id: str) -> str:
    result = _run(runner, world, "check", "--format", "json")
    assert result.exit_code == 0, result.output
    items = {i["id"]: i for s in json.loads(result.stdout)["sections"] for i in s["items"]}
    return str(items[item_id]["state"])


def test_accepting_a_warning_records_who_and_why_about_the_live_model(
    runner: CliRunner, world: World
) -> None:
    world.store.evidence.record(
        Check.TRAIN_BASELINES,
        subject_kind="run",
        subject_id=world.candidate_run,
        value=0.02,
        limit=Limit(0.0, ">"),
        warn="the gain is not significant",
    )
    assert _state(runner, world, "modelling.baselines") == "warned"
    result = _run(runner, world, "accept", "modelling.baselines", "--reason", "worth it", "--by", "Ana")
    assert result.exit_code == 0, result.output
    assert f"accepted train.baselines about run {world.candidate_run}" in result.stdout
    assert "by Ana" in result.stdout
    assert _state(runner, world, "modelling.baselines") == "accepted"
    again = _run(runner, world, "accept", "train.baselines", "--reason", "still worth it")
    assert again.exit_code == 2 and "already accepted by Ana: worth it" in again.stderr


def test_nothing_to_accept_is_explained(runner: CliRunner, world: World) -> None:
    missing = _run(runner, world, "accept", "model.slices", "--reason", "x")
    assert missing.exit_code == 2
    assert "nothing to accept for model.slices: no record yet about model v1" in missing.stderr
    assert "hint: run taxiway validate first" in missing.stderr
    unknown = _run(runner, world, "accept", "no.such", "--reason", "x")
    assert unknown.exit_code == 2 and "'no.such' is no check or checklist item" in unknown.stderr
    world.store.evidence.record(
        Check.MODEL_SLICES, subject_kind="model", subject_id="v1", value=0.01, limit=Limit(0.05, "<=")
    )
    proven = _run(runner, world, "accept", "model.slices", "--reason", "x")
    assert proven.exit_code == 2 and "is proven" in proven.stderr


def test_explain_prints_the_record_the_subject_and_the_threshold_now(runner: CliRunner, world: World) -> None:
    world.store.evidence.record(
        Check.MONITOR_MEMORY,
        subject_kind="deployment",
        subject_id="v1",
        value=534.0,
        limit=Limit(512.0, "<=", key="serving.max_memory_mb"),
        measured=Measurement(sample_size=60, method="largest RSS over the window"),
    )
    result = _run(runner, world, "check", "--explain", "deployment.monitor_memory")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "deployment.monitor_memory: Monitoring in place for memory consumption.",
        "state: ✗ failed",
        "must be about: the live deployment (v1)",
    ]
    assert "measured: 534, over 60 observations, by largest RSS over the window" in lines
    assert "threshold: <= 512 when recorded; charter key serving.max_memory_mb = 1024 now" not in lines
    assert any(
        line.startswith("threshold: <= 512 when recorded; charter key serving.max_memory_mb")
        for line in lines
    )
    unknown = _run(runner, world, "check", "--explain", "nope")
    assert (
        unknown.exit_code == 2
        and "'nope' is no checklist item, check or ML Test Score test" in unknown.stderr
    )
    i6 = _run(runner, world, "check", "--explain", "I6")
    assert i6.exit_code == 0 and "points: 0 (none)" in i6.stdout and "before it went live" in i6.stdout
