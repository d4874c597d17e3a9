"""Data invariants on live traffic (ML Test Score O2): how much of what was sent broke them.

Two ways a request's inputs break the invariants training set, both counted over the pass's window:

- **refused**: a row that breaks the input contract (a missing or unknown field, a wrong type, NaN or
  infinity where the schema forbids it) gets the whole request refused with a 4xx; the serving snapshots count
  those answers (``rejected``) against all requests;
- **outside training**: a row that keeps the contract but lies where training saw nothing (a number past
  the training range, a category never seen, a missing value in a column never missing) is answered by the
  fallback, and the prediction log keeps the reason (``out_of_range:``, ``unseen_category:``, ``missing:``).

The judged value is the larger of the two shares, against ``monitoring.max_input_violation_rate``: either
alone breaking the limit means the live inputs no longer hold what training's did.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.judgement import Judgement
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.tables import ServingSnapshotRow

OUTSIDE_TRAINING = ("out_of_range:", "unseen_category:", "missing:")  # fallback reasons about the inputs


def refused_requests(store: Store, since: dt.datetime, until: dt.datetime) -> tuple[int, int]:
    """(4xx answers, requests) the serving replicas counted in their snapshots within ``since``..``until``."""
    with store.session() as session:
        rejected, requests = session.execute(
            select(
                func.coalesce(func.sum(ServingSnapshotRow.rejected), 0),
                func.coalesce(func.sum(ServingSnapshotRow.requests), 0),
            ).where(ServingSnapshotRow.recorded_at > since, ServingSnapshotRow.recorded_at <= until)
        ).one()
    return int(rejected), int(requests)


def judge_inputs(
    version: str,
    *,
    rows: int,
    fallbacks: dict[str, int],
    refused: int,
    requests: int,
    settings: MonitoringSection,
    measured: Measurement,
) -> Judgement:
    """The input-invariant judgement of one window: the larger share of refused requests and of answered rows
    that lay outside training, against ``monitoring.max_input_violation_rate``.

    Example:
        >>> from taxiway.charter.model import MonitoringSection
        >>> j = judge_inputs("v1", rows=1000, fallbacks={"out_of_range:age": 80, "model_error": 5},
        ...                  refused=1, requests=200, settings=MonitoringSection(),
        ...                  measured=Measurement(1000))
        >>> j.value, j.status, j.details["outside_training"]
        (0.08, 'fail', {'out_of_range:age': 80})
        >>> judge_inputs("v1", rows=1000, fallbacks={}, refused=0, requests=200,
        ...              settings=MonitoringSection(), measured=Measurement(1000)).status
        'pass'
    """
    outside = {reason: n for reason, n in fallbacks.items() if reason.startswith(OUTSIDE_TRAINING)}
    row_share = sum(outside.values()) / rows if rows else 0.0
    refused_share = refused / requests if requests else 0.0
    details: dict[str, Any] = {
        "rows": rows,
        "outside_training": outside,
        "outside_training_share": row_share,
        "refused_requests": refused,
        "requests": requests,
        "refused_share": refused_share,
    }
    return Judgement(
        Check.MONITOR_INPUT_SCHEMA,
        "deployment",
        version,
        max(row_share, refused_share),
        Limit(settings.max_input_violation_rate, "<=", key="monitoring.max_input_violation_rate"),
        measured,
        details,
    )
