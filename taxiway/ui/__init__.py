"""The dashboard: runs, comparisons with statistics, data and the checklist, as web pages."""

from taxiway.ui.app import create_app

__all__ = ["create_app"]
