"""A run's packaged model, loaded back the way a serving process loads it: verified, then deserialised.

A model whose classes are defined in the project's ``pipeline.py`` names them as
``taxiway_user_pipeline.<Class>`` (the module name training imports that file under), so loading it needs
that module importable by name: :func:`import_pipeline` puts it in ``sys.modules``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxiway.store import Store
from taxiway.train.packaging import load_model
from taxiway.train.user_code import PIPELINE_FILE, PIPELINE_MODULE
from taxiway.train.user_code import import_pipeline as import_pipeline_file

if TYPE_CHECKING:
    from taxiway.train.runs import Run

__all__ = ["PIPELINE_MODULE", "import_pipeline", "load_packaged", "load_trained"]


def import_pipeline(root: Path | None) -> Path | None:
    """Make ``root/pipeline.py`` importable as ``taxiway_user_pipeline``; return its path (None: no file).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); _ = (root / "pipeline.py").write_text("ANSWER = 42\\n")
        >>> import_pipeline(root) == root / "pipeline.py", sys.modules[PIPELINE_MODULE].ANSWER
        (True, 42)
        >>> del sys.modules[PIPELINE_MODULE]
    """
    if root is None or not (root / PIPELINE_FILE).is_file():
        return None
    path = (root / PIPELINE_FILE).resolve()
    loaded = sys.modules.get(PIPELINE_MODULE)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return path
    import_pipeline_file(path)
    return path


def load_packaged(
    store: Store, *, artifact: str, model_format: str, trusted_types: list[str], root: Path | None = None
) -> Any:
    """Read a model artifact (its hash verified on read) and load it with its recorded trusted types.

    Raises:
        ArtifactCorruptError: the artifact's bytes no longer hash to its digest.
        TaxiwayError: the artifact asks for types it did not hold when it was saved.
    """
    import_pipeline(root)
    return load_model(store.artifacts.get_bytes(artifact), model_format, trusted_types)


def load_trained(store: Store, run: Run, *, root: Path | None = None) -> Any:
    """Load the model ``run`` trained, in the format and with the trusted types training recorded on it.

    Raises:
        ArtifactCorruptError, TaxiwayError: as :func:`load_packaged`.
    """
    return load_packaged(
        store,
        artifact=str(run.model_artifact),
        model_format=str(run.tags.get("model_format", "skops")),
        trusted_types=list(run.tags.get("trusted_types", [])),
        root=root,
    )
