"""Ground truth arriving after the fact: labels for earlier predictions, keyed by their request id.

Monitoring joins them with the prediction logs (by request id and row) to measure online quality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taxiway.serve.refusals import RequestRefused
from taxiway.serve.request import BadRequest
from taxiway.store import Store
from taxiway.store.tables import FeedbackRow

MAX_ITEMS = 1_000
FEEDBACK_MAX_BYTES = 1024 * 1024  # a label flood grew a store by 300 MB in 20 s
MAX_LABEL_CHARS = 1_000  # a label is a class or a number, not a document
FEEDBACK_RATE = 20.0  # requests a second per client address, per worker
FEEDBACK_BURST = 50
_SHOWN_UNKNOWN = 5
_HINT = (
    'send {"request_id": "...", "label": value} (add "row": n for row n of a many-row request), '
    'or {"labels": [ ... such objects ... ]}'
)

__all__ = [
    "FeedbackItem",
    "UnknownRequest",
    "UnsupportedMediaType",
    "check_known",
    "feedback_items",
    "record_feedback",
]


class UnsupportedMediaType(RequestRefused):
    """A body of another type than the route takes: 415."""

    http_status = 415


class UnknownRequest(RequestRefused):
    """Labels for request ids this service never answered: 422."""

    http_status = 422


@dataclass(frozen=True)
class FeedbackItem:
    """One true label: for row ``row`` of the request ``request_id``."""

    request_id: str
    label: Any
    row: int = 0


def feedback_items(body: Any) -> list[FeedbackItem]:
    """The labels in a /feedback body, or a 400 saying what is wrong.

    Example:
        >>> feedback_items({"request_id": "ab12", "label": 1})
        [FeedbackItem(request_id='ab12', label=1, row=0)]
    """
    raw = body.get("labels") if isinstance(body, dict) and "labels" in body else [body]
    if not isinstance(raw, list) or not raw:
        raise BadRequest('"labels" must be a non-empty list', hint=_HINT)
    if len(raw) > MAX_ITEMS:
        raise BadRequest(f"{len(raw):,} labels in one body; at most {MAX_ITEMS:,}", hint="send them in parts")
    items: list[FeedbackItem] = []
    for position, entry in enumerate(raw):
        where = f"label {position}" if len(raw) > 1 else "the body"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("request_id"), str)
            or "label" not in entry
        ):
            raise BadRequest(f'{where} needs a text "request_id" and a "label"', hint=_HINT)
        unknown = sorted(set(entry) - {"request_id", "label", "row"})
        if unknown:
            raise BadRequest(f"{where} has unknown keys: {', '.join(unknown)}", hint=_HINT)
        row = entry.get("row", 0)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise BadRequest(f'{where}: "row" must be a whole number >= 0', hint=_HINT)
        if isinstance(entry["label"], dict | list):
            raise BadRequest(f"{where}: a label is one value, not an object or a list", hint=_HINT)
        if isinstance(entry["label"], str) and len(entry["label"]) > MAX_LABEL_CHARS:
            raise BadRequest(
                f"{where}: a label of {len(entry['label']):,} characters; at most {MAX_LABEL_CHARS:,}",
                hint="a label is the true class or value of the row",
            )
        items.append(FeedbackItem(entry["request_id"][:100], entry["label"], row))
    return items


def check_known(items: list[FeedbackItem], known: Callable[[str], bool]) -> None:
    """Refuse the whole body when any label names a request id this service did not answer.

    Example:
        >>> check_known([FeedbackItem("a", 1)], lambda request_id: request_id == "a")  # fine
        >>> try:
        ...     check_known([FeedbackItem("a", 1), FeedbackItem("zz", 0)], lambda rid: rid == "a")
        ... except UnknownRequest as error:
        ...     print(error.message)
        1 of 2 labels name a request this service did not answer: 'zz'
    """
    unknown = [item.request_id for item in items if not known(item.request_id)]
    if unknown:
        shown = ", ".join(repr(request_id[:40]) for request_id in unknown[:_SHOWN_UNKNOWN])
        more = f" and {len(unknown) - _SHOWN_UNKNOWN} more" if len(unknown) > _SHOWN_UNKNOWN else ""
        raise UnknownRequest(
            f"{len(unknown)} of {len(items)} labels name a request this service did not answer: "
            f"{shown}{more}",
            hint="send the request_id a prediction answered with (its body and x-request-id header carry it)",
        )


def record_feedback(store: Store, items: list[FeedbackItem], *, replica_id: str | None = None) -> int:
    """Store the labels in one transaction; returns how many were stored."""
    with store.write_session() as session, session.begin():
        session.add_all(
            FeedbackRow(request_id=item.request_id, row=item.row, label=item.label, replica_id=replica_id)
            for item in items
        )
    return len(items)
