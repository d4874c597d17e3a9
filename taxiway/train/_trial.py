"""One tuning trial: build the model from the trial's parameters, fit it in stages, report, maybe prune.

The trial is a tracked run (kind ``trial``) whose parent is the study's run. Its Optuna trial carries the
run's id and the parameters given to ``model(params)`` as user attributes, so each trial maps to exactly
one run and back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from taxiway.errors import TaxiwayError
from taxiway.measure.cost import expected_cost
from taxiway.measure.scores import score_predictions
from taxiway.train._values import describe, json_dict
from taxiway.train.features import seed_estimator
from taxiway.train.setup import predict_rows
from taxiway.train.tracking import ActiveRun, start_run
from taxiway.train.user_code import check_estimator

if TYPE_CHECKING:
    from taxiway.train.setup import TrainingSetup, TrainProgress

RUN_ID_ATTR = "taxiway_run_id"
PARAMS_ATTR = "taxiway_params"
ERROR_ATTR = "taxiway_error"
# Intermediate reports per trial for a model that can grow: enough for the pruner to stop a bad trial after a
# quarter of its fit, few enough that refitting the feature steps at each stage costs little.
STAGES = 4
_TOTAL_PARAM = {"HistGradientBoostingClassifier": "max_iter", "HistGradientBoostingRegressor": "max_iter"}


class TrialFailed(Exception):
    """A trial's model could not be fitted with its parameters; the study goes on with other trials."""


class Objective:
    """The function Optuna calls once per trial; returns the ranking metric on validation."""

    def __init__(
        self,
        setup: TrainingSetup,
        space: Callable[[Any], dict[str, Any]],
        *,
        parent_id: str,
        study_name: str,
        progress: TrainProgress | None = None,
        total: int = 0,
    ) -> None:
        self.setup = setup
        self.space = space
        self.parent_id = parent_id
        self.study_name = study_name
        self.progress = progress
        self.total = total  # trials this process runs, for the progress bar
        self.run_ids: list[str] = []  # the trial runs this process recorded

    def __call__(self, trial: Any) -> float:
        from optuna import TrialPruned

        if self.progress is not None:
            self.progress.trial(trial.number, len(self.run_ids), self.total)
        params = self._params(trial)
        setup = self.setup
        pruned = False
        try:
            with start_run(
                f"trial {trial.number}",
                kind="trial",
                store=setup.project.store,
                parent_id=self.parent_id,
                dataset_id=setup.dataset.id,
                split_id=setup.split.id,
                tags={"study": self.study_name, "trial": trial.number},
            ) as run:
                self.run_ids.append(run.id)
                trial.set_user_attr(RUN_ID_ATTR, run.id)
                run.log_params(params)
                run.set_lineage(self._lineage(trial.number, params))
                try:
                    value = self._fit(trial, run, params)
                except TrialPruned:
                    pruned = True
                run.set_tags({"trial_state": "pruned" if pruned else "complete"})
        except TaxiwayError:
            raise
        except Exception as error:
            trial.set_user_attr(ERROR_ATTR, describe(error))
            raise TrialFailed(describe(error)) from error
        if pruned:
            raise TrialPruned()
        return value

    def _params(self, trial: Any) -> dict[str, Any]:
        try:
            chosen = self.space(trial)
        except Exception as error:
            raise TaxiwayError(
                f"search_space() in pipeline.py failed: {describe(error)}",
                hint="call trial.suggest_float / suggest_int / suggest_categorical and return a dict of "
                "model(params) parameters",
            ) from error
        if not isinstance(chosen, dict):
            raise TaxiwayError(
                f"search_space() in pipeline.py returned {type(chosen).__name__}, not a dict",
                hint="return e.g. {'learning_rate': trial.suggest_float('learning_rate', 0.01, 0.3)}",
            )
        params = json_dict("param", {**self.setup.project.charter.train.params, **chosen}, nested=False)
        trial.set_user_attr(PARAMS_ATTR, params)
        return params

    def _lineage(self, number: int, params: dict[str, Any]) -> dict[str, Any]:
        setup = self.setup
        return {
            "dataset_id": setup.dataset.id,
            "split_id": setup.split.id,
            "seed": setup.project.charter.train.seed,
            "git_commit": setup.code.commit,
            "git_dirty": setup.code.is_dirty,
            "study": self.study_name,
            "trial": number,
            "model_params": params,
        }

    def _fit(self, trial: Any, run: ActiveRun, params: dict[str, Any]) -> float:
        from optuna import TrialPruned

        setup, charter = self.setup, self.setup.project.charter
        task, target = charter.problem.task, charter.problem.target
        estimator = setup.user.model(dict(params))
        check_estimator(estimator, source=setup.user.source, task=task)
        seed_estimator(estimator, charter.train.seed)
        x_train, y_train = setup.frames.train[setup.features], setup.frames.train[target]
        x_valid, y_valid = setup.frames.valid[setup.features], setup.frames.valid[target]
        costs = charter.error_costs()
        stages = growth_stages(estimator)
        metrics: dict[str, float] = {}
        for index, (key, size) in enumerate(stages):
            if key is not None:
                estimator.set_params(**{key: size})
            with threadpool_limits(charter.train.threads):
                estimator.fit(x_train, y_train)
                predictions = predict_rows(estimator, x_valid, y_valid, task)
            metrics = score_predictions(predictions)
            metrics["expected_cost"] = expected_cost(predictions, costs).expected_cost
            value = _metric(metrics, setup.metric)
            run.log_metric(setup.metric, value, step=size)
            trial.report(value, step=index)
            if index < len(stages) - 1 and trial.should_prune():
                raise TrialPruned()
        run.log_metrics(metrics, step=stages[-1][1])
        return _metric(metrics, setup.metric)


def growth_stages(estimator: Any, stages: int = STAGES) -> list[tuple[str | None, int]]:
    """The (parameter, size) of each staged fit of a model that grows, warm start switched on; else one fit.

    Boosted trees grow by iterations (``max_iter`` of scikit-learn's histogram boosting, ``n_estimators``
    of the others), forests by trees; with ``warm_start`` each stage adds to the last.

    Example:
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> growth_stages(Pipeline([("model", RandomForestClassifier(n_estimators=100))]))
        [('model__n_estimators', 25), ('model__n_estimators', 50), ('model__n_estimators', 75), \
('model__n_estimators', 100)]
        >>> from sklearn.linear_model import LogisticRegression
        >>> growth_stages(LogisticRegression())
        [(None, 0)]
    """
    final, prefix = estimator, ""
    while isinstance(final, Pipeline):
        name, final = final.steps[-1]
        prefix += f"{name}__"
    params = final.get_params(deep=False) if hasattr(final, "get_params") else {}
    key = _TOTAL_PARAM.get(type(final).__name__, "n_estimators")
    total = params.get(key)
    if "warm_start" not in params or not isinstance(total, int) or isinstance(total, bool) or total < stages:
        return [(None, 0)]
    estimator.set_params(**{f"{prefix}warm_start": True})
    sizes = [math.ceil(total * (index + 1) / stages) for index in range(stages)]
    return [(prefix + key, size) for size in sizes]


def _metric(metrics: dict[str, float], metric: str) -> float:
    if metric not in metrics:
        raise TaxiwayError(
            f"{metric} could not be computed on the validation split for a tuning trial",
            hint="the validation split may hold a single class; re-split or choose another ranking_metric",
        )
    return metrics[metric]
