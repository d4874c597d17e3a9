"""Tuning: an Optuna study over the search space pipeline.py declares, every trial a tracked child run.

`taxiway train --tune N` asks the project's study for N more finished trials and works on them, then trains
the candidate with the best parameters found so far. The study lives in the store's database (see
`taxiway.train._study_storage`), so several processes — on PostgreSQL, several machines — work on one study
at once: ``--workers K`` starts K-1 helpers on this machine, `taxiway tune-worker` joins from any machine,
and two ``taxiway train --tune N`` at once ask for 2N. How workers share the trials, and how a killed
worker's trial is retried: `taxiway.train._study_loop`. The study has one parent run (kind ``custom``,
named ``study <name>``), made by the first process; every trial is a run of kind ``trial`` under it. The
parent's params are the best parameters and its metric the best value, updated by each process when it
finishes.

Trials are pruned early: a model that can grow (boosted trees' iterations, a forest's trees) is fitted in
``STAGES`` warm-started steps, its validation score reported after each, and Optuna's median pruner stops a
trial whose score is worse than the median of earlier trials at the same stage. Other models report once.

The sampler is not seeded: workers sharing a study must propose different trials. The chosen parameters
are recorded, so the candidate trained with them is reproducible all the same.

Optuna is imported by the tuning modules only, and only when tuning runs: ``import taxiway`` does not load it.

Example ``search_space`` in pipeline.py (the dict it returns is passed to ``model(params)``)::

    def search_space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True)}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.measure.metrics import METRICS
from taxiway.project import Project
from taxiway.train._study_loop import (
    HEARTBEAT_S,
    TARGET_ATTR,
    heartbeat_storage,
    raise_target,
    work_until_target,
)
from taxiway.train._study_storage import StudyStorage, study_lock, study_storage
from taxiway.train._trial import ERROR_ATTR, PARAMS_ATTR, RUN_ID_ATTR, Objective
from taxiway.train._values import json_dict
from taxiway.train.runs import get_run
from taxiway.train.setup import TrainingSetup, TrainProgress, prepare_training
from taxiway.train.tracking import ActiveRun, start_run
from taxiway.train.user_code import PIPELINE_FILE, import_pipeline

if TYPE_CHECKING:
    import optuna

SEARCH_SPACE = "search_space"
PARENT_ATTR = "taxiway_parent_run_id"  # study user attribute: the parent run's id
MAX_STUDY_NAME = 150  # the parent run is named "study <name>"; run names hold 200 characters
# The median pruner waits for this many finished trials (Optuna's default is 5): fewer give a noisy median,
# more leave a short study (--tune 10) little to prune.
PRUNE_AFTER_TRIALS = 3


@dataclass(frozen=True)
class StudyReport:
    """The state of a study after this process's trials: counts over all workers, the best trial."""

    name: str
    storage: str  # where the study lives (no password)
    parent_run_id: str
    metric: str
    direction: str  # maximize | minimize
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    trial_run_ids: tuple[str, ...]  # the trial runs this process recorded
    best_trial: int
    best_run_id: str | None
    best_value: float
    best_params: dict[str, Any] = field(default_factory=dict)
    candidate_run_id: str | None = None
    # The parameters whose value differed between trials: what the study searched. A value search_space
    # returns the same in every trial is fixed, however it is written.
    varied_params: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the ``study`` key of ``taxiway train --format json``)."""
        document = asdict(self)
        document["trial_run_ids"] = list(self.trial_run_ids)
        document["varied_params"] = list(self.varied_params)
        return document


def load_search_space(root: Path) -> Callable[[Any], dict[str, Any]]:
    """The ``search_space(trial) -> dict`` that ``pipeline.py`` in ``root`` defines.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "pipeline.py").write_text("def search_space(trial):\\n    return {'max_iter': 50}\\n")
        >>> load_search_space(root)(None)
        {'max_iter': 50}

    Raises:
        TaxiwayError: there is no pipeline.py, or it defines no search_space function.
    """
    module = import_pipeline(root / PIPELINE_FILE)
    space = getattr(module, SEARCH_SPACE, None) if module is not None else None
    if not callable(space):
        where = PIPELINE_FILE if module is not None else f"{PIPELINE_FILE} (there is none in {root})"
        raise TaxiwayError(
            f"--tune needs a search space, and {where} defines no {SEARCH_SPACE}(trial) function",
            hint="add to pipeline.py: def search_space(trial): return {'learning_rate': "
            "trial.suggest_float('learning_rate', 0.01, 0.3, log=True)} — the dict goes to model(params)",
        )
    return space  # type: ignore[no-any-return]


def default_study_name(setup: TrainingSetup) -> str:
    """Project, metric, split and a hash of the model code: workers on the same code share one study.

    A change to pipeline.py or to the charter's train.params starts a new study, whose trials are
    comparable with one another.
    """
    pipeline = setup.project.root / PIPELINE_FILE
    code = pipeline.read_bytes() if pipeline.is_file() else b""
    params = json.dumps(setup.project.charter.train.params, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(code + b"\0" + params).hexdigest()[:8]
    return f"{setup.project.charter.project.name}-{setup.metric}-{setup.split.id[:12]}-{digest}"


def tune_candidate(
    setup: TrainingSetup,
    *,
    n_trials: int,
    study_name: str | None = None,
    progress: TrainProgress | None = None,
    sampler_seed: int | None = None,
    workers: int = 1,
    heartbeat_s: float = HEARTBEAT_S,
) -> StudyReport:
    """Ask the study for ``n_trials`` more finished trials and work on them with ``workers`` processes (this
    one and ``workers - 1`` helpers); return the study's state afterwards.

    Raises:
        TaxiwayError: ``n_trials`` or ``workers`` below 1, no search space, a study of that name ranked in
            the other direction, a search space or model that cannot be built, a helper that failed, or no
            trial of the study completed.
    """
    if n_trials < 1:
        raise TaxiwayError(f"--tune {n_trials}: give at least 1 trial", hint="e.g. taxiway train --tune 20")
    if workers < 1:
        raise TaxiwayError(f"--workers {workers}: give at least 1", hint="e.g. --workers 2 on two cores")
    return _tune(
        setup,
        n_trials=n_trials,
        study_name=study_name,
        progress=progress,
        sampler_seed=sampler_seed,
        workers=workers,
        heartbeat_s=heartbeat_s,
    )


def join_study(
    project: Project, *, study_name: str | None = None, heartbeat_s: float = HEARTBEAT_S
) -> StudyReport:
    """`taxiway tune-worker`: work on a study another process started, until it reaches its target.

    Run it on any machine whose checkout of the project reaches the same store (PostgreSQL, and S3 or
    another shared place for the artifacts); without ``study_name`` it joins the study of the same code,
    data and metric, as `taxiway train --tune N` names it.

    Raises:
        TaxiwayError: no study of that name is being tuned (none asked for trials), or as `tune_candidate`.
    """
    return _tune(prepare_training(project), n_trials=None, study_name=study_name, heartbeat_s=heartbeat_s)


def _tune(
    setup: TrainingSetup,
    *,
    n_trials: int | None,
    study_name: str | None,
    progress: TrainProgress | None = None,
    sampler_seed: int | None = None,
    workers: int = 1,
    heartbeat_s: float,
) -> StudyReport:
    """Open (or make) the study, raise its target by ``n_trials`` (None: join it as it is), work, report."""
    name = study_name or default_study_name(setup)
    if not 0 < len(name) <= MAX_STUDY_NAME:
        raise TaxiwayError(
            f"study name '{name[:40]}…' has {len(name)} characters",
            hint=f"give --study a name of 1 to {MAX_STUDY_NAME} characters",
        )
    space = load_search_space(setup.project.root)
    optuna = _optuna()
    direction = "maximize" if METRICS[setup.metric].greater_is_better else "minimize"
    storage = study_storage(setup.project.location.database)
    store = setup.project.store
    rdb = None
    helpers = None
    try:
        with study_lock(store, storage):  # Optuna creates its tables on first use
            rdb = heartbeat_storage(storage.url, storage.engine_kwargs, store, heartbeat_s=heartbeat_s)
            if n_trials is None:
                _check_joinable(optuna, rdb, name)
            study = optuna.create_study(
                storage=rdb,
                study_name=name,
                direction=direction,
                # The constant liar makes workers that sample at once propose different trials.
                sampler=optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS),
                load_if_exists=True,
            )
            if study.direction.name.lower() != direction:
                raise TaxiwayError(
                    f"study '{name}' ranks trials by {study.direction.name.lower()}, but {setup.metric} "
                    f"is to {direction}",
                    hint="give --study a new name, or leave it out to use one per metric, split and code",
                )
            parent = _parent_run(study, setup, name)
            if n_trials is not None:
                raise_target(study, n_trials)
        if workers > 1:
            from taxiway.train._tune_workers import start_helpers

            helpers = start_helpers(setup.project.root, name, workers - 1, heartbeat_s=heartbeat_s)
        objective = Objective(
            setup, space, parent_id=parent.id, study_name=name, progress=progress, total=n_trials or 0
        )
        try:
            work_until_target(study, objective, lambda: study_lock(store, storage))
            if helpers is not None:
                helpers.wait()
                helpers = None
        finally:
            with study_lock(store, storage):
                report = _summarise(study, storage, parent.id, setup.metric, objective.run_ids)
                if report is not None:
                    _update_parent(parent, report)
                else:
                    parent.end("failed", error="no trial of the study completed")
    finally:
        if helpers is not None:  # this process failed: its helpers stop too (their trials are retried)
            helpers.stop()
        if rdb is not None:
            rdb.engine.dispose()  # the study's connections: PostgreSQL would otherwise keep them open
    if report is None:
        raise _nothing_completed(study, name)
    return report


def tune_project(
    project: Project, *, n_trials: int, study_name: str | None = None, sampler_seed: int | None = None
) -> StudyReport:
    """Add ``n_trials`` trials to the project's study, and train nothing else: a tuning worker.

    `taxiway train --tune N` runs the trials and then trains the baselines and the candidate; a fleet of
    workers that only search (on a cluster, or beside one `taxiway train --tune`) calls this instead.
    """
    return tune_candidate(
        prepare_training(project), n_trials=n_trials, study_name=study_name, sampler_seed=sampler_seed
    )


def _check_joinable(optuna: Any, storage: Any, name: str) -> None:
    """A worker joins only a study that some `taxiway train --tune N` asked trials of."""
    try:
        attrs = optuna.load_study(study_name=name, storage=storage).user_attrs
    except KeyError:
        attrs = {}
    if TARGET_ATTR not in attrs:
        raise TaxiwayError(
            f"no study '{name}' is being tuned in this store",
            hint="start it with `taxiway train --tune N` (any machine), then run `taxiway tune-worker` on "
            "others; pass --study NAME when the study has another name (taxiway runs --kind custom)",
        )


def _optuna() -> Any:
    import optuna

    # stdout and stderr belong to taxiway's output: failed and pruned trials are counted in the report and
    # recorded on their runs, not logged by Optuna with a traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def _parent_run(study: optuna.Study, setup: TrainingSetup, name: str) -> ActiveRun:
    """The study's parent run: made by the first process (under the study lock), reopened by the others."""
    existing = study.user_attrs.get(PARENT_ATTR)
    if existing is not None:
        try:
            return ActiveRun(get_run(setup.project.store, str(existing)).id, setup.project.store)
        except NotFoundError:  # the study outlived the store it was made with: give it a new parent
            pass
    parent = start_run(
        f"study {name}",
        kind="custom",
        store=setup.project.store,
        dataset_id=setup.dataset.id,
        split_id=setup.split.id,
        tags=_static_tags(name),
    )
    parent.set_lineage(
        {
            "dataset_id": setup.dataset.id,
            "split_id": setup.split.id,
            "seed": setup.project.charter.train.seed,
            "git_commit": setup.code.commit,
            "git_dirty": setup.code.is_dirty,
            "study": name,
        }
    )
    study.set_user_attr(PARENT_ATTR, parent.id)
    return parent


