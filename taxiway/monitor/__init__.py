"""Monitoring: live traffic judged against each version's reference profile, the charter's live limits,
downtime from the replicas' heartbeats, and alerts. `taxiway monitor` is its command; :func:`monitor_pass`
its Python API."""

from taxiway.monitor.uptime import (
    DowntimeReport,
    Gap,
    SeriesPoint,
    downtime,
    record_downtime,
    requests_series,
)

__all__ = ["DowntimeReport", "Gap", "SeriesPoint", "downtime", "record_downtime", "requests_series"]
