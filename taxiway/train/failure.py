"""The failure predictor: a small classifier of P(the model is wrong | row), learned from out-of-fold errors.

Issue 7 part 5: when it says a row is likely wrong, the charter's ``serving.fallback`` answers that row.

At training time, for the candidate only, a clone of the candidate is cross-validated on the train split
(3 folds): every training row then has a prediction from a model that did not see it, which is what the
served model's errors on new rows look like. A row is *wrong* when

- classification: the out-of-fold predicted class (highest probability) is not the true class (a decision
  threshold chosen for costs is not applied: it is chosen later, on validation rows);
- regression: the out-of-fold absolute error is above the 80th percentile of all out-of-fold absolute
  errors (``WRONG_QUANTILE``): the worst fifth of the answers. The cut-off, in target units, is kept as
  ``wrong_above`` so validation can label test rows the same way.

The predictor reads the raw feature columns plus the model's own confidence (classification: the top
probability and its margin over the second; regression: the prediction itself), through an ordinal encoder
for text columns and gradient-boosted trees. It is saved with skops as a pure scikit-learn ``Pipeline`` (so
skops loads it without trusting any taxiway class); :class:`FailurePredictor` wraps the loaded pipeline with
what the run's tags record: the threshold, the task and the cut-off.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from taxiway.measure.metrics import Task
from taxiway.store import Store
from taxiway.train.failure_inputs import MARGIN, PREDICTION, TOP_PROBABILITY, InputLayout, training_frame
from taxiway.train.packaged import load_packaged
from taxiway.train.packaging import save_model
from taxiway.train.runs import Run, get_run
from taxiway.train.tracking import ActiveRun
from taxiway.train.tree_walk import TreeWalk

__all__ = [
    "ARTIFACT",
    "DEFAULT_THRESHOLD",
    "FailurePredictor",
    "OutOfFold",
    "failure_predictor_artifact",
    "failure_predictor_from",
    "fit_failure_predictor",
    "load_failure_predictor",
    "nothing_to_learn",
    "out_of_fold",
    "record_failure_predictor",
]

ARTIFACT = "failure-predictor.skops"
TAG = "failure_predictor"  # the artifact's digest; the other tags are TAG + "_" + what they hold
FOLDS = 3
# Cross-validation fits the candidate FOLDS more times: on at most this many rows (sampled with the run's
# seed), so a large training set adds seconds, not minutes, to `taxiway train`.
MAX_ROWS = 20_000
MIN_ROWS = 30  # fewer rows than this cannot be split into 3 folds that each teach the model something
WRONG_QUANTILE = 0.8  # regression: the worst 20% of out-of-fold absolute errors count as wrong
# "Likely wrong" = more likely wrong than right: past P(wrong) = 0.5 the model's answer misleads more often
# than it helps, so the fallback (or no answer) is the better bet. The trees are fitted on log loss, so their
# P(wrong) is roughly calibrated and 0.5 means what it says without tuning per project. Lower it to flag
# more rows; the risk-coverage curve of `taxiway validate` shows what that buys.
DEFAULT_THRESHOLD = 0.5
# Small trees: errors are a noisy target, and the predictor runs beside the model on every request.
_TREES = {"max_iter": 100, "max_depth": 3, "learning_rate": 0.1, "min_samples_leaf": 40}
# Up to this many rows the trees are walked all at once (taxiway.train.tree_walk: ~30 us for one row where
# scikit-learn takes ~0.6 ms); beyond it scikit-learn's tree-by-tree predict is as fast per row.
WALKED_ROWS = 256


@dataclass(frozen=True)
class OutOfFold:
    """The training rows cross-validation predicted, the model's outputs on them, and which were wrong."""

    x: pd.DataFrame
    output: np.ndarray  # predict_proba (classification, columns in sorted class order) or predict
    wrong: np.ndarray  # bool per row
    wrong_above: float | None  # regression: the absolute error above which a prediction is wrong

    @property
    def error_rate(self) -> float:
        return float(np.mean(self.wrong)) if len(self.wrong) else 0.0


