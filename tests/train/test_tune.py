"""`taxiway train --tune N`: an Optuna study beside the store, trials as child runs, pruning, two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.errors import StoreError
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.store.tables import Base
from taxiway.train._study_storage import OPTUNA_SCHEMA, study_storage
from taxiway.train.runs import get_run, list_runs, metric_history
from tests.backend import BACKEND
from tests.train.test_train_cli import weather_rows

# A tuning worker: adds its trials to the shared study and trains nothing else.
WORKER = """
import json, sys
from pathlib import Path
from taxiway.project import Project
from taxiway.train.tune import tune_project
report = tune_project(Project.load(Path(sys.argv[1])), n_trials=int(sys.argv[2]), study_name=sys.argv[3])
print(json.dumps(report.to_dict()))
"""
PIPELINE = """
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder


def model(params):
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    features = ColumnTransformer(
        [("categories", encoder, make_column_selector(dtype_include=["object", "string"])),
         ("numbers", "passthrough", make_column_selector(dtype_include="number"))]
    )
    return Pipeline([("features", features), ("model", HistGradientBoostingClassifier(**params))])
"""
SEARCH_SPACE = """

def search_space(trial):
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 32, log=True),
        "max_iter": 40,
    }
"""
# The first three trials learn; the later ones take steps a thousand times smaller and are still near the
# prior after the first stage, where the median pruner stops them.
PRUNED_LATER = """

def search_space(trial):
    return {"learning_rate": 0.1 if trial.number < 3 else 1e-4, "max_iter": 40}
