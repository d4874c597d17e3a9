"""Numerical stability: NaN, infinity and probabilities that are not probabilities are all caught."""

from __future__ import annotations

import numpy as np
import pytest

from taxiway.measure.stability import check_outputs, combine

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def test_each_kind_of_broken_output_is_counted_with_an_example() -> None:
    proba = np.array([[0.5, 0.5], [np.inf, 0.0], [1.2, -0.2], [0.3, 0.3], [0.4, 0.6]])
    found = check_outputs(proba, source="test", row_keys=np.array(["a", "b", "c", "d", "e"]))
    assert (found.non_finite, found.out_of_range, found.not_summing) == (1, 1, 1) and not found.is_stable
    assert found.examples == (
        "test row b: infinity in the output",
        "test row c: a probability outside [0, 1]",
        "test row d: probabilities sum to 0.6",
    )


def test_regression_outputs_and_labels() -> None:
    assert check_outputs(np.array([1.0, np.nan, 3.0]), source="valid").non_finite == 1
    assert check_outputs(np.array([1.0, 2.0]), source="valid").is_stable
    assert check_outputs(np.array(["late", "on time"], dtype=object), source="valid").is_stable
    assert check_outputs(np.array([[1.0 - 1e-9, 1e-9]]), source="valid").is_stable  # float noise is fine


def test_checks_combine_into_one_verdict() -> None:
    found = combine(
        [check_outputs(np.ones((3, 1)), source="a"), check_outputs(np.array([np.nan]), source="b")]
    )
    assert found.rows == 4 and found.bad_rows == 1 and found.examples == ("b row 0: nan in the output",)
