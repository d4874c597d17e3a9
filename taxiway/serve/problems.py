"""What a request did wrong, as an HTTP status with a message and, for schema problems, one entry per field.

Bad input is always a 4xx: every protocol turns a :class:`RequestError` into its own error shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taxiway.data.validate import FieldProblem
from taxiway.errors import TaxiwayError

MAX_PROBLEMS_SHOWN = 100  # per answer: a 10,000-row request of garbage must not answer with megabytes


class RequestError(TaxiwayError):
    """Raised when a request cannot be answered as sent; ``status`` is the HTTP status to answer with.

    Example:
        >>> error = RequestError(413, "the body has 12,000 rows; at most 10,000 are allowed")
        >>> error.status, error.document()["message"]
        (413, 'the body has 12,000 rows; at most 10,000 are allowed')
    """

    def __init__(
        self, status: int, message: str, *, hint: str = "", detail: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.detail = detail or []

    def document(self) -> dict[str, Any]:
        """The JSON body: ``message``, ``hint`` and, for schema problems, ``detail`` per row and field."""
        body: dict[str, Any] = {"message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.detail:
            body["detail"] = self.detail
        return body


def schema_error(problems: Sequence[Sequence[FieldProblem]], *, first_row: int = 0) -> RequestError:
    """A 422 naming every field of every row that broke the schema (the first 100 of them).

    Example:
        >>> error = schema_error([[], [FieldProblem("age", "wrong_type", "age: 'x' is not an integer")]])
        >>> error.status, error.message, error.detail[0]["row"], error.detail[0]["field"]
        (422, "1 field in 1 of 2 rows breaks the schema: age: 'x' is not an integer", 1, 'age')
    """
    detail = [
        {"row": first_row + index, "field": problem.column, "kind": problem.kind, "message": problem.message}
        for index, row in enumerate(problems)
        for problem in row
    ]
    bad_rows = sum(1 for row in problems if row)
    fields = "field" if len(detail) == 1 else "fields"
    first = detail[0]["message"] if detail else ""
    message = f"{len(detail)} {fields} in {bad_rows} of {len(problems)} rows breaks the schema: {first}"
    if len(detail) != 1:
        message = message.replace("breaks", "break")
    return RequestError(
        422,
        message,
        hint="see GET /openapi.json for the expected fields and types",
        detail=detail[:MAX_PROBLEMS_SHOWN],
    )
