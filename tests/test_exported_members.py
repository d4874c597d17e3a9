"""The public API is the short `__all__` of `taxiway`, and it matches what the package exports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import taxiway


def test_all_names_exactly_the_public_members() -> None:
    loaded = {name for name in vars(taxiway) if not name.startswith("_")}
    modules = {name for name in loaded if type(getattr(taxiway, name)).__name__ == "module"}
    exported = set(taxiway.__all__) - {"__version__"}
    # Every name in __all__ resolves, to an object defined inside taxiway; nothing else public is loaded.
    for name in exported:
        assert getattr(taxiway, name).__module__.startswith("taxiway."), name
    assert loaded - modules <= exported
    assert sorted(dir(taxiway)) == sorted(taxiway.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        taxiway.Nope  # noqa: B018


def test_importing_taxiway_loads_no_heavy_library() -> None:
    # The names load on first use: `import taxiway` must not pay for the store or the modelling stack.
    code = "import sys, taxiway; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    heavy = {"sqlalchemy", "alembic", "pandas", "numpy", "sklearn", "pyarrow", "pydantic", "typer", "rich"}
    assert not heavy & loaded
