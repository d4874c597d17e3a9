"""What CI runs on: the commit checked out, whether the tree differs from it, and which CI service runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from taxiway.errors import TaxiwayError


@dataclass(frozen=True)
class Checkout:
    """The commit under test, whether files differ from it, and the CI service and its run id.

    Example:
        >>> Checkout("ab12", False, "github", "42").facts()
        {'commit': 'ab12', 'provider': 'github', 'run_id': '42'}
    """

    commit: str
    dirty: bool
    provider: str  # github | gitlab | local
    run_id: str | None

    def facts(self) -> dict[str, str | None]:
        """What `started_by("ci", ...)` stamps on every record made during the run."""
        return {"commit": self.commit, "provider": self.provider, "run_id": self.run_id}


def provider_of(env: Mapping[str, str]) -> tuple[str, str | None]:
    """The CI service and its run id, from the variables each sets; ``("local", None)`` elsewhere.

    Example:
        >>> provider_of({"GITLAB_CI": "true", "CI_PIPELINE_ID": "77"})
        ('gitlab', '77')
        >>> provider_of({"CI": "true"})
        ('local', None)
    """
    if env.get("GITHUB_ACTIONS") == "true":
        return "github", env.get("GITHUB_RUN_ID")
    if env.get("GITLAB_CI") == "true":
        return "gitlab", env.get("CI_PIPELINE_ID")
    return "local", None


def checkout(root: Path, *, ignore: tuple[str, ...] = ()) -> Checkout:
    """The commit ``root`` is at. Files under ``ignore`` (the run's own reports) do not make it dirty.

    Raises:
        TaxiwayError: ``root`` is not in a git repository, or the repository has no commit yet.
    """
    try:
        head = _git(root, "rev-parse", "--verify", "HEAD")
    except FileNotFoundError:
        raise TaxiwayError(
            "git is not installed: CI evidence is bound to a commit", hint="install git"
        ) from None
    if head.returncode != 0:
        raise TaxiwayError(
            f"{root} is not a git repository with a commit: CI evidence is about a commit, and there is none",
            hint="git init && git add -A && git commit -m 'first commit', then run taxiway ci run again",
        )
    excluded = [f":(exclude){path}" for path in ignore]
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".", *excluded)
    provider, run_id = provider_of(os.environ)
    return Checkout(head.stdout.strip(), bool(status.stdout.strip()), provider, run_id)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
