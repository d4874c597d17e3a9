"""A registered model version loaded for serving: the model, its input contract, its fallback, its detector.

:meth:`ServedModel.answer` is the one batch path every protocol ends in. Per row it decides whether the
model's answer stands or the fallback answers, and why:

1. the row lies outside what training saw (``out_of_range:<col>``, ``unseen_category:<col>``,
   ``missing:<col>``), see :mod:`taxiway.serve.contract`;
2. the model's confidence is below the charter's ``serving.min_confidence`` (``low_confidence``);
3. the failure predictor learned at training time says the model is likely wrong (``likely_wrong``);
4. the model raised on the batch (``model_error``): every row of it falls back instead of failing.

A large batch is predicted in chunks of about ``CHUNK_SECONDS`` each, sized by how fast this model was per
row; between two chunks the caller says whether anyone still waits for the answer, and when nobody does
(every request past its deadline) the rest is not predicted (:class:`Cancelled`). A request that timed out
once kept its worker busy for minutes; now it frees it within a chunk. Batches no larger than one chunk
(every one-row request) are predicted in one call, with no look in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.data.schema import SCHEMA_FILE, DatasetSchema, from_profile, load_schema
from taxiway.data.versions import get_dataset
from taxiway.errors import TaxiwayError
from taxiway.registry import get_version, load_model_version
from taxiway.serve.contract import InputContract, build_contract
from taxiway.serve.fallback import Fallback, load_fallback
from taxiway.store import Store
from taxiway.train.features import feature_columns
from taxiway.train.runs import Run, get_run

__all__ = ["Answer", "Cancelled", "ServedModel", "load_served_model"]

CHUNK_SECONDS = 0.2  # of predicting between two looks at whether anyone still waits for the answer
FIRST_CHUNK_ROWS = 256  # a chunk while this model's speed is unknown; smaller batches go in one call
_MEASURED_ROWS = 64  # a chunk at least this large times the model per row (a smaller one, its call cost)
_MAX_CHUNK_ROWS = 1_000_000


class Cancelled(TimeoutError):
    """Nobody waits for a batch's answer any more (every request past its deadline): predicting stopped.

    A ``TimeoutError``: whoever waits for the batch answers its requests as timed out.
    """


@dataclass
class Answer:
    """What a model said about a batch of valid rows, after fallback.

    ``predictions`` are the answers given (the fallback's where it answered; None where it abstained);
    ``model_predictions`` what the model itself said (for shadow agreement and the logs).
    """

    predictions: list[Any]
    model_predictions: list[Any]
    confidence: list[float | None]
    fallback: list[str | None]
    probabilities: list[list[float]] | None = None

    def take(self, start: int, stop: int) -> Answer:
        """The rows ``start:stop`` of this answer (one request's share of a micro-batch)."""
        return Answer(
            self.predictions[start:stop],
            self.model_predictions[start:stop],
            self.confidence[start:stop],
            self.fallback[start:stop],
            None if self.probabilities is None else self.probabilities[start:stop],
        )


@dataclass
class ServedModel:
    """One loaded model version and everything it needs to answer a row.

    Example:
        >>> from sklearn.dummy import DummyClassifier
        >>> from taxiway.data.schema import ColumnSpec
        >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float", min=0.0, max=1.0)})
        >>> model = DummyClassifier(strategy="prior").fit(pd.DataFrame({"x": [0.0, 1.0, 0.5]}), [0, 1, 1])
        >>> served = ServedModel(version=1, run_id="r-1", model=model, task="classification",
        ...     contract=build_contract(schema, ["x"], profile=None, margin=0.0),
        ...     fallback=Fallback("abstain", None, None, ""), min_confidence=0.9)
        >>> answer = served.answer(pd.DataFrame({"x": [0.5, 3.0]}))
        >>> answer.predictions, answer.fallback
        ([None, None], ['low_confidence', 'out_of_range:x'])
    """

    version: int
    run_id: str
    model: Any
    task: str
    contract: InputContract
    fallback: Fallback
    min_confidence: float | None = None
    failure_predictor: Any = None  # taxiway.train.failure.FailurePredictor, when training learned one
    artifact: str = ""
    load_seconds: float = 0.0
    classes: list[Any] = field(default_factory=list)
    # Seconds per row of the last chunk large enough to say (None: not yet timed); sizes the next chunks.
    row_seconds: float | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.task == "classification" and not self.classes:
            self.classes = np.asarray(getattr(self.model, "classes_", [])).tolist()

    @property
    def name(self) -> str:
        return f"v{self.version}"

    def answer(
        self,
        frame: pd.DataFrame,
        *,
        unfamiliar: list[str | None] | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> Answer:
        """Answer coerced rows (see :meth:`InputContract.coerce`), falling back per row where needed.

        ``unfamiliar``: the rows' reasons from :meth:`InputContract.unfamiliar`, when already known.
        ``wanted()``: asked between two chunks of a large batch; False stops predicting it.

        Raises:
            Cancelled: ``wanted()`` said False before the last chunk.
        """
        reasons = list(unfamiliar) if unfamiliar is not None else self.contract.unfamiliar(frame)
        try:
            output, predicted, confidence = self._predict_in_chunks(frame, wanted)
        except Cancelled:
            raise  # nobody waits: no fallback either
        except Exception:  # noqa: BLE001  # the model failed on this batch: the fallback answers it all
            fallen = self.fallback.predict(frame)
            empty: list[float | None] = [None] * len(frame)
            return Answer(fallen, [None] * len(frame), empty, ["model_error"] * len(frame))
        if self.min_confidence is not None and confidence is not None:
            for position in np.flatnonzero(confidence < self.min_confidence).tolist():
                reasons[position] = reasons[position] or "low_confidence"
        if self.failure_predictor is not None:
            risk = np.asarray(self.failure_predictor.risk(frame, output), dtype=float)
            for position in np.flatnonzero(risk >= self.failure_predictor.threshold).tolist():
                reasons[position] = reasons[position] or "likely_wrong"
        model_predictions = predicted.tolist()
        predictions = list(model_predictions)
        fallen_rows: list[int] = [position for position, reason in enumerate(reasons) if reason is not None]
        if fallen_rows:
            answers = self.fallback.predict(frame.iloc[fallen_rows])
            for position, value in zip(fallen_rows, answers, strict=True):
                predictions[position] = value
        shown = [None] * len(frame) if confidence is None else confidence.tolist()
        probabilities = output.tolist() if self.task == "classification" else None
        return Answer(predictions, model_predictions, shown, reasons, probabilities)

    def chunk_rows(self) -> int:
        """Rows of the next chunk: what this model predicts in about ``CHUNK_SECONDS``.

        Example:
            >>> from sklearn.dummy import DummyRegressor
            >>> from taxiway.data.schema import ColumnSpec
            >>> schema = DatasetSchema(columns={"x": ColumnSpec(type="float")})
            >>> served = ServedModel(version=1, run_id="r-1", model=DummyRegressor(), task="regression",
            ...     contract=build_contract(schema, ["x"], profile=None, margin=0.0),
            ...     fallback=Fallback("abstain", None, None, ""))
            >>> served.chunk_rows()
            256
            >>> served.row_seconds = 0.002  # 2 ms a row
            >>> served.chunk_rows()
            100
        """
        if self.row_seconds is None:
            return FIRST_CHUNK_ROWS
        if self.row_seconds <= CHUNK_SECONDS / _MAX_CHUNK_ROWS:
            return _MAX_CHUNK_ROWS
        return max(1, int(CHUNK_SECONDS / self.row_seconds))

    def _predict_in_chunks(
        self, frame: pd.DataFrame, wanted: Callable[[], bool] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`_predict` of ``frame``, a chunk at a time while ``wanted()`` (one call when it fits)."""
        rows = len(frame)
        size = self.chunk_rows()
        if wanted is None or rows <= size:
            return self._predict(frame)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        start = 0
        while start < rows:
            if start and not wanted():
                raise Cancelled(f"stopped after {start:,} of {rows:,} rows: no request waits for them")
            stop = min(rows, start + size)
            began = time.perf_counter()
            parts.append(self._predict(frame.iloc[start:stop]))
            if stop - start >= _MEASURED_ROWS:
                self.row_seconds = (time.perf_counter() - began) / (stop - start)
            start, size = stop, self.chunk_rows()
        output = np.concatenate([part[0] for part in parts])
        predicted = np.concatenate([part[1] for part in parts])
        confidence = None if parts[0][2] is None else np.concatenate([part[2] for part in parts])
        return output, predicted, confidence

    def _predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(raw output, predicted labels/values, confidence) of the model itself."""
        if self.task == "regression":
            values = np.asarray(self.model.predict(frame))
            return values, values, None
        proba = np.asarray(self.model.predict_proba(frame), dtype=float)
        predicted = np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
        return proba, predicted, proba.max(axis=1)


def load_served_model(
    store: Store, ref: str | int, charter: Charter, *, root: Path | None, threads: int = 1
) -> ServedModel:
    """Load a registered version for serving: artifact hash checked, contract, fallback and detector built.

    ``threads`` caps the thread pools (OpenMP, BLAS) of every library the model loaded. threadpoolctl only
    reaches libraries already loaded, and scikit-learn loads its OpenMP runtime with the first tree model:
    capping before that left a one-row HistGradientBoosting predict spinning up OpenMP for every tree
    (110 ms instead of 3 ms on the flights model, on 2 busy cores).

    Raises:
        ArtifactCorruptError: the model's artifact no longer hashes to its registered digest.
        NotFoundError: no such version.
    """
    started = time.perf_counter()
    version = get_version(store, f"v{ref}" if isinstance(ref, int) else ref)
    model = load_model_version(store, version.name, root=root)
    run = get_run(store, version.run_id)
    features = _features(model, run, charter, store)
    schema, profile = _schema(store, run, root, charter), _profile(store, run)
    contract = build_contract(schema, features, profile=profile, margin=charter.serving.range_margin)
    task = charter.problem.task
    metric = charter.problem.ranking_metric or str(question("problem.ranking_metric").default_value(task))
    fallback = load_fallback(store, run, charter.serving.fallback or "baseline", metric, root=root)
    min_confidence = charter.serving.min_confidence if task == "classification" else None
    failure_predictor = _failure_predictor(store, run, root)
    threadpool_limits(threads)  # process-wide, after every library above is loaded
    return ServedModel(
        version=version.version,
        run_id=run.id,
        model=model,
        task=task,
        contract=contract,
        fallback=fallback,
        min_confidence=min_confidence,
        failure_predictor=failure_predictor,
        artifact=version.artifact,
        load_seconds=time.perf_counter() - started,
    )


def _features(model: Any, run: Run, charter: Charter, store: Store) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    columns = [column["name"] for column in get_dataset(store, _dataset_of(run)).schema["columns"]]
    return feature_columns(columns, charter)


def _schema(store: Store, run: Run, root: Path | None, charter: Charter) -> DatasetSchema:
    """The team's ``schema.yaml`` when there is one (the contract they keep), else the inferred schema."""
    if root is not None and (root / SCHEMA_FILE).is_file():
        return load_schema(root / SCHEMA_FILE)
    return from_profile(get_dataset(store, _dataset_of(run)).schema, target=charter.problem.target)


def _profile(store: Store, run: Run) -> Any:
    return get_dataset(store, _dataset_of(run)).schema


def _dataset_of(run: Run) -> str:
    if run.dataset_id is None:
        raise TaxiwayError(
            f"run {run.id} records no dataset version, so its inputs have no schema to serve against",
            hint="serve a model trained by `taxiway train` (or log dataset_id with start_run)",
        )
    return run.dataset_id


def _failure_predictor(store: Store, run: Run, root: Path | None) -> Any:
    """The run's failure predictor, unless validation switched it off (no better than chance on test rows)."""
    from taxiway.registry.blessing import latest_blessing
    from taxiway.train.failure import load_failure_predictor

    blessing = latest_blessing(store, run.id)
    report = (blessing.evaluation.get("failure_predictor") if blessing is not None else None) or {}
    if report.get("enabled") is False:
        return None
    return load_failure_predictor(store, run.id, root=root)
