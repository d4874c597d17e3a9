"""The errors users see.

Exception tree::

    TaxiwayError                 bad input or a state the user can fix; CLI exit 2, HTTP 4xx
    ├── CharterError             taxiway.toml is missing, unreadable or invalid
    ├── StoreError               the metadata database or artifact store cannot be used
    │   └── ArtifactCorruptError an artifact's content no longer matches its recorded hash
    ├── DataError                a data file cannot be read or does not fit the charter
    └── NotFoundError            an id (dataset version, run, model) names nothing in the store

Every error carries a ``message`` that names the input, the value it had and why it is wrong,
and a ``hint`` that says what to do about it.
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

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CharterError(TaxiwayError):
    """Raised when taxiway.toml is missing, cannot be parsed or fails validation."""


class StoreError(TaxiwayError):
    """Raised when the metadata database or the artifact store cannot be opened or used."""


class ArtifactCorruptError(StoreError):
    """Raised when an artifact read back from the store does not hash to its recorded digest."""


class DataError(TaxiwayError):
    """Raised when a data file is missing, empty, unreadable, or inconsistent with the charter."""


class NotFoundError(TaxiwayError, LookupError):
    """Raised when an id given by the user names nothing in the store."""
