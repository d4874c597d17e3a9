"""How the pages write values: UTC ISO times, short ids, figures with units. Registered as Jinja filters."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

SHORT_HASH = 12


def when(moment: dt.datetime | None) -> str:
    """A UTC time as ISO 8601 to the second.

    Example:
        >>> when(dt.datetime(2026, 11, 27, 14, 3, 9, 512, tzinfo=dt.UTC))
        '2026-11-27T14:03:09Z'
    """
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(identifier: str | None) -> str:
    """Content hashes cut to 12 characters; run ids (``r-`` and 12 hex digits) are already short.

    Example:
        >>> short("a0a54b270e9c" + "0" * 52), short("r-3f2a9c01b7de")
        ('a0a54b270e9c', 'r-3f2a9c01b7de')
    """
    if not identifier:
        return "-"
    return identifier if identifier.startswith("r-") else identifier[:SHORT_HASH]


def number(value: Any, digits: int = 4) -> str:
    """A figure to ``digits`` significant digits; integers as they are; missing as a dash.

    Example:
        >>> number(0.0119823), number(1234567.0), number(None), number(12)
        ('0.01198', '1.235e+06', '-', '12')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def fixed(value: float | None, decimals: int) -> str:
    """A figure with a fixed number of decimals (intervals are shown this way).

    Example:
        >>> fixed(0.0123456, 3), fixed(-0.5, 1)
        ('0.012', '-0.5')
    """
    return "-" if value is None else f"{value:.{decimals}f}"


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


def size(n_bytes: float | None) -> str:
    """Bytes in decimal units.

    Example:
        >>> size(188_600), size(512), size(3.2e9)
        ('188.6 kB', '512 B', '3.2 GB')
    """
    if n_bytes is None:
        return "-"
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def resource(key: str, value: Any) -> str:
    """A resource figure with the unit its key names.

    Example:
        >>> resource("fit_seconds", 0.2), resource("model_size_bytes", 18000.0), resource("x_ms", 14.26)
        ('0.2 s', '18.0 kB', '14.26 ms')
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return plain(value)
    if key.endswith("_bytes"):
        return size(value)
    if key.endswith("_seconds"):
        return f"{number(float(value), 3)} s"
    if key.endswith("_ms"):
        return f"{number(float(value), 4)} ms"
    if key.endswith("_mb"):
        return f"{number(float(value), 3)} MB"
    return number(value)


def plain(value: Any) -> str:
    """Any JSON value in one line: text as it is, lists and objects as compact JSON.

    Example:
        >>> plain("x"), plain([1, 2]), plain({"a": None}), plain(None)
        ('x', '[1, 2]', '{"a": null}', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float | int) and not isinstance(value, bool):
        return number(value)
    return json.dumps(value, ensure_ascii=False, default=str)


FILTERS = {
    "when": when,
    "short": short,
    "number": number,
    "fixed": fixed,
    "duration": duration,
    "size": size,
    "resource": resource,
    "plain": plain,
}
