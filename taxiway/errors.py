"""The errors users see.

Exception tree, with the HTTP status every app (the dashboard, the prediction service) answers it with::

    TaxiwayError                 bad input or a state the user can fix; CLI exit 2       400
    ├── CharterError             taxiway.toml is missing, unreadable or invalid           422
    ├── StoreError               the metadata database or artifact store cannot be used   503
    │   └── ArtifactCorruptError an artifact's content no longer matches its recorded hash 409
    ├── DataError                a data file cannot be read or does not fit the charter   422
    └── NotFoundError            an id (dataset version, run, model) names nothing        404

Every error carries a ``message`` that names the input, the value it had and why it is wrong,
and a ``hint`` that says what to do about it. The status is the class's ``http_status``: the one table both
web apps read, so the same error never gets two answers (a stage's own subclasses set theirs, e.g. the
prediction service's 413 for a body that is too large).
"""

from __future__ import annotations


class TaxiwayError(Exception):
    """Base of every error a user is meant to read.

    Example:
        >>> err = TaxiwayError("metric 'auc' is unknown", hint="did you mean 'roc_auc'?")
        >>> str(err)
        "metric 'auc' is unknown"
        >>> err.hint
        "did you mean 'roc_auc'?"
    """

    exit_code: int = 2
    http_status: int = 400

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CharterError(TaxiwayError):
    """Raised when taxiway.toml is missing, cannot be parsed or fails validation."""

    http_status = 422


class StoreError(TaxiwayError):
    """Raised when the metadata database or the artifact store cannot be opened or used."""

    http_status = 503


class ArtifactCorruptError(StoreError):
    """Raised when an artifact read back from the store does not hash to its recorded digest."""

    http_status = 409


class DataError(TaxiwayError):
    """Raised when a data file is missing, empty, unreadable, or inconsistent with the charter."""

    http_status = 422


class NotFoundError(TaxiwayError, LookupError):
    """Raised when an id given by the user names nothing in the store."""

    http_status = 404
