"""Imports flow one way: a stage imports only earlier stages, and modules of a package form no cycle.

The layer order is written once, in pyproject.toml ([tool.importlinter]), and drawn in docs/design.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_tree_keeps_its_layers() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stages import only earlier stages KEPT" in done.stdout
    assert "modules of one package import each other one way KEPT" in done.stdout


def _copy_of_the_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "taxiway", tmp_path / "taxiway", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_stage_importing_a_later_stage_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_of_the_tree(tmp_path)
    leak = root / "taxiway" / "data" / "leak.py"
    leak.write_text("from taxiway.serve import app  # data must not know about serving\n")
    done = _lint(root)
    assert done.returncode == 1
    assert "taxiway.data is not allowed to import taxiway.serve" in done.stdout


def test_a_cycle_inside_a_package_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_of_the_tree(tmp_path)
    (root / "taxiway" / "train" / "ping.py").write_text("from taxiway.train import pong\n")
    (root / "taxiway" / "train" / "pong.py").write_text("from taxiway.train import ping\n")
    done = _lint(root)
    assert done.returncode == 1
    assert "No cycles are allowed in taxiway.train" in done.stdout
