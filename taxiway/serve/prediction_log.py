"""The prediction log: every answered row as Parquet files in the artifact store, one new file per flush.

Layout: ``<root>/date=YYYY-MM-DD/<replica>-<start>-<seq>.parquet`` (UTC day of the rows), with ``<root>`` the
artifact store's URI + ``/prediction-logs`` unless given. Files are written under a temporary name that
starts with a dot and renamed when complete (object stores make a put visible only once it is whole), so a
process killed with ``kill -9`` loses what it had not flushed and never leaves a half file under a readable
name. Readers ignore names that start with ``.`` or ``_``.

Compaction merges a day's small files into ``compacted-<hash>.parquet``. The merged file lists the files it
holds in its Parquet key-value metadata, and readers skip any file a compacted file covers, so a reader
never counts a row twice, even when compaction stopped between writing the merged file and deleting its
sources.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import IO, Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.spec import AbstractFileSystem

from taxiway.errors import StoreError, TaxiwayError
from taxiway.store import Store

LOG_FOLDER = "prediction-logs"
COVERS_KEY = b"taxiway.covers"  # Parquet key-value metadata of a compacted file: the files it holds
MAX_BUFFERED_RECORDS = 200_000  # ~100 MB of typical rows: past it new records are dropped and counted
ROW_GROUP_ROWS = 128_000  # compacted files: row groups large enough for fast scans
STALE_TEMP_S = 3600.0  # a temporary file this old belongs to a killed writer; compaction deletes it
_LOG_NAME = re.compile(r"^(?P<stem>.+-\d{8}T\d{12}Z)-(?P<seq>\d+)\.parquet$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}  # a put appears whole or not

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("replica_id", pa.string()),
        ("version", pa.string()),
        ("role", pa.string()),
        ("slot", pa.string()),
        ("inputs", pa.string()),
        ("output", pa.string()),
        ("confidence", pa.float64()),
        ("fallback", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)


@dataclass(slots=True)
class PredictionRecord:
    """One answered row as the log keeps it; ``inputs`` and ``output`` are JSON text.

    Example:
        >>> PredictionRecord("req-1", 1764201600.0, "v3", "blue", "live", '{"x": 1}', '"yes"', 0.9, None, 2.5)
        ... # doctest: +ELLIPSIS
        PredictionRecord(request_id='req-1', time=1764201600.0, version='v3', ...)
    """

    request_id: str
    time: float  # seconds since the epoch, UTC
    version: str
    slot: str
    role: str  # live | shadow | canary
    inputs: str
    output: str
    confidence: float | None
    fallback: str | None  # the fallback's reason; None when the model answered
    latency_ms: float


def log_root(store_or_uri: Store | str) -> str:
    """Where prediction logs live: a URI as given, or the store's artifact root + ``/prediction-logs``.

    Example:
        >>> log_root("s3://bucket/logs/")
        's3://bucket/logs'
    """
    if isinstance(store_or_uri, str):
        return store_or_uri.rstrip("/")
    return f"{store_or_uri.artifacts.uri.rstrip('/')}/{LOG_FOLDER}"


class _Folder:
    """The log root on its filesystem: listing, atomic writes, metadata reads."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs: AbstractFileSystem
        try:
            self.fs, root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"prediction log folder '{uri}' cannot be opened: {exc}",
                hint="use a folder path, or install the filesystem's package (s3fs for s3://)",
            ) from None
        self.root = root.rstrip("/")
        protocols = set(self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.is_local = "file" in protocols
        self.is_object_store = bool(protocols & _OBJECT_STORES)

    def day_path(self, day: str) -> str:
        return f"{self.root}/date={day}"

    def days(self) -> list[str]:
        self.fs.invalidate_cache(self.root)  # object-store listings are cached; new files must show
        if not self.fs.exists(self.root):
            return []
        names = (entry.rstrip("/").rsplit("/", 1)[-1] for entry in self.fs.ls(self.root, detail=False))
        return sorted(n.removeprefix("date=") for n in names if n.startswith("date="))

    def names(self, day: str) -> list[str]:
        """Readable file names of one day, sorted; temporary and hidden names left out."""
        path = self.day_path(day)
        if not self.fs.exists(path):
            return []
        names = (entry.rsplit("/", 1)[-1] for entry in self.fs.ls(path, detail=False))
        return sorted(n for n in names if n.endswith(".parquet") and not n.startswith((".", "_")))

    def write(self, path: str, write: Callable[[str | IO[bytes]], None]) -> None:
        """Write ``path`` so that it appears whole or not at all."""
        if self.is_object_store:
            with self.fs.open(path, "wb") as handle:  # an object store shows a put only once it is complete
                write(handle)
            return
        folder, name = path.rsplit("/", 1)
        temporary = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
        if not self.is_local:  # another remote filesystem (sftp, hdfs, ...): write beside, then move
            self.fs.makedirs(folder, exist_ok=True)
            with self.fs.open(temporary, "wb") as handle:
                write(handle)
            self.fs.mv(temporary, path)
            return
        os.makedirs(folder, exist_ok=True)
        try:
            # No fsync: the goal is surviving kill -9 (the page cache survives it), not a power cut.
            write(temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def covers(self, day: str, name: str) -> _Coverage:
        with self.fs.open(f"{self.day_path(day)}/{name}", "rb") as handle:
            metadata = pq.read_metadata(handle).metadata or {}
        return _Coverage.from_json(metadata.get(COVERS_KEY, b"{}"))

    def for_duckdb(self, path: str) -> str:
        return path if self.is_local else str(self.fs.unstrip_protocol(path))


class PredictionLog:
    """An in-memory buffer of records that `flush` writes to a new Parquet file.

    Example:
        >>> import tempfile
        >>> log = PredictionLog(tempfile.mkdtemp(), "host:8000:42")
        >>> record = PredictionRecord("r1", 1764201600.0, "v3", "blue", "live", "{}", "1", 0.8, None, 1.0)
        >>> log.append([record])
        >>> log.flush(), log.rows_written
        (1, 1)
        >>> len(read_prediction_logs(log.uri))
        1
    """

    def __init__(self, uri: str, replica_id: str, *, max_buffered: int = MAX_BUFFERED_RECORDS) -> None:
        self.uri = uri.rstrip("/")
        self.replica_id = replica_id
        self.max_buffered = max_buffered
        self.rows_written = 0  # rows in files already renamed into place: safe from kill -9
        self.dropped = 0
        self._folder = _Folder(self.uri)
        started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._stem = f"{_sanitise(replica_id)}-{started}"
        self._seq = 0
        # deque.extend of a list is atomic under the GIL: appends need no lock (a lock costs more than them)
        self._buffer: deque[PredictionRecord] = deque()
        self._flush_lock = threading.Lock()  # one writer at a time (background thread and stop())

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def append(self, records: Sequence[PredictionRecord]) -> None:
        """Add records to the buffer (no I/O). Past ``max_buffered`` waiting records, drop and count them."""
        room = self.max_buffered - len(self._buffer)
        if room >= len(records):
            self._buffer.extend(records)
            return
        room = max(room, 0)
        self._buffer.extend(records[:room])
        self.dropped += len(records) - room

    def flush(self) -> int:
        """Write what is buffered to new files (one per UTC day), return the rows written.

        Records a failed write did not keep go back to the buffer, and the error is raised.
        """
        with self._flush_lock:
            batch = [self._buffer.popleft() for _ in range(len(self._buffer))]  # later appends wait
            by_day: dict[str, list[PredictionRecord]] = {}
            day_names: dict[int, str] = {}  # formatting a date per record would cost more than the rest
            for record in batch:
                number = int(record.time // 86400)
                day = day_names.get(number) or day_names.setdefault(
                    number, time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
                )
                by_day.setdefault(day, []).append(record)
            written = 0
            for day, records in sorted(by_day.items()):
                try:
                    self._write(day, records)
                except BaseException:
                    unwritten = [r for d, rs in sorted(by_day.items()) if d >= day for r in rs]
                    self._buffer.extendleft(reversed(unwritten[: self.max_buffered]))
                    raise
                written += len(records)
                self.rows_written += len(records)
            return written

    def _write(self, day: str, records: list[PredictionRecord]) -> None:
        table = _table(records, self.replica_id)
        self._seq += 1
        path = f"{self._folder.day_path(day)}/{self._stem}-{self._seq:06d}.parquet"
        self._folder.write(path, lambda where: pq.write_table(table, where))


def _table(records: list[PredictionRecord], replica_id: str) -> pa.Table:
    """Column by column, each from one C-level pass over the records: no pandas, no per-row Python code."""
    columns: dict[str, Any] = {}
    for name in SCHEMA.names:
        kind = SCHEMA.field(name).type
        if name == "replica_id":
            columns[name] = pa.array([replica_id] * len(records), kind)
        elif name == "time":
            seconds = np.fromiter(map(attrgetter("time"), records), np.float64, len(records))
            columns[name] = pa.array(np.round(seconds * 1e6).astype(np.int64)).cast(kind)
        else:
            columns[name] = pa.array(list(map(attrgetter(name), records)), kind)
    return pa.table(columns)


def _sanitise(replica_id: str) -> str:
    """A replica id fit for a file name (``host:port:pid`` → ``host_port_pid``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", replica_id).lstrip("._") or "replica"


@dataclass
class _Coverage:
    """The log files a compacted file holds: sequence ranges per writer stem, plus other names."""

    runs: dict[str, list[list[int]]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def add(self, names: Sequence[str]) -> None:
        seqs: dict[str, list[int]] = {}
        for name in names:
            match = _LOG_NAME.match(name)
            if match:
                seqs.setdefault(match["stem"], []).append(int(match["seq"]))
            else:
                self.names.add(name)
        for stem, values in seqs.items():
            self.runs[stem] = _ranges(self.runs.get(stem, []), values)

    def merge(self, other: _Coverage) -> None:
        self.names |= other.names
        for stem, ranges in other.runs.items():
            self.runs[stem] = _ranges(self.runs.get(stem, []) + ranges, [])

    def covers(self, name: str) -> bool:
        match = _LOG_NAME.match(name)
        if not match:
            return name in self.names
        ranges = self.runs.get(match["stem"], [])
        seq = int(match["seq"])
        at = bisect.bisect_right([lo for lo, _ in ranges], seq) - 1
        return at >= 0 and ranges[at][1] >= seq

    def to_json(self) -> str:
        return json.dumps({"runs": dict(sorted(self.runs.items())), "names": sorted(self.names)})

    @classmethod
    def from_json(cls, text: bytes | str) -> _Coverage:
        data = json.loads(text)
        return cls(runs=data.get("runs", {}), names=set(data.get("names", [])))


def _ranges(ranges: list[list[int]], values: list[int]) -> list[list[int]]:
    """Merge ranges and single values into sorted, disjoint, non-adjacent [lo, hi] ranges."""
    merged: list[list[int]] = []
    for lo, hi in sorted([*([r[0], r[1]] for r in ranges), *([v, v] for v in values)]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def _readable(folder: _Folder, days: list[str]) -> list[tuple[str, str]]:
    """(day, name) of every file to read: the ones no compacted file of its day covers."""
    chosen: list[tuple[str, str]] = []
    for day in days:
        names = folder.names(day)
        covered = _Coverage()
        for name in names:
            if name.startswith("compacted-"):
                covered.merge(folder.covers(day, name))
        chosen += [(day, name) for name in names if not covered.covers(name)]
    return chosen


def read_prediction_logs(
    store_or_uri: Store | str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    version: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Logged rows with ``since <= time < until`` (of one version), oldest first; ``limit``: the newest N.

    Example:
        >>> import tempfile
        >>> list(read_prediction_logs(tempfile.mkdtemp()).columns)[:4]
        ['request_id', 'time', 'replica_id', 'version']
    """
    import duckdb  # the query engine is needed by readers only, not by the serving process

    folder = _Folder(log_root(store_or_uri))
    first = since.astimezone(dt.UTC).date().isoformat() if since else ""
    last = until.astimezone(dt.UTC).date().isoformat() if until else "9999-12-31"
    conditions, params = ["TRUE"], []
    for clause, value in (("time >= ?", since), ("time < ?", until), ("version = ?", version)):
        if value is not None:
            conditions.append(clause)
            params.append(value)
    for attempt in range(3):
        try:
            days = [d for d in folder.days() if first <= d <= last]
            files = [folder.for_duckdb(f"{folder.day_path(d)}/{n}") for d, n in _readable(folder, days)]
            if not files:
                empty: pd.DataFrame = SCHEMA.empty_table().to_pandas()
                return empty
            connection = duckdb.connect()
            connection.execute("SET TimeZone = 'UTC'")
            if not folder.is_local:
                connection.register_filesystem(folder.fs)
            newest = f"ORDER BY time DESC, request_id DESC LIMIT {int(limit)}" if limit is not None else ""
            query = (
                f"SELECT * FROM (SELECT * FROM read_parquet(?, union_by_name = true) "
                f"WHERE {' AND '.join(conditions)} {newest}) ORDER BY time, request_id"
            )
            frame: pd.DataFrame = connection.execute(query, [files, *params]).df()
            return frame
        except (duckdb.IOException, FileNotFoundError):
            if attempt == 2:  # a compaction deleted files between listing and reading: list again
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class CompactedDay:
    """What compaction did to one day folder."""

    day: str
    merged_files: int  # files merged into the new compacted file (0: nothing to merge)
    rows: int
    file: str | None  # the new compacted file's name
    removed_leftovers: int  # files an earlier, interrupted compaction had already merged


@dataclass(frozen=True)
class CompactionReport:
    """What `compact_prediction_logs` did, day by day."""

    uri: str
    days: tuple[CompactedDay, ...]

    @property
    def merged_files(self) -> int:
        return sum(day.merged_files for day in self.days)


def compact_prediction_logs(
    store_or_uri: Store | str, *, day: dt.date | str | None = None
) -> CompactionReport:
    """Merge each day's small files into one (every day before today's, or just ``day``).

    Crash-safe: the merged file is written whole, then renamed, then its sources are deleted; until they
    are, readers skip them because the merged file says it holds them.

    Example:
        >>> import tempfile
        >>> compact_prediction_logs(tempfile.mkdtemp()).days
        ()
    """
    folder = _Folder(log_root(store_or_uri))
    if day is None:
        today = dt.datetime.now(dt.UTC).date().isoformat()
        days = [d for d in folder.days() if d < today]  # today's files may still be arriving
    else:
        days = [_parse_day(day)]
    return CompactionReport(uri=folder.uri, days=tuple(_compact_day(folder, d) for d in days))


def _parse_day(day: dt.date | str) -> str:
    text = day.isoformat() if isinstance(day, dt.date) else day.strip()
    try:
        if _DAY.fullmatch(text):
            return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise TaxiwayError(f"day '{day}' is not a date", hint="give a UTC day as YYYY-MM-DD, e.g. 2026-11-27")


def _compact_day(folder: _Folder, day: str) -> CompactedDay:
    names = folder.names(day)
    covered = _Coverage()
    for name in names:
        if name.startswith("compacted-"):
            covered.merge(folder.covers(day, name))
    leftovers = [n for n in names if covered.covers(n)]
    for name in leftovers:  # an earlier compaction stopped after its rename: finish its deletes
        folder.fs.rm(f"{folder.day_path(day)}/{name}")
    _remove_stale_temporaries(folder, day)
    sources = [n for n in names if not covered.covers(n)]
    if len(sources) < 2:
        return CompactedDay(day, 0, 0, None, len(leftovers))
    holds = _Coverage()
    holds.add(sources)
    for name in sources:
        if name.startswith("compacted-"):
            holds.merge(folder.covers(day, name))
    covers_json = holds.to_json()
    target = f"compacted-{hashlib.sha256(covers_json.encode()).hexdigest()[:16]}.parquet"
    paths = [f"{folder.day_path(day)}/{n}" for n in sources]
    schemas = []
    for path in paths:
        with folder.fs.open(path, "rb") as handle:
            schemas.append(pq.read_schema(handle).remove_metadata())
    schema = pa.unify_schemas(schemas).with_metadata({COVERS_KEY: covers_json.encode()})
    rows = 0

    def write(where: str | IO[bytes]) -> None:
        nonlocal rows
        pending: list[pa.Table] = []
        with pq.ParquetWriter(where, schema) as writer:
            for path in paths:
                with folder.fs.open(path, "rb") as handle:
                    pending.append(_conform(pq.read_table(handle), schema))
                rows += pending[-1].num_rows
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)

    folder.write(f"{folder.day_path(day)}/{target}", write)
    for path in paths:  # only now: the merged file already covers them
        folder.fs.rm(path)
    return CompactedDay(day, len(sources), rows, target, len(leftovers))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order: missing ones as nulls (older writers)."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _remove_stale_temporaries(folder: _Folder, day: str) -> None:
    """Delete temporary files left by writers killed mid-write (only local folders have them)."""
    if not folder.is_local:
        return
    path = folder.day_path(day)
    for entry in os.scandir(path) if os.path.isdir(path) else ():
        is_temporary = entry.name.startswith(".") and entry.name.endswith(".tmp")
        if is_temporary and time.time() - entry.stat().st_mtime > STALE_TEMP_S:
            os.unlink(entry.path)
