"""A served model: the estimator, the request schema it answers, and the fallback that stands in for it.

Everything a request needs is resolved once, when a version is loaded into a slot, so the request path
only runs vectorised code on a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from taxiway.data.profile import Schema, profile_frame
from taxiway.data.schema import ColumnSpec, DatasetSchema, from_profile
from taxiway.data.versions import get_dataset
from taxiway.evaluate.metrics import METRICS, Task
from taxiway.project import Project
from taxiway.serve.fallback import Fallback, FallbackPolicy
from taxiway.serve.source import ModelRef, read_model, resolve_model
from taxiway.store import Store
from taxiway.store.tables import RunRow
from taxiway.train.runs import Run, get_run


@dataclass(frozen=True)
class ServedModel:
    """One model version, ready to answer batches.

    ``schema`` is the request schema: the training data's columns that reach the model, with each
    number's range widened by the charter's ``range_margin``. A value outside it, a category training
    never saw, or a missing value where training had none makes its row fall back; a wrong type or an
    unknown column makes the request a 422.
    """

    ref: ModelRef
    task: Task
    estimator: Any
    features: tuple[str, ...]
    schema: DatasetSchema
    dtypes: dict[str, str]  # the pandas dtype each feature had in training
    ignored: frozenset[str]  # columns a request may send that never reach the model (row key, dropped)
    key_column: str | None
    policy: FallbackPolicy
    fallback: Fallback
    classes: np.ndarray | None = None
    load_seconds: float = 0.0
    dataset_id: str | None = None
    split_id: str | None = None
    predictions_artifact: str | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        """The name responses carry: ``vN`` from the registry, or the run id."""
        return self.ref.version


def served_from_frame(
    estimator: Any,
    training: pd.DataFrame,
    *,
    target: str,
    task: Task = "classification",
    policy: FallbackPolicy | None = None,
    fallback: Any | None = None,
    margin: float = 0.1,
    version: str = "local",
) -> ServedModel:
    """Serve an estimator fitted in this process on ``training`` (which still holds the target column).

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> frame = pd.DataFrame({"x": [0.0, 0.1, 0.9, 1.0], "y": [0, 0, 1, 1]})
        >>> fitted = LogisticRegression().fit(frame[["x"]], frame["y"])
        >>> served = served_from_frame(fitted, frame, target="y")
        >>> served.features, served.schema.columns["x"].bounds()
        (('x',), (-0.1, 1.1))
    """
    profile = profile_frame(training)
    features = [str(name) for name in training.columns if name != target]
    policy = policy or FallbackPolicy(kind="baseline" if fallback is not None else "abstain")
    name = "baseline" if fallback is not None else "abstain"
    return ServedModel(
        ref=ModelRef(version=version, run_id=version, digest="", model_format="memory", trusted_types=[]),
        task=task,
        estimator=estimator,
        features=tuple(features),
        schema=request_schema(profile, features, target=target, margin=margin),
        dtypes={c["name"]: c["dtype"] for c in profile["columns"] if c["name"] in features},
        ignored=frozenset(),
        key_column=None,
        policy=policy,
        fallback=Fallback(kind=policy.kind, estimator=fallback, run_id=None, name=name),
        classes=np.asarray(estimator.classes_) if task == "classification" else None,
    )


def load_served_model(project: Project, ref: str | ModelRef | None) -> ServedModel:
    """Resolve, verify and load a model version with its request schema and fallback.

    Raises:
        NotFoundError: ``ref`` names nothing in the store.
        ArtifactCorruptError: the model's artifact no longer matches its recorded hash.
    """
    started = time.perf_counter()
    store, charter = project.store, project.charter
    resolved = ref if isinstance(ref, ModelRef) else resolve_model(store, ref)
    run = get_run(store, resolved.run_id)
    estimator = read_model(store, resolved, root=project.root)
    task: Task = charter.problem.task
    profile = _training_profile(store, run)
    features = _features(estimator, profile, charter)
    policy = FallbackPolicy(
        kind=charter.serving.fallback or "baseline",
        min_confidence=charter.serving.min_confidence if task == "classification" else None,
    )
    fallback = _fallback_for(project, run, policy)
    schema = request_schema(
        profile, features, target=charter.problem.target, margin=charter.serving.range_margin
    )
    dtypes = {c["name"]: c["dtype"] for c in profile["columns"] if c["name"] in features}
    data = charter.data
    ignored = frozenset(name for name in (data.key_column, *data.drop_columns) if name) - set(features)
    classes = np.asarray(estimator.classes_) if task == "classification" else None
    return ServedModel(
        ref=resolved,
        task=task,
        estimator=estimator,
        features=tuple(features),
        schema=schema,
        dtypes=dtypes,
        ignored=ignored,
        key_column=data.key_column,
        policy=policy,
        fallback=fallback,
        classes=classes,
        load_seconds=time.perf_counter() - started,
        dataset_id=run.dataset_id,
        split_id=run.split_id,
        predictions_artifact=run.predictions_artifact,
    )


def request_schema(profile: Schema, features: list[str], *, target: str, margin: float) -> DatasetSchema:
    """The schema a request is checked against: the training columns, number ranges widened by ``margin``.

    Example:
        >>> from taxiway.data.profile import profile_frame
        >>> import pandas as pd
        >>> profile = profile_frame(pd.DataFrame({"x": [0.0, 10.0], "y": [0, 1]}))
        >>> request_schema(profile, ["x"], target="y", margin=0.1).columns["x"].bounds()
        (-1.0, 11.0)
    """
    inferred = from_profile(profile, target=target)
    columns: dict[str, ColumnSpec] = {}
    for name in features:
        spec = inferred.columns[name]
        if spec.type in ("integer", "float") and spec.min is not None and spec.max is not None:
            low, high = float(spec.min), float(spec.max)
            width = high - low
            spec = spec.model_copy(update={"min": low - margin * width, "max": high + margin * width})
        columns[name] = spec
    return DatasetSchema(columns=columns)


def _training_profile(store: Store, run: Run) -> Schema:
    if run.dataset_id is None:
        from taxiway.errors import TaxiwayError

        raise TaxiwayError(
            f"run {run.id} records no dataset version, so its request schema is unknown",
            hint="serve a run made by `taxiway train`",
        )
    return get_dataset(store, run.dataset_id).schema


def _features(estimator: Any, profile: Schema, charter: Any) -> list[str]:
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        return [str(name) for name in fitted]
    from taxiway.train.features import feature_columns

    return feature_columns([column["name"] for column in profile["columns"]], charter)


def _fallback_for(project: Project, run: Run, policy: FallbackPolicy) -> Fallback:
    """The model that answers a row the served model is likely to get wrong, as the charter asks."""
    store, charter = project.store, project.charter
    if policy.kind == "abstain":
        return Fallback(kind="abstain", estimator=None, run_id=None, name="abstain")
    siblings = _baselines(store, run)
    if policy.kind == "constant":
        chosen = [sibling for sibling in siblings if sibling.name == "constant"]
    else:
        metric = charter.problem.ranking_metric or ""
        ranked = [sibling for sibling in siblings if metric in sibling.metrics]
        better = 1.0 if metric in METRICS and METRICS[metric].greater_is_better else -1.0
        chosen = sorted(ranked, key=lambda sibling: -better * float(sibling.metrics[metric]))
    if not chosen:
        return Fallback(kind="abstain", estimator=None, run_id=None, name="abstain (no baseline found)")
    best = chosen[0]
    estimator = read_model(store, resolve_model(store, best.id), root=project.root)
    return Fallback(kind=policy.kind, estimator=estimator, run_id=best.id, name=best.name)


def _baselines(store: Store, run: Run) -> list[Run]:
    """The finished baselines trained on the same split as ``run``, newest first."""
    query = (
        select(RunRow.id)
        .where(RunRow.kind == "baseline", RunRow.status == "finished", RunRow.split_id == run.split_id)
        .where(RunRow.model_artifact.is_not(None))
        .order_by(RunRow.started_at.desc())
    )
    with store.session() as session:
        ids = list(session.scalars(query))
    return [get_run(store, run_id) for run_id in ids]
