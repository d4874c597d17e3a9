"""A window of the prediction log summarised inside DuckDB: counts per bin, never a million Python rows.

One pass reads each row's inputs once (the log's typed copy of them, or their JSON text parsed where a file
has no typed copy: :func:`taxiway.monitor.logs.inputs_rows`) and counts every feature into its reference
sketch's bins with DuckDB's ``histogram`` aggregate, on every core; only the counts come back. The
model's confidence comes back as one float array; everything that needs whole rows
(drift by segment, the drift strip, the domain classifier) gets a bounded random sample. This is what keeps
a report over a million logged rows within seconds and a few hundred megabytes (benchmarks/monitoring.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from taxiway.monitor.logs import (
    NoLogsError,
    _connect,
    _files,
    _quoted,
    inputs_rows,
    inputs_struct,
    typed_copies,
)
from taxiway.monitor.sketch import OTHER, CategorySketch, NumericSketch, Sketch
from taxiway.serve.log_folder import LogFolder, log_root

if TYPE_CHECKING:
    from taxiway.store import Store

SAMPLE_ROWS = 50_000  # rows kept whole for segments, the drift strip and the domain classifier
_OUT_OF_RANGE = "NOT isfinite(confidence) OR confidence < 0 OR confidence > 1"
_POSITIVE = "CASE WHEN output = ? THEN confidence ELSE 1 - confidence END"  # P(positive), binary


@dataclass
class WindowSummary:
    """Counts and arrays of one window of logged answers (live and canary rows of one version)."""

    rows: int
    features: dict[str, Sketch]
    outputs: dict[str, int]  # answered output (JSON text) -> rows, model-answered rows only
    fallbacks: dict[str, int]  # fallback reason -> rows
    confidence: np.ndarray  # model-answered rows with a confidence
    positive_score: np.ndarray | None  # binary: P(positive) of those rows
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)  # <= SAMPLE_ROWS rows, features as columns
    confidence_over_time: list[dict[str, Any]] = field(default_factory=list)
    non_finite_confidence: int = 0


def summarise_window(
    store_or_uri: Store | str,
    profile: dict[str, Any],
    *,
    since: dt.datetime,
    until: dt.datetime,
    version: str | None,
    positive: str | None = None,
    sample_rows: int = SAMPLE_ROWS,
) -> WindowSummary:
    """Count the window's features into ``profile``'s bins (see the module docstring).

    Raises:
        NoLogsError: no log file covers the window.
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
    kinds: dict[str, str] = profile["kinds"]
    parsed = inputs_struct(kinds)
    conditions = ["time >= ?", "time < ?", "role <> 'shadow'"]
    params: list[Any] = [since, until]
    if version is not None:
        conditions.append("version = ?")
        params.append(version)
    where = " AND ".join(conditions)
    source = "read_parquet(?, union_by_name = true)"
    sketches = {name: entry["sketch"] for name, entry in profile["features"].items() if name in kinds}
    model = "fallback IS NULL AND confidence IS NOT NULL"
    connection = _connect(folder)
    try:
        # The one pass over the inputs: each row's features read once, every one counted into its bins, the
        # answers counted. Only one row of counts comes back.
        aggregates = [
            "count(*)",
            "histogram(output) FILTER (WHERE fallback IS NULL) AS outputs",
            "histogram(fallback) AS fallbacks",
            f"count(*) FILTER (WHERE {model} AND ({_OUT_OF_RANGE})) AS non_finite",
            *(
                f"histogram({_bin(name, sketch)}) AS {_quoted('f_' + name)}"
                for name, sketch in sketches.items()
            ),
        ]
        typed = typed_copies(connection, files)
        rows_sql, bound = inputs_rows(files, typed, kinds, "output, confidence, fallback", where, params)
        found = connection.execute(
            f"SELECT {', '.join(aggregates)} FROM (SELECT output, confidence, fallback, {parsed} AS s "
            f"FROM ({rows_sql}))",
            bound,
        ).fetchall()[0]
        rows, outputs, fallbacks, non_finite = int(found[0]), found[1], found[2], int(found[3])
        # Whole rows only for a uniform sample: text inputs are parsed for the sample's rows alone.
        columns = ", ".join(f"s.{_quoted(name)} AS {_quoted(name)}" for name in kinds)
        rows_sql, bound = inputs_rows(
            files, typed, kinds, "request_id, time, output, confidence, fallback", where, params
        )
        sample = connection.execute(
            f"SELECT request_id, time, output, confidence, fallback{', ' + columns if columns else ''} FROM "
            f"(SELECT * EXCLUDE (s, raw), {parsed} AS s FROM (SELECT * FROM ({rows_sql}) "
            f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (7))) ORDER BY time",
            bound,
        ).df()
        scored = connection.execute(
            f"SELECT epoch_us(time) AS t, confidence, {_POSITIVE} AS s FROM {source} "
            f"WHERE {where} AND {model} AND isfinite(confidence)",
            [positive or "", files, *params],
        ).fetchnumpy()
    finally:
        connection.close()
    features = {
        name: _sketch(sketch, dict(counted or {}), rows)
        for (name, sketch), counted in zip(sketches.items(), found[4:], strict=True)
    }
    confidence = np.asarray(scored["confidence"], dtype=float)
    score = np.asarray(scored["s"], dtype=float) if positive is not None else None
    return WindowSummary(
        rows,
        features,
        {str(k): int(v) for k, v in (outputs or {}).items()},
        {str(k): int(v) for k, v in (fallbacks or {}).items()},
        confidence,
        score,
        sample,
        _confidence_over_time(np.asarray(scored["t"], dtype=np.int64), confidence),
        non_finite,
    )


