"""Windowed time splits (`ct.window_days`): only the newest rows are split, by cuts of their own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from taxiway.data.split import SPLIT_NAMES, current_split, split_dataset, split_frames
from taxiway.errors import DataError
from taxiway.store import Store
from taxiway.store.checks import Check
from tests.data.split_helpers import add_frame, charter, events, written

TIMED = {"data": {"time_column": "when"}}


@pytest.mark.parametrize("holdout", ["shuffled", "sequential"])
def test_a_window_splits_only_the_newest_rows(store: Store, tmp_path: Path, holdout: str) -> None:
    frame = events(2000)  # one row an hour from 2024-01-01: 83 days
    version = add_frame(store, tmp_path, frame)
    settings = charter(**TIMED, split={"time_holdout": holdout})
    everything = split_dataset(store, version, settings).split
    windowed = split_dataset(store, version, settings, window_days=10).split

    newest = frame["when"].max()
    inside = frame["when"] > newest - pd.Timedelta(days=10)
    assert int(inside.sum()) == 240  # ten days of hourly rows, the newest included
    assert windowed.id != everything.id and windowed.settings["window_days"] == 10.0
    assert windowed.settings["window_to"] == newest.isoformat()
    assert windowed.settings["window_from"] == frame["when"][inside].min().isoformat()
    counts = windowed.counts
    assert counts["rows"] == 2000 and counts["outside_window"] == counts["dropped"] == 2000 - 240
    assert sum(counts[name] for name in SPLIT_NAMES) == 240

    frames = split_frames(store, windowed)
    used = pd.concat([part for _, part in frames.items()])
    assert len(used) == 240 and used["when"].min() > newest - pd.Timedelta(days=10)
    assert set(used["event_id"]) == set(frame["event_id"][inside]), "rows before the window: in no split"
    # Cuts are the window's own: validation starts inside it, training ends before it starts.
    assert pd.Timestamp(windowed.settings["valid_start"]) > pd.Timestamp(windowed.settings["window_from"])
    assert windowed.settings["cuts_from"] == version.id
    assert frames.train["when"].max() < min(frames.valid["when"].min(), frames.test["when"].min())
    assert split_dataset(store, version, settings, window_days=10).is_new is False, "the same window: kept"

    recorded = store.evidence.latest_about(Check.DATA_SPLIT, "split", windowed.id)
    assert recorded is not None and recorded.details["counts"]["outside_window"] == 1760
    assert recorded.details["settings"]["window_days"] == 10.0


def test_a_windowed_split_is_never_current_nor_a_source_of_cuts(store: Store, tmp_path: Path) -> None:
    frame = events(2000)
    v1 = add_frame(store, tmp_path, frame)
    settings = charter(**TIMED)
    windowed_only = split_dataset(store, v1, settings, window_days=10).split
    assert current_split(store) is None, "a window is one retrain's split, not the version's"
    everything = split_dataset(store, v1, settings).split
    newer_window = split_dataset(store, v1, settings, window_days=20).split
    assert newer_window.created_at >= everything.created_at >= windowed_only.created_at
    assert current_split(store) == everything

    v2 = add_frame(store, tmp_path, pd.concat([frame, events(500, seed=1, start="2024-03-25")]))
    inherited = split_dataset(store, v2, settings).split
    assert inherited.settings["cuts_from"] == v1.id
    assert inherited.settings["valid_start"] == everything.settings["valid_start"]
    assert "window_days" not in inherited.settings
    # A window on the later version counts back from its own newest row, with cuts of its own.
    moved = split_dataset(store, v2, settings, window_days=10).split
    assert moved.settings["cuts_from"] == v2.id
    assert moved.settings["window_from"] > newer_window.settings["window_to"]


def test_a_window_too_narrow_to_split_is_refused_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    frame = events(2000)
    frame.loc[frame.index[-200:], "label"] = 0  # the newest 200 hours hold one class
    version = add_frame(store, tmp_path, frame)
    before = written(store)
    with pytest.raises(DataError, match=r"leaves (valid|test) empty .*3 rows in the window") as caught:
        regression = charter("z", task="regression", **TIMED)  # no class to lack: only the sizes count
        split_dataset(store, version, regression, window_days=0.1)  # 2.4 hours: 3 rows
    assert "widen ct.window_days" in caught.value.hint
    with pytest.raises(DataError, match=r"5-day window \(ct.window_days\) .* holds a single value \(0\)"):
        split_dataset(store, version, charter(**TIMED), window_days=5)
    with pytest.raises(DataError, match="needs a time split, not a random split") as caught:
        split_dataset(store, version, charter(**TIMED), strategy="random", window_days=30)
    assert 'split.strategy = "time"' in caught.value.hint
    assert written(store) == before
