"""Were all hyperparameters tuned (ML Test Score M3)? Trials per searched parameter, and nothing left out.

A study proves the candidate's hyperparameters are tuned when two things hold:

- every **tunable** parameter of the final estimator is either searched (``search_space`` in pipeline.py
  returns it) or fixed by the team (``train.params`` in the charter, or a value in ``model(params)`` other
  than the estimator's default). Tunable means a number that shapes the fit: an ``int`` or ``float``
  constructor default, minus the ones that only steer the run (seeds, verbosity, threads, tolerances);
- the study ran at least ``train.min_trials_per_parameter`` finished trials per searched parameter.

The measured value is the fewest trials any tunable parameter got: a searched one gets the finished trials
divided by the number searched, one left at its default gets 0. One trial over one parameter fails, and so
does any search that forgets a parameter.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.train.setup import prepare_training

if TYPE_CHECKING:
    from taxiway.train.tune import StudyReport

# Constructor parameters that steer the run, not the model a fit finds.
NOT_HYPERPARAMETERS = frozenset(
    {
        "random_state",
        "verbose",
        "n_jobs",
        "tol",
        "validation_fraction",
        "n_iter_no_change",
        "max_bins",
        "cache_size",
        "max_fun",
        "warm_start",
        "copy_X",
        "thread_count",
        "nthread",
        "seed",
        "verbosity",
    }
)

__all__ = ["NOT_HYPERPARAMETERS", "TuningCoverage", "final_estimator", "record_tuning", "tuning_coverage"]


@dataclass(frozen=True)
class TuningCoverage:
    """Which tunable parameters were searched, fixed or left at their default, and the trials each got.

    Example:
        >>> c = TuningCoverage("Model", ("alpha",), (), ("depth",), n_complete=30)
        >>> c.trials_per_parameter, c.fewest_trials
        (30.0, 0.0)
    """

    estimator: str
    searched: tuple[str, ...]
    fixed: tuple[str, ...]
    untouched: tuple[str, ...]
    n_complete: int

    @property
    def trials_per_parameter(self) -> float:
        """Finished trials per searched parameter (0 when nothing was searched)."""
        return self.n_complete / len(self.searched) if self.searched else 0.0

    @property
    def fewest_trials(self) -> float:
        """The fewest trials any tunable parameter got: 0 while one is left at its default."""
        return 0.0 if self.untouched else self.trials_per_parameter

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "searched": list(self.searched),
            "fixed": list(self.fixed),
            "untouched": list(self.untouched),
            "n_complete": self.n_complete,
            "trials_per_parameter": self.trials_per_parameter,
        }


def final_estimator(model: Any) -> Any:
    """The last step of a scikit-learn Pipeline (or the model itself): the one whose parameters are tuned."""
    steps = getattr(model, "steps", None)
    return final_estimator(steps[-1][1]) if steps else model


def tuning_coverage(
    model: Any, searched: Mapping[str, Any], fixed: Mapping[str, Any], *, n_complete: int
) -> TuningCoverage:
    """Classify the tunable parameters of ``model`` (built by ``model({})``) against a study.

    Args:
        searched: the study's best parameters (their names are what search_space returns).
        fixed: the charter's ``train.params``.

    Example:
        >>> class Model:
        ...     def __init__(self, alpha=1.0, depth=3, seed=0):
        ...         self.alpha, self.depth, self.seed = alpha, depth, seed
        ...     def get_params(self, deep=False):
        ...         return {"alpha": self.alpha, "depth": self.depth, "seed": self.seed}
        >>> c = tuning_coverage(Model(), {"alpha": 0.3}, {}, n_complete=1)
        >>> c.searched, c.untouched, c.fewest_trials
        (('alpha',), ('depth',), 0.0)
    """
    estimator = final_estimator(model)
    defaults = _defaults(type(estimator))
    current = estimator.get_params(deep=False)
    tunable = [name for name, default in defaults.items() if _is_tunable(name, default)]
    names = {_short(name) for name in searched}
    chosen = {_short(name) for name in fixed}
    searched_here = tuple(name for name in tunable if name in names)
    fixed_here = tuple(
        name
        for name in tunable
        if name not in names and (name in chosen or current.get(name, defaults[name]) != defaults[name])
    )
    untouched = tuple(name for name in tunable if name not in names and name not in fixed_here)
    return TuningCoverage(type(estimator).__name__, searched_here, fixed_here, untouched, n_complete)


def _defaults(cls: type) -> dict[str, Any]:
    signature = inspect.signature(cls)
    return {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.default is not inspect.Parameter.empty
    }


def _is_tunable(name: str, default: Any) -> bool:
    number = isinstance(default, int | float) and not isinstance(default, bool)
    return number and name not in NOT_HYPERPARAMETERS


def _short(name: str) -> str:
    """``estimator__learning_rate`` (a Pipeline's parameter name) → ``learning_rate``."""
    return name.rsplit("__", 1)[-1]


def record_tuning(
    project: Project, report: StudyReport, *, candidate_run_id: str, model: Any = None
) -> StudyReport:
    """Record the ``train.tuned`` evidence for the candidate trained with the study's best parameters.

    ``model`` is the candidate as ``model({})`` builds it (the default when None); the judgement is in
    :mod:`taxiway.train.tuned`: the fewest trials any tunable parameter got, against
    ``train.min_trials_per_parameter``.
    """
    report = replace(report, candidate_run_id=candidate_run_id)
    if model is None:
        model = prepare_training(project).user.model({})
    train = project.charter.train
    searched = {name: report.best_params[name] for name in report.varied_params if name in report.best_params}
    fixed = {**{k: v for k, v in report.best_params.items() if k not in searched}, **train.params}
    coverage = tuning_coverage(model, searched, fixed, n_complete=report.n_complete)
    untouched = ", ".join(coverage.untouched)
    project.store.evidence.record(
        Check.TRAIN_TUNED,
        subject_kind="run",
        subject_id=candidate_run_id,
        value=coverage.fewest_trials,
        limit=Limit(float(train.min_trials_per_parameter), ">=", key="train.min_trials_per_parameter"),
        measured=Measurement(
            sample_size=report.n_complete,
            method="finished trials per searched parameter; 0 for a tunable parameter left at its default",
        ),
        details={
            **report.to_dict(),
            "coverage": coverage.to_dict(),
            "summary": f"{coverage.trials_per_parameter:.3g} finished trials per searched parameter "
            f"({report.n_complete} over {len(coverage.searched)})"
            + (f"; not searched nor fixed: {untouched}" if untouched else ""),
        },
    )
    return report
