"""`taxiway deploy`, `promote`, `rollback`, `undeploy` and `status`: change the desired deployment, wait
until every running server applied it, and show where things stand."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, new_table, stderr, stdout
from taxiway.display import duration, when
from taxiway.project import Project
from taxiway.store import Store

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

if TYPE_CHECKING:  # the deploy package loads the registry; keep `taxiway --help` quick
    from taxiway.deploy import DeploymentState, Replica, RoleFigures

HISTORY_SHOWN = 10  # changes listed by `taxiway status`
REVERT_WAIT_S = 5.0  # servers apply the undone change within a second: waiting for their word is a courtesy


class DeployRole(StrEnum):
    live = "live"
    shadow = "shadow"
    canary = "canary"


class CandidateRole(StrEnum):
    shadow = "shadow"
    canary = "canary"


ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="why; kept with the change", show_default=False)
]
WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="wait until every running server applied the change")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0, help="seconds to wait for the servers before exit 1")
]


@app.command("deploy")
def deploy(
    version: Annotated[str, typer.Argument(help="v3, 3 or an alias such as candidate", show_default=False)],
    role: Annotated[
        DeployRole,
        typer.Option("--as", help="live answers users; shadow only watches; canary answers a share"),
    ] = DeployRole.live,
    weight: Annotated[
        float | None,
        typer.Option("--weight", help="canary only: its share of live traffic, e.g. 0.1", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="deploy an unblessed version live or canary (needs --reason)")
    ] = False,
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="with no server running: load the version and replay its stored rows before recording",
        ),
    ] = True,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Put a registered version live (default), in shadow or as a canary; exit 1 if a server fails it.

    The artifact's hash is checked before anything is recorded; with no server running, the version is
    also loaded and its stored rows replayed in a scratch process. A change every server refuses is undone.
    """
    from taxiway.deploy import list_replicas, state

    with _project() as project:
        store = project.store
        before = state.desired_state(store)

        def in_scratch(number: int) -> None:
            # Running servers check it as they load it (and a change all of them refuse is undone).
            live = None if role is DeployRole.live else before.live
            if role is not DeployRole.live and live is None:
                return  # refused below: nothing is live
            if check and _would_change(before, number, role.value) and not list_replicas(store):
                from taxiway.serve.verify import verify_in_scratch

                verify_in_scratch(project.root, number, live)

        changed = state.deploy(
            store, version, role.value, weight=weight, force=force, reason=reason, check=in_scratch
        )
        is_new = changed.generation != before.generation
        _finish(store, changed, is_new, wait=wait, timeout=timeout, output=output, before=before)


