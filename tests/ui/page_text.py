"""Reading rendered pages in tests: their text, and one table row by a data attribute."""

from __future__ import annotations

import json
import re
from typing import Any


def plain(page: str) -> str:
    """The page's text: tags removed, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))


def table_row(page: str, attribute: str, value: str) -> str:
    """The HTML of the table row whose ``attribute`` is ``value``, spaces collapsed."""
    found = re.search(rf'<tr [^>]*{attribute}="{re.escape(value)}".*?</tr>', page, re.DOTALL)
    assert found, f"no row with {attribute}={value}"
    return re.sub(r"\s+", " ", found.group(0))


def figure_json(page: str, name: str) -> Any:
    """The Plotly figure the page embeds as ``<script type="application/json" id="figure-NAME">``."""
    found = re.search(rf'<script type="application/json" id="figure-{name}">(.*?)</script>', page, re.DOTALL)
    assert found, f"no figure {name}"
    return json.loads(found.group(1))
