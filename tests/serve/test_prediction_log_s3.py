"""The prediction log on S3 (a real S3 API server: moto's server mode): written whole, read by DuckDB where
the files lie, compacted with no row lost or counted twice."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import s3fs

from taxiway.serve.log_compaction import compact_prediction_logs
from taxiway.serve.prediction_log import PredictionLog, read_prediction_logs
from tests.s3 import S3Server
from tests.serve.test_prediction_log import NOW, TWO_DAYS_AGO, record

# No metadata database is involved: the SQLite pass covers these.
pytestmark = pytest.mark.one_backend


def _filesystem(server: S3Server) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=server.url)


def _write(
    uri: str, at: float, *, writers: int = 2, flushes: int = 3, rows: int = 4, prefix: str = ""
) -> set[str]:
    """Several writers, one small object per flush each, on the day of ``at``; returns the request ids."""
    ids: set[str] = set()
    for w in range(writers):
        log = PredictionLog(uri, f"host:{8000 + w}:{w}")
        for f in range(flushes):
            batch = [
                record(f"{prefix}w{w}-f{f}-r{r}", at + w + f / 10 + r / 100, version=f"v{1 + r % 2}")
                for r in range(rows)
            ]
            log.append(batch)
            assert log.flush() == rows
            ids |= {b.request_id for b in batch}
    return ids


def _parquet(fs: s3fs.S3FileSystem, uri: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(path for path in fs.find(uri.removeprefix("s3://")) if path.endswith(".parquet"))


def test_flushes_become_objects_that_duckdb_reads_where_they_lie(s3_bucket: str, s3_server: S3Server) -> None:
    uri = f"{s3_bucket}/prediction-logs"
    old = _write(uri, TWO_DAYS_AGO)
    new = _write(uri, NOW, writers=1, flushes=2, prefix="new-")
    fs = _filesystem(s3_server)
    objects = _parquet(fs, uri)
    assert len(objects) == 8
    assert {path.split("/")[-2] for path in objects} == {
        "date=" + time.strftime("%Y-%m-%d", time.gmtime(at)) for at in (TWO_DAYS_AGO, NOW)
    }

    frame = read_prediction_logs(uri)
    assert set(frame["request_id"]) == old | new and frame["request_id"].is_unique
    assert list(frame["time"]) == sorted(frame["time"]), "oldest first"
    since = dt.datetime.fromtimestamp(NOW - 60, dt.UTC)
    assert set(read_prediction_logs(uri, since=since)["request_id"]) == new
    assert set(read_prediction_logs(uri, until=since)["request_id"]) == old
    only_v2 = read_prediction_logs(uri, version="v2")
    assert set(only_v2["version"]) == {"v2"} and len(only_v2) == len(old | new) // 2
    newest = read_prediction_logs(uri, limit=3)
    assert list(newest["request_id"]) == list(frame["request_id"])[-3:]


def test_compaction_on_s3_keeps_every_row_exactly_once(s3_bucket: str, s3_server: S3Server) -> None:
    uri = f"{s3_bucket}/prediction-logs"
    ids = _write(uri, TWO_DAYS_AGO)
    fs = _filesystem(s3_server)
    sources = {path: fs.cat(path) for path in _parquet(fs, uri)}
    before = read_prediction_logs(uri)

    report = compact_prediction_logs(uri)
    assert [(d.merged_files, d.rows) for d in report.days] == [(6, 24)]
    objects = _parquet(fs, uri)
    assert [path.rsplit("/", 1)[-1] for path in objects] == [report.days[0].file]
    after = read_prediction_logs(uri)
    assert sorted(after["request_id"]) == sorted(before["request_id"]) == sorted(ids)

    # As if compaction had died after writing the merged object, before deleting its sources.
    for path, content in sources.items():
        fs.pipe(path, content)
    assert len(_parquet(fs, uri)) == len(sources) + 1
    frame = read_prediction_logs(uri)
    assert frame["request_id"].is_unique and set(frame["request_id"]) == ids
    again = compact_prediction_logs(uri)
    assert [(d.merged_files, d.removed_leftovers) for d in again.days] == [(0, len(sources))]
    assert len(_parquet(fs, uri)) == 1
    late = _write(uri, TWO_DAYS_AGO + 60, writers=1, flushes=2, prefix="late-")
    assert compact_prediction_logs(uri).merged_files == 3  # the compacted object and two late ones
    assert set(read_prediction_logs(uri)["request_id"]) == ids | late
