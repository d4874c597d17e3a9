"""`taxiway register` and `taxiway models`: the model registry's versions, aliases and their history."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, short, stderr, stdout
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

models_app = typer.Typer(
    help="Registered model versions: list them, show one, point an alias at one.",
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


@app.command("register")
def register(
    run: Annotated[str, typer.Argument(help="run id or unique prefix", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="register a run that is not blessed (needs --reason)")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="why; recorded with the version", show_default=False)
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="point this alias (e.g. production) at the version", show_default=False),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Register a blessed run as the next model version (v1, v2, ...); exit 1 when it is not blessed."""
    from taxiway import registry

    project = Project.load()
    try:
        version, is_new = registry.register(project.store, run, force=force, reason=reason, alias=alias)
        profiled = _reference_profile(project, version.name) if is_new else None
    finally:
        project.store.close()
    if output is TableFormat.json:
        emit_json({**_version(version), "is_new": is_new})
        return
    if is_new:
        how = "forced, not blessed" if version.forced else f"blessing #{version.blessing_id}"
        line = f"registered {version.name}: run {version.run_id} ({how}), model {short(version.artifact)}"
    else:
        line = f"run {version.run_id} is already registered as {version.name}"
    if version.aliases:
        line += f"; aliases: {', '.join(version.aliases)}"
    if profiled:
        line += f"; {profiled}"
    stdout().print(line, highlight=False)


def _reference_profile(project: Project, name: str) -> str:
    """Build the version's monitoring reference profile now; a failure is said, never blocks registering
    (`taxiway monitor` builds it on demand later)."""
    from taxiway.errors import TaxiwayError
    from taxiway.monitor.reference import build_reference

    try:
        profile = build_reference(project.store, project.charter, name, root=project.root)
    except TaxiwayError as error:
        stderr().print(f"warning: no monitoring reference profile for {name}: {error.message}")
        return ""
    return f"reference profile of {profile.rows} {profile.source} rows"


@models_app.callback()
def list_(ctx: typer.Context, output: TableFormatOption = TableFormat.text) -> None:
    """List the registered model versions, newest first, with their aliases."""
    if ctx.invoked_subcommand is not None:
        return
    from taxiway import registry

    project = Project.load()
    try:
        versions = registry.list_versions(project.store)
        history = registry.alias_history(project.store)
    finally:
        project.store.close()
    if output is TableFormat.json:
        emit_json(
            {
                "versions": [_version(v) for v in versions],
                "aliases": {alias: v.name for v in versions for alias in v.aliases},
                "alias_history": [_change(change) for change in history],
            }
        )
        return
    table = Table(title="Model versions, newest first")
    for name, justify in (
        ("version", "left"),
        ("aliases", "left"),
        ("run", "left"),
        ("blessed", "left"),
        ("model", "left"),
        ("registered (UTC)", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("reason", overflow="fold")
    for v in versions:
        table.add_row(
            v.name,
            ", ".join(v.aliases),
            v.run_id,
            f"✓ #{v.blessing_id}" if v.is_blessed else "✗ forced",
            f"{short(v.artifact)} ({v.model_format})",
            v.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            v.reason or "",
        )
    console = stdout()
    console.print(table)
    if not versions:
        console.print("no model versions yet: `taxiway validate RUN`, then `taxiway register RUN`")


@models_app.command("show")
def show(
    version: Annotated[str, typer.Argument(help="v3, 3 or an alias such as production", show_default=False)],
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Show one version: its run, blessing and gates, lineage and where its aliases pointed."""
    from taxiway import registry
    from taxiway.registry.blessing import get_blessing

    project = Project.load()
    try:
        found = registry.get_version(project.store, version)
        blessing = get_blessing(project.store, found.blessing_id) if found.blessing_id is not None else None
        history = [
            c
            for c in registry.alias_history(project.store)
            if found.version in (c.version, c.previous_version)
        ]
    finally:
        project.store.close()
    doc = {
        **_version(found),
        "lineage": found.lineage,
        "trusted_types": found.trusted_types,
        "blessing": None
        if blessing is None
        else {
            "id": blessing.id,
            "passed": blessing.passed,
            "created_at": blessing.created_at,
            "gates": [g.to_json() for g in blessing.gates],
            "test": blessing.test_metrics,
        },
        "alias_history": [_change(change) for change in history],
    }
    if output is TableFormat.json:
        emit_json(doc)
        return
    console = stdout()
    console.print(f"[bold]{found.name}[/]  aliases: {', '.join(found.aliases) or '-'}", highlight=False)
    for key in ("run_id", "artifact", "model_format", "blessing_id", "forced", "reason"):
        console.print(f"  {key:<13} {doc[key] if doc[key] is not None else '-'}", highlight=False)
    console.print(f"  {'created_at':<13} {found.created_at:%Y-%m-%dT%H:%M:%SZ}", highlight=False)
    for key in ("dataset_id", "split_id", "git_commit", "seed"):
        console.print(f"  {key:<13} {found.lineage.get(key, '-')}", highlight=False)
    if blessing is not None:
        gates = Table(title=f"Blessing #{blessing.id}: {'passed' if blessing.passed else 'failed'}")
        for name in ("gate", "status", "what was measured"):
            gates.add_column(name, overflow="fold")
        for gate in blessing.gates:
            gates.add_row(gate.gate, gate.status, gate.summary)
        console.print(gates)
    for change in history:
        before = f"v{change.previous_version}" if change.previous_version is not None else "nothing"
        console.print(
            f"  {change.changed_at:%Y-%m-%dT%H:%M:%SZ}  {change.alias}: {before} -> v{change.version}"
            + (f"  ({change.reason})" if change.reason else ""),
            highlight=False,
        )


@models_app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="the alias, e.g. production or candidate", show_default=False)],
    version: Annotated[str, typer.Argument(help="v3, 3 or another alias", show_default=False)],
    reason: Annotated[
        str | None, typer.Option("--reason", help="why it moves; kept in its history", show_default=False)
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Point an alias at a version; every move is kept in the alias's history."""
    from taxiway import registry

    project = Project.load()
    try:
        change = registry.set_alias(project.store, name, version, reason=reason)
    finally:
        project.store.close()
    if output is TableFormat.json:
        emit_json(_change(change))
        return
    before = f"v{change.previous_version}" if change.previous_version is not None else "nothing"
    stdout().print(f"{change.alias}: {before} -> v{change.version}", highlight=False)


def _version(v: Any) -> dict[str, Any]:
    return {
        "version": v.version,
        "name": v.name,
        "run_id": v.run_id,
        "blessing_id": v.blessing_id,
        "blessed": v.is_blessed,
        "forced": v.forced,
        "reason": v.reason,
        "artifact": v.artifact,
        "model_format": v.model_format,
        "aliases": list(v.aliases),
        "created_at": v.created_at,
    }


def _change(change: Any) -> dict[str, Any]:
    return {
        "alias": change.alias,
        "version": change.version,
        "previous_version": change.previous_version,
        "changed_at": change.changed_at,
        "reason": change.reason,
    }
