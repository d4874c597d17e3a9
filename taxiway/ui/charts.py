"""Charts as Plotly figures (plain dicts of data and layout), built in Python, drawn by plotly.min.js.

Every curve is thinned to at most ``MAX_POINTS`` points so a page stays light whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from taxiway.measure.cost import ErrorCosts, cost_curve
from taxiway.measure.predictions import Predictions

Figure = dict[str, Any]
MAX_POINTS = 1_000
MAX_SCATTER = 4_000
MAX_CLASSES = 10  # one-vs-rest curves beyond this would be unreadable
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1f2937"}


def layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    """The shared look: white, light grid, legend on top, small margins."""
    axis = {"gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "linecolor": "#9ca3af", "automargin": True}
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        "xaxis": {**axis, "title": {"text": x}},
        "yaxis": {**axis, "title": {"text": y}},
        "font": _FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.25},
        **extra,
    }


def thin(*arrays: NDArray[Any], limit: int = MAX_POINTS) -> list[list[Any]]:
    """Evenly spaced points of aligned arrays, first and last kept, as JSON-ready lists.

    Example:
        >>> thin(np.arange(10), np.arange(10) * 2, limit=4)
        [[0, 3, 6, 9], [0, 6, 12, 18]]
    """
    size = len(arrays[0])
    index = (
        np.unique(np.linspace(0, size - 1, num=limit).round().astype(int))
        if size > limit
        else np.arange(size)
    )
    return [np.asarray(array)[index].tolist() for array in arrays]


def _line(x: NDArray[Any], y: NDArray[Any], name: str, color: str, **extra: Any) -> dict[str, Any]:
    xs, ys = thin(x, y)
    return {
        "type": "scatter",
        "mode": "lines",
        "x": xs,
        "y": ys,
        "name": name,
        "line": {"color": color},
        **extra,
    }


def _diagonal(name: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "name": name,
        "line": {"color": "#9ca3af", "dash": "dash"},
        "hoverinfo": "skip",
    }


def _one_vs_rest(p: Predictions) -> list[tuple[str, NDArray[np.bool_], NDArray[np.float64]]]:
    """(label, is that class, its score) for the positive class, or for each class of a multi-class model."""
    assert p.classes is not None and p.proba is not None
    if p.is_binary:
        return [(str(p.classes[1]), p.y_true == p.classes[1], p.proba[:, 1])]
    return [(str(c), p.y_true == c, p.proba[:, i]) for i, c in enumerate(p.classes[:MAX_CLASSES])]


def roc_figure(p: Predictions) -> Figure:
    """ROC curve(s): true positive rate against false positive rate."""
    data = [_diagonal("chance")]
    for i, (label, positive, score) in enumerate(_one_vs_rest(p)):
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, score)
        data.append(_line(fpr, tpr, f"class {label}", PALETTE[i % len(PALETTE)]))
    return {"data": data, "layout": layout("ROC curve", "false positive rate", "true positive rate")}


def pr_figure(p: Predictions) -> Figure:
    """Precision-recall curve(s)."""
    data = []
    for i, (label, positive, score) in enumerate(_one_vs_rest(p)):
        if not positive.any():
            continue
        precision, recall, _ = precision_recall_curve(positive, score)
        data.append(_line(recall, precision, f"class {label}", PALETTE[i % len(PALETTE)]))
    return {"data": data, "layout": layout("Precision-recall curve", "recall", "precision")}


def calibration_figure(p: Predictions, bins: int = 10) -> Figure:
    """Observed frequency of each class against its mean predicted probability, in equal-width bins."""
    data = [_diagonal("perfectly calibrated")]
    for i, (label, positive, score) in enumerate(_one_vs_rest(p)):
        if positive.all() or not positive.any():
            continue
        observed, predicted = calibration_curve(positive, score, n_bins=bins)
        data.append(
            {
                **_line(predicted, observed, f"class {label}", PALETTE[i % len(PALETTE)]),
                "mode": "lines+markers",
            }
        )
    return {"data": data, "layout": layout("Calibration", "mean predicted probability", "observed frequency")}


def confusion_figure(p: Predictions) -> Figure:
    """The confusion matrix as an annotated heatmap (rows: true class, columns: predicted)."""
    assert p.classes is not None
    labels = [str(c) for c in p.classes]
    matrix = confusion_matrix(p.y_true, p.y_pred, labels=p.classes)
    heat = {
        "type": "heatmap",
        "z": matrix.tolist(),
        "x": labels,
        "y": labels,
        "colorscale": [[0, "#eff6ff"], [1, "#1d4ed8"]],
        "showscale": False,
        "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>",
    }
    notes = [
        {
            "x": labels[j],
            "y": labels[i],
            "text": f"{matrix[i, j]:,}",
            "showarrow": False,
            "font": {"color": "#ffffff" if matrix[i, j] > matrix.max() / 2 else "#111827"},
        }
        for i in range(len(labels))
        for j in range(len(labels))
    ]
    look = layout("Confusion matrix", "predicted", "true", annotations=notes)
    look["yaxis"]["autorange"] = "reversed"
    look["xaxis"]["type"] = look["yaxis"]["type"] = "category"
    return {"data": [heat], "layout": look}


def cost_figure(p: Predictions, costs: ErrorCosts, chosen: float | None) -> Figure:
    """Expected cost per row at each decision threshold (binary classifiers), the chosen threshold marked."""
    assert p.classes is not None
    thresholds, cost = cost_curve(p.positive_score(), p.y_true == p.classes[1], costs)
    best = int(np.argmin(cost))
    data = [
        _line(np.minimum(thresholds, 1.0), cost, "expected cost", PALETTE[0]),
        {
            "type": "scatter",
            "mode": "markers",
            "x": [float(min(thresholds[best], 1.0))],
            "y": [float(cost[best])],
            "name": "lowest cost",
            "marker": {"color": PALETTE[1], "size": 9},
        },
    ]
    shapes = []
    if chosen is not None:
        shapes.append(
            {
                "type": "line",
                "x0": chosen,
                "x1": chosen,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#6b7280", "dash": "dot"},
            }
        )
    title = (
        f"Expected cost by threshold (false positive {costs.false_positive:g}, "
        f"false negative {costs.false_negative:g})"
    )
    return {
        "data": data,
        "layout": layout(title, "threshold on the positive-class score", "cost per row", shapes=shapes),
    }


def residual_figure(p: Predictions) -> Figure:
    """Residuals (true minus predicted) against the prediction, for regression."""
    predicted, residual = p.y_pred.astype(float), p.y_true.astype(float) - p.y_pred.astype(float)
    xs, ys = thin(predicted, residual, limit=MAX_SCATTER)
    data = [
        {
            "type": "scattergl",
            "mode": "markers",
            "x": xs,
            "y": ys,
            "name": "rows",
            "marker": {"color": PALETTE[0], "size": 4, "opacity": 0.5},
        }
    ]
    look = layout(
        "Residuals",
        "predicted",
        "true − predicted",
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": 0,
                "y1": 0,
                "line": {"color": "#9ca3af", "dash": "dash"},
            }
        ],
    )
    return {"data": data, "layout": look}


def curves_figure(key: str, curves: Mapping[str, Sequence[tuple[int, float]]]) -> Figure:
    """One step metric of several runs, overlaid (label → (step, value) points)."""
    data = []
    for i, (label, points) in enumerate(curves.items()):
        if not points:  # the run did not log this metric; its colour stays its own
            continue
        steps = np.array([step for step, _ in points])
        values = np.array([value for _, value in points])
        data.append(
            {
                **_line(steps, values, label, PALETTE[i % len(PALETTE)]),
                "mode": "lines+markers" if len(points) <= 50 else "lines",
            }
        )
    return {"data": data, "layout": layout(key, "step", key)}


def prediction_figures(p: Predictions, costs: ErrorCosts, threshold: float | None) -> dict[str, Figure]:
    """The evaluation charts of a run's predictions, by name, in the order the run page shows them."""
    if p.task == "regression":
        return {"residuals": residual_figure(p)}
    figures = {"confusion": confusion_figure(p)}
    if p.proba is not None and len(np.unique(p.y_true)) > 1:
        figures |= {"roc": roc_figure(p), "pr": pr_figure(p), "calibration": calibration_figure(p)}
        if p.is_binary:
            figures["cost"] = cost_figure(p, costs, threshold)
    return figures


