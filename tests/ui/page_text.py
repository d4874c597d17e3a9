"""Reading rendered pages in tests: their text, and one table row by a data attribute."""

from __future__ import annotations

import re


def plain(page: str) -> str:
    """The page's text: tags removed, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))


def table_row(page: str, attribute: str, value: str) -> str:
    """The HTML of the table row whose ``attribute`` is ``value``, spaces collapsed."""
    found = re.search(rf'<tr [^>]*{attribute}="{re.escape(value)}".*?</tr>', page, re.DOTALL)
    assert found, f"no row with {attribute}={value}"
    return re.sub(r"\s+", " ", found.group(0))
