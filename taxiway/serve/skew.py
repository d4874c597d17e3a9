"""Training/serving skew (ML Test Score O3): stored validation rows through the serving path, before a switch.

Training stored what the model said about each validation row. Before a version takes traffic, a replica
sends some of those rows through the exact request path (JSON values, the validator, the casts, the
model) and requires the same labels and the same top probabilities. A feature computed differently
online, a dtype that changed, a library that predicts differently: any of them shows up here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from taxiway.data.split import get_split, split_frames
from taxiway.evaluate.predictions import Predictions
from taxiway.serve.inputs import Rows, check_columns, combine
from taxiway.serve.model import ServedModel
from taxiway.serve.predict import predict_columns
from taxiway.store import Store

SKEW_ROWS = 200  # enough to catch a systematic difference, cheap enough to run on every switch
TOLERANCE = 1e-6  # probabilities differ only by floating-point noise when nothing skews


@dataclass(frozen=True)
class SkewCheck:
    """How the served answers compared with training's on ``rows`` stored validation rows.

    Example:
        >>> SkewCheck(rows=200, disagreements=0, max_difference=0.0).passed
        True
    """

    rows: int
    disagreements: int  # rows whose label (or regression value) differs, or that were rejected
    max_difference: float  # largest difference in top probability (classification) or value

    @property
    def passed(self) -> bool:
        return self.disagreements == 0 and self.max_difference <= TOLERANCE

    def sentence(self) -> str:
        if self.passed:
            return f"the serving path reproduced training's answers on {self.rows} validation rows"
        return (
            f"the serving path disagreed with training on {self.disagreements} of {self.rows} "
            "validation rows "
            f"(largest difference {self.max_difference:.3g})"
        )


def check_skew(store: Store, model: ServedModel, *, rows: int = SKEW_ROWS) -> SkewCheck | None:
    """Compare serving with training on stored validation rows; None when training stored none."""
    if model.predictions_artifact is None or model.split_id is None:
        return None
    stored = Predictions.from_parquet(store.artifacts.get_bytes(model.predictions_artifact))
    keys = stored.row_key[:rows]
    valid = split_frames(store, get_split(store, model.split_id)).valid.loc[keys]
    sent = [name for name in valid.columns if name in model.features or name in model.ignored]
    records = orjson.loads(valid[sent].to_json(orient="records"))  # the values a JSON client would send
    request = check_columns(Rows.from_records(records), model.features, model.ignored, model.schema)
    result = predict_columns(model, *combine([request], model.features))
    rejected = result.is_rejected
    said = np.asarray(result.model_predictions, dtype=object)
    expected = stored.y_pred[: len(keys)]
    if model.classes is not None and stored.proba is not None:
        differs = np.array([a != b for a, b in zip(said.tolist(), expected.tolist(), strict=True)])
        gap = np.abs(result.confidence - stored.proba[: len(keys)].max(axis=1))
    else:
        values = np.array([np.nan if v is None else v for v in said.tolist()], dtype=float)
        gap = np.abs(values - expected.astype(float))
        differs = ~np.isfinite(gap)
    gap = np.where(np.isfinite(gap), gap, np.inf)
    disagreements = int(np.sum(differs | rejected))
    return SkewCheck(rows=len(keys), disagreements=disagreements, max_difference=float(gap.max(initial=0.0)))
