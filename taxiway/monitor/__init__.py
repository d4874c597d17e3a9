"""Monitoring: live traffic judged against each version's reference profile, the charter's live limits,
downtime from the replicas' heartbeats, and alerts. `taxiway monitor` is its command; :func:`monitor_pass`
its Python API.

The downtime names below load :mod:`taxiway.monitor.uptime` (and with it the store) when first used, so
reading a window of the log (:mod:`taxiway.monitor.window`) does not pay for the store's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taxiway.monitor.uptime import (
        DowntimeReport,
        Gap,
        SeriesPoint,
        downtime,
        record_downtime,
        requests_series,
    )

__all__ = ["DowntimeReport", "Gap", "SeriesPoint", "downtime", "record_downtime", "requests_series"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from taxiway.monitor import uptime

        return getattr(uptime, name)
    raise AttributeError(f"module 'taxiway.monitor' has no attribute {name!r}")
