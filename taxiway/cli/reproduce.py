"""`taxiway reproduce RUN`: retrain a run from its lineage and say whether the same model comes out."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, stderr, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

_VERDICTS = {
    "reproduced": "[green]✓ reproduced[/]: the same predictions on every validation row, the same metrics",
    "differs": "[red]✗ not reproduced[/]: retraining is deterministic, but the model differs from the run's",
    "not_deterministic": "[red]✗ not reproducible[/]: two retrainings from the same lineage disagree",
}


@app.command("reproduce")
def reproduce(
    run: str = typer.Argument(..., help="the run to retrain: its id or a unique prefix (r-3f2a)"),
    output: Format = FORMAT_OPTION,
) -> None:
    """Retrain RUN from its recorded data, split, seed and code; exit 1 when the result differs."""
    from taxiway.train.reproduce import reproduce_run

    project = Project.load()
    try:
        with stderr().status(f"retraining {run} from its lineage"):
            report = reproduce_run(project, run)
    finally:
        project.store.close()
    if output is Format.json:
        emit_json(report.to_dict())
    else:
        render_reproduction(report.to_dict(), stdout())
    if not report.is_reproduced:
        raise typer.Exit(1)


def render_reproduction(document: dict[str, Any], console: Console) -> None:
    """Print the verdict, the comparisons behind it, the differing rows and the environment changes."""
    code = document["code"]
    where = (
        f"commit {code['commit'][:12]}" + (" + the recorded diff" if code["diff_applied"] else "")
        if code["commit"]
        else "the working folder (no commit recorded)"
    )
    console.print(f"run {document['run_id']} ({document['run_name']}), code from {where}", highlight=False)
    table = Table(title="retrained vs recorded")
    for header in ("comparison", "rows", "rows differing", "largest difference", "metrics differing"):
        table.add_column(header, justify="left" if header == "comparison" else "right")
    shown = (
        ("retrained vs the run", document["against_recorded"]),
        ("second vs first retraining", document["between_retrainings"]),
    )
    for label, found in shown:
        if found is not None:
            table.add_row(
                label,
                str(found["rows"]),
                str(found["rows_differing"]),
                f"{found['max_difference']:.3g}",
                _names(list(found["metrics_differing"])),
            )
    console.print(table)
    for (label, found), (old, new) in zip(
        shown, (("recorded", "retrained"), ("first", "second")), strict=True
    ):
        if found is not None and found["examples"]:
            rows = Table(title=f"rows that differ ({label}, largest first)")
            for header in ("row", old, new, f"scores {old}", f"scores {new}"):
                rows.add_column(header)
            for row in found["examples"]:
                rows.add_row(
                    row["row_key"],
                    str(row["recorded"]),
                    str(row["reproduced"]),
                    _scores(row["recorded_scores"]),
                    _scores(row["reproduced_scores"]),
                )
            console.print(rows)
    if document["environment_differences"]:
        env = Table(title="environment: recorded vs now")
        for header in ("name", "recorded", "now"):
            env.add_column(header)
        for item in document["environment_differences"]:
            env.add_row(item["name"], str(item["recorded"] or "-"), str(item["current"] or "-"))
        console.print(env)
    for note in document["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(_VERDICTS[document["verdict"]], highlight=False)


def _names(names: list[str], shown: int = 3) -> str:
    if not names:
        return "-"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _scores(values: list[float]) -> str:
    return ", ".join(f"{value:.6g}" for value in values)
