"""The next command to run, computed from the project's state: what is stored, what ran, what passed.

The first hour of a project is a chain (data add, split, data check, train, validate, register, deploy,
serve); each link is done when its evidence is newer than the link before it. Past the chain, the next step
is the first checklist item still missing whose hint names a command that exists. A step either can be run
unattended (``taxiway up`` runs it) or needs a person (a failed gate, a long-running server), and then says
the exact fix.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from taxiway.checklist import evaluate_checklist
from taxiway.checklist.items import NOT_YET
from taxiway.deploy.replicas import list_replicas
from taxiway.deploy.state import desired_state
from taxiway.project import Project
from taxiway.registry.versions import list_versions
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence
from taxiway.train.lineage import code_state

__all__ = ["Step", "next_step"]

# The chain of the first hour: each check, and the command that records it.
_CHAIN: tuple[tuple[Check, tuple[str, ...], str], ...] = (
    (Check.DATA_SPLIT, ("data", "split"), "split the rows into train, dev and test, leakage-safe"),
    (Check.DATA_LEAKAGE, ("data", "check"), "check the split for leaks, shift and the dev set's power"),
    (Check.TRAIN_BASELINES, ("train",), "train the baselines and the candidate"),
)


@dataclass(frozen=True)
class Step:
    """One thing to do next.

    ``argv`` is the command without the leading ``taxiway`` when ``taxiway up`` may run it unattended; an
    empty ``argv`` means a person has to act (``command`` then says what to do).

    Example:
        >>> Step("taxiway data split", "split the rows", ("data", "split")).line()
        'next: taxiway data split  (split the rows)'
    """

    command: str
    why: str
    argv: tuple[str, ...] = field(default=())

    @property
    def automatic(self) -> bool:
        return bool(self.argv)

    def line(self) -> str:
        """The one line printed after a command and by `taxiway next`."""
        return f"next: {self.command}  ({self.why})"


def next_step(project: Project, *, verbs: Collection[str], data_file: str | None = None) -> Step | None:
    """The next command for ``project``; None when every item that can be earned here is earned.

    ``verbs`` are the commands that exist (the CLI's table): a checklist hint naming any other is skipped.
    ``data_file`` lets the first step, adding the data, run unattended.
    """
    store = project.store
    log = store.evidence
    latest = log.latest()
    version = latest.get(Check.DATA_VERSION)
    if version is None:
        add: tuple[str, ...] = ("data", "add", data_file) if data_file else ()
        return Step(f"taxiway data add {data_file or 'FILE'}", "store the data, hashed and profiled", add)
    before: Evidence = version
    for check, argv, why in _CHAIN:
        record = latest.get(check)
        if record is None or (record.id or 0) < (before.id or 0):
            return Step(f"taxiway {' '.join(argv)}", why, argv)
        before = record
    trained = latest[Check.TRAIN_BASELINES]
    if trained.status == "fail":
        return Step(
            "edit pipeline.py (features, model), then taxiway train",
            f"the candidate did not beat the best baseline by problem.smallest_improvement "
            f"({trained.threshold:g})"
            if trained.threshold is not None
            else "the candidate did not beat the best baseline",
        )
    run_id = trained.subject_id
    validated = log.latest_about(Check.MODEL_VALIDATED, "run", run_id)
    if validated is None:
        why = "apply every gate to the best candidate"
        return Step(f"taxiway validate {run_id}", why, ("validate", run_id))
    if validated.status == "fail":
        failed = ", ".join(validated.details.get("failed", [])) or "a gate"
        return Step(
            f"fix what {failed} found (taxiway validate {run_id} shows it), then taxiway train",
            "the best candidate is not blessed",
        )
    registered = next((v for v in list_versions(store) if v.run_id == run_id), None)
    if registered is None:
        why = "make the blessed run a model version"
        return Step(f"taxiway register {run_id}", why, ("register", run_id))
    deployment = desired_state(store)
    number = registered.version
    if deployment.live is None:
        return Step(f"taxiway deploy v{number}", "put the first version live", ("deploy", f"v{number}"))
    if deployment.live != number and deployment.shadow != number:
        return Step(
            f"taxiway deploy v{number} --as shadow",
            f"watch v{number} next to live v{deployment.live} before it answers users",
            ("deploy", f"v{number}", "--as", "shadow"),
        )
    if Check.MODEL_UNIT_TESTS not in latest and _has_team_tests(project.root):
        return Step("taxiway test unit", "run pipeline.py's unit tests", ("test", "unit"))
    if log.latest_about(Check.MODEL_REPRODUCED, "run", run_id) is None:
        why = "retrain the candidate from its lineage and compare"
        return Step(f"taxiway reproduce {run_id}", why, ("reproduce", run_id))
    if not list_replicas(store):
        return Step("taxiway serve", "start a server: it answers /predict and monitors itself")
    if deployment.shadow == number:
        return Step(
            "taxiway status, then taxiway promote",
            f"compare shadow v{number} with live v{deployment.live}; promote when they agree",
        )
    if not code_state(project.root).in_git:
        return Step(
            "git init && git add -A && git commit -m start",
            "model.spec_reviewed needs the charter and pipeline.py committed",
        )
    return _from_checklist(project, latest, verbs)


def _from_checklist(project: Project, latest: dict[str, Evidence], verbs: Collection[str]) -> Step | None:
    """The first missing checklist item whose hint names only existing commands not run already."""
    report = evaluate_checklist(project.charter, latest)
    for result in report.items:
        if result.state != "missing" or not result.how or result.how.startswith(NOT_YET):
            continue
        named = re.findall(r"taxiway ([a-z][a-z-]*)", result.how)
        if any(verb not in verbs for verb in named):
            continue
        if result.evidence is not None:
            continue  # its command ran; the record says what is wrong, not a command to repeat
        return Step(result.how.removeprefix("run "), result.item.text)
    return None


def _has_team_tests(root: Path) -> bool:
    """Whether ``tests/`` holds a test file the team wrote or changed: the starter's own tests prove nothing,
    so `taxiway test unit` would refuse to record them (the checklist then asks for the team's tests)."""
    from taxiway.scaffold.write import unchanged_tests

    starter = set(unchanged_tests(root))
    tests = root / "tests"
    # pytest's default file patterns: what `taxiway test unit` would collect there
    found = [*tests.glob("**/test_*.py"), *tests.glob("**/*_test.py")]
    return any(path.relative_to(root).as_posix() not in starter for path in found)
