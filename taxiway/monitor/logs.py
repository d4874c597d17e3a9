"""Reading a window of the prediction log for monitoring: DuckDB over the Parquet files where they lie.

The log keeps each row's inputs as JSON text and, in files written since it could, as a typed struct
(:mod:`taxiway.serve.typed_inputs`). Readers take the features from the struct where a file has one and
parse the text only where it has not (:func:`inputs_rows`), all inside DuckDB, so a million rows never
become a million Python dicts. Shadow rows are left out: they were never answers. Feedback labels join by
(request id, row position in its request); a row's position is its order within the request in the file it
was written to (one request is one flush).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from taxiway.errors import TaxiwayError
from taxiway.serve.log_folder import LogFolder, log_root, readable_files
from taxiway.serve.typed_inputs import TYPED_INPUTS

if TYPE_CHECKING:
    from taxiway.store import Store

_OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class NoLogsError(TaxiwayError):
    """No prediction was logged in the window asked about."""


@dataclass(frozen=True)
class LogWindow:
    """The logged answers of one window: one row per answered row, features as columns.

    ``frame`` columns: ``request_id``, ``time``, ``version``, ``role``, ``output`` (JSON text),
    ``confidence``, ``fallback``, ``latency_ms``, then one column per feature (numbers as float, others text).
    """

    since: dt.datetime
    until: dt.datetime
    frame: pd.DataFrame


def _files(folder: LogFolder, since: dt.datetime | None, until: dt.datetime | None) -> list[str]:
    first = since.astimezone(dt.UTC).date().isoformat() if since else ""
    last = until.astimezone(dt.UTC).date().isoformat() if until else "9999-12-31"
    days = [d for d in folder.days() if first <= d <= last]
    return [folder.for_duckdb(f"{folder.day_path(d)}/{n}") for d, n in readable_files(folder, days)]


def _connect(folder: LogFolder) -> Any:
    import duckdb

    connection = duckdb.connect(config=_OFFLINE)
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET enable_progress_bar = false")  # it would print to stdout, under JSON output
    if not folder.is_local:
        connection.register_filesystem(folder.fs)
    return connection


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TypedCopies:
    """Which of a window's files keep the typed copy of the inputs, and the inputs those copies hold."""

    files: frozenset[str]
    inputs: frozenset[str]


def typed_copies(connection: Any, files: list[str]) -> TypedCopies:
    """Those of ``files`` that keep the typed copy of the inputs, and its fields: both read from the Parquet
    footers, not the rows.

    Example:
        >>> import duckdb
        >>> typed_copies(duckdb.connect(), [])
        TypedCopies(files=frozenset(), inputs=frozenset())
    """
    if not files:
        return TypedCopies(frozenset(), frozenset())
    found = connection.execute(
        "SELECT DISTINCT file_name FROM parquet_schema(?) WHERE name = ?", [files, TYPED_INPUTS]
    ).fetchall()
    typed = sorted(str(name) for (name,) in found)
    if not typed:
        return TypedCopies(frozenset(), frozenset())
    # the union of every copy's fields, from the footers (a relation's types, without reading a row)
    union = connection.sql(
        f"SELECT {TYPED_INPUTS} FROM read_parquet(?, union_by_name = true)", params=[typed]
    )
    return TypedCopies(frozenset(typed), frozenset(name for name, _ in union.types[0].children))


def inputs_rows(
    files: list[str],
    typed: TypedCopies,
    kinds: dict[str, str],
    columns: str,
    where: str,
    params: list[Any],
    *,
    options: str = "",
) -> tuple[str, list[Any]]:
    """SQL for the rows of ``files`` that meet ``where``: ``columns``, then ``s`` and ``raw``, and its params.

    ``s`` holds the features ``kinds`` names (numbers as DOUBLE, the rest as VARCHAR) from the typed copy of
    the inputs, in the files ``typed`` names (:func:`typed_copies`); ``raw`` is the JSON text of the other
    files' rows, for :func:`inputs_struct` to parse. Parsing stays last so a query that keeps a few rows (a
    sample) parses only theirs. ``options`` go to ``read_parquet`` (e.g. ``, filename = true``). ``files``
    must not be empty.

    Example:
        >>> import duckdb, pathlib, tempfile
        >>> from taxiway.serve.prediction_log import PredictionLog, PredictionRecord
        >>> log = PredictionLog(tempfile.mkdtemp(), "replica")
        >>> record = PredictionRecord("q1", 1764201600.0, "v1", "blue", "live", '{"x": 2}', "1", 0.9, None, 1)
        >>> log.append([record])
        >>> log.flush()
        1
        >>> files = [str(p) for p in pathlib.Path(log.uri).rglob("*.parquet")]
        >>> connection = duckdb.connect()
        >>> typed = typed_copies(connection, files)
        >>> sql, params = inputs_rows(files, typed, {"x": "numeric"}, "request_id", "TRUE", [])
        >>> features = inputs_struct({"x": "numeric"})
        >>> connection.execute(f"SELECT request_id, {features} FROM ({sql})", params).fetchall()
        [('q1', {'x': 2.0})]
    """
    empty = f"NULL::{_struct_type(kinds)}" if kinds else "NULL"
    # field by field: an input no typed copy holds is null (a cast of the whole struct would refuse to bind
    # when the copies hold none of the wanted inputs)
    fields = ", ".join(
        f"{_quoted(name)} := "
        + (
            f"TRY_CAST({TYPED_INPUTS}.{_quoted(name)} AS {_sql_type(kind)})"
            if name in typed.inputs
            else f"NULL::{_sql_type(kind)}"
        )
        for name, kind in kinds.items()
    )
    typed_struct = f"struct_pack({fields})" if kinds else "NULL"
    parts, bound = [], []
    for chosen, inputs in (
        ([f for f in files if f in typed.files], f"{typed_struct} AS s, NULL::VARCHAR AS raw"),
        ([f for f in files if f not in typed.files], f"{empty} AS s, inputs AS raw"),
    ):
        if chosen:
            source = f"read_parquet(?, union_by_name = true{options})"
            parts.append(f"SELECT {columns}, {inputs} FROM {source} WHERE {where}")
            bound += [chosen, *params]
    return " UNION ALL ".join(parts), bound


