"""`taxiway ct simulate`: replay time-ordered, labelled data day by day and compare retraining policies.

Each day the current model predicts that day's rows; labels arrive ``label_delay_days`` later. At the
start of each day a policy may retrain on the rows labelled by then (the newest ``window_days``, when set).
A retrain is judged before it is promoted: the newest ``holdout_days`` of labelled rows are held out, the
new model is trained on the rows before them, and it replaces the current model only when it scores at
least as well on that holdout (paired: the same rows). What is compared, per policy: the cumulative
metric over every prediction made after the warm-up, the retrains it ran and promoted, and the days the
live model was older than ``freshness_days``.

Policies: ``never`` (the first model forever), ``daily`` (retrain every day: the reference), ``periodic``
(every ``freshness_days``), ``new_data`` (when ``new_rows`` newly labelled rows arrived), ``drift`` (when
the inputs since the last retrain moved: a population stability index above ``drift_psi`` on a feature),
``quality`` (when the realised metric on newly labelled rows fell ``quality_drop`` below the model's own
holdout score) and ``charter`` (freshness, drift or quality, within a budget of ``max_retrains`` per
``budget_days``: what `taxiway ct run` does with the charter's defaults).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from taxiway.errors import TaxiwayError

POLICIES = ("never", "daily", "periodic", "new_data", "drift", "quality", "charter")
CURVE_POINTS = 40  # days at which the cumulative metric is kept for the chart (evenly spaced, last included)


@dataclass(frozen=True)
class Settings:
    """How the replay runs and what each policy's thresholds are."""

    time_column: str
    target: str
    label_delay_days: int = 7
    warmup_days: int = 30
    holdout_days: int = 7
    window_days: float | None = None  # ct.window_days: train on the newest labelled days only
    freshness_days: int = 30
    new_rows: int = 2000
    drift_psi: float = 0.2
    quality_drop: float = 0.02
    min_quality_rows: int = 300
    max_retrains: int = 4
    budget_days: int = 30
    max_iter: int = 40  # boosting rounds of the replayed model (HistGradientBoosting)
    seed: int = 0


@dataclass
class Outcome:
    """One policy's replay: the cumulative ROC AUC, retrains run and promoted, days stale, its decisions."""

    policy: str
    roc_auc: float
    predictions: int
    retrains: int
    promoted: int
    worse_promotions: int
    stale_days: int
    seconds: float
    decisions: list[dict[str, Any]] = field(default_factory=list)
    # (day, cumulative ROC AUC of every prediction up to the end of that day), for the chart
    curve: list[tuple[int, float | None]] = field(default_factory=list)
    origin: str = ""  # the date of day 0 (YYYY-MM-DD)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("decisions")
        data.pop("curve")
        data.pop("origin")
        return data

    def kept(self) -> dict[str, Any]:
        """The summary, the cumulative curve and the days it retrained (promoted or not): what the
        dashboard draws."""
        return {
            **self.summary(),
            "origin": self.origin,
            "curve": [[day, value] for day, value in self.curve],
            "retrain_days": [d["day"] for d in self.decisions],
            "promoted_days": [d["day"] for d in self.decisions if d.get("promoted")],
        }


