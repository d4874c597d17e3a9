"""`taxiway ct run`, `taxiway ct daemon` and `taxiway ct simulate`: continuous training."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from taxiway.cli.output import FORMAT_OPTION, Format, new_table, show_report, stderr
from taxiway.errors import TaxiwayError
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

ct_app = typer.Typer(
    help="Continuous training: retrain when the charter's triggers fire; simulate policies on past data."
)
app.add_typer(ct_app, name="ct")


@ct_app.command("run")
def run(output: Format = FORMAT_OPTION) -> None:
    """One pass: judge the triggers; retrain, validate against live and hand a better model to CD."""
    from taxiway.ct.run import run_ct

    project = Project.load()
    try:
        with stderr().status("ct: judging the triggers ...") as status:
            result = run_ct(project, progress=lambda step: status.update(f"ct: {step} ..."))
    finally:
        project.store.close()
    show_report(result.document(), output, render_pass)


@ct_app.command("daemon")
def daemon(
    interval: float = typer.Option(3600.0, "--interval", min=1, help="seconds between passes"),
    passes: int = typer.Option(
        0, "--passes", min=0, help="stop after this many passes (0: run until Ctrl+C)"
    ),
) -> None:
    """Run `taxiway ct run` every --interval seconds, then `taxiway cd run`; Ctrl+C stops it."""
    from taxiway.cd.step import advance
    from taxiway.ct.lock import Busy
    from taxiway.ct.run import run_ct

    done = 0
    try:
        while passes == 0 or done < passes:
            project = Project.load()  # again each pass: the charter may have changed
            try:
                result = run_ct(project)
                typer.echo(f"ct: {result.action}: {result.why}")
                if project.charter is not None:
                    step = advance(project)
                    typer.echo(f"cd: {step.action}: {step.why}")
            except Busy as busy:
                typer.echo(f"ct: {busy.message}")
            except TaxiwayError as error:
                typer.echo(f"ct: {error.message}", err=True)
            finally:
                project.store.close()
            done += 1
            if passes == 0 or done < passes:
                time.sleep(interval)
    except KeyboardInterrupt:
        typer.echo("ct daemon: stopped")


@ct_app.command("simulate")
def simulate_command(
    file: Path = typer.Option(
        None,
        "--file",
        help="a CSV or Parquet file to replay (default: the newest dataset version)",
        show_default=False,
    ),
    time_column: str = typer.Option(
        None, "--time-column", help="default: the charter's data.time_column", show_default=False
    ),
    delay: int = typer.Option(7, "--label-delay-days", min=0, help="days before a row's label arrives"),
    warmup: int = typer.Option(30, "--warmup-days", min=1, help="days of data the first model trains on"),
    policy: list[str] = typer.Option(
        None, "--policy", help="a policy to replay (repeatable; default: all)", show_default=False
    ),
    output: Format = FORMAT_OPTION,
) -> None:
    """Replay time-ordered data day by day and compare retraining policies: metric, retrains, days stale."""
    from taxiway.ct.simulate import POLICIES, Settings, simulate

    project = Project.load()
    charter = project.charter
    try:
        frame = _frame(project, file)
    finally:
        project.store.close()
    column = time_column or charter.data.time_column
    if column is None:
        raise TaxiwayError(
            "ct simulate replays data in time order: which column is time?",
            hint="pass --time-column NAME, or set data.time_column in taxiway.toml",
        )
    settings = Settings(
        time_column=column,
        target=charter.problem.target,
        label_delay_days=delay,
        warmup_days=warmup,
        freshness_days=charter.serving.freshness_days or 30,
        max_retrains=charter.ct.max_retrains,
        budget_days=int(charter.ct.budget_days),
        window_days=charter.ct.window_days,  # every policy trains on the window `ct run` would use
        quality_drop=charter.problem.smallest_improvement or 0.02,
    )
    with stderr().status("replaying ...") as status:
        outcomes = simulate(
            frame,
            settings,
            policies=policy or POLICIES,
            progress=lambda p: status.update(f"replaying {p} ..."),
        )
    from taxiway.ct.kept import keep_simulation

    project = Project.load()
    try:  # kept as a run: the dashboard's CI · CD · CT page draws the newest
        run_id = keep_simulation(
            project.store, {"settings": settings.__dict__, "policies": [o.kept() for o in outcomes]}
        )
    finally:
        project.store.close()
    show_report(
        {"settings": settings.__dict__, "policies": [o.summary() for o in outcomes], "run_id": run_id},
        output,
        render_simulation,
    )


def _frame(project: Project, file: Path | None) -> Any:
    if file is not None:
        from taxiway.data.reading import read_table

        return read_table(file)
    from taxiway.data.versions import latest_dataset, load_dataset

    version = latest_dataset(project.store)
    if version is None:
        raise TaxiwayError("no data to replay", hint="pass --file FILE, or add data: taxiway data add FILE")
    return load_dataset(project.store, version)


def render_pass(document: dict[str, Any], console: Console) -> None:
    """The triggers that fired, the window trained on (ct.window_days), then what the pass did and why."""
    for trigger in document["triggers"]:
        console.print(f"▸ {trigger['kind']}: {trigger['why']}", highlight=False, markup=False)
    window = document["details"].get("window")
    if window:
        console.print(
            f"window: the newest {window['days']:g} days of {window['time_column']}, {window['first']} "
            f"to {window['last']}: {window['rows_used']:,} rows used, "
            f"{window['rows_before_window']:,} before it",
            highlight=False,
            markup=False,
        )
    console.print(f"{document['action']}: {document['why']}", highlight=False, markup=False)


def render_simulation(document: dict[str, Any], console: Console) -> None:
    """One row per policy, with the difference to retraining every day when it was replayed."""
    rows = document["policies"]
    daily = next((row for row in rows if row["policy"] == "daily"), None)
    table = new_table(
        (
            ("policy", "left"),
            ("ROC AUC", "right"),
            ("vs daily", "right"),
            ("retrains", "right"),
            ("promoted", "right"),
            ("days stale", "right"),
        ),
        title=f"replayed with labels {document['settings']['label_delay_days']} days late",
    )
    for row in rows:
        versus = f"{row['roc_auc'] - daily['roc_auc']:+.4f}" if daily else "-"
        table.add_row(
            row["policy"],
            f"{row['roc_auc']:.4f}",
            versus,
            str(row["retrains"]),
            str(row["promoted"]),
            str(row["stale_days"]),
        )
    console.print(table)
    console.print(
        f"kept as run {document['run_id']}: the chart is on the dashboard's CI · CD · CT page (/loop)",
        highlight=False,
        markup=False,
    )