def inputs_struct(kinds: dict[str, str]) -> str:
    """SQL of a row's features from :func:`inputs_rows`' ``s`` and ``raw``: the text parsed only where
    there is no typed copy.

    Example:
        >>> print(inputs_struct({"x": "numeric", "city": "categorical"}))
        coalesce(s, json_transform(raw, '{"x": "DOUBLE", "city": "VARCHAR"}'))
    """
    if not kinds:
        return "NULL"
    spec = json.dumps({name: _sql_type(kind) for name, kind in kinds.items()}).replace("'", "''")
    return f"coalesce(s, json_transform(raw, '{spec}'))"


def _struct_type(kinds: dict[str, str]) -> str:
    return "STRUCT(" + ", ".join(f"{_quoted(name)} {_sql_type(kind)}" for name, kind in kinds.items()) + ")"


def _sql_type(kind: str) -> str:
    return "DOUBLE" if kind == "numeric" else "VARCHAR"


def read_window(
    store_or_uri: Store | str,
    features: dict[str, str],
    *,
    since: dt.datetime,
    until: dt.datetime,
    version: str | None = None,
    with_row: bool = False,
    request_ids: list[str] | None = None,
) -> LogWindow:
    """Logged live and canary answers with ``since <= time < until``, ``features`` (name -> numeric |
    categorical) pulled out of the inputs; ``with_row`` adds each row's position in its request (``row``);
    ``request_ids`` keeps only those requests (whole: their row positions stay right).

    Raises:
        NoLogsError: the log folder holds no file for the window (nothing was served or logged).

    Example:
        >>> import tempfile
        >>> now = dt.datetime.now(dt.UTC)
        >>> read_window(tempfile.mkdtemp(), {"x": "numeric"}, since=now, until=now)
        Traceback (most recent call last):
        ...
        taxiway.monitor.logs.NoLogsError: no prediction was logged between ...
    """
    folder = LogFolder(log_root(store_or_uri))
    files = _files(folder, since, until)
    if not files:
        raise NoLogsError(
            f"no prediction was logged between {since:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC "
            f"under {folder.uri}",
            hint="serve the model (taxiway serve) with its prediction log on, send it traffic, "
            "or widen the window with --since",
        )
    extracted = "".join(f", parsed.{_quoted(name)} AS {_quoted(name)}" for name in features)
    row = (
        ", CAST(row_number() OVER (PARTITION BY request_id, version ORDER BY filename, file_row_number) - 1 "
        "AS INTEGER) AS row"
        if with_row
        else ""
    )
    conditions = ["time >= ?", "time < ?", "role <> 'shadow'"]
    params: list[Any] = [since, until]
    if version is not None:
        conditions.append("version = ?")
        params.append(version)
    if request_ids is not None:
        conditions.append("request_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(request_ids)
    logged = "request_id, time, version, role, output, confidence, fallback, latency_ms"
    connection = _connect(folder)
    try:
        rows, bound = inputs_rows(
            files,
            typed_copies(connection, files),
            features,
            f"{logged}, filename, file_row_number",
            " AND ".join(conditions),
            params,
            options=", filename = true, file_row_number = true",
        )
        query = (
            f"SELECT {logged}{extracted}{row} "
            f"FROM (SELECT *, {inputs_struct(features)} AS parsed FROM ({rows})) "
            "ORDER BY time, request_id"
        )
        frame: pd.DataFrame = connection.execute(query, bound).df()
    finally:
        connection.close()
    return LogWindow(since, until, frame)


def logged_versions(store_or_uri: Store | str, *, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
    """Rows answered per version in the window (live and canary), most first; empty when nothing is logged.

    Example:
        >>> import tempfile
        >>> now = dt.datetime.now(dt.UTC)
        >>> logged_versions(tempfile.mkdtemp(), since=now, until=now)
        {}
    """
    folder = LogFolder(log_root(store_or_uri))
    files = _files(folder, since, until)
    if not files:
        return {}
    connection = _connect(folder)
    try:
        rows = connection.execute(
            "SELECT version, count(*) AS n FROM read_parquet(?, union_by_name = true) "
            "WHERE time >= ? AND time < ? AND role <> 'shadow' GROUP BY version ORDER BY n DESC",
            [files, since, until],
        ).fetchall()
    finally:
        connection.close()
    return {str(version): int(n) for version, n in rows}
