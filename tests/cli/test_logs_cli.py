"""`taxiway logs show` and `taxiway logs compact` through the real CLI, on a real project folder."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from taxiway.cli.app import app
from taxiway.project import Project
from taxiway.serve.prediction_log import PredictionLog, PredictionRecord, log_root

ROW_KEYS = [
    "request_id",
    "time",
    "replica_id",
    "version",
    "role",
    "slot",
    "inputs",
    "output",
    "confidence",
    "fallback",
    "latency_ms",
]
NOW = time.time()


def _run(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "logs", *args])


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one document


def _log(project_dir: Path, records: list[PredictionRecord]) -> None:
    store = Project.load(project_dir).store
    try:
        log = PredictionLog(log_root(store), "host:8000:1")
        for record in records:  # one file each, as a busy server's flushes make
            log.append([record])
            log.flush()
    finally:
        store.close()


def _record(request_id: str, at: float, version: str = "v3", fallback: str | None = None) -> PredictionRecord:
    return PredictionRecord(
        request_id, at, version, "blue", "live", '{"distance": 1200}', '"late"', 0.75, fallback, 4.25
    )


@pytest.fixture
def logged(project_dir: Path) -> Path:
    """30 rows over the last 30 hours (v3 and v4), one of them answered by a fallback."""
    records = [
        _record(f"q{i:02d}", NOW - 3600 * i, "v3" if i % 3 else "v4", "timeout" if i == 1 else None)
        for i in range(30)
    ]
    _log(project_dir, records)
    return project_dir


def test_show_prints_the_newest_rows_as_json(runner: CliRunner, logged: Path) -> None:
    document = _json(_run(runner, logged, "show", "--limit", "5", "--format", "json"))
    assert list(document) == ["count", "rows"] and document["count"] == 5
    rows = document["rows"]
    assert [row["request_id"] for row in rows] == ["q04", "q03", "q02", "q01", "q00"]  # oldest of them first
    assert all(list(row) == ROW_KEYS for row in rows)
    fallback = rows[3]
    assert (fallback["fallback"], fallback["confidence"], fallback["latency_ms"]) == ("timeout", 0.75, 4.25)
    assert dt.datetime.fromisoformat(fallback["time"]).timestamp() == pytest.approx(NOW - 3600, abs=1e-5)
    assert fallback["replica_id"] == "host:8000:1" and fallback["inputs"] == '{"distance": 1200}'
    assert rows[4]["fallback"] is None


def test_show_filters_by_age_and_version(runner: CliRunner, logged: Path) -> None:
    recent = _json(_run(runner, logged, "show", "--since", "10h", "--limit", "100", "--format", "json"))
    assert {row["request_id"] for row in recent["rows"]} == {f"q{i:02d}" for i in range(10)}
    v4 = _json(_run(runner, logged, "show", "--version", "v4", "--limit", "100", "--format", "json"))
    assert {row["version"] for row in v4["rows"]} == {"v4"} and v4["count"] == 10


def test_show_prints_a_table_for_people(runner: CliRunner, logged: Path) -> None:
    result = _run(runner, logged, "show", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "predictions (3, newest last)" in result.stdout
    for text in ("q00", "q02", "timeout", "0.750", "4.2 ms", '{"distance": 1200}'):
        assert text in result.stdout
    assert "q03" not in result.stdout


def test_show_says_when_nothing_was_logged(runner: CliRunner, project_dir: Path) -> None:
    result = _run(runner, project_dir, "show")
    assert result.exit_code == 0 and "no predictions logged yet" in result.stdout
    assert _json(_run(runner, project_dir, "show", "--format", "json")) == {"count": 0, "rows": []}


def test_compact_merges_past_days(runner: CliRunner, project_dir: Path) -> None:
    two_days_ago = NOW - 2 * 86_400
    _log(project_dir, [_record(f"old{i}", two_days_ago + i) for i in range(4)])
    document = _json(_run(runner, project_dir, "compact", "--format", "json"))
    day = time.strftime("%Y-%m-%d", time.gmtime(two_days_ago))
    assert list(document) == ["uri", "merged_files", "days"] and document["merged_files"] == 4
    (entry,) = document["days"]
    assert list(entry) == ["day", "merged_files", "rows", "file", "removed_leftovers"]
    assert (entry["day"], entry["rows"], entry["removed_leftovers"]) == (day, 4, 0)
    assert entry["file"].startswith("compacted-")
    shown = _json(_run(runner, project_dir, "show", "--format", "json"))
    assert sorted(row["request_id"] for row in shown["rows"]) == [f"old{i}" for i in range(4)]
    again = _run(runner, project_dir, "compact", "--day", day)
    assert again.exit_code == 0 and day in again.stdout


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["show", "--version", "3"], "--version '3' is not a model version", "v1, v2"),
        (["show", "--since", "yesterday"], "--since 'yesterday' is neither", "30m, 12h"),
        (["show", "--limit", "0"], "--limit 0 is below 1", "--limit 20"),
        (["compact", "--day", "27/11/2026"], "day '27/11/2026' is not a date", "YYYY-MM-DD"),
    ],
)
def test_bad_input_is_exit_2_with_a_hint(
    runner: CliRunner, project_dir: Path, args: list[str], error: str, hint: str
) -> None:
    result = _run(runner, project_dir, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    message, hint_line = result.stderr.splitlines()
    assert message.startswith(f"error: {error}") and hint_line.startswith("hint: ") and hint in hint_line
