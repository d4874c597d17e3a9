"""`taxiway ct simulate`'s results kept as a run: the replay's settings as parameters, each policy's
cumulative ROC AUC as a metric, and the whole outcome (curves, retrain days) as the artifact
``ct_simulate.json``, which the dashboard's CI · CD · CT page draws."""

from __future__ import annotations

import json
from typing import Any

from taxiway.store import Store
from taxiway.train.runs import Run, list_runs, run_artifacts
from taxiway.train.tracking import start_run

RUN_NAME = "ct simulate"
ARTIFACT = "ct_simulate.json"
_LOOKED_AT = 200  # custom runs searched for the newest simulation


def keep_simulation(store: Store, document: dict[str, Any]) -> str:
    """Record ``document`` (``settings`` and ``policies``, each with its curve) as a run; its id.

    Example:
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> doc = {"settings": {"label_delay_days": 7}, "policies": [{"policy": "never", "roc_auc": 0.7}]}
        >>> run_id = keep_simulation(store, doc)
        >>> newest_simulation(store)[1] == doc
        True
    """
    with start_run(RUN_NAME, store=store, tags={"ct_simulate": True}) as run:
        run.log_params({k: v for k, v in document["settings"].items() if v is not None})
        run.log_metrics({f"roc_auc_{p['policy']}": p["roc_auc"] for p in document["policies"]})
        run.log_bytes(ARTIFACT, json.dumps(document).encode(), "application/json")
    return run.id


def newest_simulation(store: Store) -> tuple[Run, dict[str, Any]] | None:
    """The newest kept simulation and its document (None: `taxiway ct simulate` never ran here)."""
    for run in list_runs(store, kind="custom", status="finished", limit=_LOOKED_AT):
        if run.name != RUN_NAME:
            continue
        digest = run_artifacts(store, run.id).get(ARTIFACT)
        if digest is not None:
            document: dict[str, Any] = json.loads(store.artifacts.get_bytes(digest))
            return run, document
    return None