def time_figure(
    title: str,
    y_title: str,
    times: Sequence[str],
    lines: Mapping[str, Sequence[float | None]],
    gaps: Sequence[tuple[str, str]] = (),
    *,
    percent: bool = False,
) -> Figure:
    """Lines over time (UTC ``YYYY-MM-DD HH:MM:SS``); a None breaks a line; ``gaps`` (downtime) shaded red."""
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers" if len(times) <= 60 else "lines",
            "x": list(times),
            "y": list(values),
            "name": name,
            "line": {"color": PALETTE[i % len(PALETTE)]},
            "marker": {"size": 4},
        }
        for i, (name, values) in enumerate(lines.items())
    ]
    down = {"fillcolor": "#fecaca", "opacity": 0.5, "line": {"width": 0}, "layer": "below"}
    shapes = [{"type": "rect", "yref": "paper", "x0": a, "x1": b, "y0": 0, "y1": 1, **down} for a, b in gaps]
    if gaps:  # a legend entry for the shading
        marker = {"symbol": "square", "size": 12, "color": "#fecaca"}
        data.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": "no heartbeat"})
        data[-1]["marker"] = marker
    look = layout(title, "time (UTC)", y_title, shapes=shapes)
    look["xaxis"]["type"] = "date"
    look["yaxis"]["rangemode"] = "tozero"
    if percent:
        look["yaxis"]["tickformat"] = ".3~%"
    return {"data": data, "layout": look}


