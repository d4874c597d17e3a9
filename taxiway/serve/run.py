"""Starting the service under uvicorn: one process or several workers sharing one socket.

Two things every worker mode must get right (both measured on a 2-core machine, see docs/benchmarks.md):

- thread pools: scikit-learn's tree models predict with one OpenMP thread per core by default; two workers
  doing that on two shared cores pushed one-row p99 from under 2 ms to over a second. Workers start with
  ``OMP_NUM_THREADS`` (and BLAS's) set to ``threads``, and every model load caps the pools it loaded.
- Nagle's algorithm: with several uvicorn workers the accepted sockets kept it on (uvicorn issue #3149), and
  each small response waited for a delayed ACK (~40 ms). :class:`GuardedHttpTools` sets ``TCP_NODELAY`` on
  every connection, in every mode, and cuts off clients that send a request too slowly.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn

from taxiway.serve.limits import Limits
from taxiway.serve.metrics import MULTIPROC_ENV
from taxiway.serve.slow_clients import CONFIG_ENV, GuardedHttpTools
from taxiway.serve.supervision import PARENT_ENV, exit_with_parent, metrics_folder

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

__all__ = ["ServeSettings", "app_from_environment", "run_server"]


@dataclass(frozen=True)
class ServeSettings:
    """What each worker needs to build its service (passed to spawned workers as JSON in the environment)."""

    project: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int = 1
    telemetry: bool = True
    log_predictions: bool = True
    max_body_bytes: int = Limits.max_body_bytes
    max_rows: int = Limits.max_rows
    timeout_s: float = Limits.timeout_s
    client_timeout_s: float = Limits.client_timeout_s
    predict_token: str | None = None
    feedback_token: str | None = None
    # "module:function" called with (store, charter) every hook_seconds from the telemetry thread; the CLI
    # names the monitor's live limits here, since serving sits below the monitor and may not import it.
    minute_hook: str | None = None
    hook_seconds: float = 60.0

    def limits(self) -> Limits:
        return Limits(
            self.max_body_bytes, self.max_rows, self.timeout_s, client_timeout_s=self.client_timeout_s
        )


def app_from_environment() -> Any:
    """The app of one worker, built from the settings the parent put in the environment."""
    from threadpoolctl import threadpool_limits

    from taxiway.project import Project
    from taxiway.serve.access import Access
    from taxiway.serve.app import create_app
    from taxiway.serve.service import PredictionService
    from taxiway.serve.telemetry import Telemetry

    settings = ServeSettings(**json.loads(os.environ[CONFIG_ENV]))
    exit_with_parent()
    threadpool_limits(settings.threads)  # what is loaded now; each model load caps what it loads

    def make_service() -> PredictionService:
        project = Project.load(Path(settings.project))
        store = project.store
        hook = _hook(settings.minute_hook, store, project.charter)
        telemetry = Telemetry(
            store,
            f"{socket.gethostname()}:{settings.port}:{os.getpid()}",
            enabled=settings.telemetry,
            log_predictions=settings.log_predictions,
            minute_hook=hook,
            hook_seconds=settings.hook_seconds,
        )
        return PredictionService(
            store,
            project.charter,
            root=project.root,
            port=settings.port,
            telemetry=telemetry,
            limits=settings.limits(),
            threads=settings.threads,
        )

    return create_app(make_service, access=Access(settings.predict_token, settings.feedback_token))


def _hook(name: str | None, store: Any, charter: Any) -> Callable[[], None] | None:
    """The function ``module:function`` bound to this worker's store and charter (None: no hook)."""
    if not name:
        return None
    module, _, function = name.partition(":")
    target = getattr(importlib.import_module(module), function)
    return functools.partial(target, store, charter)


def run_server(settings: ServeSettings, listener: socket.socket) -> None:
    """Serve on a bound ``listener`` until Ctrl+C (SIGINT) or SIGTERM; workers share the socket.

    ``settings.port`` must be the port ``listener`` is bound to: replicas name themselves by it.
    """
    config = uvicorn.Config(
        "taxiway.serve.run:app_from_environment",
        factory=True,
        workers=settings.workers,
        http=GuardedHttpTools,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
        # A new worker answers the supervisor's pings only once it has imported the service (pandas,
        # scikit-learn, skops: seconds on a busy machine); uvicorn's 5 s default killed them in a loop.
        timeout_worker_healthcheck=60,
    )
    os.environ[CONFIG_ENV] = json.dumps(asdict(settings))
    os.environ[PARENT_ENV] = str(os.getpid())
    for name in _THREAD_ENV:  # workers start fresh: their libraries read these as they load
        os.environ[name] = str(settings.threads)
    if settings.workers > 1:
        # Workers share their Prometheus values through files in one folder, named before they start. The
        # folder is this server's own and new: a folder shared with another replica on the machine would
        # make each report the other's requests too (Prometheus would count them twice), and files left by
        # an earlier run would add its counts to this one's. PROMETHEUS_MULTIPROC_DIR, when set, is where
        # the folder is made. A restarted worker's counters stay in its files: the totals never go back.
        # The name starts with this process's id, so folders of killed servers are found and removed.
        parent = os.environ.get(MULTIPROC_ENV) or None
        shared = metrics_folder(parent)
        os.environ[MULTIPROC_ENV] = str(shared)
        from uvicorn.supervisors import Multiprocess

        try:
            Multiprocess(config, sockets=[listener]).run()
        finally:
            if parent is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = parent
            shutil.rmtree(shared, ignore_errors=True)
    else:
        uvicorn.Server(config).run(sockets=[listener])
