"""A run whose process is killed is marked failed, saying why; a run whose process lives stays running."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.project import Project
from taxiway.train.runs import get_run, list_runs
from taxiway.train.tracking import start_run

_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from taxiway.project import Project
    from taxiway.train.tracking import start_run
    run = start_run("doomed", project=Project.load(Path(sys.argv[1])))
    run.log_metric("loss", 0.5)
    run.flush()
    print(run.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_run_reads_failed_and_a_live_one_running(project_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(project_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    run_id = done.stdout.strip()
    store = Project.load(project_dir).store
    with start_run("alive", store=store) as alive:
        found = get_run(store, run_id)
        assert found.status == "failed", found
        assert found.error is not None and "ended without ending the run (killed?)" in found.error
        assert found.metrics == {"loss": 0.5}  # what it logged before the kill is kept
        assert get_run(store, alive.id).status == "running"
        assert {run.id: run.status for run in list_runs(store)} == {run_id: "failed", alive.id: "running"}
    result = CliRunner().invoke(app, ["--project", str(project_dir), "runs", "--status", "running"])
    assert result.exit_code == 0 and run_id not in result.output
    store.close()
