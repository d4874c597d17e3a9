"""Model artifacts: skops for scikit-learn objects (safe to load), pickle only as a marked fallback."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from taxiway.errors import TaxiwayError

# skops is imported where a model is saved or loaded: importing it imports every scikit-learn estimator
# (about 0.8 s of CPU), which `taxiway validate` no longer needs (its serving probe loads the model).


@dataclass(frozen=True)
class SavedModel:
    """A model serialised for the artifact store."""

    name: str  # model.skops or model.pkl
    format: str  # skops | pickle
    data: bytes
    trusted_types: list[str]  # the non-default types skops must be told to trust when loading


def save_model(estimator: Any) -> SavedModel:
    """Serialise with skops; objects skops cannot represent fall back to pickle, marked as such.

    Example:
        >>> from sklearn.linear_model import LinearRegression
        >>> saved = save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))
        >>> saved.format, load_model(saved.data, saved.format, saved.trusted_types).predict([[2.0]]).round(3)
        ('skops', array([2.]))
    """
    import skops.io as sio

    try:
        data = sio.dumps(estimator)
    except Exception:  # noqa: BLE001 - skops raises many types for objects it cannot represent
        return SavedModel(name="model.pkl", format="pickle", data=pickle.dumps(estimator), trusted_types=[])
    return SavedModel(
        name="model.skops", format="skops", data=data, trusted_types=sio.get_untrusted_types(data=data)
    )


def load_model(data: bytes, model_format: str, trusted_types: list[str]) -> Any:
    """Load a model whose bytes were already verified against their recorded hash.

    skops refuses any type beyond those recorded when the model was saved, so a swapped artifact that
    smuggles in other code is rejected even before the hash check is considered.
    """
    if model_format == "pickle":
        return pickle.loads(data)
    import skops.io as sio

    unexpected = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted_types))
    if unexpected:
        raise TaxiwayError(
            f"the model artifact asks to load types it did not hold when saved: {', '.join(unexpected)}",
            hint="the artifact is not the one taxiway trained; retrain or restore it",
        )
    return sio.loads(data, trusted=trusted_types)
