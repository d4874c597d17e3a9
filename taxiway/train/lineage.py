"""Lineage: everything needed to trust and redo a run — data, split, code state, environment, seed."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Packages whose versions change what a model computes; the estimator's own package is added per run.
TRACKED_PACKAGES = (
    "taxiway",
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "skops",
    "threadpoolctl",
)
GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class CodeState:
    """The git state of the project folder when the run started."""

    commit: str | None
    is_dirty: bool
    diff: bytes  # `git diff HEAD` when dirty: applied on top of the commit, it gives the code that ran
    untracked: tuple[str, ...]
    tracked: frozenset[str]  # files under version control

    @property
    def in_git(self) -> bool:
        return self.commit is not None


def code_state(root: Path) -> CodeState:
    """Read the git state of ``root``; a folder outside git has no commit.

    Example:
        >>> import tempfile, pathlib
        >>> code_state(pathlib.Path(tempfile.mkdtemp())).in_git
        False
    """
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return CodeState(commit=None, is_dirty=False, diff=b"", untracked=(), tracked=frozenset())
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".") or ""
    untracked = tuple(line[3:] for line in status.splitlines() if line.startswith("??"))
    changed = [line for line in status.splitlines() if not line.startswith("??")]
    diff = _git_bytes(root, "diff", "HEAD", "--binary", "--", ".") if changed else b""
    tracked = frozenset((_git(root, "ls-files", "--", ".") or "").splitlines())
    return CodeState(
        commit=commit.strip(),
        is_dirty=bool(changed or untracked),
        diff=diff or b"",
        untracked=untracked,
        tracked=tracked,
    )


def environment(extra_packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Python, platform and the versions of the packages that shape the model."""
    versions = {}
    for name in (*TRACKED_PACKAGES, *extra_packages):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "packages": versions,
    }


def distribution_of(obj: object) -> str | None:
    """The installed distribution an object's class comes from (``sklearn`` → ``scikit-learn``)."""
    top = type(obj).__module__.split(".")[0]
    names = _distributions().get(top, [])
    return names[0] if names else None


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    # Scanning every installed package takes 0.3-0.7 s; the answer does not change within a process.
    return importlib.metadata.packages_distributions()


def _git(root: Path, *args: str) -> str | None:
    out = _git_bytes(root, *args)
    return out.decode("utf-8", "replace") if out is not None else None


def _git_bytes(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
