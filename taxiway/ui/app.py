"""The dashboard app: server-rendered pages over one project's store, htmx swaps, Plotly charts.

Nothing is fetched from the internet: Plotly.js is served from the installed ``plotly`` package, htmx from
``taxiway/ui/static/vendor/`` (put there by the build, from the npm registry). Without htmx every page
still works with plain links and forms; only the in-place table updates are lost.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import FileResponse

from taxiway.project import Project
from taxiway.ui import format as formats
from taxiway.ui.auth import install_token
from taxiway.ui.errors import install_error_pages
from taxiway.ui.pages import checklist, compare, data, deployments, loop, models, monitoring, run_detail, runs
from taxiway.ui.state import UIState

log = logging.getLogger("taxiway.ui")
HERE = Path(__file__).parent
STATIC = HERE / "static"
HTMX = STATIC / "vendor" / "htmx.min.js"
_PLOTLY = importlib.util.find_spec("plotly")  # located, not imported: importing plotly takes ~0.5 s
PLOTLY_JS = (
    Path(_PLOTLY.origin if _PLOTLY and _PLOTLY.origin else "plotly/__init__.py").parent
    / "package_data"
    / "plotly.min.js"
)
# The scripts change only with the installed packages; browsers may keep them a day.
SCRIPT_CACHE = "public, max-age=86400"


def create_app(project: Project, *, token: str | None = None) -> FastAPI:
    """The dashboard for ``project``; every page asks for ``token`` when one is given.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "taxiway.toml").write_text('[project]\\nname="x"\\n[problem]\\ntarget="y"\\n')
        >>> app = create_app(Project.load(root))
        >>> app.title, app.state.ui.token is None, app.state.ui.ranking_metric
        ('taxiway', True, 'roc_auc')
    """
    has_htmx = HTMX.is_file()
    if not has_htmx:
        log.warning(
            "htmx is missing (%s): pages work with plain links and forms; a built wheel carries it, and "
            "`python scripts/build_htmx.py` fetches it into a source checkout",
            HTMX,
        )
    app = FastAPI(title="taxiway", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(formats.FILTERS)
    app.state.ui = UIState(project=project, templates=templates, token=token, has_htmx=has_htmx)

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": SCRIPT_CACHE})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for page in (runs, compare, run_detail, data, checklist, models, deployments, monitoring, loop):
        app.include_router(page.router)
    install_error_pages(app)
    if token:
        install_token(app, token)
    return app
