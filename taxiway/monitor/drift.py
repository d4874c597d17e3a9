"""Drift of live traffic from the reference profile, judged by effect size with calibrated thresholds.

A feature drifts when its population stability index (PSI) against the reference exceeds its threshold:
the larger of the charter's ``monitoring.drift_min_effect`` (the smallest effect worth an alert, whatever
the sample size) and the PSI two drift-free samples of these sizes exceed with probability
``monitoring.drift_false_alarm_rate``, scaled by how much more the reference's own chunks vary than
independent draws would (its overdispersion). Large windows therefore flag only effects that matter, and
small ones only what their noise cannot explain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.sketch import (
    NumericSketch,
    Sketch,
    count_like,
    effective_bins,
    null_psi_quantile,
    paired_vectors,
    psi,
    sketch_from_dict,
)


@dataclass(frozen=True)
class Drift:
    """One column's drift in one window: effect size (PSI) against the threshold it was judged by."""

    column: str
    kind: str
    rows: int
    effect: float
    threshold: float
    drifted: bool
    top_change: str  # the bin whose share moved most, e.g. "origin=LGA: 33% -> 61%"
    segment: str | None = None  # "slice_column=value" for drift by segment

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "rows": self.rows,
            "effect": self.effect,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "top_change": self.top_change,
            "segment": self.segment,
        }


def judge(
    column: str,
    reference: Sketch,
    values: pd.Series,
    settings: MonitoringSection,
    *,
    overdispersion: float = 1.0,
    segment: str | None = None,
) -> Drift:
    """``values`` counted into ``reference``'s bins and judged against the calibrated threshold.

    Example:
        >>> import numpy as np
        >>> ref = NumericSketch.fit(np.random.default_rng(0).normal(size=20_000))
        >>> same = pd.Series(np.random.default_rng(1).normal(size=5_000))
        >>> judge("x", ref, same, MonitoringSection()).drifted
        False
        >>> judge("x", ref, same + 0.5, MonitoringSection()).drifted
        True
    """
    return judge_counts(
        column,
        reference,
        count_like(reference, values),
        settings,
        overdispersion=overdispersion,
        segment=segment,
    )


def judge_counts(
    column: str,
    reference: Sketch,
    window: Sketch,
    settings: MonitoringSection,
    *,
    overdispersion: float = 1.0,
    segment: str | None = None,
) -> Drift:
    """A window already counted into ``reference``'s bins, judged against the calibrated threshold."""
    ref_vec, win_vec = paired_vectors(reference, window)
    effect = psi(ref_vec, win_vec)
    noise = null_psi_quantile(
        effective_bins(ref_vec), ref_vec.sum(), win_vec.sum(), settings.drift_false_alarm_rate
    )
    threshold = max(settings.drift_min_effect, overdispersion * noise)
    return Drift(
        column,
        reference.kind,
        int(win_vec.sum()),
        effect,
        threshold,
        effect > threshold,
        _top_change(reference, window),
        segment,
    )


def _top_change(reference: Sketch, window: Sketch) -> str:
    ref_vec, win_vec = paired_vectors(reference, window)
    p, q = ref_vec / max(ref_vec.sum(), 1), win_vec / max(win_vec.sum(), 1)
    index = int(abs(q - p).argmax())
    if isinstance(reference, NumericSketch):
        edges = reference.edges
        if index == len(edges) + 1 or index >= len(p) - 1 and index == len(edges) + 1:
            label = "missing"
        elif index == len(edges):
            label = f"> {edges[-1]:.4g}" if edges else "all"
        elif index == 0:
            label = f"<= {edges[0]:.4g}" if edges else "all"
        else:
            label = f"({edges[index - 1]:.4g}, {edges[index]:.4g}]"
    else:
        keys = [*dict.fromkeys([*reference.counts, *window.counts, "__other__"]), "missing"]
        label = "unseen values" if keys[index] == "__other__" else keys[index]
    return f"{label}: {p[index]:.1%} -> {q[index]:.1%}"


def feature_drift(profile: dict[str, Any], frame: pd.DataFrame, settings: MonitoringSection) -> list[Drift]:
    """Every feature's drift in ``frame`` (a :class:`~taxiway.monitor.logs.LogWindow` frame)."""
    drifts = []
    for name, entry in profile["features"].items():
        if name not in frame.columns:
            continue
        drifts.append(
            judge(
                name,
                sketch_from_dict(entry["sketch"]),
                frame[name],
                settings,
                overdispersion=float(entry.get("overdispersion") or 1.0),
            )
        )
    return drifts


def sketch_drift(
    profile: dict[str, Any], counted: dict[str, Sketch], settings: MonitoringSection
) -> list[Drift]:
    """Every feature's drift from window sketches counted elsewhere (:mod:`taxiway.monitor.window`)."""
    return [
        judge_counts(
            name,
            sketch_from_dict(entry["sketch"]),
            counted[name],
            settings,
            overdispersion=float(entry.get("overdispersion") or 1.0),
        )
        for name, entry in profile["features"].items()
        if name in counted
    ]


def segment_drift(profile: dict[str, Any], frame: pd.DataFrame, settings: MonitoringSection) -> list[Drift]:
    """Drift of every feature within each profiled slice value (the charter's ``data.slice_columns``).

    Only drifted or the strongest per segment are worth showing; all are returned, the caller filters.
    """
    drifts = []
    for column, values in profile.get("segments", {}).items():
        if column not in frame.columns:
            continue
        as_text = frame[column].astype(str)
        for value, entry in values.items():
            rows = frame[(as_text == value).to_numpy()]
            if len(rows) < settings.min_rows:
                continue
            for name, sketch in entry["features"].items():
                if name == column or name not in rows.columns:
                    continue
                overdispersion = float(profile["features"][name].get("overdispersion") or 1.0)
                drifts.append(
                    judge(
                        name,
                        sketch_from_dict(sketch),
                        rows[name],
                        settings,
                        overdispersion=overdispersion,
                        segment=f"{column}={value}",
                    )
                )
    return drifts


def drift_over_time(
    profile: dict[str, Any], frame: pd.DataFrame, settings: MonitoringSection, *, chunks: int = 24
) -> list[dict[str, Any]]:
    """Per time chunk of ``frame`` (equal row counts, at least ``min_rows`` each): each feature's effect size
    divided by its threshold (above 1: drifted). For the dashboard's heat strip."""
    if frame.empty:
        return []
    size = max(settings.min_rows, len(frame) // chunks)
    strip = []
    for start in range(0, len(frame) - size + 1, size):
        part = frame.iloc[start : start + size]
        strip.append(
            {
                "start": part["time"].iloc[0].isoformat(),
                "end": part["time"].iloc[-1].isoformat(),
                "rows": len(part),
                "ratios": {d.column: d.effect / d.threshold for d in feature_drift(profile, part, settings)},
            }
        )
    return strip