"""


def _tuning_project(root: Path, make_project: Callable[..., Path], runner: CliRunner, space: str) -> Path:
    make_project(root, target="warm", answers={"problem.ranking_metric": "log_loss"})
    weather_rows(1_500).to_csv(root / "weather.csv", index=False)
    (root / "pipeline.py").write_text(PIPELINE + space)
    added = runner.invoke(app, ["--project", str(root), "data", "add", str(root / "weather.csv")])
    assert added.exit_code == 0, added.output
    return root


def test_two_workers_share_one_study_and_lose_no_trial(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXIWAY_") or k == "TAXIWAY_STORE_URI"}
    root = _tuning_project(tmp_path / "p", make_project, runner, SEARCH_SPACE)
    command = [sys.executable, "-c", WORKER, str(root), "3", "shared"]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err.decode()
        reports.append(json.loads(out))

    project = Project.load(root)
    storage = study_storage(project.location.database)
    rdb = optuna.storages.RDBStorage(storage.url, engine_kwargs=storage.engine_kwargs)
    study = optuna.load_study(study_name="shared", storage=rdb)
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    rdb.engine.dispose()
    assert sorted(t.number for t in trials) == list(range(6)), "each worker added its 3 trials"
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    trial_runs = [t.user_attrs["taxiway_run_id"] for t in trials]
    assert len(set(trial_runs)) == 6, "one run per trial, none shared"
    here = [run_id for report in reports for run_id in report["trial_run_ids"]]
    assert sorted(here) == sorted(trial_runs), "the workers recorded exactly the study's trials"

    parent_id = reports[0]["parent_run_id"]
    assert reports[1]["parent_run_id"] == parent_id, "one parent run for the study"
    store = project.store
    runs = [run for run in list_runs(store, kind="trial") if run.tags.get("study") == "shared"]
    assert sorted(run.id for run in runs) == sorted(trial_runs)
    assert all(run.parent_id == parent_id and run.status == "finished" for run in runs)
    parent = get_run(store, parent_id)
    assert parent.params == best.user_attrs["taxiway_params"] and parent.tags["n_trials"] == 6
    assert parent.metrics["log_loss"] == pytest.approx(best.value) and parent.status == "finished"
    assert parent.kind == "custom" and parent.tags["role"] == "study"

    # Optuna's tables (and its own alembic_version) live beside taxiway's, never among them.
    engine = store.engine
    assert "studies" not in inspect(engine).get_table_names()
    if BACKEND == "postgresql":
        assert "studies" in inspect(engine).get_table_names(schema=OPTUNA_SCHEMA)
    else:
        assert storage.sqlite_path is not None and storage.sqlite_path.is_file()
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.close()


def test_a_trial_worse_than_the_median_is_pruned_after_its_first_stage(
    runner: CliRunner, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    root = _tuning_project(tmp_path / "p", make_project, runner, PRUNED_LATER)
    result = runner.invoke(app, ["--project", str(root), "train", "--tune", "5", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    study = json.loads(result.stdout)["study"]
    assert (study["n_trials"], study["n_complete"], study["n_pruned"], study["n_failed"]) == (5, 3, 2, 0)
    assert study["best_params"] == {"learning_rate": 0.1, "max_iter": 40}

    store = Project.load(root).store
    runs = {get_run(store, run_id).name: get_run(store, run_id) for run_id in study["trial_run_ids"]}
    for name in ("trial 0", "trial 1", "trial 2"):
        assert runs[name].tags["trial_state"] == "complete"
        steps = [step for step, _, _ in metric_history(store, runs[name].id, "log_loss")]
        assert steps[:4] == [10, 20, 30, 40], "reported after each of the 4 boosting stages"
    for name in ("trial 3", "trial 4"):
        run = runs[name]
        assert run.status == "finished" and run.tags["trial_state"] == "pruned"
        assert [step for step, _, _ in metric_history(store, run.id, "log_loss")] == [10]
        assert run.params["learning_rate"] == 1e-4
    tuned = store.evidence.latest([Check.TRAIN_TUNED])[Check.TRAIN_TUNED]
    assert tuned.details["parent_run_id"] == study["parent_run_id"]
    # Three finished trials over one searched parameter, the tree's other parameters left at their defaults:
    # not "all hyperparameters tuned".
    assert tuned.status == "fail" and tuned.value == 0.0
    assert tuned.details["coverage"]["searched"] == ["learning_rate"]
    assert tuned.details["coverage"]["fixed"] == ["max_iter"]
    candidate = get_run(store, tuned.subject_id)
    assert candidate.kind == "candidate" and study["candidate_run_id"] == candidate.id
    assert candidate.params["learning_rate"] == 0.1 and candidate.params["max_iter"] == 40
    assert candidate.lineage["model_params"] == study["best_params"], "the exact model(params) input"
    assert get_run(store, study["parent_run_id"]).params == study["best_params"]

    checked = runner.invoke(app, ["--project", str(root), "check", "--format", "json"])
    points = {t["id"]: t["points"] for t in json.loads(checked.stdout)["ml_test_score"]["tests"]}
    assert points["M3"] == 0.0, "a tuning study that left parameters untuned"
    store.close()


@pytest.mark.parametrize(
    ("args", "space", "message"),
    [
        (["--tune", "2"], "", "defines no search_space(trial) function"),
        (["--tune", "2"], "\ndef search_space(trial):\n    return [1, 2]\n", "returned list, not a dict"),
        (["--tune", "2"], "\ndef search_space(trial):\n    return trial.no_such()\n", "search_space() in"),
        (["--tune", "0"], SEARCH_SPACE, "Invalid value for '--tune'"),
    ],
)
def test_bad_tuning_input_exits_2_with_a_hint(
    runner: CliRunner,
    tmp_path: Path,
    make_project: Callable[..., Path],
    args: list[str],
    space: str,
    message: str,
) -> None:
    root = _tuning_project(tmp_path / "p", make_project, runner, space)
    result = runner.invoke(app, ["--project", str(root), "train", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    runs: list[Any] = list_runs(Project.load(root).store)
    assert all(run.status != "running" for run in runs)


def test_importing_taxiway_does_not_load_optuna() -> None:
    code = "import sys, taxiway, taxiway.cli; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_the_study_never_shares_a_database_schema_with_taxiway(tmp_path: Path) -> None:
    sqlite = study_storage(f"sqlite:///{tmp_path}/.taxiway/team.db")
    assert sqlite.url == f"sqlite:///{tmp_path}/.taxiway/team.optuna.db"
    postgres = study_storage("postgresql+psycopg://ana:secret@db/ml")
    assert postgres.engine_kwargs["connect_args"]["options"] == f"-c search_path={OPTUNA_SCHEMA}"
    assert "secret" not in postgres.shown and "secret" in postgres.url
    with pytest.raises(StoreError, match="in-memory database") as caught:
        study_storage("sqlite://")
    assert "use a database file" in caught.value.hint


def test_the_retry_attribute_is_the_one_optuna_reads() -> None:
    """study_progress reads Optuna's retry mark itself (Optuna's reader warns on every call): the same key."""
    import warnings

    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import create_trial

    from taxiway.train._study_loop import RETRY_OF_ATTR

    retry = create_trial(state=optuna.trial.TrialState.WAITING, system_attrs={RETRY_OF_ATTR: 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 3
