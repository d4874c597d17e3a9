"""One monitor pass: a window of the prediction log judged against the version's reference profile.

:func:`monitor_pass` is the Python API behind `taxiway monitor`. It reads the window with DuckDB, the
reference profile from the store (built from the stored validation rows when the version has none), and
returns a :class:`MonitorReport`: drift per feature, by segment and of the predictions, confidence over time,
estimated and realised quality, the live limits, downtime, the alerts. With ``record=True`` each figure that
was judged is written as evidence and the alerts are moved along; a window with fewer than
``monitoring.min_rows`` rows is reported as too small to judge and records no drift or quality verdict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from taxiway.charter.questions import question
from taxiway.data.split import get_split, split_frames
from taxiway.deploy.state import desired_state
from taxiway.errors import TaxiwayError
from taxiway.monitor.alerts import Alert, list_alerts, update_alerts
from taxiway.monitor.drift import Drift, drift_over_time, judge, judge_counts, segment_drift, sketch_drift
from taxiway.monitor.inputs import OUTSIDE_TRAINING, judge_inputs, refused_requests
from taxiway.monitor.judgement import Judgement
from taxiway.monitor.live_limits import judge_live
from taxiway.monitor.logs import NoLogsError, logged_versions, read_window
from taxiway.monitor.production import domain_check
from taxiway.monitor.quality import estimate_quality, metric_of, positive_score, realised_quality, trust
from taxiway.monitor.reference import ReferenceProfile, reference_for
from taxiway.monitor.sketch import OTHER, CategorySketch, NumericSketch, sketch_from_dict
from taxiway.monitor.window import WindowSummary, summarise_window
from taxiway.project import Project
from taxiway.registry import get_version, list_versions
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.store.tables import FeedbackRow, utcnow
from taxiway.train.runs import get_run

_UNFAMILIAR = OUTSIDE_TRAINING


@dataclass
class MonitorReport:
    """What one pass found; ``judgements`` are the verdicts (recorded as evidence when asked)."""

    since: dt.datetime
    until: dt.datetime
    version: str
    rows: int
    enough_rows: bool
    reference: dict[str, Any]
    drift: list[Drift] = field(default_factory=list)
    segments: list[Drift] = field(default_factory=list)
    prediction_drift: Drift | None = None
    confidence_drift: Drift | None = None
    drift_strip: list[dict[str, Any]] = field(default_factory=list)
    confidence: list[dict[str, Any]] = field(default_factory=list)
    estimated: dict[str, Any] = field(default_factory=dict)
    realised: dict[str, Any] = field(default_factory=dict)
    domain: dict[str, Any] | None = None
    judgements: list[Judgement] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Judgement]:
        return [j for j in self.judgements if j.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for ``taxiway monitor --format json``."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "version": self.version,
            "rows": self.rows,
            "enough_rows": self.enough_rows,
            "reference": self.reference,
            "drift": [d.to_dict() for d in self.drift],
            "segments": [d.to_dict() for d in self.segments if d.drifted],
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "confidence_drift": self.confidence_drift.to_dict() if self.confidence_drift else None,
            "drift_strip": self.drift_strip,
            "confidence": self.confidence,
            "estimated": self.estimated,
            "realised": self.realised,
            "domain": self.domain,
            "judgements": [j.to_dict() for j in self.judgements],
            "alerts": [a.to_dict() for a in self.alerts],
            "notes": self.notes,
        }


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _version_to_watch(project: Project, since: dt.datetime, until: dt.datetime) -> str:
    live = desired_state(project.store).live
    if live is not None:
        return f"v{live}"
    logged = logged_versions(project.store, since=since, until=until)
    if not logged:
        raise NoLogsError(
            "nothing is deployed and no prediction was logged in the window",
            hint="deploy a version (taxiway deploy vN), serve it, or name one with --version",
        )
    return next(iter(logged))


def monitor_pass(
    project: Project,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    version: str | None = None,
    record: bool = True,
    expires_after: dt.timedelta | None = None,
) -> MonitorReport:
    """Judge the window ``since``..``until`` (default: the last ``monitoring.window_minutes``) of ``version``
    (default: the live one) and, with ``record``, write the evidence and move the alerts along.

    Raises:
        NoLogsError: no prediction was logged in the window.
        NotFoundError: ``version`` is not registered.
    """
    charter, store, settings = project.charter, project.store, project.charter.monitoring
    until = _utc(until or utcnow())
    since = _utc(since or until - dt.timedelta(minutes=settings.window_minutes))
    if since >= until:
        raise TaxiwayError(
            f"the window from {since.isoformat()} to {until.isoformat()} is empty",
            hint="give --since a moment in the past, e.g. --since 2h",
        )
    name = get_version(store, version).name if version else _version_to_watch(project, since, until)
    profile = reference_for(store, charter, name, root=project.root)
    data = profile.data
    binary = data["task"] == "classification" and len(data["classes"]) == 2
    summary = summarise_window(
        store, data, since=since, until=until, version=name, positive=data["classes"][1] if binary else None
    )
    frame = summary.sample
    if summary.rows == 0:
        raise NoLogsError(
            f"no prediction of {name} was logged between {since:%Y-%m-%d %H:%M} and "
            f"{until:%Y-%m-%d %H:%M} UTC",
            hint="widen the window with --since, or name the version served then with --version",
        )
    rows = summary.rows
    report = MonitorReport(since, until, name, rows, rows >= settings.min_rows, _summary(profile))
    measured = lambda n, method: Measurement(n, since, until, method)
    report.confidence = summary.confidence_over_time
    if not report.enough_rows:
        report.notes.append(
            f"only {rows} rows of {name} in the window, fewer than monitoring.min_rows = "
            f"{settings.min_rows}: drift and quality are not judged (neither passed nor failed)"
        )
    else:
        _judge_drift(report, data, summary, settings, measured)
        _judge_quality(report, profile, summary, settings, measured)
        _judge_numerical(report, summary, measured)
        refused, requests = refused_requests(store, since, until)
        report.judgements.append(
            judge_inputs(
                name,
                rows=rows,
                fallbacks=summary.fallbacks,
                refused=refused,
                requests=requests,
                settings=settings,
                measured=Measurement(
                    rows, since, until, "requests refused for bad input; rows outside what training saw"
                ),
            )
        )
        _judge_domain(report, project, profile, frame, settings, measured)
    report.realised = _realised(store, data, since, until, name)
    _judge_realised(report, data, settings, measured)
    _judge_staleness(report, project, name, until)
    report.judgements.extend(judge_live(store, charter, now=until))
    _judge_online_correlation(report, project)
    if record:
        expires = until + (expires_after or dt.timedelta(minutes=settings.window_minutes))
        for judgement in report.judgements:
            judgement.record(store, expires_at=expires)
        update_alerts(store, charter, report.judgements, now=until)
    report.alerts = list_alerts(store, since=since)
    return report


def _summary(profile: ReferenceProfile) -> dict[str, Any]:
    data = profile.data
    rates = [
        f.get("false_alarm_rate") for f in data["features"].values() if f.get("false_alarm_rate") is not None
    ]
    chunks = sum(int(f.get("chunks") or 0) for f in data["features"].values())
    return {
        "version": profile.version,
        "rows": profile.rows,
        "source": profile.source,
        "created_at": profile.created_at.isoformat(),
        "chunk_rows": data["chunk_rows"],
        "quality": data.get("quality"),
        "estimate_error": data.get("estimate_error"),
        "false_alarm_rate": (
            sum(r * int(f.get("chunks") or 0) for r, f in zip(rates, data["features"].values(), strict=False))
            / chunks
            if chunks
            else None
        ),
        "false_alarm_chunks": chunks,
    }


def _judge_drift(
    report: MonitorReport, data: dict[str, Any], summary: WindowSummary, settings: Any, measured: Any
) -> None:
    frame = summary.sample
    report.drift = sketch_drift(data, summary.features, settings)
    report.segments = segment_drift(data, frame, settings)
    prediction = sketch_from_dict(data["prediction"])
    answered = sum(summary.outputs.values())
    if answered >= settings.min_rows:
        if isinstance(prediction, CategorySketch):
            known = prediction.known or [k for k in prediction.counts if k != OTHER]
            counts = {k: summary.outputs.get(k, 0) for k in known}
            counts[OTHER] = answered - sum(counts.values())
            counted = CategorySketch(counts, 0, known=known)
            report.prediction_drift = judge_counts("prediction", prediction, counted, settings)
        else:  # regression: numbers, judged on the sample's model-answered rows
            model_rows = frame[frame["fallback"].isna()]
            values = pd.to_numeric(model_rows["output"], errors="coerce")
            report.prediction_drift = judge("prediction", prediction, values, settings)
    if data.get("confidence") and len(summary.confidence) >= settings.min_rows:
        reference = sketch_from_dict(data["confidence"])
        assert isinstance(reference, NumericSketch)
        report.confidence_drift = judge_counts(
            "confidence", reference, reference.count(summary.confidence), settings
        )
    report.drift_strip = drift_over_time(data, frame, settings)
    judged = [*report.drift, *([report.prediction_drift] if report.prediction_drift else [])]
    drifted = [d for d in [*judged, *report.segments] if d.drifted]
    report.judgements.append(
        Judgement(
            Check.MONITOR_DRIFT,
            "deployment",
            report.version,
            float(len(drifted)),
            Limit(0, "<="),
            measured(
                summary.rows, "PSI per feature vs the reference profile; threshold calibrated on its chunks"
            ),
            {
                "drifted": [d.to_dict() for d in drifted],
                "features": [d.to_dict() for d in judged],
                "min_effect_key": "monitoring.drift_min_effect",
                "false_alarm_rate_key": "monitoring.drift_false_alarm_rate",
                "measured_false_alarm_rate": report.reference.get("false_alarm_rate"),
            },
        )
    )
    for drift in drifted:  # one alert per drifted column (and segment): each is its own story
        report.judgements.append(
            Judgement(
                Check.MONITOR_DRIFT,
                "deployment",
                report.version,
                drift.effect,
                Limit(drift.threshold, "<=", key="monitoring.drift_min_effect"),
                measured(drift.rows, "population stability index"),
                {
                    "alert_key": f"{drift.segment + ':' if drift.segment else ''}{drift.column}",
                    **drift.to_dict(),
                },
            )
        )
    if report.confidence_drift is not None:
        c = report.confidence_drift
        report.judgements.append(
            Judgement(
                Check.MONITOR_CONFIDENCE,
                "deployment",
                report.version,
                c.effect,
                Limit(c.threshold, "<=", key="monitoring.drift_min_effect"),
                measured(c.rows, "PSI of the model's confidence vs the reference's"),
                {"over_time": report.confidence, "top_change": c.top_change},
            )
        )


def _judge_quality(
    report: MonitorReport, profile: ReferenceProfile, summary: WindowSummary, settings: Any, measured: Any
) -> None:
    data = profile.data
    if data["task"] != "classification" or "calibration" not in data:
        report.estimated = {"available": False, "why": "estimated quality needs a classifier's probabilities"}
        return
    classes = data["classes"]
    binary = len(classes) == 2
    score = summary.positive_score if binary and summary.positive_score is not None else summary.confidence
    estimate = estimate_quality(data["calibration"], score, binary=binary)
    unfamiliar_rows = sum(n for reason, n in summary.fallbacks.items() if reason.startswith(_UNFAMILIAR))
    unfamiliar = unfamiliar_rows / summary.rows if summary.rows else 0.0
    reasons = trust(
        rows=len(score),
        min_rows=settings.min_rows,
        estimate_error_p90=(data.get("estimate_error") or {}).get("p90"),
        unfamiliar_share=float(unfamiliar),
        confidence_drift=bool(report.confidence_drift and report.confidence_drift.drifted),
    )
    metric, _ = metric_of("classification", classes)
    offline = (data.get("quality") or {}).get(metric)
    report.estimated = {
        "metric": metric,
        **estimate,
        "offline": offline,
        "rows": len(score),
        "trusted": not reasons,
        "untrusted_because": reasons,
    }
    if estimate.get(metric) is not None and offline is not None:
        report.judgements.append(
            Judgement(
                Check.MONITOR_ESTIMATED_QUALITY,
                "deployment",
                report.version,
                float(estimate[metric] or 0.0),
                Limit(offline - settings.max_quality_drop, ">=", key="monitoring.max_quality_drop"),
                measured(len(score), f"CBPE: expected {metric} from isotonic-calibrated probabilities"),
                {"offline": offline, "metric": metric, **report.estimated},
                warn="; ".join(reasons) if reasons else None,
            )
        )


def _judge_numerical(report: MonitorReport, summary: WindowSummary, measured: Any) -> None:
    report.judgements.append(
        Judgement(
            Check.MONITOR_NUMERICAL,
            "deployment",
            report.version,
            float(summary.non_finite_confidence),
            Limit(0, "<="),
            measured(
                len(summary.confidence) + summary.non_finite_confidence,
                "confidences that are NaN, infinite or outside [0, 1]",
            ),
            {"rows": summary.rows},
        )
    )


def _realised(
    store: Any, data: dict[str, Any], since: dt.datetime, until: dt.datetime, version: str
) -> dict[str, Any]:
    with store.session() as session:
        labels = [
            (row.request_id, row.row, row.label)
            for row in session.scalars(select(FeedbackRow).where(FeedbackRow.received_at >= since))
        ]
    if not labels:
        return {"labelled_rows": 0}
    from taxiway.serve.service import json_text

    feedback = pd.DataFrame(labels, columns=["request_id", "row", "label"]).drop_duplicates(
        ["request_id", "row"], keep="last"
    )
    labelled = read_window(
        store,
        {},
        since=since,
        until=until,
        version=version,
        with_row=True,
        request_ids=sorted(set(feedback["request_id"])),
    ).frame
    joined = labelled.merge(feedback, on=["request_id", "row"], how="inner")
    if joined.empty:
        return {"labelled_rows": 0}
    task, classes = data["task"], data["classes"]
    if task == "regression":
        predicted = pd.to_numeric(joined["output"], errors="coerce").to_numpy(dtype=float)
        figures = realised_quality(task, None, joined["label"].to_numpy(dtype=float), predicted)
    else:
        truth = joined["label"].map(json_text).to_numpy(dtype=object)
        model = joined[joined["fallback"].isna()]
        score = None
        if len(classes) == 2 and len(model):
            score = positive_score(
                model["confidence"].to_numpy(dtype=float), model["output"].to_numpy(dtype=object), classes[1]
            )
        auc = realised_quality(
            task, score, model["label"].map(json_text).to_numpy(dtype=object), None, classes
        )
        figures = {
            **realised_quality(task, None, truth, joined["output"].to_numpy(dtype=object)),
            "roc_auc": auc["roc_auc"],
        }
    return {"labelled_rows": len(joined), **figures}


def _judge_realised(report: MonitorReport, data: dict[str, Any], settings: Any, measured: Any) -> None:
    metric, higher = metric_of(data["task"], data["classes"])
    value, offline = report.realised.get(metric), (data.get("quality") or {}).get(metric)
    labelled = int(report.realised.get("labelled_rows", 0))
    needed = max(30, settings.min_rows // 10)
    if labelled < needed or value is None or offline is None:
        if labelled:
            report.notes.append(
                f"{labelled} labelled rows: fewer than {needed}, realised quality is not judged"
            )
        return
    limit = (
        Limit(offline - settings.max_quality_drop, ">=", key="monitoring.max_quality_drop")
        if higher
        else Limit(offline * (1 + settings.max_quality_drop), "<=", key="monitoring.max_quality_drop")
    )
    report.judgements.append(
        Judgement(
            Check.MONITOR_ONLINE_QUALITY,
            "deployment",
            report.version,
            float(value),
            limit,
            measured(labelled, f"realised {metric} of /feedback labels joined by request id"),
            {"metric": metric, "offline": offline, **report.realised},
        )
    )


def _judge_staleness(report: MonitorReport, project: Project, name: str, until: dt.datetime) -> None:
    version = get_version(project.store, name)
    days = project.charter.serving.freshness_days or question("serving.freshness_days").default_value(
        project.charter.problem.task
    )
    age = (until - _utc(version.created_at)).total_seconds() / 86400
    report.judgements.append(
        Judgement(
            Check.MONITOR_STALENESS,
            "deployment",
            name,
            age,
            Limit(float(days), "<=", key="serving.freshness_days"),
            Measurement(None, _utc(version.created_at), until, "days since the version was registered"),
        )
    )


def _judge_domain(
    report: MonitorReport,
    project: Project,
    profile: ReferenceProfile,
    frame: pd.DataFrame,
    settings: Any,
    measured: Any,
) -> None:
    if len(frame) < settings.min_production_rows:
        report.notes.append(
            f"data.reflects_production needs {settings.min_production_rows} served rows "
            f"(monitoring.min_production_rows); {len(frame)} in the window"
        )
        return
    run = get_run(project.store, get_version(project.store, report.version).run_id)
    if run.split_id is None:
        return
    split = get_split(project.store, run.split_id)
    test = split_frames(project.store, split).test
    kinds = profile.data["kinds"]
    check = domain_check(frame[list(kinds)], _as_logged_frame(test, kinds), kinds)
    report.domain = {
        "auc": check.auc,
        "served_rows": check.served_rows,
        "test_rows": check.test_rows,
        "giveaways": check.top_features,
    }
    report.judgements.append(
        Judgement(
            Check.DATA_REFLECTS_PRODUCTION,
            "split",
            split.id,
            check.auc,
            Limit(settings.max_domain_auc, "<=", key="monitoring.max_domain_auc"),
            measured(
                check.served_rows + check.test_rows,
                "cross-validated ROC AUC telling served inputs from the test set",
            ),
            {"version": report.version, **report.domain},
        )
    )


def _as_logged_frame(test: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    from taxiway.monitor.chunks import logged_text

    return pd.DataFrame(
        {
            name: pd.to_numeric(test[name], errors="coerce") if kind == "numeric" else logged_text(test[name])
            for name, kind in kinds.items()
            if name in test.columns
        }
    )


def _judge_online_correlation(report: MonitorReport, project: Project) -> None:
    """M2: across versions, does the offline figure track the realised one? Needs 3 versions with labels."""
    from scipy.stats import spearmanr  # type: ignore[import-untyped, unused-ignore]

    from taxiway.monitor.reference import load_reference

    pairs = []
    for version in list_versions(project.store):
        online = project.store.evidence.latest_about(Check.MONITOR_ONLINE_QUALITY, "deployment", version.name)
        online_value = online.value if online is not None else None
        if report.version == version.name:
            found = [j for j in report.judgements if j.check == Check.MONITOR_ONLINE_QUALITY]
            online_value = found[0].value if found else online_value
        profile = load_reference(project.store, version.version)
        if online_value is None or profile is None:
            continue
        metric, _ = metric_of(profile.data["task"], profile.data["classes"])
        offline = (profile.data.get("quality") or {}).get(metric)
        if offline is not None:
            pairs.append((version.name, float(offline), float(online_value)))
    if len(pairs) < 3:
        report.notes.append(
            f"offline vs realised quality (M2) needs 3 versions with labelled traffic; {len(pairs)} have it"
        )
        return
    rho = float(spearmanr([p[1] for p in pairs], [p[2] for p in pairs]).statistic)
    report.judgements.append(
        Judgement(
            Check.MODEL_ONLINE_CORRELATION,
            "deployment",
            report.version,
            rho if np.isfinite(rho) else 0.0,
            Limit(
                project.charter.monitoring.min_online_correlation,
                ">=",
                key="monitoring.min_online_correlation",
            ),
            Measurement(
                len(pairs), None, report.until, "Spearman correlation of offline vs realised quality"
            ),
            {"versions": [{"version": v, "offline": o, "realised": r} for v, o, r in pairs]},
        )
    )
