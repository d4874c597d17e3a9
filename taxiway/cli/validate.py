"""`taxiway validate RUN`: the gates a run must pass before it may be registered and served."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, new_table, stderr, stdout
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store.checks import Check

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

_UNITS = {"latency_p99": " ms", "memory": " MB", "throughput": " rows/s"}
_STATUS = {"pass": "[green]✓ pass[/]", "fail": "[red]✗ fail[/]", "skip": "[dim]– skip[/]"}


@app.command("validate")
def validate(
    run: Annotated[
        str | None,
        typer.Argument(
            help="run id or unique prefix (default: the best candidate of the latest `taxiway train`)",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Evaluate a run and apply every gate; bless it when all pass, exit 1 when one fails."""
    from taxiway.validate.judge import validate_run  # scikit-learn, fairlearn: loaded when it runs

    project = Project.load()
    try:
        ref = run or _best_candidate(project)
        with stderr().status("validating ...") as status:
            report = validate_run(
                project, ref, progress=lambda step: status.update(f"validating: {step} ...")
            )
    finally:
        project.store.close()
    if output is TableFormat.json:
        emit_json(document(report))
    else:
        render_validation(report, stdout())
    if not report.blessing.passed:
        raise typer.Exit(1)


def _best_candidate(project: Project) -> str:
    latest = project.store.evidence.latest([Check.TRAIN_BASELINES]).get(Check.TRAIN_BASELINES)
    if latest is None:
        raise TaxiwayError(
            "no RUN given, and no training verdict to take the best candidate from",
            hint="train first (taxiway train), or name a run: taxiway validate RUN (taxiway runs lists them)",
        )
    return latest.subject_id


def document(report: Any) -> dict[str, Any]:
    """The `--format json` document of one validation."""
    blessing, evaluation = report.blessing, report.evaluation
    return {
        "run_id": blessing.run_id,
        "run_name": evaluation.run_name,
        "blessing_id": blessing.id,
        "passed": blessing.passed,
        "failed": blessing.failed,
        "created_at": blessing.created_at,
        "metric": evaluation.metric,
        "gates": [gate.to_json() for gate in blessing.gates],
        "test": blessing.test_metrics,
        "failure_predictor": blessing.evaluation.get("failure_predictor"),  # null: the run has none
        "evaluation": blessing.evaluation,
    }


def render_validation(report: Any, console: Console) -> None:
    """The gates as a table, then what the evaluation found beyond them, then the verdict."""
    blessing, ev = report.blessing, report.evaluation
    table = new_table(
        [("gate", "left"), ("status", "left"), ("value", "right"), ("threshold", "right")],
        title=f"Gates for run {blessing.run_id} ({ev.run_name}), ranked by {ev.metric}",
    )
    table.add_column("what was measured", overflow="fold")
    for gate in blessing.gates:
        unit = _UNITS.get(gate.gate, "")
        table.add_row(
            gate.gate,
            _STATUS[gate.status],
            _number(gate.value, unit),
            _number(gate.threshold, unit),
            gate.summary,
        )
    console.print(table)
    test = blessing.test_metrics
    if test.get("value") is not None:
        console.print(
            f"held-out test: {ev.metric} {test['value']:.4g} on {test['rows']:,} rows "
            "(recorded once, at validation; never used to choose a model)",
            highlight=False,
        )
    if ev.staleness is not None:
        console.print(
            f"staleness: {ev.staleness.loss_per_month:+.4g} {ev.metric} lost per month of model age "
            f"({len(ev.staleness.windows)} training windows)",
            highlight=False,
        )
    if report.failure is not None:
        console.print(f"failure predictor: {report.failure.summary()}", highlight=False)
        switch = (blessing.evaluation.get("failure_predictor") or {}).get("switch")
        if switch and switch.startswith("off"):
            console.print(f"[yellow]warning:[/] failure predictor switched {switch}", highlight=False)
        elif switch:
            console.print(f"failure predictor switched {switch}", highlight=False)
    useless = [f.feature for f in ev.feature_values if not f.helps]
    if useless:
        console.print(
            f"features that do not help (permutation importance): {', '.join(useless)}", highlight=False
        )
    for note in ev.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    if blessing.passed:
        console.print(
            f"[green]✓[/] blessed (blessing #{blessing.id}): register it with "
            f"`taxiway register {blessing.run_id}`",
            highlight=False,
        )
    else:
        console.print(
            f"[red]✗[/] not blessed (blessing #{blessing.id}): {', '.join(blessing.failed)} failed",
            highlight=False,
        )


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}{unit}" if abs(value) >= 1000 else f"{value:.4g}{unit}"
