"""Serving constraints, measured on the packaged model in a fresh process, as a server would run it.

A new Python process loads the model artifact (skops, with its recorded trusted types), then predicts: a
batch of up to 1,000 rows several times (throughput in rows per second), then single rows one after another
(p50/p99 latency, after one warm-up call). Both are timed in CPU time of the process
(``time.process_time``), repeated, and the best taken: wall time on a machine at load 8 also counts the
time other processes held the core, and the same model read 109 ms, then 50 ms a minute later.

The single rows are timed in rounds, at most :data:`ROUNDS`, and each row's best round counts: an
interruption (a page fault, a cache a neighbour flushed) only ever adds time. Once a round lowers the p99
of the rows' best rounds by no more than :data:`ROUNDS_AGREE` the probe stops: a further round could only
lower the reading, never raise it, so stopping early reads at least as high as going on (a stricter gate,
never a laxer one). CPU time still grows on a busy machine (cold caches after every switch, memory
bandwidth shared), so a fixed reference workload is timed before every prediction and each prediction is
divided by how much slower it ran than on this host when quiet (:mod:`taxiway.validate.contention`): the
gate reads the normalised p99, and the evidence states the raw one and the factor beside it.

Its peak resident memory is read after the batches, before the reference workload is built, from the
kernel's high-water mark of the child's own memory (``VmHWM`` in ``/proc/self/status`` on Linux), so it
covers the interpreter, the libraries, the model and its largest predictions: what one serving process
needs.

Why not ``getrusage``: on Linux ``ru_maxrss`` survives ``exec``. A child started by ``fork``/``vfork`` from
the validating process reports that process's peak (the flights demo's model: 614 MB by ``ru_maxrss``,
244 MB by ``VmHWM``), and ``RUSAGE_CHILDREN`` is the maximum over every child ever waited for.
``getrusage`` is used only where ``/proc`` is missing (macOS); Windows reads the peak working set.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from taxiway.errors import TaxiwayError
from taxiway.train.packaged import PIPELINE_MODULE, import_pipeline
from taxiway.train.user_code import PIPELINE_FILE
from taxiway.validate import contention
from taxiway.validate.contention import load_host_reference, read_latency, save_host_reference

SINGLE_ROWS = 100  # single-row predictions timed per round: p99 lies between the two slowest rows
BATCH_ROWS = 1_000
BATCH_REPEATS = 5
ROUNDS = 4  # the single rows are timed at most this many times over; each row's best round counts
ROUNDS_AGREE = 0.10  # a round that lowers the p99 by at most this share of it ends the timing
PROBE_TIMEOUT_S = 600

__all__ = [
    "ROUNDS",
    "SINGLE_ROWS",
    "Artifact",
    "ServingMeasurement",
    "ServingProbe",
    "measure_serving",
    "start_serving_probe",
]

# Runs in the child. It imports what serving the model needs and nothing of taxiway: the project's
# pipeline.py (for custom classes), the model's libraries, pandas. The bytes were verified against their
# hash before they were handed over; skops refuses any type beyond those recorded at training.
#
# With a hand-over file, the model it loaded is also pickled there, once loaded (its load time measured),
# and "loaded" printed: the validating process takes it from there instead of importing skops and loading
# the artifact a second time. Pickle, not skops, because both ends are this machine's own processes and the
# object is the one the artifact held. The other artifacts in `others` (e.g. the failure predictor) are
# loaded only after the figures were printed, so they change none of them.
_PROBE = """
import gc, importlib.util, json, pickle, sys, time
from pathlib import Path

args = json.loads(sys.argv[1])


def load(data, model_format, trusted):
    if model_format == "pickle":
        return pickle.loads(data)
    import skops.io
    unexpected = sorted(set(skops.io.get_untrusted_types(data=data)) - set(trusted))
    if unexpected:
        sys.exit("the model artifact asks to load types it did not hold when saved: " + ", ".join(unexpected))
    return skops.io.loads(data, trusted=trusted)


def peak_memory():  # bytes: the high-water mark of this process's own memory, which exec started afresh
    try:  # Linux
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except ImportError:  # Windows
        import psutil
        return psutil.Process().memory_info().peak_wset


