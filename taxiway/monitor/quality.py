"""Quality before and after the labels: estimated from calibrated confidence, realised from feedback.

Estimation is confidence-based performance estimation (CBPE, as NannyML calls it): when the model's
probabilities are calibrated, a row scored p is a positive with probability p, so the expected confusion
matrix at every threshold, and with it the ROC AUC and accuracy, follow from the scores alone. The scores are
first mapped through an isotonic calibration learned on the reference rows. The estimate is only as good as
that calibration still is: :func:`trust` says when it cannot be relied on.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def calibration_map(score: np.ndarray, outcome: np.ndarray) -> dict[str, list[float]]:
    """An isotonic map from a score to the observed frequency of ``outcome`` (1 = positive or correct).

    Example:
        >>> cal = calibration_map(np.array([0.1, 0.4, 0.6, 0.9]), np.array([0.0, 0.0, 1.0, 1.0]))
        >>> calibrate(cal, np.array([0.2, 0.8])).tolist()
        [0.0, 1.0]
    """
    from sklearn.isotonic import IsotonicRegression  # only where a map is fitted: reports need not load it

    if len(score) < 2:
        return {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, outcome)
    return {"x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}


def calibrate(cal: dict[str, list[float]], score: np.ndarray) -> np.ndarray:
    """``score`` through the calibration map."""
    calibrated: np.ndarray = np.interp(score, cal["x"], cal["y"])
    return calibrated


def estimate_quality(
    cal: dict[str, list[float]], score: np.ndarray, *, binary: bool
) -> dict[str, float | None]:
    """Expected ROC AUC (binary) and accuracy of rows scored ``score`` (binary: P(positive); else the top
    probability), had the calibration map held.

    Example:
        >>> cal = {"x": [0.0, 1.0], "y": [0.0, 1.0]}  # already calibrated
        >>> est = estimate_quality(cal, np.array([0.9, 0.8, 0.2, 0.1]), binary=True)
        >>> round(est["accuracy"], 2), est["roc_auc"] > 0.8
        (0.85, True)
    """
    if len(score) == 0:
        return {"roc_auc": None, "accuracy": None}
    p = calibrate(cal, score)
    if not binary:
        return {"roc_auc": None, "accuracy": float(p.mean())}
    accuracy = float(np.where(score >= 0.5, p, 1 - p).mean())
    # Rows in falling score order. The map is monotone (non-decreasing), so the calibrated probabilities
    # sorted are the probabilities of the rows sorted by score, without an argsort: rows the map sends to
    # one probability share it, so their order among themselves moves no point of the curve off its
    # straight segment.
    ranked = np.sort(p)[::-1]
    positives, negatives = ranked, 1 - ranked
    if positives.sum() <= 0 or negatives.sum() <= 0:
        return {"roc_auc": None, "accuracy": accuracy}
    tpr = np.concatenate([[0.0], np.cumsum(positives) / positives.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(negatives) / negatives.sum()])
    return {"roc_auc": float(np.trapezoid(tpr, fpr)), "accuracy": accuracy}


def realised_quality(
    task: str,
    score: np.ndarray | None,
    truth: np.ndarray,
    predicted: np.ndarray | None,
    classes: list[str] | None = None,
) -> dict[str, float | None]:
    """Quality of answers against true labels: ROC AUC (binary, from ``score``) and accuracy, or RMSE and MAE.

    Labels and predictions are compared as the log keeps them (JSON text) for classification.

    Example:
        >>> realised_quality("classification", np.array([0.9, 0.2]), np.array(['"y"', '"n"']),
        ...                  np.array(['"y"', '"n"']), ['"n"', '"y"'])
        {'roc_auc': 1.0, 'accuracy': 1.0}
        >>> realised_quality("regression", None, np.array([1.0, 3.0]), np.array([2.0, 3.0]))
        {'rmse': 0.7071067811865476, 'mae': 0.5}
    """
    if task == "regression":
        assert predicted is not None
        error = np.asarray(predicted, dtype=float) - np.asarray(truth, dtype=float)
        if error.size == 0:
            return {"rmse": None, "mae": None}
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
    from sklearn.metrics import roc_auc_score

    accuracy = float(np.mean(predicted == truth)) if predicted is not None and len(truth) else None
    auc = None
    if score is not None and classes is not None and len(classes) == 2:
        positive = truth == classes[1]
        if 0 < positive.sum() < len(positive):
            auc = float(roc_auc_score(positive, score))
    return {"roc_auc": auc, "accuracy": accuracy}


def trust(
    *,
    rows: int,
    min_rows: int,
    estimate_error_p90: float | None,
    unfamiliar_share: float,
    confidence_drift: bool,
) -> list[str]:
    """Why an estimate cannot be trusted (empty: it can).

    Example:
        >>> trust(rows=100, min_rows=500, estimate_error_p90=0.01, unfamiliar_share=0.0,
        ...       confidence_drift=False)
        ['only 100 rows (fewer than monitoring.min_rows = 500)']
    """
    reasons = []
    if rows < min_rows:
        reasons.append(f"only {rows} rows (fewer than monitoring.min_rows = {min_rows})")
    if estimate_error_p90 is None:
        reasons.append("the reference had too few rows to measure how far the estimate misses")
    elif estimate_error_p90 > 0.05:
        reasons.append(f"on reference chunks the estimate missed by up to {estimate_error_p90:.3f} (p90)")
    if unfamiliar_share > 0.1:
        reasons.append(
            f"{unfamiliar_share:.0%} of rows lie where training saw nothing "
            "(out of range or unseen categories)"
        )
    if confidence_drift:
        reasons.append(
            "the confidence distribution drifted from the reference: calibration may no longer hold"
        )
    return reasons


def positive_score(confidence: np.ndarray, outputs: np.ndarray, positive: str) -> np.ndarray:
    """P(positive) from the log's top probability and answer: p when the positive class was answered, 1 - p
    otherwise (binary only).

    Example:
        >>> positive_score(np.array([0.9, 0.7]), np.array(['"y"', '"n"']), '"y"').round(2).tolist()
        [0.9, 0.3]
    """
    return np.where(outputs == positive, confidence, 1 - confidence)


def metric_of(task: str, classes: list[Any]) -> tuple[str, bool]:
    """The figure live quality is judged on, and whether higher is better.

    Example:
        >>> metric_of("classification", ["a", "b"]), metric_of("regression", [])
        (('roc_auc', True), ('rmse', False))
    """
    if task == "regression":
        return "rmse", False
    return ("roc_auc", True) if len(classes) == 2 else ("accuracy", True)
