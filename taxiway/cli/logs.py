"""`taxiway logs`: filled in by its owner."""

from __future__ import annotations

from taxiway.cli.app import app  # noqa: F401