def _bin(name: str, sketch: dict[str, Any]) -> str:
    """SQL giving a row's bin: the count of edges at or below a number (-1: missing), text itself.

    One CASE that stops at the first edge above the value: a third of the work of adding up a comparison
    per edge (benchmarks/monitoring.py).
    """
    column = f"s.{_quoted(name)}"
    if sketch["kind"] != "numeric":
        return column
    edges = [float(e) for e in sketch["edges"]]
    below = " ".join(f"WHEN {column} < {e!r} THEN {i}" for i, e in enumerate(edges))
    return f"CASE WHEN {column} IS NULL OR NOT isfinite({column}) THEN -1 {below} ELSE {len(edges)} END"


def _sketch(sketch: dict[str, Any], counted: dict[Any, int], rows: int) -> Sketch:
    """The window's counts (a DuckDB histogram) as a sketch over the reference's bins."""
    if sketch["kind"] == "numeric":
        edges = list(sketch["edges"])
        counts = [int(counted.get(i, 0)) for i in range(len(edges) + 1)]
        return NumericSketch(edges, counts, int(counted.get(-1, 0)))
    known = list(sketch.get("known") or [k for k in sketch["counts"] if k != OTHER])
    values = {k: int(counted.get(k, 0)) for k in known}
    present = sum(int(n) for n in counted.values())
    values[OTHER] = present - sum(values.values())
    return CategorySketch(values, rows - present, known=known)


def _confidence_over_time(
    micros: np.ndarray, confidence: np.ndarray, buckets: int = 12
) -> list[dict[str, Any]]:
    """Mean and p10/p50/p90 of the confidence in ``buckets`` runs of rows of equal size, in time order (the
    first runs one row longer when the rows do not divide evenly, as SQL's ``ntile``).

    Example:
        >>> rows = _confidence_over_time(np.arange(4) * 1_000_000, np.array([0.6, 0.8, 0.7, 0.9]), buckets=2)
        >>> [(r["start"], r["rows"], round(r["mean"], 2)) for r in rows]
        [('1970-01-01T00:00:00+00:00', 2, 0.7), ('1970-01-01T00:00:02+00:00', 2, 0.8)]
    """
    if not len(micros):
        return []
    order = np.argsort(micros, kind="stable")
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    found = []
    for part in np.array_split(order, min(buckets, len(order))):
        values = confidence[part]
        p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
        found.append(
            {
                "start": (epoch + dt.timedelta(microseconds=int(micros[part[0]]))).isoformat(),
                "rows": len(part),
                "mean": float(values.mean()),
                "p10": float(p10),
                "p50": float(p50),
                "p90": float(p90),
            }
        )
    return found
