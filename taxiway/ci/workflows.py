"""The CI files `taxiway ci init` writes: GitHub Actions and GitLab CI, each with one step, `taxiway ci run`.

Tests run on every push and pull (merge) request; the checklist goes to the job summary (GitHub's step
summary; GitLab's JUnit report and an exposed artifact) and is kept as an artifact, with no image host; a
scheduled job runs continuous training and delivery (`taxiway ct run`, then `taxiway cd run`).

Every file written is parsed back and its structure checked (`check_structure`) before it is written, so
a template change that breaks the YAML fails here, not in the user's first CI run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from taxiway.errors import TaxiwayError

Provider = Literal["github", "gitlab"]
PROVIDERS: tuple[Provider, ...] = ("github", "gitlab")
REPORT_DIR = "taxiway-ci"
PATHS: dict[Provider, str] = {"github": ".github/workflows/taxiway.yml", "gitlab": ".gitlab-ci.yml"}
DEFAULT_SCHEDULE = "17 3 * * *"  # daily, off the hour (schedulers are busiest on it)


@dataclass(frozen=True)
class Written:
    """A CI file: where it goes and its text."""

    provider: Provider
    path: Path
    text: str


def install_command(root: Path) -> str:
    """How CI installs the project's environment: its requirements file, else taxiway itself.

    Example:
        >>> import tempfile, pathlib
        >>> install_command(pathlib.Path(tempfile.mkdtemp())).startswith("pip install taxiway")
        True
    """
    if (root / "requirements.txt").is_file():
        return "pip install -r requirements.txt"
    from importlib.metadata import version

    return f"pip install taxiway=={version('taxiway')} pytest coverage"


def github_workflow(
    install: str, *, schedule: str = DEFAULT_SCHEDULE, python: str = "3.11"
) -> dict[str, Any]:
    """The GitHub Actions workflow as data (``on`` is a plain string key, as GitHub reads it)."""
    setup = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": python}},
        {"name": "Install", "run": install},
    ]
    store_env = {
        "TAXIWAY_STORE_URI": "${{ secrets.TAXIWAY_STORE_URI }}",
        "TAXIWAY_ARTIFACTS_URI": "${{ secrets.TAXIWAY_ARTIFACTS_URI }}",
    }
    return {
        "name": "taxiway",
        "on": {
            "push": {},
            "pull_request": {},
            "schedule": [{"cron": schedule}],
            "workflow_dispatch": {},
        },
        "permissions": {"contents": "read"},
        "jobs": {
            "ci": {
                "if": "github.event_name != 'schedule'",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 60,
                "env": store_env,
                "steps": [
                    *setup,
                    {"name": "taxiway ci run", "run": f"taxiway ci run --report-dir {REPORT_DIR}"},
                    {
                        "name": "Keep the checklist and the test report",
                        "if": "always()",
                        "uses": "actions/upload-artifact@v4",
                        "with": {"name": "taxiway-checklist", "path": f"{REPORT_DIR}/"},
                    },
                ],
            },
            "ct": {
                "if": "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 120,
                "concurrency": {"group": "taxiway-ct", "cancel-in-progress": False},
                "env": store_env,
                "steps": [
                    *setup,
                    {"name": "Continuous training", "run": "taxiway ct run"},
                    {"name": "Continuous delivery", "run": "taxiway cd run"},
                ],
            },
        },
    }


def gitlab_pipeline(install: str, *, python: str = "3.11") -> dict[str, Any]:
    """The GitLab CI pipeline as data; schedules are set in GitLab's UI (CI/CD → Schedules)."""
    return {
        "stages": ["test", "ct"],
        "default": {"image": f"python:{python}", "before_script": [install]},
        "taxiway-ci": {
            "stage": "test",
            "rules": [
                {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"},
                {"if": '$CI_PIPELINE_SOURCE == "push"'},
                {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
            ],
            "script": [f"taxiway ci run --report-dir {REPORT_DIR}"],
            "artifacts": {
                "when": "always",
                "expose_as": "taxiway checklist",
                "paths": [f"{REPORT_DIR}/"],
                "reports": {"junit": f"{REPORT_DIR}/junit.xml"},
            },
        },
        "taxiway-ct": {
            "stage": "ct",
            "rules": [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}],
            "resource_group": "taxiway-ct",
            "script": ["taxiway ct run", "taxiway cd run"],
        },
    }


def render(provider: Provider, root: Path, *, schedule: str = DEFAULT_SCHEDULE) -> Written:
    """The CI file of ``provider`` for the project in ``root``, checked before it is returned.

    Example:
        >>> import tempfile, pathlib
        >>> written = render("gitlab", pathlib.Path(tempfile.mkdtemp()))
        >>> str(written.path), "taxiway ci run" in written.text
        ('.gitlab-ci.yml', True)
    """
    install = install_command(root)
    data = github_workflow(install, schedule=schedule) if provider == "github" else gitlab_pipeline(install)
    header = "# Written by `taxiway ci init`; `taxiway ci run` is the one step (docs/ci.md).\n"
    text = header + yaml.dump(data, Dumper=_NoAliases, sort_keys=False, width=110)
    check_structure(provider, text)
    return Written(provider, Path(PATHS[provider]), text)


class _NoAliases(yaml.SafeDumper):
    """Writes shared parts out in full: CI readers differ in their support of YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def check_structure(provider: Provider, text: str) -> None:
    """Parse ``text`` and check the keys CI reads; TaxiwayError naming the first problem.

    Example:
        >>> check_structure("gitlab", "stages: [test]\\njob: {stage: test}\\n")
        Traceback (most recent call last):
        ...
        taxiway.errors.TaxiwayError: .gitlab-ci.yml: job 'job' has no script
    """
    data = yaml.safe_load(text)
    name = PATHS[provider]
    if not isinstance(data, dict):
        raise TaxiwayError(f"{name}: not a YAML mapping")
    problems = _github_problems(data) if provider == "github" else _gitlab_problems(data)
    if problems:
        raise TaxiwayError(f"{name}: {problems[0]}", hint="this is a bug in taxiway's CI template")


def _github_problems(data: dict[Any, Any]) -> list[str]:
    problems = []
    if True in data:  # an unquoted `on` read as YAML 1.1's boolean
        problems.append("the trigger key `on` was read as a boolean")
    triggers = data.get("on")
    if not isinstance(triggers, dict) or not {"push", "pull_request", "schedule"} <= set(triggers):
        problems.append("`on` must name push, pull_request and schedule")
    elif not all("cron" in entry for entry in triggers["schedule"]):
        problems.append("every schedule entry needs a cron")
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return [*problems, "no jobs"]
    for job_name, job in jobs.items():
        if "runs-on" not in job:
            problems.append(f"job {job_name!r} has no runs-on")
        steps = job.get("steps") or []
        if not steps:
            problems.append(f"job {job_name!r} has no steps")
        for step in steps:
            if ("uses" in step) == ("run" in step):
                problems.append(f"a step of {job_name!r} needs exactly one of uses and run: {step}")
    return problems


_GITLAB_RESERVED = {"stages", "default", "variables", "include", "workflow", "image", "services", "cache"}


def _gitlab_problems(data: dict[Any, Any]) -> list[str]:
    problems = []
    stages = data.get("stages") or ["build", "test", "deploy"]
    for job_name, job in data.items():
        if job_name in _GITLAB_RESERVED or str(job_name).startswith("."):
            continue
        if not isinstance(job, dict):
            problems.append(f"job {job_name!r} is not a mapping")
            continue
        if not job.get("script"):
            problems.append(f"job {job_name!r} has no script")
        if job.get("stage", "test") not in stages:
            problems.append(f"job {job_name!r} names stage {job.get('stage')!r}, not one of {stages}")
    return problems


def write(root: Path, providers: tuple[Provider, ...], *, force: bool = False) -> list[Written]:
    """Write the CI files of ``providers`` under ``root``; refuse to overwrite one without ``force``."""
    written = [render(provider, root) for provider in providers]
    for item in written:
        target = root / item.path
        if target.exists() and not force:
            raise TaxiwayError(
                f"{item.path} already exists", hint="pass --force to replace it, or edit it by hand"
            )
    for item in written:
        target = root / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.text, encoding="utf-8")
    return written
