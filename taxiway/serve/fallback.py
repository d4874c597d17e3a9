"""What answers a row the model is likely to get wrong: the charter's ``serving.fallback``.

- ``baseline``: the best baseline trained beside the model (on the same split, by the ranking metric);
- ``constant``: the constant baseline (majority class, or the mean);
- ``abstain``: no prediction; the caller decides.

A fallback model is loaded like the model itself (hash-verified). When it cannot be loaded, the next simpler
one is used (baseline → constant → abstain), and the reason is kept for ``taxiway status``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taxiway.charter.model import FallbackKind
from taxiway.measure.metrics import METRICS
from taxiway.store import Store
from taxiway.train.packaged import load_trained
from taxiway.train.runs import Run, list_runs

__all__ = ["Fallback", "load_fallback"]


@dataclass(frozen=True)
class Fallback:
    """The answerer of last resort: a model's predictions, or none (abstain).

    Example:
        >>> Fallback("abstain", None, None, "asked for").predict(pd.DataFrame({"x": [1, 2]}))
        [None, None]
    """

    kind: FallbackKind
    model: Any  # a fitted estimator; None to abstain
    run_id: str | None
    note: str  # which run answers, or why a simpler fallback is in use

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        """The fallback's prediction for each row (None when it abstains)."""
        if self.model is None or frame.empty:
            return [None] * len(frame)
        try:
            return np.asarray(self.model.predict(frame)).tolist()  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - e.g. a value so large a baseline's scaler overflows on it
            # The row already falls back for a reason the answer states; with no fallback answer it abstains.
            return [None] * len(frame)


def load_fallback(store: Store, run: Run, kind: FallbackKind, metric: str, *, root: Path | None) -> Fallback:
    """The fallback for the model trained in ``run``: its sibling baselines on the same split.

    ``metric`` ranks the baselines (the charter's ranking metric).
    """
    if kind == "abstain":
        return Fallback("abstain", None, None, "the charter asks to abstain")
    baselines = [
        other
        for other in list_runs(store, kind="baseline", status="finished")
        if other.split_id == run.split_id and other.model_artifact is not None
    ]
    constant = [other for other in baselines if other.name == "constant"]
    choices = (_ranked(baselines, metric) if kind == "baseline" else []) + constant
    problems: list[str] = []
    for choice in choices:
        try:
            model = load_trained(store, choice, root=root)
        except Exception as error:  # noqa: BLE001  # a broken fallback must not stop the model serving
            problems.append(f"{choice.name} ({choice.id}): {type(error).__name__}: {error}")
            continue
        used: FallbackKind = "constant" if choice.name == "constant" else "baseline"
        skipped = f"; skipped {'; '.join(problems)}" if problems else ""
        note = f"{choice.name} baseline {choice.id}{skipped}"
        return Fallback(used, model, choice.id, note)
    why = "; ".join(problems) or f"no baseline was trained on split {str(run.split_id)[:12]}"
    return Fallback("abstain", None, None, f"abstaining: {why}")


def _ranked(runs: list[Run], metric: str) -> list[Run]:
    """Best first by ``metric``; runs without it last."""
    sign = -1.0 if metric in METRICS and METRICS[metric].greater_is_better else 1.0  # expected_cost: lower

    def key(run: Run) -> float:
        value = run.metrics.get(metric)
        return math.inf if value is None or math.isnan(value) else sign * float(value)

    return sorted(runs, key=key)
