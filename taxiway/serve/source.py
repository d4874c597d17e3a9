"""Where a served model comes from: a reference (``v3``, an alias, a run id or nothing) made verified bytes.

Registered versions (``v3``, or an alias such as ``production``) resolve through the model registry, whose
recorded artifact hash is checked when the bytes are read; a run id (``r-…``) resolves through the run's
own model artifact, whose content address is its hash. With no reference, the registry's ``production``
alias is served, else the newest training's best candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxiway import registry
from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.evaluate.packaged import load_packaged
from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.train.runs import Run, get_run

PRODUCTION_ALIAS = "production"


@dataclass(frozen=True)
class ModelRef:
    """A model the store can hand out: the name it is served under, its run, and its artifact.

    Example:
        >>> ref = ModelRef(version="v2", run_id="r-3f2a9c01b7de", digest="ab" * 32, model_format="skops",
        ...                trusted_types=[])
        >>> ref.short_digest, ref.is_registered
        ('abababababab', True)
    """

    version: str  # "v2" from the registry, or the run id when served straight from a run
    run_id: str
    digest: str  # SHA-256 of the model artifact, checked again when the bytes are read
    model_format: str  # skops | pickle
    trusted_types: list[str]
    is_blessed: bool = False  # registered after passing validation (not forced)

    @property
    def short_digest(self) -> str:
        return self.digest[:12]

    @property
    def is_registered(self) -> bool:
        return not self.version.startswith("r-")


def resolve_model(store: Store, ref: str | None) -> ModelRef:
    """Resolve ``ref`` (``vN``, an alias, a run id or prefix; None: ``production``, else the best candidate).

    Raises:
        NotFoundError: nothing in the store matches ``ref``.
        TaxiwayError: the run has no model artifact, or it did not finish.
    """
    if ref is None:
        try:
            return _from_version(registry.get_version(store, PRODUCTION_ALIAS))
        except NotFoundError:
            return _from_run(_best_candidate(store))
    if ref.strip().lower().startswith("r-"):
        return _from_run(get_run(store, ref))
    return _from_version(registry.get_version(store, ref))


def read_model(store: Store, ref: ModelRef, *, root: Path | None = None) -> Any:
    """The estimator behind ``ref``: bytes read from the artifact store, hash checked, then loaded.

    ``root`` is the project folder, whose ``pipeline.py`` defines any custom classes the model holds.

    Raises:
        ArtifactCorruptError: the artifact's bytes no longer hash to ``ref.digest``.
    """
    return load_packaged(
        store, artifact=ref.digest, model_format=ref.model_format, trusted_types=ref.trusted_types, root=root
    )


def _from_version(version: registry.ModelVersion) -> ModelRef:
    return ModelRef(
        version=version.name,
        run_id=version.run_id,
        digest=version.artifact,
        model_format=version.model_format,
        trusted_types=list(version.trusted_types),
        is_blessed=version.is_blessed,
    )


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
        raise NotFoundError("there is no trained model to serve", hint="train one first: taxiway train")
    return get_run(store, str(trained.details["best_candidate"]["run_id"]))
