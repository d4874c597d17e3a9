"""A model version's reference profile: its held-out rows summarised once; monitoring reads only new traffic.

Built from the version's validation rows (rows the model did not learn from, in the split's order) when the
version is registered, or on demand for versions registered before this stage. It holds:

- per feature a sketch (:mod:`taxiway.monitor.sketch`) and the chunk-to-chunk drift variation measured on
  the reference itself (``overdispersion``), from which drift thresholds are calibrated, and the measured
  false-alarm rate of those thresholds on the reference's own chunks;
- sketches of the model's predictions and confidence;
- per slice value of the charter's ``data.slice_columns`` (the top values), the features' sketches;
- a calibration map (isotonic) from the model's probability to the observed frequency, for estimated quality,
  and how far that estimate missed on the reference's chunks (cross-fitted, so not in-sample);
- the offline quality figures the live ones are compared with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from taxiway.charter import Charter
from taxiway.charter.model import MonitoringSection
from taxiway.data.split import get_split, split_frames
from taxiway.errors import TaxiwayError
from taxiway.monitor.chunks import chunk_variation, logged_text
from taxiway.monitor.quality import calibration_map, estimate_quality, realised_quality
from taxiway.monitor.sketch import (
    CategorySketch,
    NumericSketch,
    Sketch,
    count_like,
    fit_sketch,
    sketch_from_dict,
)
from taxiway.registry import get_version
from taxiway.serve.served_model import ServedModel, load_served_model
from taxiway.serve.service import json_text
from taxiway.store import Store
from taxiway.store.tables import ReferenceProfileRow, utcnow
from taxiway.train.runs import get_run

PROFILE_VERSION = 1
MAX_SEGMENTS = 10  # slice values profiled per slice column, the most frequent first
MIN_SEGMENT_ROWS = 50
_NUMERIC = {"integer", "float"}


@dataclass(frozen=True)
class ReferenceProfile:
    """The stored profile of one model version (see the module docstring); ``data`` is its JSON."""

    version: int
    rows: int
    source: str
    data: dict[str, Any]
    created_at: dt.datetime

    @property
    def features(self) -> dict[str, Sketch]:
        """Each feature's reference sketch."""
        return {name: sketch_from_dict(f["sketch"]) for name, f in self.data["features"].items()}

    @property
    def kinds(self) -> dict[str, str]:
        """Feature name -> numeric | categorical."""
        return {name: f["sketch"]["kind"] for name, f in self.data["features"].items()}


def feature_kinds(served: ServedModel) -> dict[str, str]:
    """numeric for the contract's integer and float features, categorical for the rest."""
    return {
        name: "numeric" if served.contract.specs[name].type in _NUMERIC else "categorical"
        for name in served.contract.features
    }


def build_reference(
    store: Store, charter: Charter, ref: str, *, root: Path | None, chunk_rows: int | None = None
) -> ReferenceProfile:
    """Profile version ``ref`` on its validation rows and store the profile (replacing an older one).

    Raises:
        TaxiwayError: the version's run records no split, so there are no held-out rows to profile.
    """
    version = get_version(store, ref)
    run = get_run(store, version.run_id)
    if run.split_id is None:
        raise TaxiwayError(
            f"{version.name} was trained without a recorded split: it has no held-out rows to profile",
            hint="register a run made by `taxiway train` (it records the split)",
        )
    frames = split_frames(store, get_split(store, run.split_id))
    served = load_served_model(store, version.name, charter, root=root)
    data = profile_rows(served, frames.valid, charter, chunk_rows=chunk_rows or charter.monitoring.chunk_rows)
    source = f"valid split {run.split_id[:12]}"
    row = ReferenceProfileRow(
        version=version.version, rows=len(frames.valid), source=source, profile=data, created_at=utcnow()
    )
    with store.write_session() as session, session.begin():
        session.merge(row)
    return ReferenceProfile(version.version, len(frames.valid), source, data, row.created_at)


def load_reference(store: Store, version: int) -> ReferenceProfile | None:
    """The stored profile of ``version``, or None when none was built."""
    with store.session() as session:
        row = session.scalar(select(ReferenceProfileRow).where(ReferenceProfileRow.version == version))
        if row is None:
            return None
        return ReferenceProfile(row.version, row.rows, row.source, dict(row.profile), row.created_at)


def reference_for(store: Store, charter: Charter, ref: str, *, root: Path | None) -> ReferenceProfile:
    """The stored profile of ``ref``, built now from its stored validation rows when it has none."""
    version = get_version(store, ref)
    stored = load_reference(store, version.version)
    if stored is not None and stored.data.get("profile_version") == PROFILE_VERSION:
        return stored
    return build_reference(store, charter, version.name, root=root)


