"""Monitoring: what the serving replicas recorded, read back as downtime and traffic over time."""

from taxiway.monitor.uptime import (
    DowntimeReport,
    Gap,
    SeriesPoint,
    downtime,
    record_downtime,
    requests_series,
)

__all__ = ["DowntimeReport", "Gap", "SeriesPoint", "downtime", "record_downtime", "requests_series"]
