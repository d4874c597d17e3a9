"""Bootstrap intervals: reproducible, right-sized, vectorised paths equal the plain ones, paired diffs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from taxiway.measure import bootstrap as bootstrap_module
from taxiway.measure.bootstrap import (
    BinaryRocAuc,
    MeanMetric,
    bootstrap_ci,
    bootstrap_values,
    paired_bootstrap_diff,
)

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 600)
GOOD = Y + RNG.normal(0, 1, 600)
WORSE = Y + RNG.normal(0, 2, 600)


def _mean(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(s))


def test_reproducible_and_seeded() -> None:
    first = bootstrap_ci(BinaryRocAuc(), Y, GOOD, n=200, seed=1)
    assert bootstrap_ci(BinaryRocAuc(), Y, GOOD, n=200, seed=1) == first
    assert bootstrap_ci(BinaryRocAuc(), Y, GOOD, n=200, seed=2) != first
    assert first.low < first.estimate < first.high and first.resamples == 200 and first.level == 0.95
    assert first.estimate == pytest.approx(roc_auc_score(Y, GOOD), abs=1e-12)


def test_the_standard_error_of_a_mean_matches_theory() -> None:
    values = np.random.default_rng(3).normal(10, 2, 2000)
    interval = bootstrap_ci(_mean, values, values, n=500, seed=0)
    assert math.isclose(interval.std_error, 2 / math.sqrt(2000), rel_tol=0.15)
    assert math.isclose(interval.high - interval.low, 2 * 1.96 * 2 / math.sqrt(2000), rel_tol=0.2)


def test_vectorised_paths_equal_the_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    squared = MeanMetric(lambda y, s: (y - s) ** 2, finish=np.sqrt)
    plain = bootstrap_values(lambda y, s: math.sqrt(np.mean((y - s) ** 2)), Y, GOOD, n=50, seed=4)
    np.testing.assert_allclose(bootstrap_values(squared, Y, GOOD, n=50, seed=4), plain)
    auc = bootstrap_values(BinaryRocAuc(), Y, GOOD, WORSE, n=50, seed=4)
    np.testing.assert_allclose(auc, bootstrap_values(roc_auc_score, Y, GOOD, WORSE, n=50, seed=4))
    # Blocks of the index matrix draw the same resamples as one big matrix.
    monkeypatch.setattr(bootstrap_module, "_BLOCK_INDICES", 600 * 7)
    np.testing.assert_allclose(bootstrap_values(BinaryRocAuc(), Y, GOOD, WORSE, n=50, seed=4), auc)


def test_binary_auc_counts_ties_half() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    scores = np.array([0.2, 0.2, 0.5, 0.9, 0.5, 0.1])
    assert BinaryRocAuc()(y, scores) == roc_auc_score(y, scores)
    assert math.isnan(BinaryRocAuc()(np.zeros(3), np.arange(3.0)))


def test_undefined_resamples_are_left_out() -> None:
    y = np.array([1] + [0] * 9)  # most resamples miss the single positive
    interval = bootstrap_ci(roc_auc_score, y, np.linspace(1, 0, 10), n=100, seed=0)
    assert 0 < interval.resamples < 100
    with pytest.raises(ValueError, match="the metric is undefined on these rows"):
        bootstrap_ci(roc_auc_score, np.ones(5), np.arange(5.0), n=20, seed=0)


def test_paired_difference() -> None:
    better = paired_bootstrap_diff(roc_auc_score, Y, GOOD, WORSE, n=100, seed=0)
    assert better.estimate == pytest.approx(roc_auc_score(Y, GOOD) - roc_auc_score(Y, WORSE))
    assert better.low > 0 and better.p_value < 0.01
    same = paired_bootstrap_diff(BinaryRocAuc(), Y, GOOD, GOOD, n=100, seed=0)
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    # Paired resampling cancels what two similar models share: the difference is far tighter than the
    # two separate intervals suggest.
    similar = GOOD + RNG.normal(0, 0.3, 600)
    paired = paired_bootstrap_diff(BinaryRocAuc(), Y, GOOD, similar, n=400, seed=0)
    alone = [bootstrap_ci(BinaryRocAuc(), Y, s, n=400, seed=0).std_error for s in (GOOD, similar)]
    assert paired.std_error < 0.5 * math.hypot(*alone)


def test_multiclass_scores() -> None:
    y = np.random.default_rng(5).integers(0, 3, 300)
    proba = np.random.default_rng(6).dirichlet([1, 1, 1], 300)
    interval = bootstrap_ci(lambda t, p: log_loss(t, p, labels=[0, 1, 2]), y, proba, n=50, seed=0)
    assert interval.low < interval.estimate < interval.high


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.array([]), np.array([])), "zero rows"),
        ((np.array([0, 1]), np.array([0.5])), "one row per label"),
    ],
)
def test_bad_arguments(args: tuple[np.ndarray, np.ndarray], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(roc_auc_score, *args)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="at least 2 resamples"):
        bootstrap_ci(roc_auc_score, Y, GOOD, n=1)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        bootstrap_ci(roc_auc_score, Y, GOOD, level=95)
