"""Reading a window of the prediction log for monitoring: DuckDB over the Parquet files where they lie.

The log keeps each row's inputs as JSON text. DuckDB pulls the features out of it in C (one
``json_extract`` per feature), so a million rows never become a million Python dicts. Shadow rows are left
out: they were never answers. Feedback labels join by (request id, row position in its request); a row's
position is its order within the request in the file it was written to (one request is one flush).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from taxiway.errors import TaxiwayError
from taxiway.serve.log_folder import LogFolder, log_root, readable_files

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


def _json_path(name: str) -> str:
    return "$." + '"' + name.replace('"', '\\"') + '"'


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
    extracted = []
    for name, kind in features.items():
        text = f"json_extract_string(inputs, '{_json_path(name)}')"
        column = f"TRY_CAST({text} AS DOUBLE)" if kind == "numeric" else text
        extracted.append(f"{column} AS {_quoted(name)}")
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
    query = (
        "SELECT request_id, time, version, role, output, confidence, fallback, latency_ms"
        f"{''.join(', ' + e for e in extracted)}{row} "
        "FROM read_parquet(?, union_by_name = true, filename = true, file_row_number = true) "
        f"WHERE {' AND '.join(conditions)} ORDER BY time, request_id"
    )
    connection = _connect(folder)
    try:
        frame: pd.DataFrame = connection.execute(query, [files, *params]).df()
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
