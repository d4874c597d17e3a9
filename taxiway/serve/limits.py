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
    max_unknown_fields: int = 64  # fields the model does not take, over all rows of a request
    max_text_chars: int = 10_000  # one text value
    max_problems_shown: int = 20  # rows listed in a 422 answer; the rest are counted
    client_timeout_s: float = 30.0  # to send a request's headers and body, from its first byte
