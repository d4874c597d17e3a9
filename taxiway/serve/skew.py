"""Training/serving skew (ML Test Score O3): the served model must answer stored rows as it did offline.

Before a version takes traffic, validation rows of its run go through the serving path — to JSON and back,
the input contract's coercion, the loaded model — and each prediction must equal the one training stored
for that row. A difference means the serving path feeds the model something else than training did
(types, column order, a feature computed differently, a library version that changed the model's output).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd

from taxiway.data.split import SplitFrames, get_split, split_frames
from taxiway.measure.predictions import Predictions
from taxiway.serve.served_model import ServedModel
from taxiway.store import Store
from taxiway.train.runs import get_run

ROWS = 200  # enough to catch a skewed feature; cheap next to loading the model
_TOLERANCE = 1e-6
_NUMPY = orjson.OPT_SERIALIZE_NUMPY

__all__ = ["ROWS", "SkewCheck", "check_skew"]


@dataclass(frozen=True)
class SkewCheck:
    """How many stored rows the served model answered as training did."""

    rows: int
    matching: int
    first_difference: str | None

    @property
    def passed(self) -> bool:
        return self.rows > 0 and self.matching == self.rows


def check_skew(store: Store, served: ServedModel, *, rows: int = ROWS) -> SkewCheck:
    """Replay up to ``rows`` stored validation rows of ``served``'s run through the serving path.

    A run with no stored predictions (custom tracking) is checked on no rows, which does not pass.
    """
    run = get_run(store, served.run_id)
    if run.predictions_artifact is None or run.split_id is None:
        return SkewCheck(0, 0, f"run {run.id} stored no validation predictions to compare with")
    offline = Predictions.from_parquet(store.artifacts.get_bytes(run.predictions_artifact))
    valid = _frames(store, run.split_id).valid
    keys = offline.row_key[:rows]
    stored = valid.iloc[_positions(valid.index, keys)]
    # Through JSON, as a client would send them: numbers, text, ISO dates.
    sent = orjson.dumps(_records(stored, served.contract.features), option=_NUMPY, default=str)
    records = orjson.loads(sent)
    frame = served.contract.coerce(pd.DataFrame.from_records(records))
    output, predicted, _ = served._predict(frame)
    matching = 0
    first: str | None = None
    for position, key in enumerate(keys):
        same = _same(offline, position, output[position], predicted[position], served.task)
        matching += same
        if not same and first is None:
            first = f"row {key}: offline {offline.y_pred[position]!r}, served {predicted[position]!r}"
    return SkewCheck(len(keys), matching, first)


def _positions(index: pd.Index, keys: Any) -> list[int]:
    """The position in ``index`` of each key, in order: the i-th of identical keys takes the i-th row.

    Identical rows share a key (their content hash), so ``frame.loc[keys]`` returned every copy for each
    and misaligned the replayed rows with the stored predictions.

    Example:
        >>> _positions(pd.Index(["a", "b", "a", "c"]), ["a", "a", "c", "b"])
        [0, 2, 3, 1]
    """
    where: dict[str, list[int]] = {}
    for position, key in enumerate(index.astype(str)):
        where.setdefault(key, []).append(position)
    taken: dict[str, int] = {}
    positions: list[int] = []
    for key in (str(k) for k in keys):
        found = where.get(key)
        if not found:
            raise KeyError(f"row {key} of the stored predictions is not in the validation split")
        nth = taken.get(key, 0)
        positions.append(found[min(nth, len(found) - 1)])
        taken[key] = nth + 1
    return positions


@lru_cache(maxsize=2)
def _frames_cached(store_id: int, split_id: str, store: Store) -> SplitFrames:
    return split_frames(store, get_split(store, split_id))


def _frames(store: Store, split_id: str) -> SplitFrames:
    # A server loads several versions of one project, mostly trained on the same split: read it once.
    return _frames_cached(id(store), split_id, store)


def _records(rows: pd.DataFrame, features: tuple[str, ...]) -> list[dict[str, Any]]:
    frame = rows[list(features)].astype(object).where(rows[list(features)].notna(), None)
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def _same(offline: Predictions, position: int, output: Any, predicted: Any, task: str) -> bool:
    if task == "regression":
        return bool(np.isclose(float(offline.y_pred[position]), float(predicted), rtol=_TOLERANCE))
    if offline.proba is not None:
        return bool(np.allclose(offline.proba[position], np.asarray(output, dtype=float), atol=_TOLERANCE))
    return bool(offline.y_pred[position] == predicted)
