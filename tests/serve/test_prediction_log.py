"""The prediction log on real files: atomic flushes, kill -9, reading with DuckDB, crash-safe compaction."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxiway.errors import TaxiwayError
from taxiway.serve.log_compaction import compact_prediction_logs
from taxiway.serve.prediction_log import PredictionLog, PredictionRecord, log_root, read_prediction_logs
from taxiway.store import Store

DAY = 86_400.0
NOW = time.time()
TWO_DAYS_AGO = NOW - 2 * DAY
FILE_NAME = re.compile(r"^host_8000_1-\d{8}T\d{12}Z-\d{6}\.parquet$")


def record(
    request_id: str, at: float, *, version: str = "v3", fallback: str | None = None
) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        time=at,
        version=version,
        slot="blue",
        role="live",
        inputs='{"distance": 1200, "carrier": "UA"}',
        output='"delayed"',
        confidence=None if fallback else 0.8,
        fallback=fallback,
        latency_ms=2.5,
    )


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.glob("date=*/*.parquet"))


def write_day(
    root: Path, at: float, *, writers: int = 2, flushes: int = 3, rows: int = 4, prefix: str = ""
) -> set[str]:
    """Several writers, several small files each, all on the day of ``at``; returns the request ids."""
    ids: set[str] = set()
    for w in range(writers):
        log = PredictionLog(str(root), f"host:{8000 + w}:{w}")
        for f in range(flushes):
            batch = [record(f"{prefix}w{w}-f{f}-r{r}", at + w + f / 10 + r / 100) for r in range(rows)]
            log.append(batch)
            assert log.flush() == rows
            ids |= {b.request_id for b in batch}
    return ids


def test_flush_writes_one_whole_file_per_day(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), "host:8000:1")
    log.append([record("a", TWO_DAYS_AGO), record("b", NOW, fallback="timeout"), record("c", NOW)])
    assert log.flush() == 3 and log.flush() == 0
    files = parquet_files(tmp_path)
    days = {time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (TWO_DAYS_AGO, NOW)}
    assert {f.parent.name for f in files} == {f"date={d}" for d in days}
    assert all(FILE_NAME.match(f.name) for f in files), files
    assert not list(tmp_path.rglob("*.tmp"))
    frame = read_prediction_logs(str(tmp_path))
    assert list(frame["request_id"]) == ["a", "b", "c"]
    row = frame.iloc[1]
    assert (row["version"], row["slot"], row["role"], row["replica_id"]) == (
        "v3",
        "blue",
        "live",
        "host:8000:1",
    )
    assert (row["fallback"], row["latency_ms"], row["output"]) == ("timeout", 2.5, '"delayed"')
    assert row["time"].timestamp() == pytest.approx(NOW, abs=1e-5)
    assert frame["confidence"].isna().tolist() == [False, True, False]


def test_readers_filter_by_time_and_version_and_keep_the_newest(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), "host:8000:1")
    log.append([record(f"r{i}", NOW - 3600 * i, version="v3" if i % 2 else "v4") for i in range(10)])
    log.flush()
    utc = dt.UTC
    since = dt.datetime.fromtimestamp(NOW - 3600 * 4.5, utc)
    assert set(read_prediction_logs(str(tmp_path), since=since)["request_id"]) == {f"r{i}" for i in range(5)}
    until = dt.datetime.fromtimestamp(NOW - 3600 * 7.5, utc)
    assert list(read_prediction_logs(str(tmp_path), until=until)["request_id"]) == ["r9", "r8"]
    assert list(read_prediction_logs(str(tmp_path), version="v3", limit=2)["request_id"]) == ["r3", "r1"]
    assert read_prediction_logs(str(tmp_path), version="v9").empty


def test_readers_skip_temporary_and_hidden_files(tmp_path: Path) -> None:
    write_day(tmp_path, TWO_DAYS_AGO, writers=1, flushes=1)
    folder = parquet_files(tmp_path)[0].parent
    (folder / ".host_8000_1-20261127T000000000000Z-000009.parquet.ab12cd34.tmp").write_bytes(b"PAR1 half")
    (folder / "_SUCCESS.parquet").write_bytes(b"not parquet")
    assert len(read_prediction_logs(str(tmp_path))) == 4


def test_the_log_lives_beside_the_artifacts_by_default(store: Store) -> None:
    assert log_root(store) == f"{store.artifacts.uri}/prediction-logs"
    log = PredictionLog(log_root(store), "host:8000:1")
    log.append([record("a", NOW)])
    log.flush()
    assert list(read_prediction_logs(store)["request_id"]) == ["a"]


def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), "host:8000:1", max_buffered=5)
    log.append([record(str(i), NOW) for i in range(3)])
    log.append([record(str(i), NOW) for i in range(3, 8)])
    assert (log.buffered, log.dropped) == (5, 3)
    assert log.flush() == 5


def test_a_failed_flush_keeps_its_records_for_the_next(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), "host:8000:1")
    log.append([record("a", NOW), record("b", NOW)])
    blocker = tmp_path / f"date={time.strftime('%Y-%m-%d', time.gmtime(NOW))}"
    blocker.write_text("a file where the day folder should be")  # the write fails for real
    with pytest.raises(OSError):
        log.flush()
    assert (log.buffered, log.rows_written) == (2, 0)
    blocker.unlink()
    assert log.flush() == 2
    assert list(read_prediction_logs(str(tmp_path))["request_id"]) == ["a", "b"]


CHILD = textwrap.dedent(
    """
    import sys, time
    from taxiway.serve.prediction_log import PredictionLog, PredictionRecord
    from taxiway.serve.telemetry import Telemetry
    from taxiway.store import Store, StoreLocation

    folder, database = sys.argv[1], sys.argv[2]
    store = Store.open(StoreLocation(database, f"{folder}/artifacts"))
    telemetry = Telemetry(store, "host:8000:99", flush_seconds=0.2, log_uri=f"{folder}/logs")
    telemetry.start()
    log = telemetry.prediction_log
    sent, reported = 0, -1
    while True:
        batch = [
            PredictionRecord(f"q{sent + i}", time.time(), "v3", "blue", "live", '{"x": ' + str(i) + "}",
                             "1", 0.7, None, 1.0)
            for i in range(200)
        ]
        telemetry.log(batch)
        sent += len(batch)
        if log.rows_written != reported:
            reported = log.rows_written
            print(reported, flush=True)  # every row counted here is in a file renamed into place
        time.sleep(0.002)
    """
)


def test_kill_9_loses_at_most_the_last_interval_and_leaves_readable_files(
    tmp_path: Path, store_uri: str
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    flushed = 0
    with subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), store_uri], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        try:
            deadline = time.monotonic() + 60
            while flushed < 20_000 and time.monotonic() < deadline:  # several flushes, then kill mid-stream
                line = child.stdout.readline()
                assert line, "the child stopped on its own"
                flushed = int(line)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert flushed >= 20_000
    files = parquet_files(tmp_path / "logs")
    assert len(files) >= 2
    for file in files:  # every file with a readable name is whole
        assert pq.read_table(file).num_rows > 0
    frame = read_prediction_logs(str(tmp_path / "logs"))
    assert len(frame) >= flushed  # all that was flushed before the last report survived
    assert frame["request_id"].is_unique


def test_compaction_keeps_every_row_exactly_once(tmp_path: Path) -> None:
    ids = write_day(tmp_path, TWO_DAYS_AGO)
    today = write_day(tmp_path / "today", NOW, writers=1, flushes=2)
    before = read_prediction_logs(str(tmp_path))
    report = compact_prediction_logs(str(tmp_path))
    assert [(d.merged_files, d.rows) for d in report.days] == [(6, 24)]
    files = parquet_files(tmp_path)
    assert len(files) == 1 and files[0].name == report.days[0].file
    assert files[0].name.startswith("compacted-")
    after = read_prediction_logs(str(tmp_path))
    assert sorted(after["request_id"]) == sorted(before["request_id"]) == sorted(ids)
    assert (
        after.sort_values("request_id")
        .reset_index(drop=True)
        .equals(before.sort_values("request_id").reset_index(drop=True))
    )
    assert compact_prediction_logs(str(tmp_path)).merged_files == 0  # nothing left to merge
    # Today's folder is left alone unless named: files may still be arriving.
    assert compact_prediction_logs(str(tmp_path / "today")).days == ()
    day = time.strftime("%Y-%m-%d", time.gmtime(NOW))
    assert compact_prediction_logs(str(tmp_path / "today"), day=day).merged_files == 2
    assert set(read_prediction_logs(str(tmp_path / "today"))["request_id"]) == today


def test_a_compaction_stopped_before_its_deletes_never_shows_rows_twice(tmp_path: Path) -> None:
    ids = write_day(tmp_path, TWO_DAYS_AGO)
    sources = {path: path.read_bytes() for path in parquet_files(tmp_path)}
    compact_prediction_logs(str(tmp_path))
    for path, content in sources.items():  # as if the process died right after the rename
        path.write_bytes(content)
    assert len(parquet_files(tmp_path)) == len(sources) + 1
    frame = read_prediction_logs(str(tmp_path))
    assert frame["request_id"].is_unique and set(frame["request_id"]) == ids
    report = compact_prediction_logs(str(tmp_path))  # the next run finishes the deletes
    assert [(d.merged_files, d.removed_leftovers) for d in report.days] == [(0, len(sources))]
    assert len(parquet_files(tmp_path)) == 1
    assert set(read_prediction_logs(str(tmp_path))["request_id"]) == ids


def test_a_second_compaction_merges_the_first_with_late_files(tmp_path: Path) -> None:
    ids = write_day(tmp_path, TWO_DAYS_AGO)
    first = compact_prediction_logs(str(tmp_path)).days[0].file
    first_bytes = next(p for p in parquet_files(tmp_path) if p.name == first).read_bytes()
    late = write_day(tmp_path, TWO_DAYS_AGO + 60, writers=1, flushes=2, prefix="late-")
    report = compact_prediction_logs(str(tmp_path))
    assert [(d.merged_files, d.rows) for d in report.days] == [(3, 32)]
    (parquet_files(tmp_path)[0].parent / first).write_bytes(first_bytes)  # the old one outlived a crash
    frame = read_prediction_logs(str(tmp_path))
    assert frame["request_id"].is_unique and set(frame["request_id"]) == ids | late


def test_files_of_an_older_schema_are_read_and_compacted_together(tmp_path: Path) -> None:
    ids = write_day(tmp_path, TWO_DAYS_AGO, writers=1, flushes=2)
    old = pa.table(
        {
            "request_id": ["old-1"],
            "time": pa.array([int(TWO_DAYS_AGO * 1e6)], pa.timestamp("us", tz="UTC")),
            "version": ["v1"],
        }
    )
    folder = parquet_files(tmp_path)[0].parent
    pq.write_table(old, folder / "host_7000_1-20200101T000000000000Z-000001.parquet")
    assert set(read_prediction_logs(str(tmp_path))["request_id"]) == ids | {"old-1"}
    compact_prediction_logs(str(tmp_path))
    frame = read_prediction_logs(str(tmp_path))
    assert set(frame["request_id"]) == ids | {"old-1"}
    assert frame.loc[frame["request_id"] == "old-1", "role"].isna().all()


def test_an_object_store_uri_works_the_same(tmp_path: Path) -> None:
    uri = f"memory://taxiway-test-{uuid.uuid4().hex}/prediction-logs"  # fsspec, not the local-file path
    log = PredictionLog(uri, "host:8000:1")
    for f in range(3):
        log.append([record(f"m{f}-{r}", TWO_DAYS_AGO + f) for r in range(5)])
        log.flush()
    assert len(read_prediction_logs(uri)) == 15
    assert compact_prediction_logs(uri).merged_files == 3
    frame = read_prediction_logs(uri)
    assert len(frame) == 15 and frame["request_id"].is_unique


def test_a_day_that_is_not_a_date_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxiwayError, match="day '2026-13-01' is not a date") as caught:
        compact_prediction_logs(str(tmp_path), day="2026-13-01")
    assert "YYYY-MM-DD" in caught.value.hint
