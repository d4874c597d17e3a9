"""Has the live model regressed from what validation showed? (``monitor.resource_regression``, O6)

A version's reference profile is its validation rows answered by the served model: the distribution of its
answers and of its confidence, and its offline quality. A pass compares the window with each, as a ratio to
what is allowed (1 is the limit):

- the answers' distribution: PSI against validation's / its calibrated threshold;
- the confidence's distribution: the same;
- estimated quality (CBPE), when it can be trusted: the drop below validation's / ``max_quality_drop``;
- realised quality from feedback labels: the same (RMSE: the rise, relative to validation's).

The judged value is the worst ratio, with every part in the details: one figure that says "the served model
is no longer the one that was validated", whichever way it shows first.
"""

from __future__ import annotations

from typing import Any

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.drift import Drift
from taxiway.monitor.judgement import Judgement
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement


def _ratio(excess: float, allowed: float) -> float:
    return excess / max(allowed, 1e-12)  # nothing allowed: any excess is a huge (finite, storable) ratio


def quality_ratio(value: float, offline: float, *, higher_is_better: bool, drop: float) -> float:
    """How far ``value`` fell from validation's ``offline``, as a share of what the charter allows.

    Example:
        >>> round(quality_ratio(0.80, 0.86, higher_is_better=True, drop=0.05), 6)
        1.2
        >>> quality_ratio(0.90, 0.86, higher_is_better=True, drop=0.05) <= 0
        True
        >>> round(quality_ratio(1.1, 1.0, higher_is_better=False, drop=0.05), 6)  # RMSE 10% above
        2.0
    """
    if higher_is_better:
        return _ratio(offline - value, drop)
    return _ratio(value / offline - 1 if offline else value, drop)


def judge_regression(
    version: str,
    *,
    prediction_drift: Drift | None,
    confidence_drift: Drift | None,
    estimated: dict[str, Any],
    realised: dict[str, Any],
    metric: str,
    higher_is_better: bool,
    offline: float | None,
    settings: MonitoringSection,
    measured: Measurement,
) -> Judgement | None:
    """The worst of the window's regressions from validation's figures (None: nothing to compare yet).

    Example:
        >>> from taxiway.monitor.drift import Drift
        >>> shifted = Drift("prediction", "categorical", 800, 0.09, 0.01, True, "1: 40% -> 70%")
        >>> j = judge_regression("v1", prediction_drift=shifted, confidence_drift=None, estimated={},
        ...                      realised={}, metric="roc_auc", higher_is_better=True, offline=0.9,
        ...                      settings=MonitoringSection(), measured=Measurement(800))
        >>> round(j.value, 3), j.status, j.details["worst"]
        (9.0, 'fail', 'prediction distribution')
    """
    parts: dict[str, dict[str, Any]] = {}
    for name, drift in (("prediction distribution", prediction_drift), ("confidence", confidence_drift)):
        if drift is not None:
            parts[name] = {
                "ratio": _ratio(drift.effect, drift.threshold),
                "value": drift.effect,
                "allowed": drift.threshold,
                "limit_key": "monitoring.drift_min_effect",
            }
    sources = (
        ("estimated quality", estimated, bool(estimated.get("trusted"))),
        ("realised quality", realised, True),
    )
    for name, figures, usable in sources:
        value = figures.get(metric)
        if offline is not None and value is not None and usable:
            parts[name] = {
                "ratio": quality_ratio(
                    float(value), offline, higher_is_better=higher_is_better, drop=settings.max_quality_drop
                ),
                "value": float(value),
                "validation": offline,
                "limit_key": "monitoring.max_quality_drop",
            }
    if not parts:
        return None
    worst = max(parts, key=lambda part: parts[part]["ratio"])
    return Judgement(
        Check.MONITOR_RESOURCE_REGRESSION,
        "deployment",
        version,
        float(parts[worst]["ratio"]),
        Limit(1.0, "<="),
        measured,
        {"worst": worst, "metric": metric, "parts": parts},
    )
