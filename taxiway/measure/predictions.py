"""Predictions: what a model said about each validation row, in one shape for every task."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taxiway.errors import DataError
from taxiway.measure.metrics import Task

PROBA_PREFIX = "proba_"


@dataclass(frozen=True)
class Predictions:
    """Per-row outputs of one model on one set of rows.

    ``proba`` holds one column per class, in the order of ``classes`` (classification only).

    Example:
        >>> p = Predictions(row_key=np.array(["a", "b"]), y_true=np.array([0, 1]), y_pred=np.array([0, 0]),
        ...                 proba=np.array([[0.9, 0.1], [0.6, 0.4]]), classes=np.array([0, 1]))
        >>> Predictions.from_parquet(p.to_parquet()).positive_score().tolist()
        [0.1, 0.4]
    """

    row_key: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None

    @property
    def task(self) -> Task:
        return "classification" if self.classes is not None else "regression"

    @property
    def is_binary(self) -> bool:
        return self.classes is not None and len(self.classes) == 2

    def positive_score(self) -> np.ndarray:
        """The score of the second class (binary) — what ROC curves and thresholds are computed on."""
        if self.proba is None or not self.is_binary:
            raise ValueError(
                "a positive-class score exists only for binary classification with probabilities"
            )
        return np.asarray(self.proba[:, 1], dtype=float)

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"row_key": self.row_key, "y_true": self.y_true, "y_pred": self.y_pred})
        if self.proba is not None and self.classes is not None:
            for index, label in enumerate(self.classes):
                frame[f"{PROBA_PREFIX}{label}"] = self.proba[:, index]
        return frame

    def to_parquet(self) -> bytes:
        """Serialise for the artifact store; the class order is kept in the column order."""
        buffer = io.BytesIO()
        self.to_frame().to_parquet(buffer, index=False)
        return buffer.getvalue()

    @classmethod
    def from_parquet(cls, data: bytes) -> Predictions:
        """Read predictions written by `to_parquet`.

        Raises:
            DataError: the bytes are not Parquet, or lack the row_key, y_true and y_pred columns.

        Example:
            >>> Predictions.from_parquet(b"row_key,y_true\\n1,0\\n")
            Traceback (most recent call last):
            ...
            taxiway.errors.DataError: the predictions file is not Parquet ...
        """
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except (ValueError, OSError) as error:  # pyarrow: ArrowInvalid is a ValueError, IO errors OSError
            raise DataError(
                f"the predictions file is not Parquet ({type(error).__name__}: {str(error)[:120]})",
                hint="store predictions with Predictions(...).to_parquet(); taxiway train does it for you",
            ) from None
        missing = [name for name in ("row_key", "y_true", "y_pred") if name not in frame.columns]
        if missing:
            raise DataError(
                f"the predictions file lacks the column(s) {', '.join(missing)}",
                hint="store predictions with Predictions(...).to_parquet(); taxiway train does it for you",
            )
        proba_columns = [c for c in frame.columns if str(c).startswith(PROBA_PREFIX)]
        classes = None
        proba = None
        if proba_columns:
            labels = [str(c).removeprefix(PROBA_PREFIX) for c in proba_columns]
            classes = _restore_label_type(labels, frame["y_true"])
            proba = frame[proba_columns].to_numpy(dtype=float)
        return cls(
            row_key=frame["row_key"].to_numpy(),
            y_true=frame["y_true"].to_numpy(),
            y_pred=frame["y_pred"].to_numpy(),
            proba=proba,
            classes=classes,
        )


def _restore_label_type(labels: list[str], y_true: pd.Series) -> np.ndarray:
    # Column names are strings; give the classes back the type the labels have (0/1 stay integers).
    if pd.api.types.is_integer_dtype(y_true):
        return np.array([int(label) for label in labels])
    if pd.api.types.is_bool_dtype(y_true):
        return np.array([label == "True" for label in labels])
    return np.array(labels, dtype=object)
