"""taxiway: from the first dataset to a monitored service, with evidence for every checklist item."""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from taxiway.charter import Charter
    from taxiway.errors import TaxiwayError
    from taxiway.project import Project
    from taxiway.store import Evidence, Store
    from taxiway.train.tracking import start_run

__all__ = ["Charter", "Evidence", "Project", "Store", "TaxiwayError", "__version__", "start_run"]
__version__ = "0.1.0"

# Where each public name lives. They load on first use, so `import taxiway` (and with it every `taxiway`
# command and server worker) does not pay for SQLAlchemy, pandas and scikit-learn up front (issue 12).
_HOMES = {
    "Charter": "taxiway.charter",
    "Evidence": "taxiway.store",
    "Project": "taxiway.project",
    "Store": "taxiway.store",
    "TaxiwayError": "taxiway.errors",
    "start_run": "taxiway.train.tracking",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'taxiway' has no attribute {name!r}")
    return getattr(_importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
