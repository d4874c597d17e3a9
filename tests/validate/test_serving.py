"""Serving measured in a fresh process: a classifier's predict_proba, and a model that cannot load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from taxiway.errors import TaxiwayError
from taxiway.train.packaging import save_model
from taxiway.validate.serving import SINGLE_ROWS, measure_serving

X = pd.DataFrame({"a": np.arange(300.0), "b": np.arange(300.0) % 7})
Y = (X["a"] > 150).astype(int)


def test_latency_memory_and_throughput_of_a_fresh_process() -> None:
    saved = save_model(LogisticRegression().fit(X, Y))
    found = measure_serving(
        saved.data,
        model_format=saved.format,
        trusted_types=saved.trusted_types,
        rows=X,
        method="predict_proba",
    )
    assert found.single_rows == SINGLE_ROWS and found.batch_rows == 300  # the best of ROUNDS rounds
    assert 0 < found.p50_ms <= found.p99_ms and found.throughput_rps > 100
    assert 20 < found.peak_memory_mb < 2_000 and found.load_seconds > 0


def test_a_model_that_does_not_load_is_a_clear_error() -> None:
    with pytest.raises(
        TaxiwayError, match="a fresh process could not load and run the packaged model"
    ) as caught:
        measure_serving(b"not a model", model_format="skops", trusted_types=[], rows=X, method="predict")
    assert "packaged model must load on its own" in caught.value.hint