@dataclass(frozen=True)
class FailurePredictor:
    """P(wrong) for each row the model answers; ``risk >= threshold`` means likely wrong.

    ``pipeline`` is the fitted scikit-learn pipeline (what is saved); the rest comes from the run's tags.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.linear_model import LogisticRegression
        >>> x, y = load_iris(return_X_y=True, as_frame=True)
        >>> oof = out_of_fold(LogisticRegression(max_iter=1000), x, y, "classification", seed=0)
        >>> predictor = fit_failure_predictor(oof, "classification", seed=0)
        >>> model = LogisticRegression(max_iter=1000).fit(x, y)
        >>> risk = predictor.risk(x, model.predict_proba(x))
        >>> risk.shape, bool(((0 <= risk) & (risk <= 1)).all()), predictor.threshold
        ((150,), True, 0.5)
    """

    pipeline: Any
    task: Task
    threshold: float = DEFAULT_THRESHOLD
    wrong_above: float | None = None
    oof_error_rate: float | None = None
    rows: int | None = None

    def risk(self, x: pd.DataFrame, model_output: np.ndarray) -> np.ndarray:
        """P(the model is wrong) for each row of ``x``, given the model's output on those rows.

        ``model_output``: the served model's ``predict_proba`` (classification) or ``predict`` (regression).
        The numbers are the saved pipeline's ``predict_proba``, bit for bit, computed without its pandas
        steps (the request path cannot afford them): see :mod:`taxiway.train.failure_inputs`.
        """
        matrix = self._layout.matrix(x, model_output, self.task)
        if self._walk is not None and len(matrix) <= WALKED_ROWS:
            return self._walk.predict_proba(matrix)[:, 1]
        return np.asarray(self.pipeline.named_steps["classifier"].predict_proba(matrix)[:, 1], dtype=float)

    @cached_property
    def _layout(self) -> InputLayout:
        return InputLayout.of(self.pipeline.named_steps["columns"])

    @cached_property
    def _walk(self) -> TreeWalk | None:
        return TreeWalk.of(self.pipeline.named_steps["classifier"])

    def is_likely_wrong(self, x: pd.DataFrame, model_output: np.ndarray) -> np.ndarray:
        """True for the rows whose risk reaches the threshold: the fallback answers those."""
        return self.risk(x, model_output) >= self.threshold


def out_of_fold(
    estimator: Any,
    x: pd.DataFrame,
    y: pd.Series,
    task: Task,
    *,
    seed: int,
    threads: int | None = None,
    max_rows: int = MAX_ROWS,
) -> OutOfFold:
    """Cross-validated predictions of a clone of ``estimator`` on (a sample of) the training rows.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.linear_model import Ridge
        >>> x, y = load_diabetes(return_X_y=True, as_frame=True)
        >>> oof = out_of_fold(Ridge(), x, y, "regression", seed=0, max_rows=300)
        >>> len(oof.x), round(oof.error_rate, 2), oof.wrong_above > 0
        (300, 0.2, True)
    """
    if len(x) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), size=max_rows, replace=False))
        x, y = x.iloc[keep], y.iloc[keep]
    target = y.to_numpy()
    if task == "classification":
        folds: Any = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        with threadpool_limits(threads), warnings.catch_warnings():
            # nothing_to_learn refuses classes with fewer rows than folds, so every fold sees every class;
            # this silences sklearn's notice for user models that still drop a class inside a fold.
            warnings.filterwarnings("ignore", message="Number of classes in training fold")
            proba = cross_val_predict(clone(estimator), x, y, cv=folds, method="predict_proba")
        output = np.asarray(proba, dtype=float)
        classes = np.unique(target)  # cross_val_predict orders probability columns by the sorted classes
        return OutOfFold(x, output, classes[np.argmax(output, axis=1)] != target, None)
    folds = KFold(FOLDS, shuffle=True, random_state=seed)
    with threadpool_limits(threads):
        output = np.asarray(cross_val_predict(clone(estimator), x, y, cv=folds), dtype=float)
    errors = np.abs(output - target.astype(float))
    cutoff = float(np.quantile(errors, WRONG_QUANTILE))
    return OutOfFold(x, output, errors > cutoff, cutoff)


def nothing_to_learn(y: pd.Series, task: Task) -> str | None:
    """Why the training rows cannot give out-of-fold errors to learn from (None: they can).

    Example:
        >>> nothing_to_learn(pd.Series([0, 1] * 20 + [2]), "classification")
        'class 2 has 1 training row, fewer than the 3 cross-validation folds'
    """
    if len(y) < MIN_ROWS:
        return f"{len(y)} training rows, fewer than the {MIN_ROWS} that 3-fold cross-validation needs"
    if task == "classification":
        counts = y.value_counts()
        rare = counts[counts < FOLDS]
        if len(rare):
            rows = int(rare.iloc[0])
            return (
                f"class {rare.index[0]} has {rows} training row{'s' if rows != 1 else ''}, "
                f"fewer than the {FOLDS} cross-validation folds"
            )
    return None


def fit_failure_predictor(oof: OutOfFold, task: Task, *, seed: int) -> FailurePredictor | None:
    """The predictor of ``oof.wrong`` from the raw columns and the model's confidence; None when every
    out-of-fold prediction was right, or every one wrong (nothing tells them apart).

    Example:
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        >>> stump = DecisionTreeClassifier(max_depth=2, random_state=0)
        >>> oof = out_of_fold(stump, x, y, "classification", seed=0)
        >>> predictor = fit_failure_predictor(oof, "classification", seed=0)
        >>> 0 < predictor.oof_error_rate < 0.2, predictor.rows
        (True, 569)
    """
    wrong = np.asarray(oof.wrong, dtype=bool)
    if wrong.all() or not wrong.any():
        return None
    numbers = [
        str(c)
        for c in oof.x.columns
        if pd.api.types.is_numeric_dtype(oof.x[c]) and not pd.api.types.is_bool_dtype(oof.x[c])
    ]
    # Everything else but times is read as text (as the default candidate encodes object, string,
    # category and bool columns); times are left out, as the default candidate leaves them out.
    categories = [
        str(c)
        for c in oof.x.columns
        if str(c) not in numbers
        and not pd.api.types.is_datetime64_any_dtype(oof.x[c])
        and not pd.api.types.is_timedelta64_dtype(oof.x[c])
    ]
    confidence = [TOP_PROBABILITY, MARGIN] if task == "classification" else [PREDICTION]
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    columns = ColumnTransformer(
        [("numbers", "passthrough", numbers + confidence), ("categories", encoder, categories)]
    )
    trees = HistGradientBoostingClassifier(**_TREES, random_state=seed)
    pipeline = Pipeline([("columns", columns), ("classifier", trees)])
    frame = training_frame(oof.x[numbers + categories], oof.output, task, numbers, categories)
    pipeline.fit(frame, wrong.astype(int))
    return FailurePredictor(
        pipeline, task, DEFAULT_THRESHOLD, oof.wrong_above, oof.error_rate, rows=len(wrong)
    )


