"""`taxiway status`: the desired deployment, the servers applying it, and each version's figures over the
last minutes; exit 1 when a running server does not serve the desired state."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from taxiway.cli.deployment_tables import fraction, percent, print_replicas, replica_json, state_json
from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, new_table, stdout
from taxiway.display import when
from taxiway.project import Project

app = typer.Typer()  # this module's command; taxiway.cli.app lists it in `taxiway --help`

if TYPE_CHECKING:  # the deploy package loads the registry; keep `taxiway --help` quick
    from taxiway.deploy import DeploymentState, RoleFigures

HISTORY_SHOWN = 10  # changes listed by `taxiway status`


@app.command("status")
def status(
    window: Annotated[int, typer.Option("--window", min=1, help="minutes of serving figures to add up")] = 15,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """The desired deployment, the servers applying it, and each version's figures over the last minutes.

    Exit 1 when a running server does not serve the desired state (it refused it, or serves another live
    version), and name why.
    """
    from taxiway.deploy import deployment_history, desired_state, list_replicas, role_figures
    from taxiway.deploy.health import candidate_alerts, not_served
    from taxiway.store.tables import utcnow

    now = utcnow()
    since = now - dt.timedelta(minutes=window)
    project = Project.load()
    store = project.store
    try:
        desired = desired_state(store)
        # Stale and stopped servers stay on show for the window, so a crash there is not hidden.
        replicas = [
            r for r in list_replicas(store, include_stale=True) if r.is_alive(now) or r.heartbeat_at >= since
        ]
        figures = role_figures(store, since)
        history = deployment_history(store, limit=HISTORY_SHOWN)
    finally:
        store.close()
    problems = not_served(desired, [r for r in replicas if r.is_alive(now)])
    alerts = candidate_alerts(desired, figures)
    if output is TableFormat.json:
        emit_json(
            {
                "state": state_json(desired),
                "served": not problems,
                "problems": problems,
                "alerts": alerts,
                "replicas": [replica_json(r, now) for r in replicas],
                "window_minutes": window,
                "since": since,
                "figures": [f.to_json() for f in figures],
                "history": [state_json(s) for s in history],
            }
        )
    else:
        console = stdout()
        _print_state(console, desired)
        print_replicas(console, replicas, now)
        _print_figures(console, figures, window, desired)
        for line in problems + alerts:
            console.print(f"[bold red]![/] {line}", highlight=False)
    if problems:
        raise typer.Exit(1)


def _print_state(console: Console, state: DeploymentState) -> None:
    console.print(f"[bold]Desired deployment[/]: {state.describe()}", highlight=False)
    if state.generation == 0:
        console.print("deploy a registered version with: taxiway deploy vN")
        return
    console.print(
        f"  {state.action} at {when(state.created_at)}"
        + (" (forced)" if state.forced else "")
        + (f": {state.reason}" if state.reason else ""),
        highlight=False,
    )


def _print_figures(
    console: Console, figures: list[RoleFigures], window: int, desired: DeploymentState | None = None
) -> None:
    if not figures:
        console.print(f"no serving figures in the last {window} min")
        return
    table = new_table(
        [
            ("role", "left"),
            ("version", "left"),
            ("requests", "right"),
            ("rows", "right"),
            ("error rate", "right"),
            ("fallback rate", "right"),
            ("mean confidence", "right"),
            ("agrees with live", "right"),
            ("failed rows", "right"),
            ("over latency budget", "right"),
        ],
        title=f"Serving, last {window} min",
    )
    for f in figures:
        table.add_row(
            f.role,
            f"v{f.version}",
            str(f.requests),
            str(f.rows),
            percent(f.error_rate),
            percent(f.fallback_rate),
            fraction(f.mean_confidence),
            percent(f.agreement),
            f"{f.failed} ({percent(f.failure_rate)})" if f.role == "shadow" else "-",
            percent(f.slow_rate),
        )
    console.print(table)
    # Beside the version live now: the window may hold an earlier live version too.
    wanted = desired.live if desired is not None else None
    lives = [f for f in figures if f.role == "live"]
    live = next((f for f in lives if f.version == wanted), None) if wanted is not None else None
    live = live or (lives[0] if lives and wanted is None else None)
    for canary in (f for f in figures if f.role == "canary"):
        if live is not None:
            _print_side_by_side(console, live, canary)


def _print_side_by_side(console: Console, live: RoleFigures, canary: RoleFigures) -> None:
    table = new_table(
        [("", "left"), (f"live v{live.version}", "right"), (f"canary v{canary.version}", "right")],
        title="Canary beside live",
    )
    table.add_row("rows", str(live.rows), str(canary.rows))
    table.add_row("error rate", percent(live.error_rate), percent(canary.error_rate))
    table.add_row("fallback rate", percent(live.fallback_rate), percent(canary.fallback_rate))
    table.add_row("mean confidence", fraction(live.mean_confidence), fraction(canary.mean_confidence))
    console.print(table)
