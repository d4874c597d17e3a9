"""When continuous training retrains: the charter's triggers, each judged from what the store records.

* ``freshness``: the live model is older than ``serving.freshness_days``;
* ``new_data``: the newest dataset version is not the one live was trained on, with ``ct.min_new_rows`` more
  rows (``ct.on_new_data``);
* ``drift``: the newest input-schema or skew check about live failed (``ct.on_drift``);
* ``quality``: the newest online-quality check about live failed (``ct.on_quality_drop``);
* ``schedule``: the last CT retrain is older than ``ct.schedule_days``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from taxiway.data.versions import get_dataset, latest_dataset
from taxiway.deploy.state import desired_state
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.registry import get_version
from taxiway.store.checks import Check
from taxiway.store.tables import utcnow
from taxiway.train.runs import get_run


@dataclass(frozen=True)
class Trigger:
    """One trigger that fired, and why.

    Example:
        >>> Trigger("freshness", "live v3 is 40 days old; serving.freshness_days is 30").kind
        'freshness'
    """

    kind: str
    why: str


def fired(project: Project, *, now: dt.datetime | None = None) -> list[Trigger]:
    """The triggers that fire now (none: nothing to do).

    Raises:
        TaxiwayError: the project has no data to train on.
    """
    store, charter, ct = project.store, project.charter, project.charter.ct
    now = now or utcnow()
    newest = latest_dataset(store)
    if newest is None:
        raise TaxiwayError(
            "continuous training has no data: the project has no dataset version",
            hint="add the data CT retrains on: taxiway data add FILE (then taxiway ct run)",
        )
    state = desired_state(store)
    if state.live is None:
        return [Trigger("first_model", "nothing is live yet: CT trains the first candidate")]
    live = get_version(store, f"v{state.live}")
    triggers: list[Trigger] = []
    age = now - _aware(live.created_at)
    freshness = charter.serving.freshness_days
    if freshness is not None and age > dt.timedelta(days=freshness):
        triggers.append(
            Trigger(
                "freshness", f"live {live.name} is {age.days} days old; serving.freshness_days is {freshness}"
            )
        )
    trained_on = get_run(store, live.run_id).dataset_id
    if ct.on_new_data and trained_on is not None and trained_on != newest.id:
        before = get_dataset(store, trained_on).n_rows
        if newest.n_rows - before >= ct.min_new_rows:
            triggers.append(
                Trigger(
                    "new_data", f"dataset {newest.short_id} has {newest.n_rows - before:+,} rows on live's"
                )
            )
    log = store.evidence
    watched: list[tuple[bool, str, tuple[Check, ...]]] = [
        (ct.on_drift, "drift", (Check.MONITOR_INPUT_SCHEMA, Check.MONITOR_SKEW)),
        (ct.on_quality_drop, "quality", (Check.MONITOR_ONLINE_QUALITY,)),
    ]
    for enabled, kind, checks in watched:
        for check in checks if enabled else ():
            found = log.latest_about(check, "model", live.name) or log.latest_about(
                check, "deployment", live.name
            )
            if found is not None and found.status == "fail":
                triggers.append(Trigger(kind, f"{check} failed about live {live.name}"))
    if ct.schedule_days is not None:
        last = next((e for e in log.history(Check.CT_RETRAIN) if e.origin == "ct"), None)
        since = now - _aware(last.recorded_at) if last else age
        if since > dt.timedelta(days=ct.schedule_days):
            triggers.append(
                Trigger(
                    "schedule",
                    f"no CT retrain for {since.days} days; ct.schedule_days is {ct.schedule_days:g}",
                )
            )
    return triggers


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
