"""A minimal BentoML 1.4 service around the benchmark's fitted model (served by benchmarks/serving.py).

``bentoml serve serving_bentoml_service:Classifier`` from this folder, in the BentoML venv, with
``SERVING_BENCH_MODEL`` (the pickled estimator) and ``SERVING_BENCH_WORKERS`` (worker processes) in the
environment. ``POST /predict`` takes ``{"row": {column: value, ...}}``, like taxiway's native protocol, and
answers the class probabilities of that one row. No adaptive batching (``batchable``): the minimal service
a user writes first.

Not imported by taxiway or its tests: it needs ``bentoml``, which is not installed in the project's venv.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import bentoml
import pandas as pd

MODEL_PATH = os.environ.get("SERVING_BENCH_MODEL", "model.pkl")
WORKERS = int(os.environ.get("SERVING_BENCH_WORKERS", "1"))


@bentoml.service(workers=WORKERS)
class Classifier:
    def __init__(self) -> None:
        with open(MODEL_PATH, "rb") as file:
            self.model = pickle.load(file)  # our own file (benchmarks/serving.py)
        self.columns = list(self.model.feature_names_in_)

    @bentoml.api
    def predict(self, row: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame([row])[self.columns]
        return {"probabilities": self.model.predict_proba(frame).tolist()}
