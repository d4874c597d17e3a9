"""The code a run was trained with, checked out again: its commit in a temporary git worktree, plus its diff.

The user's working folder is never touched: ``git worktree add --detach`` makes a second, throw-away
checkout of the recorded commit, the run's stored ``git diff HEAD`` is applied to it when the tree was
dirty, and the worktree is removed afterwards. Files that were untracked when the run trained are not in
any commit; they are named in the result, not guessed.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxiway.errors import TaxiwayError
from taxiway.store import Store

GIT_TIMEOUT_S = 60  # a worktree of a large repository takes a while to check out


@dataclass(frozen=True)
class RecordedCode:
    """Where the run's code is now, and how faithful that copy is."""

    root: Path  # the project folder inside the checkout (or the working folder itself)
    source: str  # "git worktree" | "working folder"
    commit: str | None
    diff_applied: bool
    untracked: list[str] = field(default_factory=list)  # untracked when the run trained: not reproduced

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "commit": self.commit,
            "diff_applied": self.diff_applied,
            "untracked": self.untracked,
        }


@contextmanager
def recorded_code(project_root: Path, lineage: dict[str, Any], store: Store) -> Iterator[RecordedCode]:
    """Check out the code recorded in ``lineage``; yields the project folder in that checkout.

    A run that recorded no commit (its project was not in git) is retrained from the working folder.

    Raises:
        TaxiwayError: the project is not in a git repository, the commit is not in it, or the recorded
            diff does not apply.
    """
    commit = lineage.get("git_commit")
    untracked = [str(name) for name in lineage.get("git_untracked") or []]
    if not commit:
        yield RecordedCode(project_root, "working folder", None, False, untracked)
        return
    top = _git(project_root, "rev-parse", "--show-toplevel", what="find the git repository")
    _git(project_root, "cat-file", "-e", f"{commit}^{{commit}}", what=f"find commit {commit[:12]}")
    relative = project_root.resolve().relative_to(Path(top.strip()).resolve())
    with tempfile.TemporaryDirectory(prefix="taxiway-reproduce-") as folder:
        tree = Path(folder) / "code"
        _git(project_root, "worktree", "add", "--detach", "--quiet", str(tree), commit, what="check out")
        try:
            digest = lineage.get("git_diff_artifact")
            if digest:
                patch = Path(folder) / "code.diff"
                patch.write_bytes(store.artifacts.get_bytes(str(digest)))
                _git(tree, "apply", "--whitespace=nowarn", str(patch), what="apply the run's recorded diff")
            yield RecordedCode(tree / relative, "git worktree", str(commit), bool(digest), untracked)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)],
                cwd=project_root,
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )


def _git(cwd: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TaxiwayError(
            f"git could not {what}: {error}", hint="install git, or check that the repository is readable"
        ) from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise TaxiwayError(
            f"git could not {what} in {cwd}: {reason[-1] if reason else f'exit {done.returncode}'}",
            hint="the run was trained from a git commit: reproduce it inside that repository, with the "
            "commit fetched (git fetch)",
        )
    return done.stdout
