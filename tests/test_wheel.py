"""A built wheel carries htmx, fetched at build time from the npm registry and checked against its pinned
hash."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).parents[1]
HTMX = "taxiway/ui/static/vendor/htmx.min.js"


def _build_htmx() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_htmx", REPO / "scripts" / "build_htmx.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tarball(script: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/dist/htmx.min.js")
        info.size = len(script)
        archive.addfile(info, io.BytesIO(script))
    return buffer.getvalue()


def test_a_tarball_that_is_not_the_pinned_one_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    build = _build_htmx()
    target = tmp_path / "vendor" / "htmx.min.js"
    forged = _tarball(b'var htmx={version:"2.0.11"}; /* not the published file */')
    with pytest.raises(build.HtmxBuildError, match="does not match its pinned sha512"):
        build.ensure_htmx(target, fetch=lambda: forged)
    assert not target.exists()


def test_the_pinned_hash_is_what_verify_checks(tmp_path: Path) -> None:
    build = _build_htmx()
    data = _tarball(b"var htmx;")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    build.verify(data, integrity)  # the same bytes pass
    with pytest.raises(build.HtmxBuildError):
        build.verify(data + b"\0", integrity)


def test_the_built_wheel_carries_htmx(tmp_path: Path) -> None:
    """Build from a copy of the sources without htmx: the build step must fetch it into the wheel."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    source = tmp_path / "src"
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    assert not (source / HTMX).exists(), "the repository holds no minified htmx"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("taxiway-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        script = archive.read(HTMX).decode()
    assert f'version:"{_build_htmx().HTMX_VERSION}"' in script
