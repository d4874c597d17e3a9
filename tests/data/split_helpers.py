"""Builders for the split and data-check tests: charters, small frames with planted problems, versions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sqlalchemy import func, select

from taxiway.charter import Charter
from taxiway.data.versions import DatasetVersion, add_dataset
from taxiway.store import Store
from taxiway.store.tables import ArtifactRow, EvidenceRow, SplitRow

_names = itertools.count()


def charter(target: str = "label", *, task: str = "classification", **sections: dict[str, Any]) -> Charter:
    """A charter with the given target and sections, e.g. ``charter(data={"group_column": "user"})``."""
    return Charter.model_validate(
        {"project": {"name": "t"}, "problem": {"target": target, "task": task, **sections.pop("problem", {})}}
        | sections
    )


def add_frame(store: Store, folder: Path, frame: pd.DataFrame, *, name: str = "data") -> DatasetVersion:
    """Store ``frame`` as a new version of dataset ``name`` (Parquet keeps the dtypes exactly)."""
    path = folder / f"{name}-{next(_names)}.parquet"
    frame.to_parquet(path, index=False)
    return add_dataset(store, path, name=name).version


def written(store: Store) -> tuple[int, int, int]:
    """(split rows, evidence rows, artifact rows): compare before and after to prove nothing was written."""
    with store.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (SplitRow, EvidenceRow, ArtifactRow)
        )


def cancer() -> pd.DataFrame:
    """569 rows, 30 numeric features, a binary ``label`` (the breast-cancer data set)."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns={"target": "label"})


def diabetes() -> pd.DataFrame:
    """442 rows, 10 numeric features, a numeric ``label`` (the diabetes data set)."""
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame.rename(columns={"target": "label"})


def wine() -> pd.DataFrame:
    """178 rows, 13 numeric features, three classes in ``label``."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame.rename(columns={"target": "label"})


def events(rows: int = 2000, *, seed: int = 0, start: str = "2024-01-01", users: int = 200) -> pd.DataFrame:
    """Generated events: an id, a user (group), a time (one per hour), two numbers, a category and a label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "event_id": np.arange(rows) + seed * 1_000_000,
            "user": [f"u{value:04d}" for value in rng.integers(0, users, rows)],
            "when": pd.date_range(start, periods=rows, freq="h", tz="UTC"),
            "x": x,
            "z": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], rows),
        }
    )
    frame["label"] = (x + rng.normal(scale=1.0, size=rows) > 0.8).astype("int64")
    return frame
