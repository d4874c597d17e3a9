"""How the pages write values: UTC ISO times, short ids, figures with units. Registered as Jinja filters."""

from __future__ import annotations

import json
import math
from typing import Any

from taxiway.display import duration, when  # shared with the CLI; registered as filters too

SHORT_HASH = 12


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