def hand_over(model, path):
    with open(path, "wb") as out:  # large arrays go straight to the file, not through a copy in memory
        pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)


started = time.perf_counter()
if args["pipeline"] is not None:
    path = Path(args["pipeline"])
    spec = importlib.util.spec_from_file_location(args["module"], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[args["module"]] = module
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
model = load(Path(args["model"]).read_bytes(), args["format"], args["trusted_types"])
load_seconds = time.perf_counter() - started
if args["hand_over"] is not None:
    hand_over(model, args["hand_over"])
    print("loaded", flush=True)
import numpy as np, pandas as pd
from threadpoolctl import threadpool_limits

rows = pd.read_parquet(args["rows"])
predict = getattr(model, args["method"])
# CPU time of this process (every thread), not wall time: on a busy machine wall time also counts the
# moments other processes held the core, and the same model flipped between pass and fail.
clock = time.process_time if args["clock"] == "process" else time.perf_counter
with threadpool_limits(args["threads"]):
    predict(rows.iloc[:1])
    threadpool_limits(args["threads"])  # any library the first predict loaded, too (see the reference)
    batch = rows.iloc[: args["batch_rows"]]
    batches = []
    for _ in range(args["batch_repeats"]):
        started = clock()
        predict(batch)
        batches.append(clock() - started)
    peak_bytes = peak_memory()  # before the reference workload is built: its memory is not the model's
    # taxiway/validate/contention.py by its path: numpy and the standard library, nothing else of taxiway
    spec = importlib.util.spec_from_file_location("_taxiway_contention", args["contention"])
    contention = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = contention  # dataclasses look their module up
    spec.loader.exec_module(contention)
    reference = contention.reference_workload(args["threads"])
    reference()
    gc.collect()  # the garbage of loading and of the reference: not the model's to collect in its timings
    rounds, references, outputs, p99s = [], [], [], []
    for _ in range(args["rounds"]):
        single, beside = [], []
        for index in range(min(args["single_rows"], len(rows))):
            row = rows.iloc[index : index + 1]
            started = clock()
            reference()  # how busy the machine is at this moment (taxiway/validate/contention.py)
            beside.append(clock() - started)
            started = clock()
            output = predict(row)
            single.append(clock() - started)
            if not rounds:  # the first round's outputs: validation checks them for NaN and infinity
                outputs.append(np.asarray(output, dtype=float).ravel().tolist())
        rounds.append(single)
        references.append(beside)
        # The reading so far. A round that lowers it by no more than rounds_agree ends the timing: a further
        # round could only lower it, never raise it (a stricter gate, never a laxer one).
        p99s.append(contention.read_latency(rounds, references, args["host_reference_ms"]).p99_ms)
        if len(p99s) >= 2 and p99s[-1] * (1 + args["rounds_agree"]) >= p99s[-2]:
            break
print(json.dumps({
    "load_seconds": load_seconds,
    "single_seconds": rounds,
    "reference_seconds": references,
    "batch_rows": len(batch),
    "batch_seconds": max(float(np.min(batches)), 1e-9),
    "peak_memory_mb": peak_bytes / 1e6,
    "single_outputs": outputs,
}), flush=True)
for other in args["others"]:
    hand_over(load(Path(other["model"]).read_bytes(), other["format"], other["trusted_types"]), other["out"])
"""


@dataclass(frozen=True)
class Artifact:
    """A model artifact's bytes (already verified against their hash) and how to load them."""

    data: bytes
    model_format: str
    trusted_types: list[str]


@dataclass(frozen=True)
class ServingMeasurement:
    """What one fresh serving process measured."""

    p50_ms: float  # over rows of each row's best round, divided by the contention (see contention.py)
    p99_ms: float  # the latency gate's figure
    single_rows: int
    batch_rows: int
    batch_seconds: float
    peak_memory_mb: float
    load_seconds: float
    rounds: int = ROUNDS  # rounds of single rows timed (fewer than ROUNDS: a round changed little)
    raw_p99_ms: float = 0.0  # the same p99 of the timings as taken, before dividing by the contention
    contention: float = 1.0  # raw_p99_ms / p99_ms: how much the busy machine had slowed the predictions
    reference_ms: float = 0.0  # the median time of the reference workload in this probe
    host_reference_ms: float = 0.0  # its quiet time on this host, which the contention is measured against
    # the outputs of the first round's single rows, one list per row: checked for NaN and infinity
    single_outputs: list[list[float]] = field(default_factory=list, repr=False)

    @property
    def throughput_rps(self) -> float:
        """Rows predicted per second in batches."""
        return self.batch_rows / self.batch_seconds if self.batch_seconds > 0 else float("inf")


class ServingProbe:
    """A fresh serving process started in the background: it measures while validation goes on.

    CPU time, not wall time, is what it reports, so work in the validating process beside it does not
    change its figures; on two cores the probe's seconds then overlap the evaluation's.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        folder: tempfile.TemporaryDirectory[str],
        others: list[str],
        root: Path | None = None,
        reference_file: Path | None = None,
        host_reference_ms: float | None = None,
    ) -> None:
        self._process, self._folder, self._others, self._root = process, folder, others, root
        self._reference_file, self._host_reference_ms = reference_file, host_reference_ms
        self._handed_over: dict[str, Any] = {}

    def loaded_model(self) -> Any:
        """The model as the process loaded it from its artifact, once loaded (started with ``hand_over``).

        Raises:
            TaxiwayError: the process could not load the model (its last error line is shown).
        """
        assert self._process.stdout is not None
        # Byte by byte from the unbuffered pipe: a buffered read could take the figures printed later too,
        # and `result` (communicate) would never see them. The project's pipeline.py may print first.
        line = b""
        while byte := self._process.stdout.read(1):
            line += byte
            if byte == b"\n":
                if line.strip() == b"loaded":
                    import_pipeline(self._root)  # the model's own classes, to unpickle it here too
                    return _unpickle(Path(self._folder.name) / "model.pickle")
                line = b""
        self._process.wait(timeout=PROBE_TIMEOUT_S)  # its output ended: the process stopped without loading
        raise self._failed()

    def result(self) -> ServingMeasurement:
        """Wait for the probe and read its figures (and the other artifacts it was asked to load).

        Raises:
            TaxiwayError: the process could not load the model or predict (its last error line is shown).
        """
        try:
            out, err = self._process.communicate(timeout=PROBE_TIMEOUT_S)
            stdout = out.decode("utf-8", errors="replace")
            if self._process.returncode != 0:
                raise self._failed(err.decode("utf-8", errors="replace"))
            for name in self._others:
                self._handed_over[name] = _unpickle(Path(self._folder.name) / f"{name}.pickle")
        finally:
            self.close()
        found = json.loads(stdout.strip().splitlines()[-1])
        single, reference = found.pop("single_seconds"), found.pop("reference_seconds")
        reading = read_latency(single, reference, self._host_reference_ms)
        if self._reference_file is not None:
            save_host_reference(self._reference_file, reading.host_reference_ms)
        return ServingMeasurement(
            **found,
            p50_ms=reading.p50_ms,
            p99_ms=reading.p99_ms,
            single_rows=len(single[0]),
            rounds=len(single),
            raw_p99_ms=reading.raw_p99_ms,
            contention=reading.contention,
            reference_ms=reading.reference_ms,
            host_reference_ms=reading.host_reference_ms,
        )

    def handed_over(self, name: str) -> Any:
        """Another artifact the process loaded after measuring, by its name (once ``result`` returned)."""
        return self._handed_over[name]

    def close(self) -> None:
        """Stop the process if it still runs (validation failed meanwhile) and remove its files."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        self._folder.cleanup()

    def _failed(self, stderr: str | None = None) -> TaxiwayError:
        if stderr is None:
            assert self._process.stderr is not None
            stderr = self._process.stderr.read().decode("utf-8", errors="replace")
        lines = stderr.strip().splitlines() or ["no output"]
        return TaxiwayError(
            f"a fresh process could not load and run the packaged model: {lines[-1]}",
            hint="run its predict on a few rows yourself; the packaged model must load on its own",
        )


def _unpickle(path: Path) -> Any:
    """A model this machine's own probe process pickled (see ``_PROBE``)."""
    with path.open("rb") as handed:
        return pickle.load(handed)


def start_serving_probe(
    model: bytes,
    *,
    model_format: str,
    trusted_types: list[str],
    rows: pd.DataFrame,
    method: str,
    threads: int = 1,
    root: Path | None = None,
    clock: Literal["process", "wall"] = "process",
    hand_over: bool = False,
    others: dict[str, Artifact] | None = None,
    reference_file: Path | None = None,
) -> ServingProbe:
    """Start loading ``model`` in a fresh Python process that predicts ``rows`` with ``method`` and measures.

    ``root`` is the project folder, whose ``pipeline.py`` defines any custom classes the model holds.
    ``clock="wall"`` times wall-clock seconds instead of CPU time: only for benchmarks/latency_stability.py,
    which shows why the gates do not use it. With ``hand_over``, :meth:`ServingProbe.loaded_model` returns
    the model the process loaded; ``others`` are loaded after the measurement, for
    :meth:`ServingProbe.handed_over`: the caller then needs neither skops nor a second load.
    ``reference_file`` keeps this host's quiet time of the reference workload across probes
    (:mod:`taxiway.validate.contention`); without it, the probe's own median reference time stands in.
    """
    folder = tempfile.TemporaryDirectory(prefix="taxiway-serving-")
    model_file, rows_file = Path(folder.name) / "model", Path(folder.name) / "rows.parquet"
    model_file.write_bytes(model)
    rows.iloc[: max(SINGLE_ROWS, BATCH_ROWS)].to_parquet(rows_file)
    loaded_later = []
    for name, artifact in (others or {}).items():
        (Path(folder.name) / name).write_bytes(artifact.data)
        loaded_later.append(
            {
                "model": str(Path(folder.name) / name),
                "format": artifact.model_format,
                "trusted_types": artifact.trusted_types,
                "out": str(Path(folder.name) / f"{name}.pickle"),
            }
        )
    kept = None if reference_file is None else load_host_reference(reference_file)
    args = {
        "model": str(model_file),
        "rows": str(rows_file),
        "format": model_format,
        "trusted_types": trusted_types,
        "method": method,
        "threads": threads,
        "pipeline": str(root / PIPELINE_FILE)
        if root is not None and (root / PIPELINE_FILE).is_file()
        else None,
        "module": PIPELINE_MODULE,
        "single_rows": SINGLE_ROWS,
        "batch_rows": BATCH_ROWS,
        "batch_repeats": BATCH_REPEATS,
        "rounds": ROUNDS,
        "rounds_agree": ROUNDS_AGREE,
        "clock": clock,
        "contention": contention.__file__,
        "host_reference_ms": kept,
        "hand_over": str(Path(folder.name) / "model.pickle") if hand_over else None,
        "others": loaded_later,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: see ServingProbe.loaded_model
    )
    return ServingProbe(process, folder, list(others or {}), root, reference_file, kept)


def measure_serving(
    model: bytes,
    *,
    model_format: str,
    trusted_types: list[str],
    rows: pd.DataFrame,
    method: str,
    threads: int = 1,
    root: Path | None = None,
) -> ServingMeasurement:
    """Load ``model`` in a fresh Python process, predict ``rows`` with ``method``, and measure.

    Raises:
        TaxiwayError: the process could not load the model or predict (its last error line is shown).

    Example:
        >>> from sklearn.linear_model import LinearRegression
        >>> from taxiway.train.packaging import save_model
        >>> x = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
        >>> saved = save_model(LinearRegression().fit(x, [0.0, 1.0, 2.0]))
        >>> m = measure_serving(saved.data, model_format=saved.format, trusted_types=saved.trusted_types,
        ...                     rows=x, method="predict")
        >>> m.single_rows, m.batch_rows, m.p99_ms > 0, m.peak_memory_mb > 10
        (3, 3, True, True)
    """
    return start_serving_probe(
        model,
        model_format=model_format,
        trusted_types=trusted_types,
        rows=rows,
        method=method,
        threads=threads,
        root=root,
    ).result()
