"""Target proxies, judged against the task: columns, and pairs of columns, that give the target away.

A strong column is not a leak by itself: easy data has honest columns that predict well. So each column is
judged against what the *rest of the data* can do (Kaufman et al., "Leakage in data mining", 2012: leaks
through copies of the target, through its future, and through combinations of features). All scores are
*skill* (:mod:`taxiway.data.screen`: 0 chance, 1 perfect), fitted on train rows, scored on validation rows.

Findings, each a failure of ``data.leakage``:

- **label copy** (classification, :mod:`taxiway.data.label_copies`): the target's labels under their own
  names with a few changed, or under other names.
- **exact copy**: a column, or the difference, sum or ratio of two columns, whose correlation with the
  target (class codes for classification) is at least :data:`EXACT_CORRELATION`.
- **dominant**: a column or pair that alone reaches :data:`SUSPECT_SHARE` of the best skill found (the whole
  model's, or a better single screen), while *every other column together* (a model without it: its
  drop-column importance) makes at least 1 / :data:`ERROR_RATIO` times as many errors (error = 1 − skill).
- **post-event** (only when the charter says rows are events: ``data.time_column`` or ``problem.event``): a
  column that is missing on the rows whose outcome is not known yet (the target is missing) and present on
  the others fails (:mod:`taxiway.data.post_event`); one that alone has :data:`POST_EVENT_RATIO` times the
  skill of every other column together (and at least :data:`POST_EVENT_MIN_SKILL`) is a warning; one that
  has :data:`POST_EVENT_RATIO_MISSING` times and is also missing on at least half of the rows of unknown
  outcome fails. (Skill alone cannot tell a departure delay from an honest lone signal: generated events
  with one informative column score alike.)

A pair is screened only when its combination makes at most :data:`PAIR_GAIN` of the errors of its better
column alone: otherwise it is that column again. Leaks often come in families (several columns known after
the outcome), which hide each other from a drop-one test; so the screen peels: what is flagged in a round
is removed, and the next round judges what remains against the data without it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.data._frames import as_numbers, examples, is_numeric, subsample
from taxiway.data.findings import Finding, SubCheck, worst
from taxiway.data.label_copies import label_copy
from taxiway.data.post_event import MISSING_WITH_OUTCOME_SOME, Missingness, outcome_missingness
from taxiway.data.screen import Target, binned_skill, correlation, linear_weights, model_skill
from taxiway.data.split import SplitFrames

# |correlation| with the target: a copy with 5% noise has 0.9988; the best honest column of the clean sets
# has 0.80 (diabetes' s5 ... 0.57, breast cancer's worst concave points 0.79).
EXACT_CORRELATION = 0.995
# A suspect carries at least 90% of the best skill found. Then it dominates when it makes at most a tenth of
# the errors of every other column together. Measured (error of the column / error of the rest): iris's petal
# width 0.06 / 0.245 = 0.24 (honest: the strongest honest column, relative to its data, we found); flights
# with a copy of the target 1% flipped 0.016 / 0.8 = 0.02, a 5% flipped copy 0.1 / 0.8 = 0.13 (also a label
# copy); flights' arrival time minus scheduled arrival 0.005 / 0.25 = 0.02.
SUSPECT_SHARE = 0.9
ERROR_RATIO = 0.1
MIN_ERROR_GAP = 0.02  # and the rest's error exceeds the column's by 0.02 skill: not two perfect scores' noise
# A pair is a new signal when it makes at most half the errors of its better column; else it is that column
# again. Flights' arr_time - sched_arr_time makes 0.007 of arr_time's errors, dep_time - sched_dep_time 0.37
# of dep_time's; honest pairs also pass (iris: petal length + sepal length 0.34, penguins: bill length / bill
# depth 0.11) and are then judged against the rest like any column.
PAIR_GAIN = 0.5
PAIR_COLUMNS = 6  # columns screened in pairs: the 6 strongest alone and the 6 largest linear weights
# Post-event: the flights' departure delay (known after departure) alone has skill 0.75, the rest of the
# columns 0.15-0.2 (5x); the strongest honest column of flights (hour, 0.23) is below the 0.5 floor.
POST_EVENT_RATIO = 3.0
POST_EVENT_MIN_SKILL = 0.5
# With its missingness following the outcome's, less is needed: on a random split of flights, the departure
# delay has 2.4x the skill of the other columns together (same-day delays make those stronger than in time).
POST_EVENT_RATIO_MISSING = 2.0
# Relative judgements need enough validation rows: on iris's 25, one row moves the AUC by 0.03.
MIN_JUDGED_ROWS = 50
MAX_ROUNDS = 3
MAX_SUSPECTS = 6
SCREEN_TRAIN_ROWS = 10_000  # train rows each column is binned on
SCREEN_VALID_ROWS = 5_000  # validation rows it is scored on
MODEL_TRAIN_ROWS = 4_000  # train rows the whole-data models learn from (two to five fits per check)

__all__ = ["ProxyScreen", "screen_proxies"]


@dataclass(frozen=True)
class Signal:
    """A column, or a combination of two, and how well it predicts the target alone."""

    columns: tuple[str, ...]
    label: str  # "dep_delay" or "arr_time - sched_arr_time"
    skill: float
    correlation: float
    values: NDArray[np.float64] | None = None  # a combination's validation values, for example rows

    @property
    def is_pair(self) -> bool:
        return len(self.columns) == 2


@dataclass(frozen=True)
class ProxyScreen:
    """What the screen found: one :class:`SubCheck` each for single columns, combinations and post-event."""

    target_leakage: SubCheck
    combinations: SubCheck
    post_event: SubCheck
    figures: dict[str, Any] = field(default_factory=dict)


def screen_proxies(
    frames: SplitFrames,
    features: Sequence[str],
    settings: dict[str, Any],
    *,
    events: str | None = None,
    seed: int = 0,
) -> ProxyScreen:
    """Screen every feature, and pairs of the strongest, for target proxies (see the module docstring).

    Args:
        events: why the rows are events in time (e.g. "data.time_column 'time_hour'"), or None: the
            post-event part runs only with it.
    """
    target_name, task = settings["target"], settings["task"]
    train = subsample(frames.train[frames.train[target_name].notna()], SCREEN_TRAIN_ROWS, seed)
    valid = subsample(frames.valid[frames.valid[target_name].notna()], SCREEN_VALID_ROWS, seed)
    measure = "ROC AUC" if task == "classification" else "R²"
    if len(train) < 10 or len(valid) < 10 or not features:
        skipped = SubCheck("target_leakage", "skipped", "too few labelled train or validation rows to screen")
        return ProxyScreen(
            skipped,
            SubCheck("combinations", "skipped", skipped.summary),
            SubCheck("post_event", "skipped", skipped.summary),
        )
    target = Target.of(train[target_name], valid[target_name], task)
    judge = _Judge(train, valid, list(features), target, target_name, measure, seed)
    single, pairs, post = judge.run(events, frames)
    figures = {
        "task_skill": judge.task_skill,
        "measure": measure,
        "screened_rows": {"train": len(train), "valid": len(valid)},
        "best": {"columns": list(judge.best.columns), "skill": judge.best.skill} if judge.best else None,
    }
    return ProxyScreen(
        _part("target_leakage", single, judge.single_summary()),
        _part("combinations", pairs, judge.pair_summary()),
        _part("post_event", post, judge.post_summary(events))
        if events is not None
        else SubCheck(
            "post_event",
            "skipped",
            "the charter names no data.time_column and no problem.event: rows are not known to be events",
        ),
        figures,
    )


def _part(name: str, findings: list[Finding], summary: str) -> SubCheck:
    if findings:
        summary = "; ".join(f.message.split(":")[0] for f in findings)
    return SubCheck(name, worst(f.verdict for f in findings), summary, tuple(findings))


class _Judge:
    """One screen's state: the signals measured, then the rounds that judge them."""

    def __init__(
        self,
        train: pd.DataFrame,
        valid: pd.DataFrame,
        features: list[str],
        target: Target,
        target_name: str,
        measure: str,
        seed: int,
    ) -> None:
        self.train, self.valid, self.features, self.target = train, valid, features, target
        self.target_name, self.measure, self.seed = target_name, measure, seed
        self.model_train = subsample(train, MODEL_TRAIN_ROWS, seed)
        self.model_target = Target.of(self.model_train[target_name], valid[target_name], target.task)
        self.y_all = np.concatenate([target.train, target.valid]).astype(np.float64)
        self._numbers: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        self.singles = {c: self._single(c) for c in features}
        self.pairs = self._pairs()
        self.task_skill = 0.0
        self.best: Signal | None = None
        self.missingness = Missingness()
        self._models: dict[frozenset[str], float] = {}

    # -- measuring -------------------------------------------------------------------------------------
    def _as_numbers(self, column: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """A numeric column's train and validation values as floats, converted once."""
        if column not in self._numbers:
            self._numbers[column] = (as_numbers(self.train[column]), as_numbers(self.valid[column]))
        return self._numbers[column]

    def _single(self, column: str) -> Signal:
        if not is_numeric(self.train[column]):
            return Signal(
                (column,), column, binned_skill(self.train[column], self.valid[column], self.target), 0.0
            )
        a, b = self._as_numbers(column)
        score = binned_skill(a, b, self.target)
        r = correlation(np.concatenate([a, b]), self.y_all)
        if not self.target.is_classification:
            score = max(score, _linear_r2(a, b, self.target))
        return Signal((column,), column, score, r)

    def _pairs(self) -> list[Signal]:
        numeric = [c for c in self.features if is_numeric(self.train[c])]
        strongest = sorted(numeric, key=lambda c: -self.singles[c].skill)[:PAIR_COLUMNS]
        weights = linear_weights(self.train, numeric, self.target.train.astype(np.float64))
        heaviest = sorted(weights, key=lambda c: -weights[c])[:PAIR_COLUMNS]
        chosen = list(dict.fromkeys([*strongest, *heaviest]))
        found = []
        for a, b in itertools.combinations(chosen, 2):
            best = max(self._combinations(a, b), key=lambda s: (s.skill, s.correlation))
            better = max(self.singles[a].skill, self.singles[b].skill)
            if (1 - best.skill) <= PAIR_GAIN * (1 - better) or best.correlation >= EXACT_CORRELATION:
                found.append(best)
        return sorted(found, key=lambda s: -s.skill)

    def _combinations(self, a: str, b: str) -> list[Signal]:
        (xa, va), (xb, vb) = self._as_numbers(a), self._as_numbers(b)
        out = []
        with np.errstate(all="ignore"):
            for op, fit, score in (
                ("-", xa - xb, va - vb),
                ("+", xa + xb, va + vb),
                ("/", np.where(xb != 0, xa / xb, np.nan), np.where(vb != 0, va / vb, np.nan)),
            ):
                fit, score = (
                    np.where(np.isfinite(fit), fit, np.nan),
                    np.where(np.isfinite(score), score, np.nan),
                )
                r = correlation(np.concatenate([fit, score]), self.y_all)
                skill = binned_skill(fit, score, self.target)
                if not self.target.is_classification:
                    skill = max(skill, _linear_r2(fit, score, self.target))
                out.append(Signal((a, b), f"{a} {op} {b}", skill, r, score))
        return out

    def _model(self, columns: Iterable[str]) -> float:
        key = frozenset(columns)
        if key not in self._models:
            ordered = [c for c in self.features if c in key]
            self._models[key] = model_skill(
                self.model_train, self.valid, ordered, self.model_target, self.seed
            )
        return self._models[key]

    def _best_of(self, available: set[str]) -> float:
        """The best skill of the available columns: a model on all of them, or one screen, if better."""
        screens = [s.skill for s in self._signals() if set(s.columns) <= available]
        return max([self._model(available), *screens])

    def _signals(self) -> list[Signal]:
        return [*self.singles.values(), *self.pairs]

    # -- judging ---------------------------------------------------------------------------------------
    def run(
        self, events: str | None, frames: SplitFrames
    ) -> tuple[list[Finding], list[Finding], list[Finding]]:
        single: list[Finding] = []
        pairs: list[Finding] = []
        post: list[Finding] = []
        excluded: set[str] = set()
        for column in self.features:
            copy = label_copy(self.train, self.valid, column, self.target, self.target_name)
            if copy is not None:
                single.append(copy)
                excluded.add(column)
        for signal in self._signals():
            if signal.correlation >= EXACT_CORRELATION and not set(signal.columns) & excluded:
                (pairs if signal.is_pair else single).append(self._exact(signal))
                excluded |= set(signal.columns)
        available = set(self.features)
        self.task_skill = self._best_of(available)
        self.best = max(self._signals(), key=lambda s: s.skill, default=None)
        if events is not None:
            self.missingness = outcome_missingness(frames, self.features, self.target_name)
            missing = self.missingness.findings(excluded, events)
            post.extend(missing)
            excluded |= {f.columns[0] for f in missing}
        for _ in range(MAX_ROUNDS if len(self.valid) >= MIN_JUDGED_ROWS else 0):
            flagged = self._round(available - excluded, events, single, pairs, post)
            if not flagged:
                break
            excluded |= flagged
        return single, pairs, post

    def _round(
        self,
        available: set[str],
        events: str | None,
        single: list[Finding],
        pairs: list[Finding],
        post: list[Finding],
    ) -> set[str]:
        if not available:
            return set()
        best = self._best_of(available)
        candidates = [s for s in self._signals() if set(s.columns) <= available and s.skill > 0]
        suspects = sorted((s for s in candidates if s.skill >= SUSPECT_SHARE * best), key=lambda s: -s.skill)[
            :MAX_SUSPECTS
        ]
        if not suspects:
            return set()
        rest_columns = available - {c for s in suspects for c in s.columns}
        if not rest_columns:
            return set()  # the signal is spread over every column: nothing left to compare with
        rest = self._best_of(rest_columns)
        flagged: set[str] = set()
        for signal in suspects:
            if set(signal.columns) & flagged:
                continue
            error, rest_error = 1 - signal.skill, 1 - rest
            if error <= ERROR_RATIO * rest_error and rest_error - error >= MIN_ERROR_GAP:
                (pairs if signal.is_pair else single).append(self._dominant(signal, best, rest))
                flagged |= set(signal.columns)
            elif (
                events is not None
                and signal.skill >= POST_EVENT_MIN_SKILL
                and self._far_ahead_of(signal, rest)
            ):
                post.append(self._far_ahead(signal, rest, events))
                flagged |= set(signal.columns)
        return flagged

    def _exact(self, signal: Signal) -> Finding:
        what = "the combination" if signal.is_pair else "the column"
        return Finding(
            check="exact_copy",
            verdict="fail",
            message=f"'{signal.label}' rebuilds '{self.target_name}': |correlation| {signal.correlation:.4f} "
            f"(limit {EXACT_CORRELATION:g}); {what} is a copy of the target, or computed from it; "
            f"list {_columns(signal)} in data.drop_columns",
            columns=signal.columns,
            examples=tuple(self._examples(signal)),
            figures={
                "correlation": signal.correlation,
                "threshold": EXACT_CORRELATION,
                "skill": signal.skill,
            },
        )

    def _dominant(self, signal: Signal, best: float, rest: float) -> Finding:
        ratio = (1 - signal.skill) / max(1 - rest, 1e-12)
        alone = "together" if signal.is_pair else "alone"
        return Finding(
            check="dominant_pair" if signal.is_pair else "dominant_column",
            verdict="fail",
            message=f"'{signal.label}' {alone} predicts '{self.target_name}' with "
            f"{self._score(signal.skill)}, {signal.skill / max(best, 1e-12):.0%} of the best the data "
            f"reaches ({self._score(best)}), while every other column together reaches "
            f"{self._score(rest)}: it makes {ratio:.2f} of their errors (limit {ERROR_RATIO:g}); a signal "
            "this far ahead of the data is usually a copy of the target or known only after it; list "
            f"{_columns(signal)} in data.drop_columns if so",
            columns=signal.columns,
            examples=tuple(self._examples(signal)),
            figures={
                "score": self._metric(signal.skill),
                "skill": signal.skill,
                "best_skill": best,
                "rest_skill": rest,
                "error_ratio": ratio,
                "threshold": ERROR_RATIO,
            },
        )

    def _far_ahead_of(self, signal: Signal, rest: float) -> bool:
        tracking = any(self.missingness.tracks(c, MISSING_WITH_OUTCOME_SOME) for c in signal.columns)
        return signal.skill >= (POST_EVENT_RATIO_MISSING if tracking else POST_EVENT_RATIO) * rest

    def _far_ahead(self, signal: Signal, rest: float, events: str) -> Finding:
        times = signal.skill / rest if rest > 0 else float("inf")
        tracking = [c for c in signal.columns if self.missingness.tracks(c, MISSING_WITH_OUTCOME_SOME)]
        also = ""
        if tracking:
            share, _, unknown = self.missingness.stats[tracking[0]]
            also = (
                f", and '{tracking[0]}' is missing on {share:.0%} of the {unknown:,} rows whose outcome is "
                "not known yet"
            )
        named = " and ".join(f"'{c}'" for c in tracking or signal.columns)
        limit = POST_EVENT_RATIO_MISSING if tracking else POST_EVENT_RATIO
        alone = "together" if signal.is_pair else "alone"
        return Finding(
            check="post_event",
            verdict="fail" if tracking else "warn",
            message=f"'{signal.label}' {alone} predicts '{self.target_name}' with "
            f"{self._score(signal.skill)}, {_times(times)} the skill of every other column together "
            f"({self._score(rest)}; limit {limit:g}x){also}: rows are events ({events}), and a "
            f"signal this far ahead is often known only after the outcome; if so, add {named} to "
            "data.drop_columns",
            columns=signal.columns,
            examples=tuple(self._examples(signal)),
            figures={
                "score": self._metric(signal.skill),
                "skill": signal.skill,
                "rest_skill": rest,
                "ratio": times if np.isfinite(times) else None,
                "threshold": limit,
                "missing_with_outcome": tracking,
            },
        )

    # -- wording ---------------------------------------------------------------------------------------
    def _metric(self, skill: float) -> float:
        return (skill + 1) / 2 if self.target.is_classification else skill

    def _score(self, skill: float) -> str:
        return f"{self.measure} {self._metric(skill):.3f}"

    def _examples(self, signal: Signal) -> list[dict[str, Any]]:
        if not signal.is_pair or signal.values is None:
            return examples(self.valid, [*signal.columns, self.target_name])
        shown = self.valid.assign(**{signal.label: signal.values})
        return examples(shown, [*signal.columns, signal.label, self.target_name])

    def single_summary(self) -> str:
        best = max(self.singles.values(), key=lambda s: s.skill, default=None)
        if best is None:
            return "no feature to screen"
        summary = (
            f"no column gives the target away (strongest: '{best.label}' at {self._score(best.skill)}; "
            f"the data reaches {self._score(self.task_skill)})"
        )
        if len(self.valid) < MIN_JUDGED_ROWS:
            summary += (
                f"; only copies were looked for: {len(self.valid)} validation rows are too few to compare a "
                f"column with the rest (at least {MIN_JUDGED_ROWS})"
            )
        return summary

    def pair_summary(self) -> str:
        if not self.pairs:
            return "no pair of the strongest columns adds to its better column"
        best = self.pairs[0]
        return (
            f"no combination gives the target away (strongest: '{best.label}' at {self._score(best.skill)})"
        )

    def post_summary(self, events: str | None) -> str:
        return f"no column looks known only after the outcome (rows are events: {events})"


def _linear_r2(train: NDArray[np.float64], valid: NDArray[np.float64], target: Target) -> float:
    """R² on validation of a straight line fitted on train (a copy with noise is a line, not 64 steps)."""
    present = np.isfinite(train)
    if present.sum() < 3 or np.ptp(train[present]) == 0 or not np.isfinite(valid).any():
        return 0.0
    slope, intercept = np.polyfit(train[present], target.train[present], 1)
    y, scored = target.valid, np.isfinite(valid)
    predicted = np.where(scored, slope * np.where(scored, valid, 0.0) + intercept, target.train.mean())
    total = float(np.sum((y - y.mean()) ** 2))
    return max(0.0, 1 - float(np.sum((y - predicted) ** 2)) / total) if total > 0 else 0.0


def _columns(signal: Signal) -> str:
    return " and ".join(f"'{c}'" for c in signal.columns)


def _times(ratio: float) -> str:
    return "infinitely more than" if not np.isfinite(ratio) else f"{ratio:.1f}x"
