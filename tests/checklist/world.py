"""A small real project for the checklist's proof tests: a git repository, a dataset version and its split,
a baseline and a candidate run trained on them, the candidate blessed, registered and live.

Everything goes through the stages' own functions into a real SQLite store; only the model bytes are a
stand-in (the checklist reads which model is live and whether its file is still stored, never the model).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from taxiway import registry
from taxiway.charter import load_charter
from taxiway.data.split import split_dataset
from taxiway.data.versions import add_dataset
from taxiway.deploy.changes import deploy
from taxiway.project import Project
from taxiway.registry.blessing import GateResult, save_blessing
from taxiway.store import Store
from taxiway.train.tracking import start_run


@dataclass
class World:
    """The ids of what the project holds, to record evidence about."""

    root: Path
    project: Project
    dataset_id: str
    split_id: str
    baseline_run: str
    candidate_run: str
    version: str  # "v1"
    commit: str

    @property
    def store(self) -> Store:
        return self.project.store


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; its stdout."""
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *identity, *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def build_world(root: Path, *, live: bool = True, data: bool = True) -> World:
    """Make the project at ``root`` (its charter already written) real: git, data, split, runs, model.

    ``data=False`` trains without a stored dataset: no data.* evidence is recorded, so a test can count
    every ML Test Score point itself.
    """
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "taxiway.toml")
    git(root, "commit", "-q", "-m", "charter")
    commit = git(root, "rev-parse", "HEAD")
    rows = ["x,label", *(f"{i},{i % 2}" for i in range(60))]
    csv = root / "rows.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    project = Project.load(root)
    store = project.store
    charter = load_charter(root / "taxiway.toml")
    dataset_id = split_id = None
    if data:
        version = add_dataset(store, csv, target="label").version
        dataset_id, split_id = version.id, split_dataset(store, version, charter).split.id
    with start_run(
        "constant", kind="baseline", store=store, dataset_id=dataset_id, split_id=split_id
    ) as base:
        base.set_model(base.log_bytes("model.skops", b"baseline"))
    with start_run("gbm", kind="candidate", store=store, dataset_id=dataset_id, split_id=split_id) as run:
        run.set_model(run.log_bytes("model.skops", b"candidate"))
    with store.write_session() as session, session.begin():
        gates = [GateResult("beats_baseline", "pass", 0.1, 0.0, "beats the baseline")]
        save_blessing(session, run.id, gates, test_metrics={}, evaluation={})
    name = registry.register(store, run.id)[0].name
    if live:
        deploy(store, name, "live")
    return World(root, project, dataset_id or "", split_id or "", base.id, run.id, name, commit)