def risk_coverage_figure(coverage: Sequence[float], error: Sequence[float], measure: str) -> Figure:
    """A failure predictor's risk-coverage curve: answer only the lowest-risk share of the test rows, and
    the error among the rows answered; the dashed line is the error when every row is answered."""
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": list(coverage),
            "y": list(error),
            "name": "lowest-risk rows answered",
            "line": {"color": PALETTE[0]},
        }
    ]
    if error:
        every = {"color": "#9ca3af", "dash": "dash"}
        data.append({"type": "scatter", "mode": "lines", "x": [0, 1], "y": [error[-1]] * 2, "line": every})
        data[-1]["name"] = "every row answered"
    label = measure.replace("_", " ")
    look = layout("Risk-coverage on the test rows", "coverage (share of rows answered)", label)
    look["xaxis"] |= {"tickformat": ".0%", "range": [0, 1.02]}
    look["yaxis"]["rangemode"] = "tozero"
    if measure == "error_rate":
        look["yaxis"]["tickformat"] = ".3~%"
    return {"data": data, "layout": look}


def simulation_figure(policies: Sequence[Mapping[str, Any]], origin: str) -> Figure:
    """`taxiway ct simulate`'s replay: per policy, the cumulative ROC AUC over the replayed days (a line)
    and the days it retrained (marks on its line: filled when the new model was promoted, open when it was
    turned down).

    Example:
        >>> fig = simulation_figure([{"policy": "periodic", "curve": [[30, 0.7], [40, 0.72]],
        ...                           "retrain_days": [35, 38], "promoted_days": [35]}], "2013-01-01")
        >>> [t["name"] for t in fig["data"]], fig["data"][0]["x"], fig["data"][1]["y"]
        (['periodic', 'periodic: retrains'], ['2013-01-31', '2013-02-10'], [0.71, 0.716])
    """
    import datetime as dt

    start = dt.date.fromisoformat(origin)

    def date(day: float) -> str:
        return (start + dt.timedelta(days=int(day))).isoformat()

    data: list[dict[str, Any]] = []
    for i, policy in enumerate(policies):
        color = PALETTE[i % len(PALETTE)]
        points = [(day, value) for day, value in policy.get("curve", []) if value is not None]
        days = [float(day) for day, _ in points]
        values = [float(value) for _, value in points]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [date(day) for day in days],
                "y": values,
                "name": str(policy["policy"]),
                "legendgroup": str(policy["policy"]),
                "line": {"color": color},
            }
        )
        retrained = [day for day in policy.get("retrain_days", []) if days and days[0] <= day <= days[-1]]
        if not retrained:
            continue
        promoted = set(policy.get("promoted_days", []))
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [date(day) for day in retrained],
                "y": [round(float(np.interp(day, days, values)), 4) for day in retrained],
                "name": f"{policy['policy']}: retrains",
                "legendgroup": str(policy["policy"]),
                "marker": {
                    "color": color,
                    "size": 8,
                    "symbol": ["circle" if day in promoted else "circle-open" for day in retrained],
                },
                "hovertemplate": "%{x}: retrained<extra>%{fullData.name}</extra>",
            }
        )
    look = layout("Cumulative ROC AUC per policy, retrains marked", "replayed day", "ROC AUC so far")
    look["xaxis"]["type"] = "date"
    return {"data": data, "layout": look}
