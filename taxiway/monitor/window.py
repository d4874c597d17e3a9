"""A window of the prediction log summarised inside DuckDB: counts per bin, never a million Python rows.

One pass parses each row's JSON once (``json_transform`` to a typed struct) and counts every feature into
its reference sketch's bins with DuckDB's ``histogram`` aggregate, on every core; only the counts come
back. The model's confidence comes back as one float array; everything that needs whole rows
(drift by segment, the drift strip, the domain classifier) gets a bounded random sample. This is what keeps
a report over a million logged rows within seconds and a few hundred megabytes (benchmarks/monitoring.py).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from taxiway.monitor.logs import NoLogsError, _connect, _files, _quoted
from taxiway.monitor.sketch import OTHER, CategorySketch, NumericSketch, Sketch
from taxiway.serve.log_folder import LogFolder, log_root
from taxiway.store import Store

SAMPLE_ROWS = 50_000  # rows kept whole for segments, the drift strip and the domain classifier


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
    struct = json.dumps({name: "DOUBLE" if kind == "numeric" else "VARCHAR" for name, kind in kinds.items()})
    parsed = f"json_transform(inputs, '{struct.replace(chr(39), chr(39) * 2)}')"
    conditions = ["time >= ?", "time < ?", "role <> 'shadow'"]
    params: list[Any] = [since, until]
    if version is not None:
        conditions.append("version = ?")
        params.append(version)
    logged = f"(SELECT * FROM read_parquet(?, union_by_name = true) WHERE {' AND '.join(conditions)})"
    sketches = {name: entry["sketch"] for name, entry in profile["features"].items() if name in kinds}
    aggregates = ", ".join(f"histogram({_bin(name, sketch)})" for name, sketch in sketches.items())
    model = "fallback IS NULL AND confidence IS NOT NULL"
    connection = _connect(folder)
    try:
        # One pass parses each row's JSON once and counts every feature into its bins.
        found = connection.execute(
            f"SELECT count(*){', ' + aggregates if aggregates else ''} "
            f"FROM (SELECT {parsed} AS s FROM {logged})",
            [files, *params],
        ).fetchone()
        rows = int(found[0])
        features = {
            name: _sketch(sketch, dict(counted or {}), rows)
            for (name, sketch), counted in zip(sketches.items(), found[1:], strict=True)
        }
        outputs = dict(
            connection.execute(
                f"SELECT output, count(*) FROM {logged} WHERE fallback IS NULL GROUP BY output",
                [files, *params],
            ).fetchall()
        )
        fallbacks = dict(
            connection.execute(
                f"SELECT fallback, count(*) FROM {logged} WHERE fallback IS NOT NULL GROUP BY fallback",
                [files, *params],
            ).fetchall()
        )
        non_finite = int(
            connection.execute(
                f"SELECT count(*) FROM {logged} WHERE {model} AND (NOT isfinite(confidence) "
                "OR confidence < 0 OR confidence > 1)",
                [files, *params],
            ).fetchone()[0]
        )
        scored = connection.execute(
            f"SELECT confidence, CASE WHEN output = ? THEN confidence ELSE 1 - confidence END AS s "
            f"FROM {logged} WHERE {model} AND isfinite(confidence)",
            [positive or "", files, *params],
        ).fetchnumpy()
        over_time = _confidence_over_time(connection, logged, model, [files, *params])
        columns = ", ".join(f"s.{_quoted(name)} AS {_quoted(name)}" for name in kinds)
        sample = connection.execute(
            f"SELECT request_id, time, output, confidence, fallback{', ' + columns if columns else ''} FROM "
            f"(SELECT *, {parsed} AS s FROM (SELECT * FROM {logged} "
            f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (7))) ORDER BY time",
            [files, *params],
        ).df()
    finally:
        connection.close()
    confidence = np.asarray(scored["confidence"], dtype=float)
    score = np.asarray(scored["s"], dtype=float) if positive is not None else None
    return WindowSummary(
        rows,
        features,
        {str(k): int(v) for k, v in outputs.items()},
        {str(k): int(v) for k, v in fallbacks.items()},
        confidence,
        score,
        sample,
        over_time,
        non_finite,
    )


def _bin(name: str, sketch: dict[str, Any]) -> str:
    """SQL giving a row's bin: numbers the count of edges at or below them (-1: missing), text itself."""
    column = f"s.{_quoted(name)}"
    if sketch["kind"] != "numeric":
        return column
    index = " + ".join(f"({column} >= {float(e)!r})::INTEGER" for e in sketch["edges"]) or "0"
    return f"CASE WHEN {column} IS NULL OR NOT isfinite({column}) THEN -1 ELSE {index} END"


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
    connection: Any, logged: str, model: str, params: list[Any], buckets: int = 12
) -> list[dict[str, Any]]:
    found = connection.execute(
        f"SELECT bucket, min(time), count(*), avg(confidence), quantile_cont(confidence, [0.1, 0.5, 0.9]) "
        f"FROM (SELECT time, confidence, ntile({buckets}) OVER (ORDER BY time) AS bucket FROM {logged} "
        f"WHERE {model} AND isfinite(confidence)) GROUP BY bucket ORDER BY bucket",
        params,
    ).fetchall()
    return [
        {
            "start": start.isoformat(),
            "rows": int(n),
            "mean": float(mean),
            "p10": float(q[0]),
            "p50": float(q[1]),
            "p90": float(q[2]),
        }
        for _, start, n, mean, q in found
    ]
