"""Judging a record again at read time: against the charter as it is now, and against the clock.

A record stores what was measured and the limit it was compared with, and the charter key that limit came
from. Tightening the charter must take a ✓ back, so the checklist never trusts the stored verdict of a
record whose limit has a key: it compares the stored value with the charter's value of that key now. A
record past its ``expires_at`` proves nothing any more (a stopped service stops proving it is watched).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taxiway.charter import Charter
from taxiway.charter.model import answer
from taxiway.charter.questions import QUESTIONS
from taxiway.store.evidence import Evidence

Verdict = Literal["proven", "accepted", "warned", "stale", "failed"]
_VERDICTS: Mapping[str, Verdict] = {
    "pass": "proven",
    "warn": "warned",
    "fail": "failed",
    "accepted": "accepted",
}


@dataclass(frozen=True)
class Judgement:
    """What one record proves now, and the numbers behind it.

    ``threshold`` is the threshold the value was judged against now (the charter's, when the record names
    its key), ``recorded_threshold`` the one the writer used; they differ after the charter changed.

    Example:
        >>> from taxiway.store.evidence import Limit
        >>> e = Evidence("monitor.latency", "deployment", "v3", "pass", value=87.5, threshold=120.0,
        ...              comparison="<=", limit_key="serving.p99_latency_ms")
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"},
        ...                                   "serving": {"p99_latency_ms": 50}})
        >>> j = judge(e, charter)
        >>> j.verdict, j.threshold, j.recorded_threshold
        ('failed', 50.0, 120.0)
        >>> j.reason
        'measured 87.5, limit <= 50 (serving.p99_latency_ms = 50 now; recorded against 120)'
    """

    verdict: Verdict
    record: Evidence
    threshold: float | None
    recorded_threshold: float | None
    reason: str

    @property
    def charter_changed(self) -> bool:
        """Whether the charter's threshold now differs from the one the record was judged against."""
        return self.threshold != self.recorded_threshold

    @property
    def holds(self) -> bool:
        """Whether the record meets its item (proven, or accepted by a person)."""
        return self.verdict in ("proven", "accepted")


def judge(record: Evidence, charter: Charter, now: dt.datetime | None = None) -> Judgement:
    """Judge ``record`` against the charter now and the clock; stale wins over any verdict.

    Example:
        >>> e = Evidence("ci.check", "commit", "ab12", "pass",
        ...              expires_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> judge(e, charter, now=dt.datetime(2027, 1, 2, tzinfo=dt.UTC)).verdict
        'stale'
    """
    threshold, reason = _rejudged(record, charter)
    status = record.status
    limit = record.limit
    if limit is not None and record.value is not None and record.status != "accepted":
        # The writer's own reason to warn still stands.
        status = limit.judge(record.value, threshold=threshold, warn=record.details.get("warning"))
    verdict = _VERDICTS.get(status, "failed")
    warning = record.details.get("warning")
    if verdict == "warned" and warning and str(warning) not in reason:
        reason = f"{warning}; {reason}"
    if record.is_stale(now):
        verdict = "stale"
        assert record.expires_at is not None  # is_stale says so
        reason = f"expired {record.expires_at.isoformat(timespec='seconds')}; " + reason
    return Judgement(verdict, record, threshold, record.threshold, reason)


def charter_threshold(charter: Charter, key: str) -> float | None:
    """The charter's number at ``key`` now (its marked default when unanswered); None when it has none.

    Example:
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> charter_threshold(charter, "validation.max_inclusion_gap"), charter_threshold(charter, "nope.x")
        (0.1, None)
    """
    try:
        value = answer(charter, key)
    except AttributeError:  # a key this version of the charter does not have: keep the record's own
        return None
    if value is None:
        value = next((q.default_value(charter.problem.task) for q in QUESTIONS if q.path == key), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _rejudged(record: Evidence, charter: Charter) -> tuple[float | None, str]:
    limit = record.limit
    if limit is None or record.value is None:
        # A record from before issue 13 (a verdict handed in): its own words and numbers, as recorded.
        numbers = [f"value {_number(record.value)}"] if record.value is not None else []
        if record.threshold is not None:
            numbers.append(f"threshold {_number(record.threshold)}")
        said = record.details.get("warning") or record.details.get("reason")
        text = f"recorded {record.status}" + (f": {said}" if said else "")
        return record.threshold, text + (f" ({', '.join(numbers)})" if numbers else "")
    measured = f"measured {_number(record.value)}"
    current = charter_threshold(charter, limit.key) if limit.key else None
    if current is None:
        return limit.threshold, f"{measured}, limit {limit.comparison} {_number(limit.threshold)}"
    now = f"{limit.key} = {_number(current)} now"
    if current != limit.threshold:
        now += f"; recorded against {_number(limit.threshold)}"
    return current, f"{measured}, limit {limit.comparison} {_number(current)} ({now})"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
