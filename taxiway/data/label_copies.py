"""Label copies: a column that is the target with a few values changed, under its own names or others.

A copy of the target with 5% of its labels flipped agrees with it on ~95% of rows; relative screens cannot
see it on easy data (breast cancer's honest columns already reach ROC AUC 0.99, so the copy adds nothing
measurable), but its values give it away. A column of few values is read as the target's labels (numbers
match labels that read as the same number), or, when its values are not labels, through the label most
train rows of each value hold; agreement with the target is then corrected for chance by Cohen's κ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.data._frames import as_numbers, as_text, examples, is_numeric
from taxiway.data.findings import Finding
from taxiway.data.screen import Target

# Cohen's κ corrects agreement for chance, so a constant column on rare positives does not count. A copy
# with 5% of its labels flipped agrees on ~95% (κ ~0.9 on balanced classes, ~0.75 when 10% are positive).
# No column of the clean sets we measured (breast cancer, wine, iris, penguins, digits, flights) has the
# target's labels as values at all.
COPY_AGREEMENT = 0.9
COPY_KAPPA = 0.7
COPY_MAX_VALUES = 20  # columns with more distinct values are not label copies (they are screened as scores)

__all__ = ["COPY_AGREEMENT", "COPY_KAPPA", "COPY_MAX_VALUES", "label_copy"]


def label_copy(
    train: pd.DataFrame, valid: pd.DataFrame, column: str, target: Target, target_name: str
) -> Finding | None:
    """The target's labels under their own names (a few changed), or under other names (a lookup)."""
    if not target.is_classification:
        return None
    values = pd.concat([train[column], valid[column]])
    present = values.notna().to_numpy()
    if present.sum() < 10 or values[present].nunique() > COPY_MAX_VALUES:
        return None
    y = np.concatenate([target.train, target.valid])
    codes = _as_labels(values, target.classes)
    renamed = bool(np.any(codes[present] < 0))
    if renamed:  # each value read as the class most of its train rows hold; judged on validation only
        codes, present, y = (
            _lookup(train[column], valid[column], target),
            valid[column].notna().to_numpy(),
            target.valid,
        )
        if present.sum() < 10:
            return None
    agree = float(np.mean(codes[present] == y[present]))
    kappa = _kappa(np.maximum(codes[present], 0), y[present], len(target.classes))
    if agree < COPY_AGREEMENT or kappa < COPY_KAPPA:
        return None
    how = (
        f"read through the value each train row names, '{column}' equals '{target_name}' on "
        f"{agree:.1%} of validation rows"
        if renamed
        else f"'{column}' equals '{target_name}' on {agree:.1%} of rows"
    )
    return Finding(
        check="label_copy",
        verdict="fail",
        message=f"{how} (Cohen's κ {kappa:.2f}, limits {COPY_AGREEMENT:.0%} and {COPY_KAPPA:g}): it "
        f"is the target under {'other names' if renamed else 'its own names, a few values changed'}; "
        "remove it from the data, or list it in data.drop_columns",
        columns=(column,),
        count=int(present.sum()),
        examples=tuple(examples(valid, [column, target_name])),
        figures={
            "agreement": agree,
            "kappa": kappa,
            "threshold": COPY_AGREEMENT,
            "kappa_threshold": COPY_KAPPA,
        },
    )


def _lookup(train: pd.Series, valid: pd.Series, target: Target) -> NDArray[np.int64]:
    """Validation values as the class most train rows with the same value hold (-1: unseen value)."""
    keys = pd.Series(as_text(train), dtype=object)
    table = pd.Series(target.train).groupby(keys.to_numpy(), dropna=True).agg(lambda s: s.mode().iloc[0])
    found = pd.Series(as_text(valid), dtype=object).map(table)
    return np.asarray(found.fillna(-1).to_numpy(), dtype=np.int64)


def _as_labels(values: pd.Series, classes: Sequence[str]) -> NDArray[np.int64]:
    """Each value as a class code (-1: not a label); numbers match labels that read as the same number."""
    text = pd.Index(list(classes), dtype=object)
    if is_numeric(values):
        numbers = pd.to_numeric(pd.Series(list(classes)), errors="coerce").to_numpy(dtype=np.float64)
        x = as_numbers(values)
        codes = np.full(len(x), -1, dtype=np.int64)
        for k, number in enumerate(numbers):
            if np.isfinite(number):
                codes[x == number] = k
        return codes
    written = pd.Index([str(v) for v in values.astype(object).tolist()], dtype=object)
    return np.asarray(text.get_indexer(written), dtype=np.int64)


def _kappa(a: NDArray[np.int64], b: NDArray[np.int64], k: int) -> float:
    """Cohen's κ of two labelings with codes 0..k-1."""
    observed = float(np.mean(a == b))
    expected = float(np.sum(np.bincount(a, minlength=k) * np.bincount(b, minlength=k))) / len(a) ** 2
    return (observed - expected) / (1 - expected) if expected < 1 else 0.0
