"""The team's model code: `pipeline.py` with model(params) and optionally heuristic(df)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from taxiway.charter import Charter
from taxiway.errors import TaxiwayError

PIPELINE_FILE = "pipeline.py"
PIPELINE_MODULE = "taxiway_user_pipeline"  # the name models built from pipeline.py classes refer to


@dataclass(frozen=True)
class UserCode:
    """What the project defines: how to build the candidate and, optionally, a hand-written baseline."""

    model: Callable[[dict[str, Any]], Any]
    heuristic: Callable[[pd.DataFrame], Any] | None
    source: str  # "pipeline.py", "charter: module:Class" or "default"


def load_user_code(root: Path, charter: Charter, default: Callable[[dict[str, Any]], Any]) -> UserCode:
    """Import ``pipeline.py`` from the project root, else use the charter's estimator, else ``default``.

    Raises:
        TaxiwayError: pipeline.py fails to import, or the charter's estimator cannot be found.
    """
    module = import_pipeline(root / PIPELINE_FILE)
    heuristic = getattr(module, "heuristic", None) if module else None
    if module is not None and hasattr(module, "model"):
        return UserCode(model=module.model, heuristic=heuristic, source=PIPELINE_FILE)
    if charter.train.estimator:
        estimator_class = _import_estimator(charter.train.estimator)
        return UserCode(
            model=lambda params: estimator_class(**params),
            heuristic=heuristic,
            source=f"charter: {charter.train.estimator}",
        )
    return UserCode(model=default, heuristic=heuristic, source="default")


def import_pipeline(path: Path) -> ModuleType | None:
    """Execute ``pipeline.py`` afresh, registered as ``taxiway_user_pipeline``; None when there is no file.

    Registered in ``sys.modules`` so that a model built from classes defined in pipeline.py can be saved
    and loaded back by module name (skops and pickle look classes up that way).

    Raises:
        TaxiwayError: the file fails to import; the message names the error and the line.
    """
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(PIPELINE_MODULE, path)
    if spec is None or spec.loader is None:
        raise TaxiwayError(
            f"{path} cannot be loaded as a Python module", hint="check the file name and permissions"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PIPELINE_MODULE] = module
    sys.path.insert(0, str(path.parent))  # so pipeline.py can import its sibling modules
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure in user code is reported, not raised raw
        del sys.modules[PIPELINE_MODULE]
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise TaxiwayError(
            f"{path.name} failed to import: {type(error).__name__}: {error} "
            f"(line {where.lineno} of {where.filename})",
            hint=f"run `python {path.name}` to see the full error, fix it, then train again",
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _import_estimator(reference: str) -> Callable[..., Any]:
    module_name, _, class_name = reference.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise TaxiwayError(
            f"train.estimator '{reference}' in taxiway.toml cannot be imported",
            hint="write it as module:Class, e.g. sklearn.ensemble:HistGradientBoostingClassifier",
        ) from None
    return found  # type: ignore[no-any-return]


def check_estimator(estimator: Any, *, source: str, task: str) -> None:
    """Refuse, with the fix, an object that cannot be trained the way taxiway trains."""
    if not callable(getattr(estimator, "fit", None)) or not callable(getattr(estimator, "predict", None)):
        raise TaxiwayError(
            f"model() in {source} returned {type(estimator).__name__}, which has no fit/predict methods",
            hint="return a scikit-learn-API estimator, e.g. a Pipeline ending in a classifier or regressor",
        )
    if task == "classification" and not callable(getattr(estimator, "predict_proba", None)):
        raise TaxiwayError(
            f"model() in {source} returned {type(estimator).__name__}, which has no predict_proba",
            hint="classifiers need predict_proba for ROC AUC, costs and thresholds; e.g. wrap an SVC in "
            "CalibratedClassifierCV",
        )
