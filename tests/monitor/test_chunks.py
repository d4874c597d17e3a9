"""The drift thresholds' calibration counted in one pass equals counting each reference chunk on its own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.chunks import chunk_variation, logged_text
from taxiway.monitor.sketch import (
    Sketch,
    count_like,
    effective_bins,
    fit_sketch,
    null_psi_quantile,
    overdispersion,
    paired_vectors,
    psi,
)

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

SETTINGS = MonitoringSection()


def chunk_by_chunk(
    sketch: Sketch, column: pd.Series, chunk: int, settings: MonitoringSection
) -> dict[str, Any]:
    """The calibration as it was first written: each chunk counted into the sketch's bins with pandas."""
    total = len(column)
    starts = range(0, total - chunk + 1, chunk) if total >= 2 * chunk else range(0)
    whole = count_like(sketch, column)
    observed, expected = [], []
    for start in starts:
        part = count_like(sketch, column.iloc[start : start + chunk])
        ref_vec, part_vec = paired_vectors(whole, part)
        observed.append(psi(ref_vec - part_vec, part_vec))
        expected.append((1 / chunk + 1 / max(total - chunk, 1)) * (effective_bins(ref_vec) - 1))
    bins = effective_bins(paired_vectors(whole, whole)[0])
    phi = overdispersion(observed, expected, bins - 1)
    noise = null_psi_quantile(bins, total - chunk, chunk, settings.drift_false_alarm_rate)
    flagged = [value > max(settings.drift_min_effect, phi * noise) for value in observed]
    return {
        "overdispersion": phi,
        "chunks": len(observed),
        "chunk_psi_max": max(observed) if observed else None,
        "false_alarms": int(sum(flagged)),
        "false_alarm_rate": sum(flagged) / len(flagged) if flagged else None,
    }


def reference(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    drifting = np.repeat(rng.normal(0, 0.3, rows // 500 + 1), 500)[:rows]  # chunks vary beyond chance
    categories = rng.choice(list("abcdefgh"), rows, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    categories = categories.astype(object)
    categories[rng.random(rows) < 0.02] = None
    numbers = rng.exponential(1, rows)
    numbers[rng.random(rows) < 0.01] = np.nan
    return pd.DataFrame(
        {
            "steady": rng.normal(size=rows),
            "drifting": rng.normal(size=rows) + drifting,
            "holes": numbers,
            "ties": rng.integers(0, 3, rows).astype(float),  # quantile edges merge
            "category": categories,
            "flag": rng.random(rows) < 0.3,
        }
    )


@pytest.mark.parametrize(("seed", "rows", "chunk"), [(0, 20_000, 500), (1, 7_321, 700), (2, 900, 500)])
def test_one_pass_calibration_equals_counting_each_chunk(seed: int, rows: int, chunk: int) -> None:
    frame = reference(seed, rows)
    frame["text"] = frame["category"].astype("str")  # pandas' own text type (Arrow-backed)
    frame.loc[frame["category"].isna(), "text"] = None
    for name in frame.columns:
        column = (
            frame[name].astype(float)
            if name in ("steady", "drifting", "holes", "ties")
            else (logged_text(frame[name]))
        )
        sketch = fit_sketch(column)
        assert chunk_variation(sketch, column, chunk, SETTINGS) == chunk_by_chunk(
            sketch, column, chunk, SETTINGS
        )
    overdispersed = fit_sketch(frame["drifting"])
    assert (
        chunk_variation(overdispersed, frame["drifting"], chunk, SETTINGS)["overdispersion"] > 1
        or rows < 2 * chunk
    )


def test_categories_are_counted_as_the_log_writes_them() -> None:
    values = pd.Series([True, False, None, 3, 2.5, "x", np.nan], dtype=object)
    assert logged_text(values).tolist() == ["true", "false", None, "3", "2.5", "x", None]
    assert logged_text(pd.Series([True, False])).tolist() == ["true", "false"]
    text = logged_text(pd.Series(["a", None, "b"], dtype="string"))
    assert text.isna().tolist() == [False, True, False] and text.dropna().tolist() == ["a", "b"]
