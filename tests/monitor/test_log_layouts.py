"""Monitoring reads the same window whatever layout the log kept the inputs in: JSON text alone (servers
before the typed copy, or a flush whose inputs made no one struct), the typed copy beside it, or both mixed
in one window, before and after compaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.logs import read_window
from taxiway.monitor.reference import profile_features
from taxiway.monitor.window import WindowSummary, summarise_window
from taxiway.serve.log_compaction import compact_prediction_logs
from taxiway.serve.prediction_log import PredictionLog, PredictionRecord
from taxiway.serve.service import json_text
from taxiway.serve.typed_inputs import TYPED_INPUTS

KINDS = {
    "distance": "numeric",
    "delay": "numeric",
    "carrier": "categorical",
    "gate": "categorical",
    "day": "categorical",
    "late": "categorical",
}
START = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)


def flights(rng: np.random.Generator, rows: int) -> list[dict[str, Any]]:
    """Rows as clients send them: numbers (whole and not), missing inputs, integer codes as categories,
    dates as text, booleans."""
    found = []
    for i in range(rows):
        row: dict[str, Any] = {
            "distance": int(rng.integers(100, 3000)),
            "delay": round(float(rng.normal(5, 20)), 2) if rng.random() > 0.1 else None,
            "carrier": str(rng.choice(["UA", "AA", "DL", "B6"])),
            "gate": int(rng.integers(1, 6)),
            "day": f"2013-01-{1 + i % 28:02d}",
            "late": bool(rng.random() < 0.3),
        }
        if rng.random() < 0.05:
            del row["carrier"]  # an input a client left out
        found.append(row)
    return found


def write(
    folder: Path,
    batches: list[list[dict[str, Any]]],
    *,
    text_only: tuple[int, ...] = (),
    version: str = "v1",
) -> None:
    """One flush per batch, as the server logs; the flushes in ``text_only`` without the typed copy (as a
    server before it wrote them)."""
    log = PredictionLog(str(folder), f"host:8000:{version}")
    at = START.timestamp() + 3600
    for b, rows in enumerate(batches):
        log.append(
            [
                PredictionRecord(
                    f"{version}-b{b}-r{i}",
                    at + b * 60 + i / 1000,
                    version,
                    "blue",
                    "live",
                    json_text(row),
                    '"1"' if i % 3 else '"0"',
                    0.55 + (i % 40) / 100,
                    None,
                    2.0,
                )
                for i, row in enumerate(rows)
            ]
        )
        before = set(folder.rglob("*.parquet"))
        log.flush()
        if b in text_only:
            (path,) = set(folder.rglob("*.parquet")) - before
            pq.write_table(pq.read_table(path).drop_columns([TYPED_INPUTS]), path)


def layouts(folder: Path) -> list[bool]:
    return [TYPED_INPUTS in pq.read_schema(path).names for path in sorted(folder.rglob("*.parquet"))]


def summary(folder: Path, profile: dict[str, Any], version: str = "v1") -> WindowSummary:
    return summarise_window(
        str(folder),
        profile,
        since=START,
        until=START + dt.timedelta(days=1),
        version=version,
        positive='"1"',
        sample_rows=10_000,
    )


def comparable(found: WindowSummary) -> dict[str, Any]:
    return {
        "rows": found.rows,
        "features": {name: sketch.to_dict() for name, sketch in found.features.items()},
        "outputs": found.outputs,
        "confidence": sorted(found.confidence.tolist()),
        "sample": found.sample.sort_values("request_id").reset_index(drop=True),
    }


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    reference = pd.DataFrame(flights(np.random.default_rng(0), 2000))
    return {
        "kinds": KINDS,
        "features": profile_features(reference, KINDS, chunk_rows=200, settings=MonitoringSection()),
    }


def test_a_window_reads_the_same_from_text_from_the_typed_copy_and_from_both(
    tmp_path: Path, profile: dict[str, Any]
) -> None:
    rng = np.random.default_rng(1)
    batches = [flights(rng, 300) for _ in range(3)]
    batches.append([*flights(rng, 50), {**flights(rng, 1)[0], "distance": "far"}])  # a number, and text
    write(tmp_path / "typed", batches)
    write(tmp_path / "mixed", batches, text_only=(0, 2))
    write(tmp_path / "text", batches, text_only=(0, 1, 2, 3))
    assert layouts(tmp_path / "typed") == [True] * 4 and layouts(tmp_path / "mixed") == [
        False,
        True,
        False,
        True,
    ]
    last = max((tmp_path / "typed").rglob("*.parquet"))  # names sort in flush order
    assert pq.read_schema(last).field(TYPED_INPUTS).type.field("distance").type == pa.string()

    text = summary(tmp_path / "text", profile)
    assert text.rows == 951
    expected = comparable(text)
    expected_sample = expected.pop("sample")
    window = {"since": START, "until": START + dt.timedelta(days=1), "with_row": True}
    text_rows = read_window(str(tmp_path / "text"), dict(KINDS), **window).frame
    for layout in ("typed", "mixed"):
        found = comparable(summary(tmp_path / layout, profile))
        pd.testing.assert_frame_equal(found.pop("sample"), expected_sample)
        assert found == expected, layout
        pd.testing.assert_frame_equal(
            read_window(str(tmp_path / layout), dict(KINDS), **window).frame, text_rows
        )

    typed_rows = read_window(str(tmp_path / "typed"), dict(KINDS), **window).frame
    sent = [row for rows in batches for row in rows]
    assert typed_rows["gate"].tolist() == [str(row["gate"]) for row in sent]  # codes keep their spelling
    assert typed_rows["day"].tolist() == [row["day"] for row in sent]  # dates stay the text sent
    assert typed_rows["late"].tolist() == ["true" if row["late"] else "false" for row in sent]
    assert typed_rows["carrier"].isna().sum() == sum("carrier" not in row for row in sent)
    assert typed_rows["distance"].isna().sum() == 1  # "far" is not a number
    assert typed_rows["distance"].tolist()[:300] == [float(row["distance"]) for row in sent[:300]]


def test_compaction_keeps_the_typed_copy_when_every_file_has_one_and_drops_it_when_not(
    tmp_path: Path, profile: dict[str, Any]
) -> None:
    rng = np.random.default_rng(2)
    batches = [flights(rng, 200) for _ in range(3)]
    batches.append([{**flights(rng, 1)[0], "distance": "far"}])  # this flush's "distance" is text
    write(tmp_path / "typed", batches)
    write(tmp_path / "mixed", batches, text_only=(1,))
    before = {name: comparable(summary(tmp_path / name, profile)) for name in ("typed", "mixed")}
    for name in ("typed", "mixed"):
        assert compact_prediction_logs(str(tmp_path / name)).merged_files == 4
        assert layouts(tmp_path / name) == [name == "typed"]  # one merged file
        after = comparable(summary(tmp_path / name, profile))
        pd.testing.assert_frame_equal(after.pop("sample"), before[name].pop("sample"))
        assert after == before[name]
    (merged,) = (tmp_path / "typed").rglob("*.parquet")
    assert pq.read_schema(merged).field(TYPED_INPUTS).type.field("distance").type == pa.string()


def test_typed_copies_that_hold_none_of_the_wanted_inputs_leave_them_null(
    tmp_path: Path, profile: dict[str, Any]
) -> None:
    """The window's typed files hold only another version's inputs; the wanted version was logged as text."""
    rng = np.random.default_rng(3)
    batches = [flights(rng, 300) for _ in range(2)]
    write(tmp_path / "both", [[{"p": i, "q": "x"} for i in range(50)]], version="v0")
    write(tmp_path / "both", batches, text_only=(0, 1))
    write(tmp_path / "text", batches, text_only=(0, 1))
    assert sorted(layouts(tmp_path / "both")) == [False, False, True]
    found, expected = (
        comparable(summary(tmp_path / "both", profile)),
        comparable(summary(tmp_path / "text", profile)),
    )
    pd.testing.assert_frame_equal(found.pop("sample"), expected.pop("sample"))
    assert found == expected and found["rows"] == 600
    other = summary(tmp_path / "both", profile, version="v0")
    assert other.rows == 50 and other.features["distance"].to_dict()["missing"] == 50
    window = {"since": START, "until": START + dt.timedelta(days=1)}
    rows = read_window(str(tmp_path / "both"), dict(KINDS), **window).frame
    assert len(rows) == 650 and rows.loc[rows["version"] == "v0", "distance"].isna().all()
