"""setuptools reads pyproject.toml; this file only adds the build step that puts htmx into the package
(scripts/build_htmx.py: from the npm registry, pinned by version and sha512 integrity)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithHtmx(build_py):
    """build_py, after fetching htmx: a built wheel and an editable install both carry it."""

    def run(self) -> None:
        spec = importlib.util.spec_from_file_location("build_htmx", ROOT / "scripts" / "build_htmx.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.ensure_htmx(ROOT / "taxiway" / "ui" / "static" / "vendor" / "htmx.min.js")
        super().run()


setup(cmdclass={"build_py": BuildPyWithHtmx})
