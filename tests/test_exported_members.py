"""The public API is the short `__all__` of `taxiway`, and it matches what the package exports."""

from __future__ import annotations

import taxiway


def test_all_names_exactly_the_public_members() -> None:
    public = {name for name in vars(taxiway) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(taxiway, name)).__name__ == "module"}
    assert set(taxiway.__all__) - {"__version__"} == public - modules
