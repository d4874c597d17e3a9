"""What one dashboard app holds: its project, templates, token and caches; and how pages render."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from taxiway.charter import CHARTER_FILE, Charter, load_charter
from taxiway.charter.questions import question
from taxiway.project import Project
from taxiway.store import Store

T = TypeVar("T")
CACHE_SIZE = 32  # comparisons kept; each is a few kilobytes

NAV = (
    ("runs", "Runs", "/runs", None),
    ("compare", "Compare", "/compare", None),
    ("data", "Data", "/data", None),
    ("checklist", "Checklist", "/checklist", None),
    ("models", "Models", "/models", None),
    ("deployments", "Deployments", "/deployments", None),
    ("monitoring", "Monitoring", "/monitoring", None),
    ("loop", "CI · CD · CT", "/loop", None),
)


@dataclass
class UIState:
    """The app's own state (no globals): one project, its templates, the optional token, a small cache."""

    project: Project
    templates: Jinja2Templates
    token: str | None
    has_htmx: bool
    _charter: tuple[int, Charter] | None = None
    _cache: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        return self.project.store

    @property
    def charter(self) -> Charter:
        """The charter as taxiway.toml says now: read again when the file changed since the last page."""
        path = Path(self.project.root) / CHARTER_FILE
        changed = path.stat().st_mtime_ns
        if self._charter is None or self._charter[0] != changed:
            self._charter = (changed, load_charter(path))
        return self._charter[1]

    @property
    def ranking_metric(self) -> str:
        charter = self.charter
        chosen = charter.problem.ranking_metric
        return chosen or str(question("problem.ranking_metric").default_value(charter.problem.task))

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per key (keys must name immutable inputs, e.g. content digests)."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return value


def ui_state(request: Request) -> UIState:
    """The state of the app serving ``request``."""
    state: UIState = request.app.state.ui
    return state


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200, active: str | None = None
) -> HTMLResponse:
    """A page (or an htmx fragment) from a template, with what every page needs: nav, project, htmx."""
    state = ui_state(request)
    shared = {
        "nav": NAV,
        "active": active,
        "project_name": state.project.charter.project.name,
        "has_htmx": state.has_htmx,
    }
    return state.templates.TemplateResponse(request, template, {**shared, **context}, status_code=status)