def _static_tags(name: str) -> dict[str, Any]:
    return {"role": "study", "study": name, "sampler": "TPESampler", "pruner": "MedianPruner"}


def _update_parent(parent: ActiveRun, report: StudyReport) -> None:
    """Write the best parameters, the best value and the counts on the parent run, and end it.

    Every worker does this when its trials are done, under the study lock: the last to finish writes the
    study's final state.
    """
    # A reopened run starts with empty columns and writes whole columns: set every tag again.
    tags = {
        **_static_tags(report.name),
        "n_trials": report.n_trials,
        "n_complete": report.n_complete,
        "n_pruned": report.n_pruned,
        "n_failed": report.n_failed,
        "best_trial": report.best_trial,
        "best_run_id": report.best_run_id,
    }
    parent.set_tags(tags)
    parent.log_params(report.best_params)
    parent.log_metric(report.metric, report.best_value, step=report.n_complete)
    parent.end("finished")


def _summarise(
    study: optuna.Study, storage: StudyStorage, parent_id: str, metric: str, run_ids: list[str]
) -> StudyReport | None:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {state: sum(1 for t in trials if t.state == state) for state in TrialState}
    if count[TrialState.COMPLETE] == 0:
        return None
    best = study.best_trial
    params = best.user_attrs.get(PARAMS_ATTR, best.params)
    value = float(best.value if best.value is not None else math.nan)
    return StudyReport(
        name=study.study_name,
        storage=storage.shown,
        parent_run_id=parent_id,
        metric=metric,
        direction=study.direction.name.lower(),
        n_trials=len(trials),
        n_complete=count[TrialState.COMPLETE],
        n_pruned=count[TrialState.PRUNED],
        n_failed=count[TrialState.FAIL],
        trial_run_ids=tuple(run_ids),
        best_trial=best.number,
        best_run_id=best.user_attrs.get(RUN_ID_ATTR),
        best_value=value,
        best_params=json_dict("param", _mapping(params), nested=False),
        varied_params=_varied(trials),
    )


def _varied(trials: Sequence[Any]) -> tuple[str, ...]:
    """Names of the parameters that took more than one value over the trials (compared as JSON text)."""
    seen: dict[str, set[str]] = {}
    for trial in trials:
        for name, value in _mapping(trial.user_attrs.get(PARAMS_ATTR, trial.params)).items():
            seen.setdefault(name, set()).add(json.dumps(value, sort_keys=True, default=str))
    return tuple(sorted(name for name, values in seen.items() if len(values) > 1))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _nothing_completed(study: optuna.Study, name: str) -> TaxiwayError:
    errors = [t.user_attrs.get(ERROR_ATTR) for t in study.get_trials(deepcopy=False)]
    first = next((error for error in errors if error), None)
    return TaxiwayError(
        f"no trial of study '{name}' completed ({len(errors)} trials)"
        + (f"; the first error: {first}" if first else ""),
        hint="fix the model code or narrow search_space() in pipeline.py; the failed trials are runs of "
        "kind 'trial' (`taxiway runs --kind trial --status failed`)",
    )
