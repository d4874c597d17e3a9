"""What each check must be about, and which recorded subjects those are now.

A pass proves something about one subject: a model version, the dataset version and split it was trained
on, a commit, the live deployment, the project. Evidence about another subject (the constant baseline, an
older dataset, a commit from another repository) does not count, and neither does evidence about a subject
whose artifacts are gone from the store. The table below names each check's subject; ``resolve`` finds
the current ones in the store.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from taxiway.charter import Charter
from taxiway.deploy.state import deployment_history, went_live_at
from taxiway.registry.versions import ModelVersion, list_versions
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from taxiway.store.tables import DatasetVersionRow, RunRow, SplitRow

Binding = Literal["model", "dataset", "split", "commit", "deployment", "project", "any"]
_GIT_TIMEOUT_S = 10

# Which subject each check must be about. "model": the live model version, or the newest registered one
# while nothing is live, or the newest candidate run while nothing is registered. "dataset" and "split":
# what that model was trained on (its run records them). "commit": any commit of this repository's history.
# "deployment": the live deployment. "project": the project itself. "any": a capability the project shows
# once, whatever it was shown on (a shadow deployment of any version proves "we can deploy in shadow").
BINDINGS: Mapping[Check, Binding] = {
    Check.DATA_VERSION: "dataset",
    Check.DATA_SCHEMA: "dataset",
    Check.DATA_PII: "dataset",
    Check.DATA_SPLIT: "split",
    Check.DATA_LEAKAGE: "split",
    Check.DATA_SAME_DISTRIBUTION: "split",
    Check.DATA_DEV_POWER: "split",
    Check.DATA_REFLECTS_PRODUCTION: "split",
    Check.DATA_META_REQUIREMENTS: "model",
    Check.DATA_FEATURE_VALUE: "model",
    Check.DATA_FEATURE_COST: "model",
    Check.DATA_FEATURE_VELOCITY: "project",
    Check.DATA_FEATURE_TESTS: "project",
    Check.TRAIN_BASELINES: "model",
    Check.TRAIN_TUNED: "model",
    Check.MODEL_SPEC_REVIEWED: "model",
    Check.MODEL_ONLINE_CORRELATION: "deployment",
    Check.MODEL_STALENESS_IMPACT: "model",
    Check.MODEL_SLICES: "model",
    Check.MODEL_INCLUSION: "model",
    Check.MODEL_REPRODUCED: "model",
    Check.MODEL_UNIT_TESTS: "model",
    # The integration test runs on a sample of the newest dataset version, in a sandbox: it shows the pipeline
    # works end to end, whichever model is live, so any passing run of it counts.
    Check.PIPELINE_INTEGRATION: "any",
    Check.MODEL_VALIDATED: "model",
    Check.MODEL_DEBUGGABLE: "model",
    Check.MODEL_BEHAVIOUR: "model",
    Check.UI_SERVED: "project",
    Check.CI_CHECK: "commit",
    Check.DEPLOY_CD: "model",
    Check.CT_RETRAIN: "any",  # a capability: continuous training retrained and judged a candidate
    Check.CT_TRIGGER: "project",
    Check.CT_BUDGET: "project",
    Check.DEPLOY_BLUE_GREEN: "any",
    Check.DEPLOY_SHADOW: "any",
    Check.DEPLOY_CANARY: "any",
    Check.DEPLOY_ROLLBACK: "any",
    Check.SERVE_FALLBACK: "any",  # a capability of the serving path: shown by any replica that fell back
    Check.MONITOR_MEMORY: "deployment",
    Check.MONITOR_CPU: "deployment",
    Check.MONITOR_LATENCY: "deployment",
    Check.MONITOR_DOWNTIME: "deployment",
    Check.MONITOR_REQUESTS: "deployment",
    Check.MONITOR_CONFIDENCE: "deployment",
    Check.MONITOR_DEPENDENCIES: "deployment",
    Check.MONITOR_INPUT_SCHEMA: "deployment",
    Check.MONITOR_SKEW: "deployment",
    Check.MONITOR_STALENESS: "deployment",
    Check.MONITOR_NUMERICAL: "model",
    Check.MONITOR_RESOURCE_REGRESSION: "deployment",
    Check.MONITOR_ONLINE_QUALITY: "deployment",
    Check.MONITOR_DRIFT: "deployment",
    Check.MONITOR_ESTIMATED_QUALITY: "deployment",
    Check.MONITOR_ERRORS: "deployment",
    Check.MONITOR_FALLBACK: "deployment",
    Check.MONITOR_CAPACITY: "deployment",
}
# ML Test Score I6 asks more than "we can shadow": the live version was shadowed or canaried before it
# went live. Its records are bound to the live model and must be older than the moment it went live.
BEFORE_LIVE: tuple[Check, ...] = (Check.DEPLOY_CANARY, Check.DEPLOY_SHADOW)


@dataclass(frozen=True)
class Subject:
    """One thing evidence can be about, under each name writers record it by.

    Example:
        >>> s = Subject("model", "v3", "model v3 (run r-1)", names=(("run", "r-1"),))
        >>> s.is_named(Evidence("model.validated", "run", "r-1", "pass")), s.is_named(
        ...     Evidence("model.validated", "run", "r-2", "pass"))
        (True, False)
    """

    kind: str
    id: str
    label: str
    names: tuple[tuple[str, str], ...] = ()  # other (kind, id) pairs that name the same thing
    gone: str | None = None  # why evidence about it proves nothing: its artifacts are missing
    served_as: str | None = None  # the version name a serving replica's record names in its details

    def is_named(self, record: Evidence) -> bool:
        """Whether ``record`` is about this subject, under any of its names.

        A serving replica records what it did about itself; its details name the version it served
        (``version``, or ``canary`` for a canary share), which is what the record is about.
        """
        if (record.subject_kind, record.subject_id) in ((self.kind, self.id), *self.names):
            return True
        if record.subject_kind != "replica" or self.served_as is None:
            return False
        return self.served_as in (record.details.get("version"), record.details.get("canary"))


@dataclass(frozen=True)
class Subjects:
    """The subjects the checklist binds checks to now, and why any is missing."""

    project: Subject
    model: Subject | None = None
    dataset: Subject | None = None
    split: Subject | None = None
    deployment: Subject | None = None
    live_since: dt.datetime | None = None  # when the live version went live (the stretch it is still in)
    model_commit: str | None = None  # the clean commit the model was trained from
    in_history: Callable[[str], bool] = field(default=lambda _sha: False)
    why_none: Mapping[str, str] = field(default_factory=dict)

    def subject_for(self, check: Check) -> Subject | None:
        """The subject ``check`` must be about; None for "any" and for a subject that does not exist yet."""
        binding = BINDINGS.get(check, "any")
        if binding in ("any", "commit"):
            return None
        chosen: Subject | None = getattr(self, binding)
        return chosen

    def describe(self, check: Check) -> str:
        """The subject ``check`` must be about, in words (for explanations and for what is missing)."""
        binding = BINDINGS.get(check, "any")
        if binding == "any":
            return "any subject"
        if binding == "commit":
            return "a commit in this repository's git history"
        chosen = self.subject_for(check)
        return chosen.label if chosen is not None else self.why_none.get(binding, f"no {binding} yet")

    def about(self, check: Check, record: Evidence) -> bool:
        """Whether ``record`` is about the subject ``check`` must be about now.

        Unit tests recorded about the project count for the model when they ran on the clean commit the
        model was trained from: they tested that model's pipeline code. Before any model exists they are
        about the project.
        """
        binding = BINDINGS.get(check, "any")
        if binding == "any":
            return True
        if check is Check.MODEL_UNIT_TESTS and self.model is None:
            return record.subject_kind == "project"  # no model yet: the pipeline's tests are the project's
        if binding == "commit":
            return record.subject_kind == "commit" and self.in_history(record.subject_id)
        chosen = self.subject_for(check)
        if chosen is None or chosen.gone:
            return False
        if chosen.is_named(record):
            return True
        commit = record.details.get("git_commit")
        return (
            check is Check.MODEL_UNIT_TESTS
            and self.model_commit is not None
            and commit == self.model_commit
            and not record.details.get("git_dirty")
        )


def resolve(store: Store, charter: Charter, root: Path | None) -> Subjects:
    """The subjects of the project now: its model, that model's data, the live deployment, its git history.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> folder = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{folder}/t.db", os.path.join(folder, "a")))
        >>> charter = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"}})
        >>> subjects = resolve(store, charter, None)
        >>> subjects.model is None, subjects.describe(Check.MODEL_VALIDATED)
        (True, 'no model yet: train one (taxiway train), then validate and register it')
    """
    project = Subject("project", charter.project.name, f"project {charter.project.name}")
    why: dict[str, str] = {
        "model": "no model yet: train one (taxiway train), then validate and register it",
        "dataset": "no dataset version behind the model yet (taxiway data add FILE, then taxiway train)",
        "split": "no split behind the model yet (taxiway data split, then taxiway train)",
        "deployment": "nothing is live (taxiway deploy vN)",
    }
    history = deployment_history(store, limit=200)
    live = history[0].live if history else None
    versions = list_versions(store)
    version = next((v for v in versions if v.version == live), None) or (versions[0] if versions else None)
    with store.session() as session:
        if version is not None:
            run = session.get(RunRow, version.run_id)
        else:
            query = select(RunRow).where(RunRow.kind == "candidate", RunRow.status == "finished")
            run = session.scalars(query.order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(1)).first()
        dataset_row = session.get(DatasetVersionRow, run.dataset_id) if run and run.dataset_id else None
        split_row = session.get(SplitRow, run.split_id) if run and run.split_id else None
        model = _model(store, version, run, is_live=version is not None and version.version == live)
        dataset = split = None
        if dataset_row is not None:
            short = dataset_row.id[:12]
            missing = None if store.artifacts.exists(dataset_row.artifact) else "its data file"
            dataset = Subject(
                "dataset",
                dataset_row.id,
                f"dataset version {short} ({dataset_row.name}), the model's training data",
                gone=_gone(missing),
            )
        if split_row is not None:
            missing = None if store.artifacts.exists(split_row.manifest) else "its manifest"
            if dataset is not None and dataset.gone:
                missing = "its dataset version's data file"
            label = f"split {split_row.id[:12]}, the model's training split"
            split = Subject("split", split_row.id, label, gone=_gone(missing))
        lineage = dict(run.lineage or {}) if run is not None else {}
    deployment = None
    live_since = None
    if live is not None:
        deployment = Subject(
            "deployment",
            f"v{live}",
            f"the live deployment (v{live})",
            names=(
                ("deployment", str(live)),
                ("model", f"v{live}"),
            ),  # the server's skew check names the model
            served_as=f"v{live}",
        )
        live_since = went_live_at(history)
    commit = lineage.get("git_commit")
    model_commit = commit if isinstance(commit, str) and not lineage.get("git_dirty") else None
    return Subjects(
        project=project,
        model=model,
        dataset=dataset,
        split=split,
        deployment=deployment,
        live_since=live_since,
        model_commit=model_commit,
        in_history=_history_of(root),
        why_none=why,
    )


def _model(
    store: Store, version: ModelVersion | None, run: RunRow | None, *, is_live: bool
) -> Subject | None:
    if version is not None:
        state = "live" if is_live else "newest registered; nothing is live"
        gone = None if store.artifacts.exists(version.artifact) else "its model file"
        return Subject(
            "model",
            version.name,
            f"model {version.name} (run {version.run_id}, {state})",
            names=(("model", str(version.version)), ("run", version.run_id)),
            gone=_gone(gone),
            served_as=version.name,
        )
    if run is None:
        return None
    gone = None
    if run.model_artifact and not store.artifacts.exists(run.model_artifact):
        gone = "its model file"
    return Subject("run", run.id, f"run {run.id} (newest candidate; nothing registered)", gone=_gone(gone))


def _gone(what: str | None) -> str | None:
    if what is None:
        return None
    return f"{what} is missing from the artifact store: evidence about it proves nothing now"


def _history_of(root: Path | None) -> Callable[[str], bool]:
    """Whether a commit is an ancestor of HEAD in the git repository at ``root`` (False outside git)."""

    @cache
    def in_history(sha: str) -> bool:
        if root is None or not sha or not all(c in "0123456789abcdefABCDEF" for c in sha):
            return False
        try:
            done = subprocess.run(
                ["git", "merge-base", "--is-ancestor", sha, "HEAD"],
                cwd=root,
                capture_output=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    return in_history
