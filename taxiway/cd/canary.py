"""How `taxiway cd run` judges a canary against live: four criteria, each a sequential test on a rate.

* ``errors``: requests answered with a server error (per request);
* ``fallbacks``: rows the fallback answered instead of the model (per row);
* ``latency``: requests slower than the latency budget, ``serving.p99_latency_ms`` (per request; each server
  counts them per version, see serve/snapshot_window.py); live's share is taken as at least the 1% a p99
  budget allows;
* ``quality``: labelled rows answered wrongly (per row), from /feedback labels joined with the prediction
  log by request id: a classification that is not the label, a regression whose error is above live's
  median error. Judged only once the canary has ``canary_labels`` labelled rows: labels arrive late.

Each is Wald's SPRT (cd/sprt.py) of the canary's rate against live's over the same window: H1, the canary's
rate is live's plus ``worse_by``. A criterion says ``worse``, ``as_good``, ``continue`` (not seen enough yet)
or ``not_judged`` (and why).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from taxiway.cd.sprt import Sprt, sprt
from taxiway.charter.model import DeployPolicy
from taxiway.deploy.figures import RoleFigures
from taxiway.project import Project

Verdict = Literal["worse", "as_good", "continue", "not_judged"]
# A p99 budget lets 1% of requests take longer: live's share over it counts as at least that, so a canary's
# few slow requests (a cold cache, a busy machine) are not taken for a slower model.
P99_ALLOWS = 0.01


@dataclass(frozen=True)
class Criterion:
    """One criterion's counts for canary and live, and its sequential test (None: not judged, ``why``).

    Example:
        >>> c = Criterion.judged("errors", "requests with a server error", (0, 400), (2, 4000),
        ...                      DeployPolicy())
        >>> c.verdict, c.canary_rate, c.live_rate
        ('as_good', 0.0, 0.0005)
        >>> Criterion("quality", "wrong answers", 3, 10, 0, 0, None, "10 of 30 labelled rows").verdict
        'not_judged'
    """

    name: str
    bad_means: str
    canary_bad: int
    canary_n: int
    live_bad: int
    live_n: int
    test: Sprt | None
    why: str = ""

    @classmethod
    def judged(
        cls,
        name: str,
        bad_means: str,
        canary: tuple[int, int],
        live: tuple[int, int],
        policy: DeployPolicy,
        *,
        allowed: float = 0.0,
    ) -> Criterion:
        """The SPRT of the canary's counts against live's rate (taken as at least ``allowed``)."""
        (bad, n), (live_bad, live_n) = canary, live
        p0 = max(live_bad / live_n if live_n else 0.0, allowed)
        test = sprt(bad=bad, n=n, p0=p0, worse_by=policy.worse_by, alpha=policy.alpha, beta=policy.beta)
        return cls(name, bad_means, bad, n, live_bad, live_n, test)

    @property
    def verdict(self) -> Verdict:
        return "not_judged" if self.test is None else self.test.decision

    @property
    def canary_rate(self) -> float | None:
        return self.canary_bad / self.canary_n if self.canary_n else None

    @property
    def live_rate(self) -> float | None:
        return self.live_bad / self.live_n if self.live_n else None

    def describe(self) -> str:
        """One line: the rates compared, e.g. ``latency: 41 of 60 requests slower than 150 ms vs live's
        0 of 70``."""
        line = (
            f"{self.name}: canary {self.canary_bad} of {self.canary_n} {self.bad_means} "
            f"vs live's {self.live_bad} of {self.live_n}"
        )
        return line + (f" ({self.why})" if self.why else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "bad_means": self.bad_means,
            "canary": {"bad": self.canary_bad, "n": self.canary_n, "rate": self.canary_rate},
            "live": {"bad": self.live_bad, "n": self.live_n, "rate": self.live_rate},
            "sprt": None if self.test is None else self.test.__dict__,
            "why": self.why,
        }


def canary_criteria(
    project: Project, canary: RoleFigures, live: RoleFigures, since: dt.datetime, policy: DeployPolicy
) -> list[Criterion]:
    """The four criteria of ``canary`` against ``live`` over the window from ``since``."""
    budget = project.charter.serving.latency_budget_ms()
    answered = "the charter's" if project.charter.serving.p99_latency_ms is not None else "the default"
    criteria = [
        Criterion.judged(
            "errors",
            "requests with a server error",
            (canary.errors, canary.requests),
            (live.errors, live.requests),
            policy,
        ),
        Criterion.judged(
            "fallbacks",
            "rows the fallback answered",
            (canary.fallbacks, canary.rows),
            (live.fallbacks, live.rows),
            policy,
        ),
        Criterion.judged(
            "latency",
            f"requests slower than {budget:g} ms ({answered} serving.p99_latency_ms)",
            (canary.slow, canary.requests),
            (live.slow, live.requests),
            policy,
            allowed=P99_ALLOWS,
        ),
    ]
    criteria.append(_quality(project, canary, live, since, policy))
    return criteria


def _quality(
    project: Project, canary: RoleFigures, live: RoleFigures, since: dt.datetime, policy: DeployPolicy
) -> Criterion:
    task = project.charter.problem.task
    ours, theirs = (_labelled(project, f"v{f.version}", since) for f in (canary, live))
    if task == "regression":
        limit = float(np.median(theirs)) if len(theirs) else float("inf")
        bad_means = f"labelled rows with an error above live's median ({limit:.4g})"
        canary_bad, live_bad = int((ours > limit).sum()), int((theirs > limit).sum())
    else:
        bad_means = "labelled rows answered wrongly"
        canary_bad, live_bad = int(ours.sum()), int(theirs.sum())
    counts = (canary_bad, len(ours)), (live_bad, len(theirs))
    if len(ours) < policy.canary_labels or not len(theirs):
        why = (
            f"{len(ours)} labelled canary rows and {len(theirs)} live ones; "
            f"deploy.policy.canary_labels is {policy.canary_labels}"
        )
        return Criterion("quality", bad_means, *counts[0], *counts[1], None, why)
    return Criterion.judged("quality", bad_means, counts[0], counts[1], policy)


def _labelled(project: Project, version: str, since: dt.datetime) -> np.ndarray:
    """Per labelled row ``version`` answered since ``since``: wrong (classification, 0/1) or the absolute
    error (regression)."""
    import pandas as pd
    from sqlalchemy import select

    from taxiway.monitor.logs import NoLogsError, read_window
    from taxiway.serve.service import json_text
    from taxiway.store.tables import FeedbackRow, utcnow

    store = project.store
    with store.session() as session:
        labels = [
            (row.request_id, row.row, row.label)
            for row in session.scalars(select(FeedbackRow).where(FeedbackRow.received_at >= since))
        ]
    if not labels:
        return np.zeros(0)
    feedback = pd.DataFrame(labels, columns=["request_id", "row", "label"]).drop_duplicates(
        ["request_id", "row"], keep="last"
    )
    try:
        logged = read_window(
            store,
            {},
            since=since,
            until=utcnow() + dt.timedelta(minutes=1),
            version=version,
            with_row=True,
            request_ids=sorted(set(feedback["request_id"])),
        ).frame
    except NoLogsError:
        return np.zeros(0)
    joined = logged.merge(feedback, on=["request_id", "row"], how="inner")
    if project.charter.problem.task == "regression":
        output = pd.to_numeric(joined["output"], errors="coerce").to_numpy(dtype=float)
        truth = pd.to_numeric(joined["label"], errors="coerce").to_numpy(dtype=float)
        errors: np.ndarray = np.abs(output - truth)
        return np.asarray(errors[np.isfinite(errors)], dtype=float)
    truth = joined["label"].map(json_text).to_numpy(dtype=object)
    return np.asarray(joined["output"].to_numpy(dtype=object) != truth, dtype=float)
