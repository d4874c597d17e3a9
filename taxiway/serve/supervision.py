"""Workers that outlive their parent, and the files a killed server leaves behind.

``kill -9`` of the `taxiway serve` parent left its workers answering on the port, unsupervised, and a new
`taxiway serve` on that port failed with "address already in use". Each worker now asks Linux to send it
SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and a watchdog thread checks that the parent is
still the one that started it (other systems, and a parent that died before the request was made); either
way the worker shuts down as on Ctrl+C. Prometheus's multiprocess folders are named by the parent's pid, so
the next server removes those of parents that are gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import psutil

PARENT_ENV = "TAXIWAY_SERVE_PARENT"
METRICS_PREFIX = "taxiway-metrics-"
_PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 1.0

__all__ = ["METRICS_PREFIX", "PARENT_ENV", "exit_with_parent", "metrics_folder", "remove_orphan_folders"]


def exit_with_parent() -> None:
    """In a worker: SIGTERM ourselves when the `taxiway serve` parent (``$TAXIWAY_SERVE_PARENT``) dies."""
    expected = os.environ.get(PARENT_ENV)
    if not expected or not expected.isdigit() or int(expected) == os.getpid():
        return  # a single process serves: it is the parent
    parent = int(expected)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(WATCH_SECONDS):
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="taxiway-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it died before the watch started
        os.kill(os.getpid(), signal.SIGTERM)


def metrics_folder(parent: str | None = None) -> Path:
    """A new folder for this server's multiprocess metrics (in ``parent``, or the temporary folder), named by
    its pid (see
    :func:`remove_orphan_folders`).

    Example:
        >>> folder = metrics_folder()
        >>> folder.name.startswith(f"taxiway-metrics-{os.getpid()}-"), folder.is_dir()
        (True, True)
        >>> shutil.rmtree(folder)
    """
    remove_orphan_folders(parent)
    return Path(tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-", dir=parent))


def remove_orphan_folders(parent: str | None = None) -> list[Path]:
    """Remove the metrics folders of servers that no longer run (in ``parent``, or the temporary folder);
    returns what was removed."""
    removed: list[Path] = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{METRICS_PREFIX}*"):
        owner = folder.name.removeprefix(METRICS_PREFIX).split("-", 1)[0]
        if not owner.isdigit() or psutil.pid_exists(int(owner)) or not folder.is_dir():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
