"""`taxiway deploy`, `promote`, `rollback` and `undeploy`: change the desired deployment, then wait until
every running server applied it (:mod:`taxiway.cli.rollout`). `taxiway status` shows where things stand
(:mod:`taxiway.cli.status`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from taxiway.cli.output import TableFormat, TableFormatOption
from taxiway.cli.rollout import finish
from taxiway.project import Project
from taxiway.store import Store

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

if TYPE_CHECKING:  # the deploy package loads the registry; keep `taxiway --help` quick
    from taxiway.deploy import DeploymentState


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
    from taxiway.deploy import changes, desired_state

    with _project() as project:
        store = project.store
        before = desired_state(store)
        in_scratch = _scratch_check(project, before, role) if check else None
        changed = changes.deploy(
            store, version, role.value, weight=weight, force=force, reason=reason, check=in_scratch
        )
        is_new = changed.generation != before.generation
        finish(store, changed, is_new, wait=wait, timeout=timeout, output=output, before=before)


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
    from taxiway.deploy import changes, desired_state

    with _store() as store:
        before = desired_state(store)
        changed = changes.promote(store, source=source.value if source else None, reason=reason)
        finish(store, changed, True, wait=wait, timeout=timeout, output=output, before=before)


@app.command("rollback")
def rollback(
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Switch live back to the version live before it; a second rollback rolls forward again."""
    from taxiway.deploy import changes, desired_state

    with _store() as store:
        before = desired_state(store)
        changed = changes.rollback(store, reason=reason)
        finish(store, changed, True, wait=wait, timeout=timeout, output=output, before=before)


@app.command("undeploy")
def undeploy(
    role: Annotated[CandidateRole, typer.Argument(help="shadow or canary", show_default=False)],
    reason: ReasonOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Stop serving the shadow or the canary; live answers everything again."""
    from taxiway.deploy import changes

    with _store() as store:
        changed = changes.stop(store, role.value, reason=reason)
        finish(store, changed, True, wait=wait, timeout=timeout, output=output)


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


def _scratch_check(project: Project, before: DeploymentState, role: DeployRole) -> Callable[[int], None]:
    """What `deploy` runs on a version before recording it: with no server running, load it and replay
    its stored rows in a scratch process (running servers check it as they load it, and a change all of
    them refuse is undone). Raises to refuse it."""

    def in_scratch(number: int) -> None:
        from taxiway.deploy import list_replicas

        live = None if role is DeployRole.live else before.live
        if role is not DeployRole.live and live is None:
            return  # refused by the change itself: nothing is live
        if before.version_of(role.value) == number or list_replicas(project.store):
            return
        from taxiway.serve.verify import verify_in_scratch

        verify_in_scratch(project.root, number, live)

    return in_scratch