def profile_rows(
    served: ServedModel, rows: pd.DataFrame, charter: Charter, *, chunk_rows: int
) -> dict[str, Any]:
    """The profile of ``rows`` (held-out rows with their target) as JSON-safe data.

    Example: see tests/monitor/test_reference.py (it needs a trained model).
    """
    target = charter.problem.target
    kinds = feature_kinds(served)
    coerced = served.contract.coerce(rows)
    answer = served.answer(coerced)
    chunk = int(min(chunk_rows, max(len(rows) // 10, 50)))
    settings = charter.monitoring
    features = profile_features(coerced, kinds, chunk_rows=chunk, settings=settings)
    model_rows = np.array([reason is None for reason in answer.fallback])
    outputs = pd.Series([json_text(p) for p in answer.model_predictions], dtype=object)
    predictions: Sketch
    if served.task == "regression":
        predictions = NumericSketch.fit(np.asarray(answer.model_predictions, dtype=float))
    else:
        predictions = CategorySketch.fit(outputs)
    confidence = np.array([np.nan if c is None else c for c in answer.confidence], dtype=float)
    labels = rows[target].reset_index(drop=True)
    data: dict[str, Any] = {
        "profile_version": PROFILE_VERSION,
        "task": served.task,
        "classes": [json_text(c) for c in served.classes],
        "rows": len(rows),
        "chunk_rows": chunk,
        "kinds": kinds,
        "features": features,
        "prediction": predictions.to_dict(),
        "confidence": NumericSketch.fit(confidence).to_dict() if served.task != "regression" else None,
        "fallback_rate": float(1 - model_rows.mean()) if len(model_rows) else 0.0,
        "segments": _segments(coerced, kinds, features, charter.data.slice_columns),
    }
    if served.task == "classification" and answer.probabilities is not None:
        probabilities = np.asarray(answer.probabilities, dtype=float)
        data.update(_quality_reference(served, probabilities, labels, outputs, chunk))
    else:
        values = np.asarray(answer.model_predictions, dtype=float)
        data["quality"] = realised_quality("regression", None, labels.to_numpy(dtype=float), values)
    return data


def profile_features(
    frame: pd.DataFrame, kinds: dict[str, str], *, chunk_rows: int, settings: MonitoringSection
) -> dict[str, Any]:
    """Each feature's sketch and the chunk-to-chunk drift variation of ``frame`` (in its row order).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> frame = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
        >>> f = profile_features(frame, {"x": "numeric", "c": "categorical"}, chunk_rows=200,
        ...                      settings=MonitoringSection())
        >>> f["x"]["chunks"], f["x"]["false_alarms"], f["c"]["sketch"]["kind"]
        (10, 0, 'categorical')
    """
    features: dict[str, Any] = {}
    for name, kind in kinds.items():
        column = frame[name].astype(float) if kind == "numeric" else logged_text(frame[name])
        sketch = fit_sketch(column)
        features[name] = {
            "sketch": sketch.to_dict(),
            **chunk_variation(sketch, column, chunk_rows, settings),
        }
    return features


def _segments(
    coerced: pd.DataFrame, kinds: dict[str, str], features: dict[str, Any], slice_columns: list[str]
) -> dict[str, Any]:
    segments: dict[str, Any] = {}
    for column in slice_columns:
        if column not in coerced.columns:
            continue  # not a model input: the log does not carry it
        values = logged_text(coerced[column]) if kinds.get(column) != "numeric" else coerced[column]
        counts = values.astype(str).value_counts()
        segments[column] = {}
        for value, rows in counts.iloc[:MAX_SEGMENTS].items():
            if rows < MIN_SEGMENT_ROWS:
                continue
            mask = (values.astype(str) == value).to_numpy()
            segments[column][str(value)] = {
                "rows": int(rows),
                "features": {
                    name: count_like(
                        sketch_from_dict(f["sketch"]), _column(coerced, name, kinds)[mask]
                    ).to_dict()
                    for name, f in features.items()
                },
            }
    return segments


def _column(coerced: pd.DataFrame, name: str, kinds: dict[str, str]) -> pd.Series:
    return coerced[name].astype(float) if kinds[name] == "numeric" else logged_text(coerced[name])


def _quality_reference(
    served: ServedModel, probabilities: np.ndarray, labels: pd.Series, outputs: pd.Series, chunk: int
) -> dict[str, Any]:
    """Offline quality, the calibration map, and how far the estimate missed on reference chunks."""
    classes = [json_text(c) for c in served.classes]
    truth = labels.map(json_text).to_numpy(dtype=object)
    binary = len(classes) == 2
    score = probabilities[:, 1] if binary else probabilities.max(axis=1)
    hit = (truth == np.asarray(classes, dtype=object)[1]) if binary else (truth == outputs.to_numpy())
    quality = realised_quality(
        "classification", score if binary else None, truth, outputs.to_numpy(), classes
    )
    # Cross-fitted: calibrate on one half, estimate the other, so the measured error is not in-sample.
    half = np.arange(len(score)) % 2 == 0
    errors: list[float] = []
    for fit_on in (half, ~half):
        cal = calibration_map(score[fit_on], hit[fit_on].astype(float))
        held = np.flatnonzero(~fit_on)
        for start in range(0, len(held) - chunk // 2 + 1, max(chunk // 2, 1)):
            idx = held[start : start + chunk // 2]
            estimate = estimate_quality(cal, score[idx], binary=binary)
            actual = realised_quality(
                "classification", score[idx] if binary else None, truth[idx], outputs.to_numpy()[idx], classes
            )
            metric = "roc_auc" if binary else "accuracy"
            guess, truth_value = estimate.get(metric), actual.get(metric)
            if guess is not None and truth_value is not None:
                errors.append(abs(guess - truth_value))
    return {
        "quality": quality,
        "calibration": calibration_map(score, hit.astype(float)),
        "estimate_error": {
            "chunks": len(errors),
            "median": float(np.median(errors)) if errors else None,
            "p90": float(np.quantile(errors, 0.9)) if errors else None,
        },
    }
