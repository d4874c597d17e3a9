"""Filled in next."""

from __future__ import annotations

from fastapi import FastAPI


def add_routes(app: FastAPI) -> None:
    """Add this protocol's routes to the service's app."""
