"""Compaction of the prediction log: a day's small files merged into one, with no row lost or counted twice.

The merged ``compacted-<hash>.parquet`` lists the files it holds in its Parquet key-value metadata, and
readers skip any file a compacted file covers, so a reader never counts a row twice, even when compaction
stopped between writing the merged file and deleting its sources.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
from dataclasses import dataclass
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from taxiway.errors import TaxiwayError
from taxiway.serve.log_folder import COVERS_KEY, Coverage, LogFolder, log_root
from taxiway.serve.typed_inputs import TYPED_INPUTS
from taxiway.store import Store

__all__ = ["CompactedDay", "CompactionReport", "compact_prediction_logs"]

ROW_GROUP_ROWS = 128_000  # compacted files: row groups large enough for fast scans
STALE_TEMP_S = 3600.0  # a temporary file this old belongs to a killed writer; compaction deletes it
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
    folder = LogFolder(log_root(store_or_uri))
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


def _compact_day(folder: LogFolder, day: str) -> CompactedDay:
    names = folder.names(day)
    covered = Coverage()
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
    holds = Coverage()
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
    schema = _merged_schema(schemas).with_metadata({COVERS_KEY: covers_json.encode()})
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


def _merged_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for the merged file: the sources' columns, and the typed copy of the inputs only when
    every source has one, so that no merged row lacks it (see :mod:`taxiway.serve.typed_inputs`). Numbers
    widen; an input that is a number in one file and text in another becomes text.

    Example:
        >>> inputs = pa.field("inputs", pa.string())
        >>> typed = lambda kind: pa.schema([inputs, (TYPED_INPUTS, pa.struct([("x", kind)]))])
        >>> _merged_schema([typed(pa.int64()), typed(pa.float64())]).field(TYPED_INPUTS).type
        StructType(struct<x: double>)
        >>> _merged_schema([typed(pa.int64()), typed(pa.string())]).field(TYPED_INPUTS).type
        StructType(struct<x: string>)
        >>> _merged_schema([typed(pa.int64()), pa.schema([inputs])]).names
        ['inputs']
    """
    base = pa.unify_schemas(
        [s.remove(s.get_field_index(TYPED_INPUTS)) if TYPED_INPUTS in s.names else s for s in schemas]
    )
    if not all(TYPED_INPUTS in s.names for s in schemas):
        return base
    kinds: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for child in schema.field(TYPED_INPUTS).type:
            kinds.setdefault(child.name, []).append(child.type)
    return base.append(pa.field(TYPED_INPUTS, pa.struct([(n, _widest(k)) for n, k in kinds.items()])))


def _widest(kinds: list[pa.DataType]) -> pa.DataType:
    """One type that holds every value of ``kinds`` (text when numbers and text meet)."""
    try:
        unified = pa.unify_schemas([pa.schema([("x", k)]) for k in kinds], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()
    return unified.field("x").type


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order: missing ones as nulls (older writers)."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _remove_stale_temporaries(folder: LogFolder, day: str) -> None:
    """Delete temporary files left by writers killed mid-write (only local folders have them)."""
    if not folder.is_local:
        return
    path = folder.day_path(day)
    for entry in os.scandir(path) if os.path.isdir(path) else ():
        is_temporary = entry.name.startswith(".") and entry.name.endswith(".tmp")
        if is_temporary and time.time() - entry.stat().st_mtime > STALE_TEMP_S:
            os.unlink(entry.path)
