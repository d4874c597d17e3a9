"""What the failure predictor reads: the raw feature columns plus the model's own confidence.

At training time the rows go through a scikit-learn ``ColumnTransformer`` (numbers passed through, text
ordinal-encoded), which is what is saved. In the request path that transformer's pandas work costs more
than the trees behind it (1-2 ms for one row of 30 columns), so :class:`InputLayout` reads the fitted
transformer once and builds the same matrix with plain numpy and dictionary look-ups; tests hold the two
equal on numbers sent as text, categories sent as numbers, missing values and unseen categories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.measure.metrics import Task

__all__ = ["CONFIDENCE", "MARGIN", "PREDICTION", "TOP_PROBABILITY", "InputLayout", "training_frame"]

# The model's own confidence, as extra input columns; the leading "__" keeps them apart from data columns.
TOP_PROBABILITY, MARGIN, PREDICTION = "__top_probability", "__margin", "__prediction"
CONFIDENCE = frozenset({TOP_PROBABILITY, MARGIN, PREDICTION})
_UNKNOWN = -1.0  # the ordinal encoder's code for a missing or unseen category


def training_frame(
    x: pd.DataFrame, output: NDArray[Any], task: Task, numbers: list[str], categories: list[str]
) -> pd.DataFrame:
    """The frame the predictor's pipeline is fitted on: numbers as floats, text as strings, confidence.

    Example:
        >>> x = pd.DataFrame({"age": ["40", 51], "city": ["Lyon", None]})
        >>> training_frame(x, np.array([[0.9, 0.1], [0.4, 0.6]]), "classification", ["age"], ["city"])
            age  city  __top_probability  __margin
        0  40.0  Lyon                0.9       0.8
        1  51.0   NaN                0.6       0.2
    """
    data: dict[str, Any] = {c: _numbers(x[c]) for c in numbers}
    for c in categories:
        column = x[c].astype(object)
        data[c] = column.astype(str).where(column.notna(), np.nan).to_numpy(dtype=object)
    data.update(confidence_columns(np.asarray(output, dtype=float), task))
    return pd.DataFrame(data, index=x.index)


def confidence_columns(output: NDArray[np.float64], task: Task) -> dict[str, NDArray[np.float64]]:
    """The model's confidence per row: top probability and its margin, or the regression's prediction."""
    if task == "regression":
        return {PREDICTION: output.reshape(-1)}
    if output.ndim == 1:  # a single class: its probability is the top one, with nothing to beat
        return {TOP_PROBABILITY: output, MARGIN: output}
    ranked = np.sort(output, axis=1)
    top = ranked[:, -1]
    second = ranked[:, -2] if output.shape[1] > 1 else np.zeros(len(output))
    return {TOP_PROBABILITY: top, MARGIN: top - second}


@dataclass(frozen=True)
class InputLayout:
    """The fitted ``ColumnTransformer``'s output, rebuilt without it: numbers and confidence, then codes.

    Example:
        >>> from sklearn.compose import ColumnTransformer
        >>> from sklearn.preprocessing import OrdinalEncoder
        >>> x = pd.DataFrame({"age": [40.0, 51.0], "city": ["Lyon", "Oslo"]})
        >>> frame = training_frame(x, np.array([2.0, 3.0]), "regression", ["age"], ["city"])
        >>> encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
        ...                          encoded_missing_value=-1)
        >>> columns = ColumnTransformer([("numbers", "passthrough", ["age", PREDICTION]),
        ...                              ("categories", encoder, ["city"])]).fit(frame)
        >>> layout = InputLayout.of(columns)
        >>> layout.matrix(pd.DataFrame({"age": [7], "city": ["Rome"]}), np.array([1.5]), "regression")
        array([[ 7. ,  1.5, -1. ]])
    """

    numbers: tuple[str, ...]  # data columns passed through, in the transformer's order
    passed: tuple[str, ...]  # every passed-through column: the numbers and the confidence columns
    categories: tuple[str, ...]
    codes: tuple[dict[str, float], ...]  # per category column: text -> ordinal code

    @classmethod
    def of(cls, columns: Any) -> InputLayout:
        """The layout of a fitted ``ColumnTransformer`` as :func:`taxiway.train.failure` builds it."""
        passed: list[str] = []
        categories: list[str] = []
        codes: list[dict[str, float]] = []
        for name, transformer, selected in columns.transformers_:
            if name == "numbers":
                passed = [str(c) for c in selected]
            elif name == "categories" and len(selected):  # no text columns: the encoder was never fitted
                categories = [str(c) for c in selected]
                codes = [
                    {str(value): float(code) for code, value in enumerate(known) if not _is_missing(value)}
                    for known in transformer.categories_
                ]
        numbers = tuple(c for c in passed if c not in CONFIDENCE)
        return cls(numbers, tuple(passed), tuple(categories), tuple(codes))

    def matrix(self, x: pd.DataFrame, output: NDArray[Any], task: Task) -> NDArray[np.float64]:
        """The transformer's output for rows ``x`` and the model's ``output`` on them."""
        confidence = confidence_columns(np.asarray(output, dtype=float), task)
        matrix = np.empty((len(x), len(self.passed) + len(self.categories)), dtype=np.float64)
        if self.numbers:
            at = [position for position, name in enumerate(self.passed) if name not in CONFIDENCE]
            matrix[:, at] = _number_block(x, list(self.numbers))
        for position, name in enumerate(self.passed):
            if name in CONFIDENCE:
                matrix[:, position] = confidence[name]
        for offset, (name, codes) in enumerate(zip(self.categories, self.codes, strict=True)):
            matrix[:, len(self.passed) + offset] = [
                _UNKNOWN if _is_missing(value) else codes.get(str(value), _UNKNOWN)
                for value in x[name].tolist()
            ]
        return matrix


def _number_block(x: pd.DataFrame, numbers: list[str]) -> NDArray[np.float64]:
    """The number columns as one float block (text numbers parsed, anything else missing).

    Plain number columns convert in one step; asking for ``x.dtypes`` to check first would cost more than
    the conversion (pandas builds a Series of them), so the block's own type says whether it worked.
    """
    frame = x if list(x.columns) == numbers else x[numbers]
    block = frame.to_numpy()
    if block.dtype.kind in "iuf":
        return block.astype(np.float64, copy=False)
    return np.column_stack([_numbers(frame[c]) for c in numbers])


def _numbers(column: pd.Series) -> NDArray[np.float64]:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
