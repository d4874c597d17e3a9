"""taxiway: from the first dataset to a monitored service, with evidence for every checklist item."""

from taxiway.charter import Charter
from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.store import Evidence, Store
from taxiway.train.tracking import start_run

__all__ = ["Charter", "Evidence", "Project", "Store", "TaxiwayError", "__version__", "start_run"]
__version__ = "0.1.0"
