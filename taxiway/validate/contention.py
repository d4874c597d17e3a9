"""How much a busy machine slowed the latency probe, measured by a fixed reference workload timed beside it.

CPU time leaves out the moments other processes held the core, but not what they did to it: after a switch
the caches are cold, and a neighbour streaming memory shares its bandwidth. On the 2-core VM of
docs/benchmarks.md the same model read 2.6-2.8 ms of CPU per row quiet and 4.1 ms beside four memory-bound
processes (p99 of each row's best round). So the probe times a fixed workload, :func:`reference_workload`
(a small scikit-learn pipeline predicting one row: the same kind of code a served model runs), right before
every timed prediction. Its time against this host's quiet time is the contention of that moment, and each
prediction is divided by it (the median of the :data:`WINDOW` nearest reference timings, so one disturbed
reference does not move a prediction) before each row's best round is taken: on recorded timings the
readings then agreed within 9% across those conditions, against 57% without dividing.

The host's quiet time is the lowest median reference time any probe on this host has read (kept in
:data:`HOST_REFERENCE_FILE`, per host and library versions); a first probe uses its own median. The factor
is never below 1 (a quiet moment is not scaled up) nor above :data:`MAX_CONTENTION`: whatever the file
says, a reading is at most halved, and the evidence states the raw reading beside it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

__all__ = [
    "HOST_REFERENCE_FILE",
    "MAX_CONTENTION",
    "WINDOW",
    "LatencyReading",
    "host_key",
    "load_host_reference",
    "read_latency",
    "reference_workload",
    "save_host_reference",
]

WINDOW = 5  # reference timings a prediction's contention is the median of (it and the 2 either side)
MAX_CONTENTION = 2.0  # a reading is divided by at most this: a wrong reference file cannot pass a slow model
HOST_REFERENCE_FILE = Path(".taxiway") / "latency_reference.json"  # in the project folder


@dataclass(frozen=True)
class LatencyReading:
    """Single-row latency read from rounds of timings, raw and divided by the contention measured beside it.

    ``p50_ms`` and ``p99_ms`` are the gate's figures (normalised); ``raw_p99_ms`` is the same statistic of
    the timings as taken; ``contention`` = ``raw_p99_ms / p99_ms``; ``reference_ms`` is this probe's median
    reference time and ``host_reference_ms`` the quiet time it was divided by.
    """

    p50_ms: float
    p99_ms: float
    raw_p99_ms: float
    contention: float
    reference_ms: float
    host_reference_ms: float


def read_latency(
    single_seconds: Sequence[Sequence[float]],
    reference_seconds: Sequence[Sequence[float]],
    host_reference_ms: float | None,
) -> LatencyReading:
    """p50/p99 over rows of each row's best round, each timing divided by the contention of its moment.

    ``single_seconds[r][i]`` is row ``i``'s prediction in round ``r``; ``reference_seconds[r][i]`` the
    reference timed just before it. A row's best round is its least disturbed: a further round can only
    lower a reading, never raise it.

    Example:
        >>> quiet = [[0.002] * 100, [0.002] * 100]
        >>> busy = [[0.003] * 100, [0.003] * 100]  # the model and the reference both 1.5x slower
        >>> r = read_latency(busy, busy, host_reference_ms=2.0)
        >>> round(r.raw_p99_ms, 3), round(r.p99_ms, 3), round(r.contention, 3)
        (3.0, 2.0, 1.5)
        >>> read_latency(quiet, quiet, host_reference_ms=None).contention  # no history: its own median
        1.0
    """
    single = np.asarray(single_seconds, dtype=float) * 1000
    reference = np.asarray(reference_seconds, dtype=float) * 1000
    typical = float(np.median(reference))
    host = typical if host_reference_ms is None else min(host_reference_ms, typical)
    factor = np.clip(_rolling_median(reference, WINDOW) / host, 1.0, MAX_CONTENTION)
    raw_best, best = single.min(axis=0), (single / factor).min(axis=0)
    p99, raw_p99 = float(np.percentile(best, 99)), float(np.percentile(raw_best, 99))
    return LatencyReading(
        p50_ms=float(np.percentile(best, 50)),
        p99_ms=p99,
        raw_p99_ms=raw_p99,
        contention=raw_p99 / p99 if p99 > 0 else 1.0,
        reference_ms=typical,
        host_reference_ms=host,
    )


def reference_workload(threads: int) -> Callable[[], object]:
    """The reference the probe times before each prediction: a fixed pipeline predicting one row.

    Fitted on fixed data, so its work is the same in every probe on every host: about 2 ms of CPU of pandas
    column handling and scikit-learn's input checks, which is where most single-row time of a served
    pipeline goes. The probe loads this module by its path (it imports nothing of taxiway), after reading
    the memory figure; scikit-learn is already loaded by any scikit-learn model.

    Example:
        >>> reference = reference_workload(threads=1)
        >>> reference().shape
        (1, 2)
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler
    from threadpoolctl import threadpool_limits

    # Libraries these imports loaded (scipy's BLAS, for one) were not there when the probe capped the
    # thread pools: capped now, before the fit, or their idle threads spin for a while after it, and CPU
    # time of the process counts them: a predict burning 5 ms of the process's CPU did 1.1-1.8 ms of it.
    threadpool_limits(threads)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"n{i}": rng.normal(size=200) for i in range(6)})
    frame["c"] = rng.choice(list("abcde"), 200)
    encode = ColumnTransformer([("c", OrdinalEncoder(), ["c"])], remainder="passthrough")
    model = make_pipeline(encode, StandardScaler(), LogisticRegression()).fit(frame, frame["n0"] > 0)
    row = frame.iloc[:1]
    return lambda: model.predict_proba(row)


def _rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Each value replaced by the median of the ``window`` values around it in its round (edges repeated)."""
    half = window // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)
    return np.asarray(np.median(windows, axis=-1), dtype=float)


def host_key() -> str:
    """What the reference's quiet time depends on: the host, its CPUs, Python and the libraries it runs.

    Example:
        >>> "Python" in host_key() and "scikit-learn" in host_key()
        True
    """

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    python = ".".join(map(str, sys.version_info[:3]))
    libraries = ", ".join(f"{name} {installed(name)}" for name in ("numpy", "pandas", "scikit-learn"))
    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), Python {python}, {libraries}"


def load_host_reference(path: Path) -> float | None:
    """The lowest median reference time (ms) kept for this host in ``path``, if any.

    The file is the probe's own record, not user input: one that cannot be read counts as no record (the
    next probe writes it afresh).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> load_host_reference(folder / "none.json") is None
        True
        >>> save_host_reference(folder / "r.json", 2.5); save_host_reference(folder / "r.json", 3.0)
        >>> load_host_reference(folder / "r.json")  # the lowest is kept
        2.5
    """
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))["hosts"][host_key()]["reference_ms"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(kept) if isinstance(kept, int | float) and kept > 0 else None


def save_host_reference(path: Path, reference_ms: float) -> None:
    """Keep ``reference_ms`` for this host in ``path`` if it is lower than what the file holds."""
    kept = load_host_reference(path)
    if kept is not None and kept <= reference_ms:
        return
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        hosts = document["hosts"] if isinstance(document.get("hosts"), dict) else {}
    except (OSError, ValueError, AttributeError):
        hosts = {}
    hosts[host_key()] = {"reference_ms": reference_ms}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Replaced whole, so a probe reading it meanwhile sees the old record or the new one, never half of one.
    handle, temporary = tempfile.mkstemp(prefix=".taxiway-", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump({"hosts": hosts}, out, indent=1, sort_keys=True)
    os.replace(temporary, path)
