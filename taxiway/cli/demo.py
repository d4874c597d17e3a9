"""`taxiway demo`: the whole pipeline on real flights data, printed stage by stage."""

from __future__ import annotations

from pathlib import Path

import typer

from taxiway.cli.output import stdout
from taxiway.cli.ui import DEFAULT_PORT

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`


@app.command("demo")
def demo(
    directory: Path = typer.Option(
        Path("demo-project"), "--dir", help="where to build the demo project", file_okay=False
    ),
    quick: bool = typer.Option(False, "--quick", help="use a 20,000-flight sample so it finishes fast"),
    fresh: bool = typer.Option(False, "--fresh", help="delete the demo project first"),
) -> None:
    """The NYC flights of 2013 end to end: charter, data, training, validation, serving, checklist."""
    from taxiway.checklist import to_rich
    from taxiway.cli.train import render_training
    from taxiway.cli.validate import render_validation
    from taxiway.demo.run import run_demo  # pandas, scikit-learn: loaded only when the demo runs

    console = stdout()
    result = run_demo(directory.resolve(), quick=quick, fresh=fresh, console=console)
    render_training(result.training, console)
    render_validation(result.validation, console)
    console.print(to_rich(result.report))
    summary = result.report.summary
    console.rule("what the demo did")
    console.print(f"project folder   {result.root}")
    console.print(f"charter          {result.root / 'taxiway.toml'}")
    console.print(f"dataset version  {result.added.version.id[:12]} ({result.added.version.n_rows:,} rows)")
    console.print(f"runs             {len(result.training.runs)} trained: `taxiway runs` lists them")
    console.print(f"verdict          {result.training.verdict.sentence()}", highlight=False)
    blessed = "blessed" if result.version.is_blessed else f"forced: {result.version.reason}"
    console.print(f"model version    {result.version.name} (production; {blessed})", highlight=False)
    serving = result.serving
    console.print(
        f"serving          {serving.first.name} live, {serving.second.name} shadowed, promoted, rolled back "
        f"(`taxiway status`); test traffic: {serving.traffic.answered:,} answered, "
        f"{sum(serving.traffic.fallbacks.values()):,} by the fallback, "
        f"{sum(serving.traffic.refused.values()):,} refused",
        highlight=False,
    )
    console.print(f"serve it         taxiway serve --project {result.root}  ->  http://127.0.0.1:8000/docs")
    console.print(f"store            {result.root / '.taxiway'}")
    console.print(
        f"checklist        {summary['proven']} proven, {summary['answered']} answered in the charter, "
        f"{summary['missing'] + summary['failed']} still to do; ML Test Score {result.report.score.final:g} "
        f"({result.report.score.band})"
    )
    console.print(f"checklist page   {result.checklist_file}")
    console.print(
        f"dashboard        taxiway ui --project {result.root}  ->  http://127.0.0.1:{DEFAULT_PORT}/ "
        "(runs, compare, data, checklist, models, deployments, monitoring, CI · CD · CT; starting it records "
        "the url for the checklist)"
    )
    console.print(f"next             cd {result.root} && taxiway check")
