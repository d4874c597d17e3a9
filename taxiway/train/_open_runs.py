"""The runs open in this process: flushed every FLUSH_INTERVAL_S by one thread, and ended at exit.

One daemon thread serves every open run of the process. A thread per run would cost each run about
0.5 ms to start and join, a fifth of the time a short run (150 points) takes to record in all. The thread
starts with the first open run and leaves by itself at its first wake-up with no run open; it holds no lock
while it waits, and is stopped and joined at interpreter exit before the runs still open are ended.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import Literal, Protocol

from taxiway.train._values import describe

FLUSH_INTERVAL_S = 2.0  # a reader sees a point at most this late; a killed process loses at most this much


class OpenRun(Protocol):
    """What this module needs of a run: `taxiway.train.tracking.ActiveRun` provides it."""

    @property
    def id(self) -> str: ...

    def flush(self) -> None: ...

    def end(self, status: Literal["finished", "failed"] = "finished", error: str | None = None) -> None: ...


_runs: dict[str, tuple[OpenRun, object]] = {}  # id -> (run, sys.last_value when it started)
_lock = threading.Lock()
_stopping = threading.Event()
_thread: threading.Thread | None = None
_exit_hook_registered = False


def register(run: OpenRun) -> None:
    """Keep ``run`` flushed while it is open, and end it at exit if nobody else does.

    The registry holds a strong reference: a run whose `ActiveRun` nobody keeps is still flushed and ended.
    """
    global _thread, _exit_hook_registered
    with _lock:
        _runs[run.id] = (run, getattr(sys, "last_value", None))
        if _thread is None:
            _thread = threading.Thread(target=_flush_periodically, name="taxiway-flush", daemon=True)
            _thread.start()
        if not _exit_hook_registered:
            # At the first run, not at import: atexit runs hooks last-in first-out, so ours runs before
            # those of the libraries (database drivers, logging) imported earlier.
            atexit.register(_end_open_runs)
            _exit_hook_registered = True


def unregister(run: OpenRun) -> None:
    """Forget an ended run."""
    with _lock:
        _runs.pop(run.id, None)


def _flush_periodically() -> None:
    global _thread
    while not _stopping.wait(FLUSH_INTERVAL_S):
        with _lock:
            if not _runs:
                _thread = None  # the next register() starts a new thread
                return
            runs = [run for run, _ in _runs.values()]
        for run in runs:
            # A failed flush keeps the points in memory; the next interval, flush() or end() retries, and the
            # latter two raise the error where the user sees it.
            with contextlib.suppress(Exception):
                run.flush()


def _end_open_runs() -> None:
    """At interpreter exit: stop the thread, then flush and end the runs still open.

    A run ends ``failed`` if an exception reached the top level after it started (Python records that
    exception in ``sys.last_value`` before it runs exit hooks), else ``finished``.
    """
    _stopping.set()
    thread = _thread
    if thread is not None:
        thread.join()
    unhandled: BaseException | None = getattr(sys, "last_value", None)
    with _lock:
        runs = list(_runs.values())
    for run, unhandled_at_start in runs:
        try:
            if unhandled is not None and unhandled is not unhandled_at_start:
                run.end("failed", error=describe(unhandled))
            else:
                run.end("finished")
        except Exception as error:  # noqa: BLE001 - at exit, report and go on with the other runs
            sys.stderr.write(f"taxiway: run {run.id} could not be ended at exit: {error}\n")


def _forget_parent_runs() -> None:
    # A forked child has no flush thread and must not end (or write to) its parent's runs when it exits.
    global _thread, _lock, _stopping
    _runs.clear()
    _thread = None
    _lock = threading.Lock()
    _stopping = threading.Event()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_runs)
