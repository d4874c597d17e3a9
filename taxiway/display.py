"""How taxiway writes times and durations for people, the same on the terminal and on the web pages."""

from __future__ import annotations

import datetime as dt


def when(moment: dt.datetime | None) -> str:
    """A UTC time as ISO 8601 to the second.

    Example:
        >>> when(dt.datetime(2026, 11, 27, 14, 3, 9, 512, tzinfo=dt.UTC))
        '2026-11-27T14:03:09Z'
    """
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float | None) -> str:
    """A duration for people.

    Example:
        >>> duration(4.25), duration(125), duration(7260), duration(None)
        ('4.2 s', '2 min 05 s', '2 h 01 min', '-')
    """
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
