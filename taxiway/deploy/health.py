"""Is the desired deployment really served, and are its shadow and canary healthy?

`taxiway status` (exit 1 when not served) and the dashboard's deployments page both ask here, so they say
the same thing: a running server that refused the desired state or serves another live version is a
problem (with the command that fixes it); a shadow failing its rows or a canary answering with errors is an
alert.
"""

from __future__ import annotations

from taxiway.deploy.figures import RoleFigures
from taxiway.deploy.replicas import Replica
from taxiway.deploy.state import DeploymentState

MIN_ROWS = 200  # a candidate's evidence is judged after this many rows (taxiway.serve.candidates)
MAX_FAILURE_RATE = 0.01  # a shadow failing, or a canary erring, on more than this share is an alert
FIX = "fix: taxiway rollback (back to the last version that loaded), or deploy one that loads"

__all__ = ["FIX", "MAX_FAILURE_RATE", "MIN_ROWS", "candidate_alerts", "not_served"]


def not_served(desired: DeploymentState, alive: list[Replica]) -> list[str]:
    """Why the running servers do not serve ``desired`` (empty: they do, or none runs).

    Example:
        >>> import datetime as dt
        >>> t = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
        >>> desired = DeploymentState(3, 2, 1, None, None, 0.0, "deploy-live", False, None, t)
        >>> refused = Replica("h:80:7", "h", 80, 7, t, t, 3, {}, "v2 could not be loaded", None)
        >>> not_served(desired, [refused])[0]
        'h:80:7 refused generation 3: v2 could not be loaded'
    """
    problems: list[str] = []
    for replica in alive:
        if replica.generation < desired.generation:
            continue  # still applying it (a server polls twice a second): `taxiway deploy` waits for that
        live = next(
            (
                held.get("version")
                for held in replica.slots.values()
                if isinstance(held, dict) and held.get("role") == "live"
            ),
            None,
        )
        served = None if live is None else str(live).removeprefix("v")
        if replica.error:
            problems.append(f"{replica.id} refused generation {replica.generation}: {replica.error}")
        elif desired.live is not None and served != str(desired.live):
            shown = "nothing" if served is None else f"v{served}"
            problems.append(f"{replica.id} serves {shown} live, not v{desired.live}")
    if problems:
        problems.append(FIX)
    return problems


def candidate_alerts(desired: DeploymentState, figures: list[RoleFigures]) -> list[str]:
    """A shadow failing its rows or a canary answering with errors, as alert lines.

    Example:
        >>> desired = DeploymentState(4, 2, 1, 3, None, 0.0, "deploy-shadow", False, None, None)
        >>> candidate_alerts(desired, [RoleFigures("shadow", 3, rows=0, compared=0, failed=40)])[0][:42]
        'shadow v3 failed 40 of 40 rows (100.0%): `'
    """
    alerts = []
    for f in figures:
        if f.role == "shadow" and f.version == desired.shadow and (f.failure_rate or 0.0) > MAX_FAILURE_RATE:
            alerts.append(
                f"shadow v{f.version} failed {f.failed:,} of {f.failed + f.compared:,} rows "
                f"({f.failure_rate:.1%}): `taxiway logs` shows why; taxiway undeploy shadow stops it"
            )
        if f.role == "canary" and f.version == desired.canary and (f.error_rate or 0.0) > MAX_FAILURE_RATE:
            alerts.append(
                f"canary v{f.version} answered {f.error_rate:.1%} of its requests with an error: "
                "taxiway undeploy canary stops it"
            )
    return alerts