def simulate(
    frame: pd.DataFrame,
    settings: Settings,
    *,
    policies: Sequence[str] = POLICIES,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Replay ``frame`` under each policy (binary classification, ROC AUC).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> days = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC").repeat(30)
        >>> x = rng.normal(size=len(days))
        >>> frame = pd.DataFrame({"t": days, "x": x, "y": (x + rng.normal(size=len(days)) > 0).astype(int)})
        >>> settings = Settings("t", "y", warmup_days=20, freshness_days=5, max_iter=5)
        >>> out = simulate(frame, settings, policies=["never", "periodic"])
        >>> [o.policy for o in out], out[0].retrains, out[1].retrains
        (['never', 'periodic'], 0, 3)

    Raises:
        TaxiwayError: a missing column, a target that is not binary, or too few days to replay.
    """
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise TaxiwayError(f"unknown policy {unknown[0]!r}", hint=f"use some of {', '.join(POLICIES)}")
    for column in (settings.time_column, settings.target):
        if column not in frame:
            raise TaxiwayError(
                f"the data has no column {column!r}", hint="pass --time-column / check problem.target"
            )
    y = frame[settings.target]
    if y.nunique() != 2:
        raise TaxiwayError(
            f"ct simulate replays binary classification; {settings.target!r} has {y.nunique()} values",
            hint="simulate on a binary target (ROC AUC is the replayed metric)",
        )
    data = _Data.of(frame, settings)
    if len(data.days) <= settings.warmup_days + settings.label_delay_days:
        raise TaxiwayError(
            f"{len(data.days)} days of data: too few to replay after a {settings.warmup_days}-day warm-up",
            hint="pass --warmup-days smaller, or replay more data",
        )
    from threadpoolctl import threadpool_limits

    say = progress or (lambda _: None)
    outcomes = []
    # One thread per fit: hundreds of small fits and predictions lose more to OpenMP start-up than they gain.
    with threadpool_limits(1):
        for policy in policies:
            say(policy)
            outcomes.append(_replay(data, settings, policy))
    return outcomes


@dataclass(frozen=True)
class _Data:
    x: np.ndarray
    y: np.ndarray
    day: np.ndarray  # day number of each row (0 = the first day)
    days: np.ndarray  # the distinct day numbers, sorted
    categorical: list[int]
    origin: str  # the date of day 0 (YYYY-MM-DD, UTC)

    @classmethod
    def of(cls, frame: pd.DataFrame, settings: Settings) -> _Data:
        times = pd.to_datetime(frame[settings.time_column], utc=True)
        order = np.argsort(times.to_numpy(), kind="stable")
        frame, times = frame.iloc[order], times.iloc[order]
        day = ((times - times.iloc[0].normalize()).dt.days).to_numpy()
        labels = frame[settings.target]
        positive = max(labels.unique(), key=str)
        y = (labels == positive).to_numpy(dtype=int)
        columns, categorical = [], []
        for name in frame.columns:
            if name in (settings.time_column, settings.target):
                continue
            column = frame[name]
            if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
                columns.append(column.to_numpy(dtype=float))
            else:
                codes = pd.Categorical(column.astype(str)).codes.astype(float)
                if codes.max() < 250:  # HistGradientBoosting treats up to 255 categories natively
                    categorical.append(len(columns))
                columns.append(codes)
        origin = times.iloc[0].normalize().strftime("%Y-%m-%d")
        return cls(np.column_stack(columns), y, day, np.unique(day), categorical, origin)


def _fit(data: _Data, rows: np.ndarray, settings: Settings) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=settings.max_iter,
        categorical_features=data.categorical or None,
        random_state=settings.seed,
    )
    return model.fit(data.x[rows], data.y[rows])


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def _psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of one feature (quantile bins of ``expected``)."""
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return 0.0
    e = np.histogram(np.clip(expected, edges[0], edges[-1]), edges)[0] / len(expected)
    a = np.histogram(np.clip(actual, edges[0], edges[-1]), edges)[0] / max(len(actual), 1)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class _Live:
    model: Any
    trained_day: int
    rows: np.ndarray  # the rows it was trained on
    holdout_score: float


def _replay(data: _Data, s: Settings, policy: str) -> Outcome:
    started = time.perf_counter()
    first_day = int(data.days[0]) + s.warmup_days
    live = _train(data, s, first_day)
    if live is None:
        window, widen = "", ""
        if s.window_days is not None:  # the holdout comes out of the window: a short one leaves nothing
            window = f", a {s.window_days:g}-day window (ct.window_days)"
            widen = f", or widen ct.window_days well beyond the {s.holdout_days} days held out"
        raise TaxiwayError(
            f"the {s.warmup_days}-day warm-up leaves under 50 labelled rows of both classes to train on "
            f"(labels {s.label_delay_days} days late, {s.holdout_days} days held out{window})",
            hint=f"pass a longer --warmup-days{widen}",
        )
    scores, truths = [], []
    outcome = Outcome(policy, 0.0, 0, 0, 0, 0, 0, 0.0)
    retrain_days: list[int] = []
    for today in data.days[data.days >= first_day]:
        today = int(today)
        reason = _decide(data, s, policy, live, today, retrain_days) if today > first_day else None
        if reason is not None:
            outcome.retrains += 1
            retrain_days.append(today)
            candidate = _train(data, s, today)
            decision: dict[str, Any] = {"day": today, "why": reason, "promoted": False}
            if candidate is not None:
                holdout = _holdout_rows(data, s, today)
                new = _auc(data.y[holdout], candidate.model.predict_proba(data.x[holdout])[:, 1])
                old = _auc(data.y[holdout], live.model.predict_proba(data.x[holdout])[:, 1])
                decision.update(new=round(new, 4), old=round(old, 4))
                if new >= old:  # never promote a version worse on the holdout it was judged on
                    outcome.promoted += 1
                    outcome.worse_promotions += int(new < old)
                    live = candidate
                    decision["promoted"] = True
            outcome.decisions.append(decision)
        rows = np.flatnonzero(data.day == today)
        scores.append(live.model.predict_proba(data.x[rows])[:, 1])
        truths.append(data.y[rows])
        outcome.stale_days += int(today - live.trained_day > s.freshness_days)
    outcome.roc_auc = _auc(np.concatenate(truths), np.concatenate(scores))
    outcome.predictions = int(sum(len(t) for t in truths))
    outcome.seconds = time.perf_counter() - started
    outcome.curve = _curve(data.days[data.days >= first_day], truths, scores)
    outcome.origin = data.origin
    return outcome


def _curve(
    days: np.ndarray, truths: list[np.ndarray], scores: list[np.ndarray]
) -> list[tuple[int, float | None]]:
    """The cumulative ROC AUC at the end of up to ``CURVE_POINTS`` evenly spaced days (None: one class)."""
    ends = np.cumsum([len(t) for t in truths])
    truth, score = np.concatenate(truths), np.concatenate(scores)
    picked = np.unique(np.linspace(0, len(days) - 1, num=min(CURVE_POINTS, len(days))).round().astype(int))
    curve: list[tuple[int, float | None]] = []
    for i in picked:
        value = _auc(truth[: ends[i]], score[: ends[i]])
        curve.append((int(days[i]), None if np.isnan(value) else round(value, 5)))
    return curve


def _labelled_before(data: _Data, s: Settings, today: int) -> np.ndarray:
    """Rows whose labels have arrived by the start of ``today`` (within the training window)."""
    known = data.day < today - s.label_delay_days
    if s.window_days is not None:
        known &= data.day >= today - s.label_delay_days - s.window_days
    return np.flatnonzero(known)


def _holdout_rows(data: _Data, s: Settings, today: int) -> np.ndarray:
    newest = today - s.label_delay_days
    return np.flatnonzero((data.day < newest) & (data.day >= newest - s.holdout_days))


def _train(data: _Data, s: Settings, today: int) -> _Live | None:
    """A model trained on the labelled rows before the holdout, with its holdout score."""
    known = _labelled_before(data, s, today)
    holdout = _holdout_rows(data, s, today)
    train = np.setdiff1d(known, holdout, assume_unique=True)
    if len(train) < 50 or len(np.unique(data.y[train])) < 2:
        return None
    model = _fit(data, train, s)
    score = float("nan")
    if len(holdout):
        score = _auc(data.y[holdout], model.predict_proba(data.x[holdout])[:, 1])
    return _Live(model, today, train, score)


def _decide(
    data: _Data, s: Settings, policy: str, live: _Live, today: int, retrain_days: list[int]
) -> str | None:
    """Why ``policy`` retrains at the start of ``today``, or None.

    Triggers count from the last retrain tried, promoted or not: a candidate turned down is not retried
    the next day on the same evidence.
    """
    base = max(live.trained_day, retrain_days[-1] if retrain_days else live.trained_day)
    age = today - base
    if policy == "never":
        return None
    if policy == "daily":
        return "every day"
    if policy == "periodic":
        return f"{age} days old" if age >= s.freshness_days else None
    if policy == "new_data":
        fresh = data.day[_labelled_before(data, s, today)] >= base - s.label_delay_days
        return f"{int(fresh.sum())} new labelled rows" if fresh.sum() >= s.new_rows else None
    reasons = []
    if policy == "charter" and age >= s.freshness_days:
        reasons.append(f"{age} days old (freshness)")
    if policy in ("drift", "charter"):
        seen = np.flatnonzero((data.day >= base) & (data.day < today))
        if len(seen) >= s.min_quality_rows:
            sample = live.rows[:: max(1, len(live.rows) // 20000)]
            worst = max(_psi(data.x[sample, c], data.x[seen, c]) for c in range(data.x.shape[1]))
            if worst > s.drift_psi:
                reasons.append(f"drift: PSI {worst:.2f}")
    if policy in ("quality", "charter"):
        labelled = _labelled_before(data, s, today)
        new = labelled[data.day[labelled] >= base]
        if len(new) >= s.min_quality_rows:
            realised = _auc(data.y[new], live.model.predict_proba(data.x[new])[:, 1])
            if realised < live.holdout_score - s.quality_drop:
                reasons.append(f"quality: ROC AUC {realised:.3f} vs {live.holdout_score:.3f}")
    if not reasons:
        return None
    if policy == "charter":
        recent = [d for d in retrain_days if d > today - s.budget_days]
        if len(recent) >= s.max_retrains:
            return None  # over budget: the trigger waits
    return "; ".join(reasons)
