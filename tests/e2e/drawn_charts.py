"""Waiting for the dashboard's Plotly charts in Chromium, and reading what they drew."""

from __future__ import annotations

from playwright.sync_api import Page

# Assertions wait as long as navigation does: on a loaded 2-core machine an htmx swap can take over 5 s.
TIMEOUT_MS = 15_000


def wait_for_charts(page: Page, count: int) -> None:
    """Wait until Plotly has drawn ``count`` charts."""
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {count}", timeout=TIMEOUT_MS
    )


def traces(page: Page, chart: str) -> int:
    """How many traces the chart with id ``chart-<chart>`` draws."""
    return int(page.evaluate(f"document.getElementById('chart-{chart}').data.length"))
