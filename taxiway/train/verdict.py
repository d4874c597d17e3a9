"""The verdict after training: does machine learning beat the simple alternatives, and is it good enough?"""

from __future__ import annotations

from dataclasses import dataclass

from taxiway.measure.metrics import METRICS
from taxiway.measure.scores import improvement


@dataclass(frozen=True)
class RunScore:
    """One finished run's place in the ranking."""

    run_id: str
    name: str
    kind: str  # baseline | candidate
    value: float  # the ranking metric on validation


@dataclass(frozen=True)
class Verdict:
    """The best candidate against the best baseline, on the charter's one ranking metric.

    Example:
        >>> v = decide("roc_auc", [RunScore("r-1", "constant", "baseline", 0.5),
        ...                        RunScore("r-2", "boosted", "candidate", 0.71)], 0.005, 0.7)
        >>> v.beats_baselines, v.is_good_enough, round(v.improvement, 2)
        (True, True, 0.21)
    """

    metric: str
    best_baseline: RunScore
    best_candidate: RunScore
    improvement: float
    smallest_improvement: float
    good_enough: float | None

    @property
    def beats_baselines(self) -> bool:
        """The candidate is better than every baseline by at least the smallest improvement that matters."""
        return self.improvement >= self.smallest_improvement

    @property
    def is_good_enough(self) -> bool | None:
        """The candidate reaches the charter's "good enough"; None when the charter does not say."""
        return (
            None
            if self.good_enough is None
            else _reaches(self.metric, self.best_candidate.value, self.good_enough)
        )

    @property
    def baselines_good_enough(self) -> bool | None:
        """Whether a baseline alone is already good enough (then ML may not be needed)."""
        return (
            None
            if self.good_enough is None
            else _reaches(self.metric, self.best_baseline.value, self.good_enough)
        )

    def sentence(self) -> str:
        """The verdict in one line, for people."""
        better = "beats" if self.beats_baselines else "does not beat"
        line = (
            f"{self.best_candidate.name} {better} the best baseline ({self.best_baseline.name}) on "
            f"{self.metric}: {self.best_candidate.value:.4g} vs {self.best_baseline.value:.4g} "
            f"(improvement {self.improvement:+.4g}; the smallest that matters is "
            f"{self.smallest_improvement:g})"
        )
        if self.good_enough is None:
            return line + "; no 'good enough' value in the charter"
        reached = "is good enough" if self.is_good_enough else "is not yet good enough"
        return line + f"; it {reached} (charter: {self.good_enough:g})"


def decide(
    metric: str, runs: list[RunScore], smallest_improvement: float, good_enough: float | None
) -> Verdict:
    """Pick the best baseline and the best candidate by ``metric`` and compare them."""
    direction = 1 if METRICS[metric].greater_is_better else -1
    baselines = [r for r in runs if r.kind == "baseline"]
    candidates = [r for r in runs if r.kind != "baseline"]
    if not baselines or not candidates:
        raise ValueError("a verdict needs at least one finished baseline and one finished candidate")
    best_baseline = max(baselines, key=lambda r: direction * r.value)
    best_candidate = max(candidates, key=lambda r: direction * r.value)
    return Verdict(
        metric=metric,
        best_baseline=best_baseline,
        best_candidate=best_candidate,
        improvement=improvement(metric, best_candidate.value, best_baseline.value),
        smallest_improvement=smallest_improvement,
        good_enough=good_enough,
    )


def _reaches(metric: str, value: float, bar: float) -> bool:
    return value >= bar if METRICS[metric].greater_is_better else value <= bar
