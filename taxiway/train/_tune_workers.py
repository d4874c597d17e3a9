"""`taxiway train --tune N --workers K`: K-1 helper processes on this machine, each a `taxiway tune-worker`.

They are the same workers a user starts on other machines (docs/cli.md): each joins the study through the
store's database and works until the study reaches its target, so this process needs no channel to them but
the database. Their stderr goes to a temporary file, quoted when one fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from taxiway.errors import TaxiwayError

STOP_TIMEOUT_S = 30.0
_ERROR_TAIL = 800  # characters of a failed helper's stderr shown in the error


@dataclass
class TuneHelpers:
    """Helper worker processes started by this one."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def wait(self) -> None:
        """Wait for every helper to finish; raise if one failed."""
        failures = []
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.wait() != 0:
                log.seek(0)
                text = log.read().decode(errors="replace").strip()
                failures.append(f"worker {process.pid} exited {process.returncode}: {text[-_ERROR_TAIL:]}")
        self.close()
        if failures:
            raise TaxiwayError(
                f"{len(failures)} tuning worker(s) failed; the study keeps every finished trial. "
                + failures[0],
                hint="fix the cause and run `taxiway tune-worker` (or `taxiway train --tune N`) again",
            )

    def stop(self) -> None:
        """Stop helpers that still run (this process failed); their running trials are retried later."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.close()

    def close(self) -> None:
        for log in self.logs:
            log.close()
        self.logs.clear()


def start_helpers(root: Path, study: str, count: int, *, heartbeat_s: float) -> TuneHelpers:
    """Start ``count`` `taxiway tune-worker --study STUDY` processes on the project at ``root``."""
    helpers = TuneHelpers()
    command = [
        sys.executable,
        "-c",
        "from taxiway.cli import main; main()",
        "--project",
        str(root),
        "tune-worker",
        "--study",
        study,
        "--heartbeat",
        str(heartbeat_s),
    ]
    environment = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": same_package_path()}
    for _ in range(count):
        log = tempfile.TemporaryFile(prefix="taxiway-tune-worker-")  # noqa: SIM115 - closed by TuneHelpers
        helpers.logs.append(log)
        helpers.processes.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=environment)
        )
    return helpers


def same_package_path() -> str:
    """A PYTHONPATH that makes a child Python import this process's taxiway, then what it would otherwise.

    A helper started with ``python -c`` imports taxiway from its working directory or from wherever the
    environment's install points (an editable install may point at another checkout); a worker running other
    code than the process that started it migrates the store to a schema the parent does not know, or lacks
    its commands.

    Example:
        >>> import taxiway
        >>> same_package_path().split(os.pathsep)[0] == str(Path(taxiway.__file__).resolve().parent.parent)
        True
    """
    import taxiway

    here = str(Path(taxiway.__file__).resolve().parent.parent)
    rest = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry and entry != here]
    return os.pathsep.join([here, *rest])
