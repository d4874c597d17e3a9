"""`train.tuned` (M3) is a judgement: trials per searched parameter against the charter's
``train.min_trials_per_parameter``, and no tunable parameter left at its default unsearched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.tune import StudyReport
from taxiway.train.tuned import record_tuning, tuning_coverage


def _study(n_complete: int, best_params: dict[str, object]) -> StudyReport:
    return StudyReport(
        name="s",
        storage="sqlite",
        parent_run_id="r-parent",
        metric="log_loss",
        direction="minimize",
        n_trials=n_complete,
        n_complete=n_complete,
        n_pruned=0,
        n_failed=0,
        trial_run_ids=(),
        best_trial=0,
        best_run_id=None,
        best_value=0.3,
        best_params=best_params,
        varied_params=tuple(best_params),  # every parameter the study returned took several values
    )


def _logistic(params: dict[str, object]) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(**params))])


def test_the_tunable_parameters_of_the_final_estimator() -> None:
    coverage = tuning_coverage(
        _logistic({"max_iter": 500}), {"C": 1.0}, {"intercept_scaling": 1}, n_complete=40
    )
    assert coverage.estimator == "LogisticRegression" and coverage.searched == ("C",)
    assert set(coverage.fixed) == {"max_iter", "intercept_scaling"}  # set in model(), and in train.params
    assert "random_state" not in coverage.untouched + coverage.fixed  # a seed is not a hyperparameter
    boosted = tuning_coverage(HistGradientBoostingClassifier(), {"learning_rate": 0.1}, {}, n_complete=9)
    assert {"max_leaf_nodes", "min_samples_leaf", "l2_regularization"} <= set(boosted.untouched)


def test_one_trial_over_one_parameter_fails(tmp_path: Path, make_project: Callable[..., Path]) -> None:
    project = Project.load(make_project(tmp_path / "p"))
    try:
        model = HistGradientBoostingClassifier()
        record_tuning(project, _study(1, {"learning_rate": 0.1}), candidate_run_id="r-1", model=model)
        tuned = project.store.evidence.latest_about(Check.TRAIN_TUNED, "run", "r-1")
        assert tuned is not None and tuned.status == "fail"
        assert (tuned.value, tuned.threshold, tuned.limit_key) == (
            0.0,
            10.0,
            "train.min_trials_per_parameter",
        )
        assert "max_leaf_nodes" in tuned.details["coverage"]["untouched"]
        assert "not searched nor fixed" in tuned.details["summary"]
    finally:
        project.store.close()


def test_enough_trials_over_every_tunable_parameter_pass(
    tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    project = Project.load(make_project(tmp_path / "p"))
    try:
        model = _logistic({"intercept_scaling": 2.0, "max_iter": 300})  # both fixed by the team
        searched = {"model__C": 0.5, "model__l1_ratio": 0.0}
        record_tuning(project, _study(19, searched), candidate_run_id="r-few", model=model)
        few = project.store.evidence.latest_about(Check.TRAIN_TUNED, "run", "r-few")
        assert few is not None and few.status == "fail" and few.value == 9.5  # 19 trials over 2 parameters
        record_tuning(project, _study(20, searched), candidate_run_id="r-2", model=model)
        tuned = project.store.evidence.latest_about(Check.TRAIN_TUNED, "run", "r-2")
        assert tuned is not None and tuned.status == "pass", tuned.details
        assert tuned.value == 10.0 and tuned.details["coverage"]["untouched"] == []
    finally:
        project.store.close()
