"""The app factory: one FastAPI app per server process, with its own state and its own metrics registry."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp
from threadpoolctl import threadpool_limits

from taxiway.project import Project
from taxiway.serve.batching import model_executor
from taxiway.serve.deployment import DEFAULT_DEPLOYMENT, current_state
from taxiway.serve.direct import DirectRoutes
from taxiway.serve.openapi import install_openapi
from taxiway.serve.prediction_log import FeedbackLog, PredictionLog
from taxiway.serve.protocols import feedback, mlflow, native, oip_v2
from taxiway.serve.replica import ReplicaAgent, load_checked
from taxiway.serve.service import Service
from taxiway.serve.settings import ServeSettings
from taxiway.serve.shadow import ShadowFeeder
from taxiway.serve.slots import Slots, make_slot
from taxiway.serve.telemetry import CONTENT_TYPE, Metrics, mark_process_dead

PROCESS_SAMPLE_S = 1.0


def create_app(settings: ServeSettings, *, project: Project | None = None) -> FastAPI:
    """Load the live version (checked for skew) and build the app around it.

    Without ``settings.model`` the process follows the deployment's desired state; with it, it is pinned
    to that version and ignores deployments.

    Raises:
        TaxiwayError: the project, the store or the model cannot be opened (nothing is served).
    """
    project = project or Project.load(settings.project)
    store = project.store
    is_pinned = settings.model is not None
    state = None if is_pinned else current_state(store, DEFAULT_DEPLOYMENT)
    metrics = Metrics()
    executor = model_executor(settings.threads)
    live = load_checked(project, settings.model or (state.live_version if state else None))
    slots = Slots(make_slot("blue", live, executor, settings, metrics))
    service = Service(settings, slots, metrics, model_name=project.charter.project.name)
    subject = f"pinned:{live.version}" if is_pinned else DEFAULT_DEPLOYMENT
    agent = ReplicaAgent(
        project, service, executor, deployment=None if is_pinned else DEFAULT_DEPLOYMENT, subject=subject
    )
    artifacts = store.artifacts.uri
    log = PredictionLog(artifacts, interval_s=settings.flush_interval_s) if settings.log_predictions else None
    labels = FeedbackLog(artifacts, interval_s=settings.flush_interval_s)
    shadow = ShadowFeeder(slots, metrics, service.stats, log, max_rows=settings.shadow_queue_rows)
    service.sinks += [sink for sink in (log, shadow) if sink is not None]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threadpool_limits(limits=settings.threads)  # this thread predicts too, when a request is alone
        for appender in (log, labels):
            if appender is not None:
                appender.appender.start()
        await agent.start(state)
        sampler = asyncio.get_running_loop().create_task(_sample_process(metrics))
        # Everything loaded so far (libraries, models) lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise walk it all and stall requests behind them.
        gc.freeze()
        try:
            yield
        finally:
            sampler.cancel()
            service.is_ready = False
            await shadow.close()
            for slot in slots.loaded():
                await slot.batcher.close()
            await agent.stop()
            for appender in (log, labels):
                if appender is not None:
                    await asyncio.to_thread(appender.close)
            executor.shutdown(wait=True)
            store.close()
            mark_process_dead()

    app = FastAPI(title=f"taxiway: {service.model_name}", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.service = service
    app.state.agent = agent
    direct = [
        *native.add_routes(app, service),
        *mlflow.add_routes(app, service),
        *oip_v2.add_routes(app, service),
    ]
    app.state.direct_routes = direct
    feedback.add_routes(app, service, labels)

    @app.get("/metrics", tags=["telemetry"], summary="Prometheus metrics")
    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    install_openapi(app, service)
    return app


async def _sample_process(metrics: Metrics) -> None:
    """Keep this process's CPU and memory gauges fresh (in multiprocess mode no scrape reaches them)."""
    while True:
        metrics.sample_process()
        await asyncio.sleep(PROCESS_SAMPLE_S)


def with_direct_routes(app: FastAPI) -> ASGIApp:
    """The app as the server runs it: the prediction routes answered ahead of FastAPI's stack."""
    return DirectRoutes(app, app.state.direct_routes)


def app_from_environment() -> ASGIApp:
    """The factory uvicorn's worker processes call (``taxiway.serve.app:app_from_environment``)."""
    return with_direct_routes(create_app(ServeSettings.from_environment()))
