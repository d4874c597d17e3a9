"""After a deployment change: wait until every running server applied it, show the outcome, and undo a
change every server refused (a refused version left as the desired state serves nothing at the next
restart; :mod:`taxiway.deploy.refused`)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from taxiway.cli.deployment_tables import print_replicas, replica_json, state_json
from taxiway.cli.output import TableFormat, emit_json, stderr, stdout
from taxiway.store import Store

if TYPE_CHECKING:  # the deploy package loads the registry; keep `taxiway --help` quick
    from taxiway.deploy import DeploymentState, Replica

REVERT_WAIT_S = 5.0  # servers apply the undone change within a second: waiting for their word is a courtesy

__all__ = ["finish"]


def finish(
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
    from taxiway.deploy.refused import revert_if_refused
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
                "state": state_json(changed),
                "rollout": {"status": rollout, "error": failure.message if failure else None},
                "replicas": [replica_json(r, now) for r in replicas],
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
            print_replicas(console, replicas, now)
    if failure is not None and is_new and before is not None:
        reverted = revert_if_refused(store, changed, before, failure)
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
