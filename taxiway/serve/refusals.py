"""The ways a request is refused: each an error with its HTTP status, a message and a hint."""

from __future__ import annotations

from typing import Any

from taxiway.data.schema_check import FieldProblem
from taxiway.errors import TaxiwayError

__all__ = [
    "InvalidNumber",
    "InvalidRows",
    "NotServing",
    "RequestRefused",
    "RequestTimedOut",
    "RequestTooLarge",
]


class RequestRefused(TaxiwayError):
    """A request the service will not answer; ``http_status`` is its HTTP status."""

    http_status = 400


class NotServing(RequestRefused):
    http_status = 503


class RequestTooLarge(RequestRefused):
    http_status = 413


class InvalidNumber(RequestRefused):
    http_status = 422


class RequestTimedOut(RequestRefused):
    http_status = 408


class InvalidRows(RequestRefused):
    """Rows that break the input contract: one list of field problems per row.

    The answer lists the problems of the first ``SHOWN_PROBLEMS`` and counts the rest: 10,000 empty rows
    made a 12 MB answer when every problem was listed.
    """

    http_status = 422
    SHOWN_PROBLEMS = 20

    def __init__(
        self,
        problems: list[list[FieldProblem]],
        *,
        total_rows: int | None = None,
        refused_rows: int | None = None,
    ) -> None:
        bad = refused_rows if refused_rows is not None else sum(1 for row in problems if row)
        total = total_rows if total_rows is not None else len(problems)
        super().__init__(
            f"{bad} of {total} rows do not match the model's input schema",
            hint="fix the fields named in `detail`; GET /docs shows the schema of a row",
        )
        self.problems = problems
        self.refused_rows = bad

    @classmethod
    def first_rows(
        cls, problems: list[list[FieldProblem]], *, total_rows: int, refused_rows: int | None = None
    ) -> InvalidRows:
        """A refusal that knows only the first rows' problems (the guard stops looking early)."""
        return cls(problems, total_rows=total_rows, refused_rows=refused_rows)

    @property
    def problem_count(self) -> int:
        return sum(len(row) for row in self.problems)

    def detail(self) -> list[dict[str, Any]]:
        """``[{row, field, kind, message}]`` for the first ``SHOWN_PROBLEMS`` problems."""
        shown: list[dict[str, Any]] = []
        for row, problems in enumerate(self.problems):
            for problem in problems:
                if len(shown) == self.SHOWN_PROBLEMS:
                    return shown
                message = problem.message if len(problem.message) <= 300 else problem.message[:300] + "..."
                shown.append(
                    {"row": row, "field": problem.column[:100], "kind": problem.kind, "message": message}
                )
        return shown