def record_failure_predictor(
    run: ActiveRun,
    estimator: Any,
    x: pd.DataFrame,
    y: pd.Series,
    task: Task,
    *,
    seed: int,
    threads: int | None = None,
) -> FailurePredictor | None:
    """Train the failure predictor of ``estimator`` on the training rows, store it with ``run`` and tag it.

    Tags: ``failure_predictor`` (the artifact's digest, or None), ``failure_predictor_format``,
    ``_trusted_types``, ``_threshold``, ``_wrong_above``, ``_oof_error_rate``, ``_rows``; when there is
    nothing to learn, ``failure_predictor_skipped`` says why and None is returned.
    """
    why = nothing_to_learn(y, task) or _not_clonable(estimator)
    predictor = None
    if why is None:
        oof = out_of_fold(estimator, x, y, task, seed=seed, threads=threads)
        with threadpool_limits(threads):
            predictor = fit_failure_predictor(oof, task, seed=seed)
        if predictor is None:
            verdict = (
                "right: no errors to learn from" if not oof.wrong.any() else "wrong: nothing sets them apart"
            )
            why = f"all {len(oof.wrong):,} out-of-fold predictions were {verdict}"
    if predictor is None:
        run.set_tags({TAG: None, f"{TAG}_skipped": why})
        return None
    saved = save_model(predictor.pipeline)
    run.set_tags(
        {
            TAG: run.log_bytes(ARTIFACT, saved.data),
            f"{TAG}_format": saved.format,
            f"{TAG}_trusted_types": saved.trusted_types,
            f"{TAG}_threshold": predictor.threshold,
            f"{TAG}_wrong_above": predictor.wrong_above,
            f"{TAG}_oof_error_rate": predictor.oof_error_rate,
            f"{TAG}_rows": predictor.rows,
        }
    )
    return predictor


def load_failure_predictor(store: Store, run_id: str, root: Path | None = None) -> FailurePredictor | None:
    """The failure predictor trained with run ``run_id``, its artifact's hash verified; None if it has none.

    Raises:
        NotFoundError: no run matches ``run_id``.
        ArtifactCorruptError: the artifact's bytes no longer hash to the digest in the run's tags.
    """
    run = get_run(store, run_id)
    found = failure_predictor_artifact(run)
    if found is None:
        return None
    artifact, model_format, trusted_types = found
    pipeline = load_packaged(
        store, artifact=artifact, model_format=model_format, trusted_types=trusted_types, root=root
    )
    return failure_predictor_from(run, pipeline)


def failure_predictor_artifact(run: Run) -> tuple[str, str, list[str]] | None:
    """Where run ``run``'s failure predictor is kept: (artifact, format, trusted types); None: it has none."""
    tags = run.tags
    if not tags.get(TAG):
        return None
    return (
        str(tags[TAG]),
        str(tags.get(f"{TAG}_format", "skops")),
        list(tags.get(f"{TAG}_trusted_types", [])),
    )


def failure_predictor_from(run: Run, pipeline: Any) -> FailurePredictor:
    """Run ``run``'s failure predictor around its loaded ``pipeline`` (see failure_predictor_artifact)."""
    tags = run.tags
    wrong_above = tags.get(f"{TAG}_wrong_above")
    rows = tags.get(f"{TAG}_rows")
    return FailurePredictor(
        pipeline,
        _task_of(pipeline),
        float(tags.get(f"{TAG}_threshold", DEFAULT_THRESHOLD)),
        None if wrong_above is None else float(wrong_above),
        tags.get(f"{TAG}_oof_error_rate"),
        None if rows is None else int(rows),
    )


def _not_clonable(estimator: Any) -> str | None:
    """Why cross-validation cannot copy ``estimator`` (a duck-typed model without get_params), or None."""
    try:
        clone(estimator)
    except TypeError as error:
        return f"the candidate ({type(estimator).__name__}) cannot be cloned for cross-validation: {error}"
    return None


def _task_of(pipeline: Any) -> Task:
    """The task a fitted failure pipeline serves, read from the confidence columns it was given."""
    return "regression" if PREDICTION in list(pipeline.feature_names_in_) else "classification"
