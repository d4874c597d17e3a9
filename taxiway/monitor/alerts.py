"""Alerts: a failed judgement becomes an alert with a life (pending → firing → resolved), stored, delivered.

One open alert per (rule, subject): a breach seen again updates it rather than raising a second one
(de-duplication). It fires once the breach has lasted ``monitoring.alert_for_minutes`` (a single bad minute
does not page anyone), and resolves the first time the judgement passes again. Firing and resolving are
POSTed to ``monitoring.webhook_url`` as JSON with a Slack-compatible ``text``. Rules named in
``monitoring.silenced`` are never raised.

:func:`prometheus_rules` writes the same limits as a Prometheus alerting-rules file over the metrics
``taxiway serve`` exports, for teams whose alerting runs in Prometheus/Alertmanager.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select

from taxiway.charter import Charter
from taxiway.charter.questions import question
from taxiway.monitor.judgement import Judgement
from taxiway.store import Store
from taxiway.store.tables import MonitorAlertRow, utcnow

_log = logging.getLogger(__name__)
OPEN = ("pending", "firing")


@dataclass(frozen=True)
class Alert:
    """One alert as stored."""

    id: int
    rule: str
    subject: str
    state: str
    value: float | None
    threshold: float | None
    message: str
    started_at: dt.datetime
    fired_at: dt.datetime | None
    resolved_at: dt.datetime | None
    last_seen_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id,
            "rule": self.rule,
            "subject": self.subject,
            "state": self.state,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "started_at": iso(self.started_at),
            "fired_at": iso(self.fired_at),
            "resolved_at": iso(self.resolved_at),
            "last_seen_at": iso(self.last_seen_at),
        }

    @classmethod
    def _from_row(cls, row: MonitorAlertRow) -> Alert:
        return cls(
            row.id,
            row.rule,
            row.subject,
            row.state,
            row.value,
            row.threshold,
            row.message,
            row.started_at,
            row.fired_at,
            row.resolved_at,
            row.last_seen_at,
        )


def _subject(judgement: Judgement) -> str:
    feature = judgement.details.get("alert_key")
    base = f"{judgement.subject_kind}:{judgement.subject_id}"
    return f"{base}:{feature}" if feature else base


def _message(judgement: Judgement) -> str:
    limit = judgement.limit
    key = f" ({limit.key})" if limit.key else ""
    return (
        f"{judgement.check} on {_subject(judgement)}: {judgement.value:.4g} breaks "
        f"{limit.comparison} {limit.threshold:.4g}{key}"
    )


def update_alerts(
    store: Store, charter: Charter, judgements: Sequence[Judgement], *, now: dt.datetime | None = None
) -> list[Alert]:
    """Move each judged rule's alert along (open on a failure, fire after the minimum duration, resolve on a
    pass) and deliver the changes to the webhook; returns the alerts that changed state.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> from taxiway.store.evidence import Limit
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"},
        ...                             "monitoring": {"alert_for_minutes": 0}})
        >>> bad = Judgement("monitor.latency", "deployment", "v1", 90.0, Limit(50.0, "<="))
        >>> [a.state for a in update_alerts(store, c, [bad])]
        ['firing']
    """
    now = now or utcnow()
    settings = charter.monitoring
    hold = dt.timedelta(minutes=settings.alert_for_minutes)
    changed: list[Alert] = []
    with store.write_session() as session, session.begin():
        for judgement in judgements:
            if judgement.check in settings.silenced:
                continue
            subject = _subject(judgement)
            row = session.scalar(
                select(MonitorAlertRow)
                .where(
                    MonitorAlertRow.rule == judgement.check,
                    MonitorAlertRow.subject == subject,
                    MonitorAlertRow.state.in_(OPEN),
                )
                .order_by(MonitorAlertRow.id.desc())
            )
            failing = judgement.status == "fail"
            if failing and row is None:
                row = MonitorAlertRow(
                    rule=judgement.check,
                    subject=subject,
                    state="pending",
                    started_at=now,
                    last_seen_at=now,
                    message=_message(judgement),
                    details=judgement.to_dict(),
                )
                session.add(row)
            if failing:
                assert row is not None
                row.value, row.threshold = judgement.value, judgement.limit.threshold
                row.last_seen_at, row.message = now, _message(judgement)
                if row.state == "pending" and now - _utc(row.started_at) >= hold:
                    row.state, row.fired_at = "firing", now
                    session.flush()
                    changed.append(Alert._from_row(row))
            elif row is not None:
                was_firing = row.state == "firing"
                row.state, row.resolved_at, row.last_seen_at = "resolved", now, now
                row.value = judgement.value
                session.flush()
                if was_firing:
                    changed.append(Alert._from_row(row))
    if settings.webhook_url and changed:
        deliver(settings.webhook_url, changed, project=charter.project.name)
    return changed


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def list_alerts(store: Store, *, since: dt.datetime | None = None, open_only: bool = False) -> list[Alert]:
    """Alerts started or still open since ``since``, newest first."""
    query = select(MonitorAlertRow).order_by(MonitorAlertRow.id.desc())
    if open_only:
        query = query.where(MonitorAlertRow.state.in_(OPEN))
    if since is not None:
        query = query.where((MonitorAlertRow.last_seen_at >= since) | MonitorAlertRow.state.in_(OPEN))
    with store.session() as session:
        return [Alert._from_row(row) for row in session.scalars(query.limit(500))]


def deliver(url: str, alerts: Sequence[Alert], *, project: str, timeout_s: float = 5.0) -> bool:
    """POST the alerts as JSON: ``text`` (what Slack shows) and ``alerts`` (the records). Returns whether the
    receiver took them; a failed delivery is logged, never raised (the alert stays stored and shown)."""
    lines = [
        f"[{a.state.upper()}] {a.message}" if a.state == "firing" else f"[RESOLVED] {a.rule} on {a.subject}"
        for a in alerts
    ]
    body = json.dumps(
        {"text": f"taxiway {project}:\n" + "\n".join(lines), "alerts": [a.to_dict() for a in alerts]}
    ).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bool(200 <= response.status < 300)
    except OSError as error:
        _log.warning("alert webhook %s not reached: %s", url, error)
        return False


def _limit(charter: Charter, key: str) -> float:
    section, name = key.split(".")
    value = getattr(getattr(charter, section), name)
    return float(value if value is not None else question(key).default_value(charter.problem.task))


def prometheus_rules(charter: Charter) -> dict[str, Any]:
    """Prometheus alerting rules for the charter's live limits over the metrics `taxiway serve` exports.

    Example:
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> [r["alert"] for r in prometheus_rules(c)["groups"][0]["rules"]][:2]
        ['TaxiwayLatencyP99', 'TaxiwayMemory']
    """
    settings = charter.monitoring
    hold = f"{int(settings.alert_for_minutes * 60)}s"
    window = f"{max(int(settings.live_window_minutes * 60), 60)}s"
    throughput = _limit(charter, "serving.min_throughput_rps")
    rules = [
        (
            "monitor.latency",
            "TaxiwayLatencyP99",
            (
                "histogram_quantile(0.99, sum by (le) (rate(taxiway_request_duration_seconds_bucket"
                f'{{route="/predict"}}[{window}]))) * 1000 > {_limit(charter, "serving.p99_latency_ms"):g}'
            ),
            "p99 latency of /predict above serving.p99_latency_ms",
        ),
        (
            "monitor.memory",
            "TaxiwayMemory",
            f"taxiway_process_resident_memory_bytes / 1048576 > {_limit(charter, 'serving.max_memory_mb'):g}",
            "resident memory above serving.max_memory_mb",
        ),
        (
            "monitor.cpu",
            "TaxiwayCPU",
            f"rate(taxiway_process_cpu_seconds_total[{window}]) * 100 > {settings.max_cpu_percent:g}",
            "CPU above monitoring.max_cpu_percent",
        ),
        (
            "monitor.errors",
            "TaxiwayErrorRate",
            (
                f'sum(rate(taxiway_requests_total{{status=~"5.."}}[{window}])) / '
                f"sum(rate(taxiway_requests_total[{window}])) > {settings.max_error_rate:g}"
            ),
            "share of 5xx answers above monitoring.max_error_rate",
        ),
        (
            "monitor.fallback",
            "TaxiwayFallbackRate",
            (
                f"sum(rate(taxiway_fallbacks_total[{window}])) / "
                f'sum(rate(taxiway_predictions_total{{role!="shadow"}}[{window}])) > '
                f"{settings.max_fallback_rate:g}"
            ),
            "share of rows the fallback answered above monitoring.max_fallback_rate",
        ),
        (
            "monitor.requests",
            "TaxiwayThroughput",
            f"sum(rate(taxiway_requests_total[{window}])) > {throughput:g}",
            "traffic above the throughput the charter proves sustainable (serving.min_throughput_rps)",
        ),
        (
            "monitor.downtime",
            "TaxiwayDown",
            'up{job="taxiway"} == 0',
            "the taxiway server does not answer scrapes",
        ),
    ]
    return {
        "groups": [
            {
                "name": f"taxiway-{charter.project.name}",
                "rules": [
                    {
                        "alert": name,
                        "expr": expr,
                        "for": hold,
                        "labels": {"severity": "page", "check": check, "project": charter.project.name},
                        "annotations": {"summary": summary},
                    }
                    for check, name, expr, summary in rules
                    if check not in settings.silenced
                ],
            }
        ]
    }


def write_prometheus_rules(charter: Charter, path: str) -> None:
    """Write :func:`prometheus_rules` as YAML to ``path`` (``promtool check rules`` accepts it)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# Written by `taxiway monitor --prometheus-rules`: the charter's live limits.\n")
        yaml.safe_dump(prometheus_rules(charter), handle, sort_keys=False, width=200)
