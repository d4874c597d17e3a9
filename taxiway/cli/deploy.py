"""`taxiway deploy`, `promote`, `rollback`, `status`: the deployment's desired state and where it stands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from taxiway.cli.app import app
from taxiway.cli.output import emit_json, stdout
from taxiway.project import Project

DEFAULT_TIMEOUT_S = 60.0


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class DeployRole(StrEnum):
    live = "live"
    shadow = "shadow"
    canary = "canary"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="text for people, json for scripts")
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="why; recorded with the change", show_default=False)
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="seconds to wait for every running replica to apply the change")
]


@app.command("deploy")
def deploy(
    version: Annotated[str, typer.Argument(help="vN, an alias (production) or a run id", show_default=False)],
    role: Annotated[
        DeployRole, typer.Option("--as", help="live (blue/green switch), shadow or canary")
    ] = DeployRole.live,
    weight: Annotated[
        float | None,
        typer.Option("--weight", help="canary: the share of requests, 0 to 1", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="let an unblessed version go live (needs --reason)")
    ] = False,
    reason: ReasonOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Change the deployment and wait until every running replica serves it; exit 1 if one refused."""
    from taxiway.serve import deployment

    project = Project.load()
    try:
        state = deployment.deploy(
            project.store, version, role=role.value, weight=weight, force=force, reason=reason
        )
        _finish(project, state, f"deploy_{role.value}", output, timeout)
    finally:
        project.store.close()


@app.command("promote")
def promote(
    reason: ReasonOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Make the canary (else the shadow) version live; the old live version stays warm for a rollback."""
    from taxiway.serve import deployment

    project = Project.load()
    try:
        _finish(project, deployment.promote(project.store, reason=reason), "promote", output, timeout)
    finally:
        project.store.close()


@app.command("rollback")
def rollback(
    reason: ReasonOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT_S,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Switch live back to the previous version (a pointer switch to its still-warm slot)."""
    from taxiway.serve import deployment

    project = Project.load()
    try:
        _finish(project, deployment.rollback(project.store, reason=reason), "rollback", output, timeout)
    finally:
        project.store.close()


@app.command("status")
def status(output: FormatOption = OutputFormat.text) -> None:
    """The deployment: desired versions, running replicas, the last minute's figures per version."""
    from taxiway.serve.status import deployment_status

    project = Project.load()
    try:
        found = deployment_status(project.store)
    finally:
        project.store.close()
    if output is OutputFormat.json:
        emit_json(found.document())
        return
    _print_status(found)


def _finish(project: Project, state: Any, action: str, output: OutputFormat, timeout: float) -> None:
    from taxiway.serve.deploy_evidence import record_rollout
    from taxiway.serve.replicas import wait_for_generation

    result = wait_for_generation(project.store, state.name, state.generation, timeout_s=timeout)
    record_rollout(project.store, state, action, result)
    document = {
        "deployment": state.name,
        "generation": state.generation,
        "live_version": state.live_version,
        "previous_version": state.previous_version,
        "canary_version": state.canary_version,
        "canary_weight": state.canary_weight,
        "shadow_version": state.shadow_version,
        "applied": [replica.id for replica in result.applied],
        "refused": [{"id": replica.id, "error": replica.error} for replica in result.refused],
        "pending": [replica.id for replica in result.pending],
    }
    if output is OutputFormat.json:
        emit_json(document)
    else:
        console = stdout()
        console.print(
            f"generation {state.generation}: live {state.live_version}"
            + (f", canary {state.canary_version} ({state.canary_weight:.0%})" if state.canary_version else "")
            + (f", shadow {state.shadow_version}" if state.shadow_version else "")
        )
        if not (result.applied or result.refused or result.pending):
            console.print("no replica is running: `taxiway serve` will serve this when it starts")
        for replica in result.applied:
            console.print(f"✓ {replica.id} applied it ({replica.live_slot} slot live)")
        for replica in result.refused:
            console.print(
                f"✗ {replica.id} refused it and kept serving {replica.live_version}: {replica.error}"
            )
        for replica in result.pending:
            console.print(f"… {replica.id} had not applied it after {timeout:g} s")
    if result.refused or result.pending:
        raise typer.Exit(1)


def _print_status(found: Any) -> None:
    console = stdout()
    state = found.state
    if state is None:
        console.print(
            "nothing deployed yet: `taxiway deploy VERSION` (a running `taxiway serve` serves the best model)"
        )
    else:
        console.print(
            f"deployment {state.name}, generation {state.generation}: live {state.live_version}"
            + (f" (rollback to {state.previous_version})" if state.previous_version else "")
            + (
                f", canary {state.canary_version} at {state.canary_weight:.0%}"
                if state.canary_version
                else ""
            )
            + (f", shadow {state.shadow_version}" if state.shadow_version else "")
        )
    replicas = Table(title="Replicas (alive)")
    for column in (
        "replica",
        "generation",
        "live",
        "slot",
        "standby",
        "canary",
        "shadow",
        "heartbeat (UTC)",
        "error",
    ):
        replicas.add_column(column)
    for r in found.replicas:
        replicas.add_row(
            r.id,
            str(r.applied_generation),
            r.live_version or "",
            r.live_slot or "",
            r.standby_version or "",
            r.canary_version or "",
            r.shadow_version or "",
            r.heartbeat_at.strftime("%H:%M:%S"),
            r.error or "",
        )
    console.print(replicas)
    figures = Table(title="Last minute, per version")
    for column in ("version", "role", "requests/s", "errors", "p99", "fallback", "confidence", "agreement"):
        figures.add_column(column, justify="left" if column in ("version", "role") else "right")
    for f in found.figures:
        figures.add_row(
            f.model_version,
            f.role,
            f"{f.requests_per_s:.1f}",
            f"{f.error_rate:.1%}",
            _ms(f.p99_ms),
            _share(f.fallback_rate),
            _share(f.mean_confidence),
            _share(f.shadow_agreement),
        )
    console.print(figures)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} ms"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"
