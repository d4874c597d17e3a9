"""`taxiway explain RUN --row JSON`: one prediction, step by step, and the columns that drove it."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, new_table, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

SHOWN_STEP_VALUES = 12  # a one-hot step can output hundreds of columns; text shows the first ones


@app.command("explain")
def explain(
    run: str = typer.Argument(..., help="the run whose model predicts: its id or a unique prefix"),
    row: str = typer.Option(
        ..., "--row", help="the example as a JSON object of column → value, e.g. '{\"dewp\": 41.0}'"
    ),
    score_class: str = typer.Option(
        None,
        "--class",
        help="explain this class's probability (default: the positive class)",
        show_default=False,
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Show every pipeline step's output for one row, the prediction, and each column's contribution."""
    from taxiway.validate.explain import explain_row, parse_row

    given = parse_row(row)
    project = Project.load()
    try:
        explanation = explain_row(project, run, given, score_class=score_class)
    finally:
        project.store.close()
    document = explanation.to_dict()
    if output is Format.json:
        emit_json(document)
    else:
        render_explanation(document, stdout())


def render_explanation(document: dict[str, Any], console: Console) -> None:
    """Print the input, each step's output, the prediction and the contributions, largest first."""
    console.print(f"run {document['run_id']} ({document['run_name']}), {document['task']}", highlight=False)
    inputs = Table(title="input")
    for header in ("column", "value", ""):
        inputs.add_column(header)
    for column, value in document["input"].items():
        filled = "filled: typical training value" if column in document["filled"] else ""
        inputs.add_row(column, _show(value), filled)
    console.print(inputs)
    for number, step in enumerate(document["steps"], start=1):
        # Headings as lines, not table titles: Rich wraps a title to the table's width.
        console.print(f"step {number}: {step['name']} ({step['transformer']})", highlight=False)
        table = Table()
        table.add_column("output")
        table.add_column("value", justify="right")
        items = list(step["output"].items())
        for name, value in items[:SHOWN_STEP_VALUES]:
            table.add_row(name, _show(value))
        if len(items) > SHOWN_STEP_VALUES:
            table.add_row(f"… {len(items) - SHOWN_STEP_VALUES} more (--format json shows all)", "")
        console.print(table)
    what = "predicted value" if document["score_class"] is None else f"P(class {document['score_class']})"
    console.print(
        f"prediction: {_show(document['prediction'])}; {what} = {document['score']:.4g} "
        f"(every column typical: {document['reference_score']:.4g})",
        highlight=False,
    )
    console.print(f"contributions to {what}, by {document['method']}", highlight=False)
    table = new_table(
        [("column", "left"), ("value", "right"), ("typical", "right"), ("contribution", "right")]
    )
    for item in document["contributions"]:
        table.add_row(
            item["column"], _show(item["value"]), _show(item["reference"]), f"{item['contribution']:+.4g}"
        )
    console.print(table)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else json.dumps(value) if not isinstance(value, str) else value
