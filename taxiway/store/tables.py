"""The metadata tables, as SQLAlchemy 2 ORM classes. Alembic migrations create and evolve them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time in UTC, the only time zone taxiway stores."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the zone; SQLite stores text without it and hands back naive datetimes, which
    this type marks as UTC again, so no reader has to remember to.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use taxiway.store.tables.utcnow()")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ArtifactRow(Base):
    """A blob in the artifact store, addressed by the SHA-256 of its content."""

    __tablename__ = "artifacts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetVersionRow(Base):
    """One immutable version of a dataset; its id is the SHA-256 of the file's content."""

    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    format: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(Text)
    n_rows: Mapped[int] = mapped_column(BigInteger)
    n_columns: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    artifact: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"))
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvidenceRow(Base):
    """The record of one check that a stage ran: the spine every report reads."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_check_time", "check_id", "recorded_at"),
        Index("ix_evidence_check_subject", "check_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(100))
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How the value was judged (pass when `value <comparison> threshold`) and against which charter key, so
    # the checklist can judge it again against the charter as it is now.
    comparison: Mapped[str | None] = mapped_column(String(2), nullable=True)
    limit_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    warn_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # What was measured: how many observations, over which window, by which method.
    sample_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # After this moment the record no longer proves anything (monitoring without fresh data): "stale".
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SplitRow(Base):
    """A versioned train/validation/test assignment of one dataset version's rows."""

    __tablename__ = "splits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash of dataset + strategy + settings
    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"))  # Parquet: row key -> split name
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunRow(Base):
    """One training run: a baseline, a candidate, a tuning trial, or custom code using the tracking API."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # r-<12 hex>
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)  # baseline | candidate | trial | custom
    status: Mapped[str] = mapped_column(String(10), index=True)  # running | finished | failed
    parent_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    dataset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    split_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Latest value of each metric key. JSONB on PostgreSQL: sorting 100,000 runs by one key parses every
    # row's JSON text (~0.9 s); JSONB reads the key from its binary form (~0.2 s). Migration 0007.
    metrics: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql"), default=dict
    )
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_artifact: Mapped[str | None] = mapped_column(String(64), nullable=True)
    predictions_artifact: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # host:pid of the process recording it, and its last sign of life: a killed run is marked failed
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MetricPointRow(Base):
    """One logged value of a metric at a step (a training curve); appended in batches."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_key_step", "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    key: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[float] = mapped_column(Float)  # seconds since the epoch (UTC), as logged


class RunArtifactRow(Base):
    """A file attached to a run under a name (model, predictions, diff, user files)."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlessingRow(Base):
    """The outcome of `taxiway validate` on one run: every gate with its value and threshold."""

    __tablename__ = "blessings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    passed: Mapped[bool] = mapped_column(Boolean)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{gate, status, passed, value, ...}]
    test_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # held-out test, once
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # slices, inclusion, ...


class ModelVersionRow(Base):
    """A registered model: v1, v2, ... each one run's packaged model, its blessing and lineage."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20), unique=True)  # "v<version>"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), unique=True)
    blessing_id: Mapped[int | None] = mapped_column(ForeignKey("blessings.id"), nullable=True)
    artifact: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"))
    model_format: Mapped[str] = mapped_column(String(20))
    trusted_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAliasRow(Base):
    """A name (production, candidate, ...) that points at one model version."""

    __tablename__ = "model_aliases"

    alias: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AliasHistoryRow(Base):
    """Every move of an alias, so a rollback knows where production pointed before."""

    __tablename__ = "alias_history"
    __table_args__ = (Index("ix_alias_history_alias_id", "alias", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alias: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeploymentRow(Base):
    """One change of the desired deployment; the newest row is the state servers reconcile to.

    Its id is the generation: every server process reports the generation it applied, so `taxiway deploy`
    knows when every replica serves what was asked. Rows are never updated, so the table is the history.
    """

    __tablename__ = "deployments"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    live_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.version"), nullable=True)
    previous_live_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shadow_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_weight: Mapped[float] = mapped_column(Float, default=0.0)
    action: Mapped[str] = mapped_column(String(30))  # deploy-live | deploy-shadow | promote | rollback | ...
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplicaRow(Base):
    """A running server process: what it serves, the generation it applied, when it last said so."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:port:pid
    host: Mapped[str] = mapped_column(String(200))
    port: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # slot -> {version, role, loaded_at}
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # why the last reconcile failed
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ServingSnapshotRow(Base):
    """One server process's figures over a short window (~10 s); the series doubles as its heartbeat."""

    __tablename__ = "serving_snapshots"
    __table_args__ = (Index("ix_serving_snapshots_replica_time", "replica_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    replica_id: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    window_seconds: Mapped[float] = mapped_column(Float)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)  # 5xx answers
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)  # 4xx answers (bad input)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)  # rows predicted
    fallbacks: Mapped[int] = mapped_column(BigInteger, default=0)  # rows a fallback answered
    requests_per_second: Mapped[float] = mapped_column(Float, default=0.0)
    error_rate: Mapped[float] = mapped_column(Float, default=0.0)
    fallback_rate: Mapped[float] = mapped_column(Float, default=0.0)
    p50_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    p95_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    p99_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    rss_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    mean_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    # per "role:version" (live:v3, shadow:v4, canary:v4): rows, fallbacks, mean confidence, agreement
    by_version: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FeedbackRow(Base):
    """A ground-truth label for an earlier prediction, sent to POST /feedback by its request id."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(100), index=True)
    row: Mapped[int] = mapped_column(Integer, default=0)  # position of the row in its request
    label: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    replica_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ReferenceProfileRow(Base):
    """A model version's reference profile: what its inputs, outputs and confidence looked like on held-out
    rows (histograms over fixed edges, category counts, chunk-to-chunk drift variation, calibration map).
    Computed once when the version is registered, so a monitor pass reads only the current window."""

    __tablename__ = "reference_profiles"

    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"), primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(String(100))  # e.g. "valid split 3f2a…" (the rows it summarises)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonitorAlertRow(Base):
    """One alert's life: pending when a limit is first breached, firing once the breach lasted the charter's
    minimum duration, resolved when the limit holds again. One open row per (rule, subject): de-duplicated."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (Index("ix_monitor_alerts_rule_subject", "rule", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(100))  # the check id it watches, e.g. monitor.latency
    subject: Mapped[str] = mapped_column(String(200))  # deployment version, or version:feature
    state: Mapped[str] = mapped_column(String(20), index=True)  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
