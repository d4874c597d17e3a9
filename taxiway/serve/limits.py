"""What one request may ask of the service (a module of its own: worker processes import it at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask: beyond them it is refused (413) or cut short (408).

    Example:
        >>> Limits().max_rows
        10000
    """

    max_body_bytes: int = 16 * 1024 * 1024
    max_rows: int = 10_000
    timeout_s: float = 10.0
