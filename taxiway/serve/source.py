"""Where a served model comes from: a reference (``v3``, a run id, or nothing) resolved to verified bytes.

This is the one seam between serving and the model registry. When the registry (``taxiway.registry``) is
installed, ``vN`` and aliases resolve through it and its recorded artifact hash is checked; a run id
(``r-…``) resolves through the run's own model artifact, whose content address is its hash.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from taxiway.errors import ArtifactCorruptError, NotFoundError, TaxiwayError
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.train.packaging import load_model
from taxiway.train.runs import Run, get_run

_VERSION = re.compile(r"v\d+")
_REGISTRY_MODULE = "taxiway.registry"


@dataclass(frozen=True)
class ModelRef:
    """A model the store can hand out: the name it is served under, its run, and its artifact.

    Example:
        >>> ref = ModelRef(version="v2", run_id="r-3f2a9c01b7de", digest="ab" * 32, model_format="skops",
        ...                trusted_types=[])
        >>> ref.short_digest
        'abababababab'
    """

    version: str  # "v2" from the registry, or the run id when served straight from a run
    run_id: str
    digest: str  # SHA-256 of the model artifact, checked again when the bytes are read
    model_format: str  # skops | pickle
    trusted_types: list[str]

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


def resolve_model(store: Store, ref: str | None) -> ModelRef:
    """Resolve ``ref`` (``vN``, an alias, a run id or prefix; None: the newest training's best candidate).

    Raises:
        NotFoundError: nothing in the store matches ``ref``.
        TaxiwayError: the run has no model artifact, or it did not finish.
    """
    registry = _registry()
    if ref is not None and registry is not None and not ref.startswith("r-"):
        return _from_registry(registry, store, ref)
    if ref is not None and _VERSION.fullmatch(ref):
        raise NotFoundError(
            f"model version '{ref}' cannot be resolved: the model registry is not available",
            hint="serve a run instead: taxiway serve --model r-… (see `taxiway runs`)",
        )
    run = get_run(store, ref) if ref is not None else _best_candidate(store)
    return _from_run(run)


def read_model(store: Store, ref: ModelRef) -> Any:
    """The estimator behind ``ref``: bytes read from the artifact store, hash checked, then loaded.

    Raises:
        ArtifactCorruptError: the artifact's bytes no longer hash to ``ref.digest``.
    """
    registry = _registry()
    if registry is not None and _VERSION.fullmatch(ref.version):
        return registry.load_model_version(store, ref.version)
    data = store.artifacts.get_bytes(ref.digest)  # re-hashes the bytes: a changed file is refused
    return load_model(data, ref.model_format, ref.trusted_types)


def _registry() -> Any | None:
    try:
        module = importlib.import_module(_REGISTRY_MODULE)
    except ImportError:
        return None
    needed = ("get_model_version", "load_model_version")
    return module if all(hasattr(module, name) for name in needed) else None


def _from_registry(registry: Any, store: Store, ref: str) -> ModelRef:
    version = registry.get_model_version(store, ref)
    run = get_run(store, version.run_id)
    resolved = _from_run(run)
    digest = getattr(version, "artifact_digest", None) or getattr(version, "digest", None) or resolved.digest
    if digest != resolved.digest:
        raise ArtifactCorruptError(
            f"model version {version.name} records artifact {digest[:12]} but its run {run.id} holds "
            f"{resolved.digest[:12]}",
            hint="the registry and the run disagree; register the run again",
        )
    return ModelRef(str(version.name), run.id, digest, resolved.model_format, resolved.trusted_types)


def _from_run(run: Run) -> ModelRef:
    if run.status != "finished" or run.model_artifact is None:
        raise TaxiwayError(
            f"run {run.id} ({run.name}) has no model to serve (status {run.status})",
            hint="serve a finished run: see `taxiway runs --status finished`",
        )
    return ModelRef(
        version=run.id,
        run_id=run.id,
        digest=run.model_artifact,
        model_format=str(run.tags.get("model_format", "skops")),
        trusted_types=list(run.tags.get("trusted_types", [])),
    )


def _best_candidate(store: Store) -> Run:
    trained = store.evidence.latest([Check.TRAIN_BASELINES]).get(Check.TRAIN_BASELINES)
    if trained is None:
        raise NotFoundError(
            "there is no trained model to serve", hint="train one first: taxiway train"
        )
    return get_run(store, str(trained.details["best_candidate"]["run_id"]))
