"""`taxiway train`: baselines and the candidate on the current split, ranked, with a plain verdict."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, new_table, stderr, stdout
from taxiway.measure.metrics import METRICS
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`


@app.command("train")
def train(
    output: Format = FORMAT_OPTION,
    tune: int = typer.Option(
        None,
        "--tune",
        min=1,
        help="first run N trials of an Optuna study over search_space() in pipeline.py; the candidate "
        "gets the best parameters (several processes may tune one study at once)",
        show_default=False,
    ),
    study: str = typer.Option(
        None,
        "--study",
        help="the study to tune (default: one per project, metric, split and model code)",
        show_default=False,
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=256,
        help="with --tune: processes on this machine that share the trials (more join from other machines "
        "with `taxiway tune-worker`)",
    ),
    heartbeat: float = typer.Option(
        10.0,
        "--heartbeat",
        min=0.5,
        max=600,
        help="with --tune: seconds between a trial's heartbeats; a trial silent for 3 is retried elsewhere",
    ),
) -> None:
    """Train the baselines and the candidate; exit 1 when the candidate does not beat the best baseline."""
    from taxiway.train.runner import train_project
    from taxiway.train.setup import ModelSpec, TrainedRun, TrainProgress

    project = Project.load()

    class _Bar(TrainProgress):
        def __init__(self, bar: Progress) -> None:
            self.bar = bar
            self.task = bar.add_task("training", total=None)

        def started(self, spec: ModelSpec, index: int, total: int) -> None:
            self.bar.update(self.task, total=total, description=f"fitting {spec.name} ({spec.kind})")

        def finished(self, spec: ModelSpec, run: TrainedRun) -> None:
            self.bar.advance(self.task)

        def trial(self, number: int, index: int, total: int) -> None:
            self.bar.update(self.task, total=total, completed=index, description=f"tuning: trial {number}")

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=stderr(), transient=True) as bar:
            report = train_project(
                project,
                progress=_Bar(bar),
                tune=tune,
                study_name=study,
                workers=workers,
                heartbeat_s=heartbeat,
            )
    finally:
        project.store.close()
    verdict = report.verdict
    if output is Format.json:
        emit_json(_document(report))
    else:
        render_training(report, stdout())
    if not verdict.beats_baselines:
        raise typer.Exit(1)


@app.command("tune-worker")
def tune_worker(
    study: str = typer.Option(
        None,
        "--study",
        help="the study to join (default: the one `taxiway train --tune` makes for this code, data, metric)",
        show_default=False,
    ),
    heartbeat: float = typer.Option(
        10.0,
        "--heartbeat",
        min=0.5,
        max=600,
        help="seconds between a trial's heartbeats; a trial silent for 3 of them is retried elsewhere",
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Work on a tuning study another machine started, until it has the trials it was asked for.

    Start the study with `taxiway train --tune N` on one machine; run `taxiway tune-worker` on others whose
    checkout reaches the same store (PostgreSQL) and artifacts (e.g. S3). A worker killed mid-trial loses
    no finished trial: its trial is retried by another worker once it has missed 3 heartbeats.
    """
    from taxiway.train.tune import join_study

    project = Project.load()
    try:
        report = join_study(project, study_name=study, heartbeat_s=heartbeat)
    finally:
        project.store.close()
    if output is Format.json:
        emit_json(report.to_dict())
    else:
        stdout().print(_study_line(report), markup=False, highlight=False)


def _ranked(report: Any) -> list[Any]:
    direction = 1 if METRICS[report.metric].greater_is_better else -1
    return sorted(report.runs, key=lambda r: -direction * _metric(r, report.metric))


def _metric(run: Any, metric: str) -> float:
    return float(
        run.cost.expected_cost if metric == "expected_cost" else run.metrics.get(metric, float("nan"))
    )


def render_training(report: Any, console: Console) -> None:
    """Print the ranked runs table with the good-enough line, then the verdict."""
    verdict = report.verdict
    table = new_table(
        (
            ("run", "left"),
            ("name", "left"),
            ("kind", "left"),
            (report.metric, "right"),
            ("expected cost", "right"),
            ("threshold", "right"),
            ("fit", "right"),
            ("predict p99", "right"),
        ),
        title=f"Runs on dataset {report.dataset.id[:12]}, split {report.split.id[:12]} "
        f"({report.split.strategy}), ranked by {report.metric} on validation",
    )
    line_drawn = verdict.good_enough is None
    for run in _ranked(report):
        value = _metric(run, report.metric)
        if not line_drawn and not _reaches(report.metric, value, verdict.good_enough):
            table.add_row(
                "", f"── good enough: {verdict.good_enough:g} ──", "", "", "", "", "", "", style="yellow"
            )
            line_drawn = True
        threshold = f"{run.cost.threshold:.3f}" if run.cost.threshold is not None else "-"
        table.add_row(
            run.run_id,
            run.name,
            run.kind + (" ◆" if run.kind == "baseline" else ""),
            f"{value:.4f}",
            f"{run.cost.expected_cost:.4f}",
            threshold,
            f"{run.resources['fit_seconds']:.2f} s",
            f"{run.resources['predict_row_p99_ms']:.2f} ms",
            style="bold" if run.run_id == verdict.best_candidate.run_id else None,
        )
    if not line_drawn:
        table.add_row(
            "", f"── good enough: {verdict.good_enough:g} ──", "", "", "", "", "", "", style="yellow"
        )
    console.print(table)
    if report.study is not None:
        console.print(_study_line(report.study), markup=False, highlight=False)
    mark = "[green]✓[/]" if verdict.beats_baselines else "[red]✗[/]"
    console.print(f"{mark} {verdict.sentence()}", markup=True, highlight=False)


def _study_line(study: Any) -> str:
    params = ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in study.best_params.items()
    )
    return (
        f"tuned: study {study.name} (run {study.parent_run_id}), {study.n_trials} trials "
        f"({study.n_complete} complete, {study.n_pruned} pruned, {study.n_failed} failed); best "
        f"{study.metric} {study.best_value:.4f} at trial {study.best_trial}: {params or 'no parameters'}"
    )


def _reaches(metric: str, value: float, bar: float | None) -> bool:
    if bar is None:
        return True
    return value >= bar if METRICS[metric].greater_is_better else value <= bar


def _document(report: Any) -> dict[str, Any]:
    verdict = report.verdict
    return {
        "dataset_id": report.dataset.id,
        "split_id": report.split.id,
        "metric": report.metric,
        "runs": [
            {
                "run_id": run.run_id,
                "name": run.name,
                "kind": run.kind,
                "value": _metric(run, report.metric),
                "metrics": run.metrics,
                "expected_cost": run.cost.expected_cost,
                "threshold": run.cost.threshold,
                "resources": run.resources,
            }
            for run in _ranked(report)
        ],
        "verdict": {
            "best_baseline": verdict.best_baseline.run_id,
            "best_candidate": verdict.best_candidate.run_id,
            "improvement": verdict.improvement,
            "smallest_improvement": verdict.smallest_improvement,
            "beats_baselines": verdict.beats_baselines,
            "good_enough": verdict.good_enough,
            "is_good_enough": verdict.is_good_enough,
            "baselines_good_enough": verdict.baselines_good_enough,
            "sentence": verdict.sentence(),
        },
        "study": report.study.to_dict() if report.study is not None else None,
    }
