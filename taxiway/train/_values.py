"""What a run may record: checks that turn a user's keys and values into what the store can hold.

Each check runs where the value enters (the log call), so a bad value is reported with its key there,
not later by the database in a background flush.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from taxiway.errors import TaxiwayError

MAX_KEY_CHARS = 200  # metric_points.key and runs.name are VARCHAR(200)
MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1  # metric_points.step is a BIGINT
_SHOWN_CHARS = 60
_SCALARS = (str, int, float, bool, type(None))


def check_key(what: str, key: object, *, limit: int = MAX_KEY_CHARS) -> str:
    """``key`` if it is a non-empty string of at most ``limit`` characters.

    Example:
        >>> check_key("metric", "loss")
        'loss'
    """
    if not isinstance(key, str) or not key or len(key) > limit:
        raise TaxiwayError(
            f"{what} name {_show(key)} is not a string of 1 to {limit} characters",
            hint=f"name each {what} with a short string, e.g. 'valid_loss'",
        )
    return key


def metric_value(key: str, value: object, step: object) -> float:
    """``value`` as a finite float.

    Example:
        >>> import numpy as np
        >>> metric_value("loss", np.float32(0.5), 0), metric_value("n", 3, 0)
        (0.5, 3.0)
    """
    number: float | None = None
    if not isinstance(value, str | bytes) and hasattr(value, "__float__"):
        try:
            number = float(value)
        except (TypeError, ValueError):  # e.g. an array of several values
            number = None
    if number is None:
        raise TaxiwayError(
            f"metric '{key}' at step {step}: {_show(value)} ({type(value).__name__}) is not a number",
            hint="log one number per call, e.g. float(loss)",
        )
    if not math.isfinite(number):
        raise TaxiwayError(
            f"metric '{key}' at step {step} is {number}: taxiway records finite numbers only",
            hint="a NaN or infinite loss usually means training diverged; lower the learning rate, or "
            "record the event with set_tags({'diverged': True})",
        )
    return number


def metric_step(key: str, step: object) -> int:
    """``step`` as an int in the BIGINT range (NumPy integers accepted; bools and floats refused)."""
    index = getattr(step, "__index__", None)
    if isinstance(step, bool) or index is None or not MIN_STEP <= (number := int(index())) <= MAX_STEP:
        raise TaxiwayError(
            f"metric '{key}': step {_show(step)} is not an integer between -2**63 and 2**63-1",
            hint="steps count iterations or epochs: 0, 1, 2, …",
        )
    return number


def metric_time(key: str, timestamp: object) -> float:
    """``timestamp`` (seconds since the epoch) as a finite float."""
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool) and math.isfinite(timestamp):
        return float(timestamp)
    raise TaxiwayError(
        f"metric '{key}': timestamp {_show(timestamp)} is not seconds since the epoch",
        hint="pass time.time(), or leave timestamp out to use the time of the call",
    )


def json_dict(what: str, values: Mapping[str, Any], *, nested: bool) -> dict[str, Any]:
    """A copy of ``values`` that JSON holds exactly; ``nested`` allows dicts inside.

    Example:
        >>> import numpy as np
        >>> json_dict("param", {"depth": np.int64(3), "layers": (64, 32)}, nested=False)
        {'depth': 3, 'layers': [64, 32]}
    """
    if not isinstance(values, Mapping):
        raise TaxiwayError(
            f"{what}s must be a dict of name → value, got {type(values).__name__}",
            hint="pass e.g. {'learning_rate': 0.1}",
        )
    return {check_key(what, key): _json_value(what, key, value, nested) for key, value in values.items()}


def describe(error: BaseException) -> str:
    """``"ExceptionType: message"``, as a failed run's error records it.

    Example:
        >>> describe(ValueError("bad shape")), describe(KeyboardInterrupt())
        ('ValueError: bad shape', 'KeyboardInterrupt')
    """
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _json_value(what: str, key: str, value: Any, nested: bool) -> Any:
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # NumPy scalars and 0-d arrays
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise TaxiwayError(
            f"{what} '{key}' is {value}: JSON has no NaN or infinity",
            hint="pass it as a string, e.g. 'inf', or leave it out",
        )
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(what, key, item, nested) for item in value]
    if nested and isinstance(value, Mapping) and all(isinstance(name, str) for name in value):
        return {name: _json_value(what, f"{key}.{name}", item, nested) for name, item in value.items()}
    allowed = "numbers, strings, booleans, None, lists" + (" and dicts of them" if nested else " of them")
    raise TaxiwayError(
        f"{what} '{key}' = {_show(value)} is a {type(value).__name__}, which a run cannot record",
        hint=f"{what} values are {allowed}; pass str(value) to record it as text",
    )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
