"""JSON in and out, with orjson: bodies that are not JSON are a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import Response

from taxiway.serve.problems import RequestError

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def loads(body: bytes) -> Any:
    """Parse a JSON body; ``NaN`` and ``Infinity`` literals are read as Python writes them.

    They are not JSON, but ``json.dumps`` writes them and MLflow's client sends a DataFrame with gaps
    that way, so a body orjson refuses is read again by the standard library before it is a 400.
    NaN is then a missing value; infinity is answered 422 by the batch path.

    Example:
        >>> loads(b'{"rows": []}'), loads(b'[NaN]')
        ({'rows': []}, [nan])
    """
    if not body.strip():
        raise RequestError(400, "the body is empty; expected JSON", hint="send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise RequestError(
                400, f"the body is not valid JSON: {error}", hint="send a JSON document"
            ) from None


def dumps(document: Any) -> bytes:
    """JSON bytes; numpy arrays and scalars as plain JSON, NaN as null."""
    return orjson.dumps(document, option=_OPTIONS)


class JSONBody(Response):
    """A JSON response written by orjson (about 10x faster than the standard library on our answers)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