@app.command("promote")
def promote(
    source: Annotated[
        CandidateRole | None,
        typer.Option(
            "--from", help="which to promote when both a shadow and a canary run", show_default=False
        ),
    ] = None,
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Make the shadow or canary version live; the old live version stays ready for `taxiway rollback`."""
    from taxiway.deploy import state

    with _store() as store:
        before = state.desired_state(store)
        changed = state.promote(store, source=source.value if source else None, reason=reason)
        _finish(store, changed, True, wait=wait, timeout=timeout, output=output, before=before)


@app.command("rollback")
def rollback(
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Switch live back to the version live before it; a second rollback rolls forward again."""
    from taxiway.deploy import state

    with _store() as store:
        before = state.desired_state(store)
        changed = state.rollback(store, reason=reason)
        _finish(store, changed, True, wait=wait, timeout=timeout, output=output, before=before)


@app.command("undeploy")
def undeploy(
    role: Annotated[CandidateRole, typer.Argument(help="shadow or canary", show_default=False)],
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Stop serving the shadow or the canary; live answers everything again."""
    from taxiway.deploy import state

    with _store() as store:
        changed = state.stop(store, role.value, reason=reason)
        _finish(store, changed, True, wait=wait, timeout=timeout, output=output)


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
    with _store() as store:
        desired = desired_state(store)
        # Stale and stopped servers stay on show for the window, so a crash there is not hidden.
        replicas = [
            r for r in list_replicas(store, include_stale=True) if r.is_alive(now) or r.heartbeat_at >= since
        ]
        figures = role_figures(store, since)
        history = deployment_history(store, limit=HISTORY_SHOWN)
    problems = not_served(desired, [r for r in replicas if r.is_alive(now)])
    alerts = candidate_alerts(desired, figures)
    if output is TableFormat.json:
        emit_json(
            {
                "state": _state_json(desired),
                "served": not problems,
                "problems": problems,
                "alerts": alerts,
                "replicas": [_replica_json(r, now) for r in replicas],
                "window_minutes": window,
                "since": since,
                "figures": [f.to_json() for f in figures],
                "history": [_state_json(s) for s in history],
            }
        )
    else:
        console = stdout()
        _print_state(console, desired)
        _print_replicas(console, replicas, now)
        _print_figures(console, figures, window, desired)
        for line in problems + alerts:
            console.print(f"[bold red]![/] {line}", highlight=False)
    if problems:
        raise typer.Exit(1)


@contextmanager
def _store() -> Iterator[Store]:
    with _project() as project:
        yield project.store


@contextmanager
def _project() -> Iterator[Project]:
    project = Project.load()
    try:
        yield project
    finally:
        project.store.close()


def _would_change(current: DeploymentState, version: int, role: str) -> bool:
    return current.version_of(role) != version  # type: ignore[arg-type]


def _finish(
    store: Store,
    changed: DeploymentState,
    is_new: bool,
    *,
    wait: bool,
    timeout: float,
    output: TableFormat,
    before: DeploymentState | None = None,
) -> None:
    """Wait for the servers (unless told not to), then print the state and what each server serves.

    When every running server refused the change, ``before`` is put back: a refused version left as the
    desired state would serve nothing at the next restart.
    """
    from taxiway.deploy import RolloutError, list_replicas, wait_for_generation
    from taxiway.store.tables import utcnow

    failure: RolloutError | None = None
    replicas: list[Replica] = []
    if not wait:
        rollout = "not_waited"
        replicas = list_replicas(store)
    else:
        if list_replicas(store) and output is TableFormat.text:
            stderr().print(
                f"waiting up to {timeout:g} s for the replicas to apply generation {changed.generation}"
            )
        try:
            replicas = wait_for_generation(store, changed.generation, timeout_s=timeout)
            rollout = "applied" if replicas else "no_replicas"
        except RolloutError as error:
            failure, rollout, replicas = error, "failed", list_replicas(store)
    now = utcnow()
    if output is TableFormat.json:
        emit_json(
            {
                "changed": is_new,
                "state": _state_json(changed),
                "rollout": {"status": rollout, "error": failure.message if failure else None},
                "replicas": [_replica_json(r, now) for r in replicas],
            }
        )
    else:
        console = stdout()
        console.print(
            changed.describe() if is_new else f"nothing changed: {changed.describe()}", highlight=False
        )
        if rollout == "no_replicas":
            console.print("no server is running: the change applies when one starts (taxiway serve)")
        elif rollout == "not_waited":
            console.print("not waiting: `taxiway status` shows when each replica applied it")
        if replicas:
            _print_replicas(console, replicas, now)
    if failure is not None and is_new and before is not None:
        reverted = _revert_if_refused(store, changed, before, failure)
        if reverted is not None:
            stderr().print(f"every server refused it: back to {reverted.describe()}", highlight=False)
            with contextlib.suppress(RolloutError):  # they serve it already: this only waits for their word
                wait_for_generation(store, reverted.generation, timeout_s=min(timeout, REVERT_WAIT_S))
            raise RolloutError(
                failure.message,
                hint="nothing is left changed: the deployment is back to what was served "
                f"({before.describe()}); fix the cause and deploy again (`taxiway status` and `taxiway "
                "logs` say why)",
            )
    if failure is not None:
        raise failure  # after the state is printed: the change is recorded, the servers did not follow


def _revert_if_refused(
    store: Store, changed: DeploymentState, before: DeploymentState, failure: Exception
) -> DeploymentState | None:
    """Put ``before`` back when every alive server reported an error on ``changed``; None otherwise."""
    from taxiway.deploy import list_replicas, state
    from taxiway.errors import TaxiwayError

    replicas = list_replicas(store)
    refused = [r for r in replicas if r.generation >= changed.generation and r.error is not None]
    if not replicas or len(refused) < len(replicas):
        return None  # some server serves it (or may still): the change stands
    try:
        return state.revert_refused(store, changed, before, f"refused by every server: {failure}")
    except TaxiwayError:
        return None  # the state changed meanwhile: that change stands


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


def _print_replicas(console: Console, replicas: list[Replica], now: dt.datetime) -> None:
    table = new_table(
        [
            ("replica", "left"),
            ("state", "left"),
            ("pid", "right"),
            ("generation", "right"),
            ("slots", "left"),
            ("heartbeat", "right"),
            ("error", "left"),
        ],
        title="Replicas (server processes)",
    )
    for r in replicas:
        table.add_row(
            f"{r.host}:{r.port}",
            _liveness(r, now),
            str(r.pid),
            str(r.generation),
            _slots_text(r.slots),
            f"{duration(_age(r, now))} ago",
            r.error or "",
        )
    console.print(table)


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
        ],
        title=f"Serving, last {window} min",
    )
    for f in figures:
        table.add_row(
            f.role,
            f"v{f.version}",
            str(f.requests),
            str(f.rows),
            _percent(f.error_rate),
            _percent(f.fallback_rate),
            _fraction(f.mean_confidence),
            _percent(f.agreement),
            f"{f.failed} ({_percent(f.failure_rate)})" if f.role == "shadow" else "-",
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
    table.add_row("error rate", _percent(live.error_rate), _percent(canary.error_rate))
    table.add_row("fallback rate", _percent(live.fallback_rate), _percent(canary.fallback_rate))
    table.add_row("mean confidence", _fraction(live.mean_confidence), _fraction(canary.mean_confidence))
    console.print(table)


def _state_json(state: DeploymentState) -> dict[str, Any]:
    return {
        "generation": state.generation,
        "live": state.live,
        "previous_live": state.previous_live,
        "shadow": state.shadow,
        "canary": state.canary,
        "canary_weight": state.canary_weight,
        "action": state.action,
        "forced": state.forced,
        "reason": state.reason,
        "created_at": state.created_at,
    }


def _replica_json(replica: Replica, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": replica.id,
        "host": replica.host,
        "port": replica.port,
        "pid": replica.pid,
        "alive": replica.is_alive(now),
        "generation": replica.generation,
        "slots": replica.slots,
        "error": replica.error,
        "started_at": replica.started_at,
        "heartbeat_at": replica.heartbeat_at,
        "heartbeat_age_seconds": round(_age(replica, now), 3),
        "stopped_at": replica.stopped_at,
    }


def _slots_text(slots: dict[str, Any]) -> str:
    """``blue: v3 live, green: v2 idle``; whatever a server put in a slot, shown as it is."""
    parts = []
    for slot, held in sorted(slots.items()):
        if isinstance(held, dict):
            version = held.get("version")
            name = f"v{version}" if isinstance(version, int) else str(version or "-")
            parts.append(f"{slot}: {name} {held.get('role') or ''}".rstrip())
        else:
            parts.append(f"{slot}: {held}")
    return ", ".join(parts) or "-"


def _liveness(replica: Replica, now: dt.datetime) -> str:
    if replica.stopped_at is not None:
        return "stopped"
    return "alive" if replica.is_alive(now) else "stale"


def _age(replica: Replica, now: dt.datetime) -> float:
    return max(0.0, (now - replica.heartbeat_at).total_seconds())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
