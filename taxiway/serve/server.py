"""Running the app: uvicorn with one process or several, on a socket taxiway binds itself.

Binding the socket here, with its protocol set to TCP, is what keeps Nagle's algorithm off in every
mode: accepted connections inherit the listener's ``proto``, and asyncio only sets ``TCP_NODELAY`` when it
reads ``IPPROTO_TCP`` there. uvicorn's own multi-worker listener leaves it at 0, so every keep-alive
response after the first waited ~40 ms for a delayed ACK (uvicorn issue #3149).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from taxiway.errors import TaxiwayError
from taxiway.serve.settings import ServeSettings
from taxiway.serve.telemetry import MULTIPROCESS_ENV

FACTORY = "taxiway.serve.app:app_from_environment"
BACKLOG = 2048
# Native thread pools (OpenMP, BLAS) read these when they start: each worker gets ``threads`` of its own.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port), ready to hand to workers.

    Example:
        >>> listener = bind("127.0.0.1", 0)
        >>> listener.proto == socket.IPPROTO_TCP, listener.getsockname()[1] > 0
        (True, True)
        >>> listener.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise TaxiwayError(
            f"cannot listen on {host}:{port}: {error.strerror}",
            hint="choose another --port (0 picks a free one), or stop the program using it",
        ) from None
    listener.listen(BACKLOG)
    listener.set_inheritable(True)
    return listener


def adopt(fd: int) -> socket.socket:
    """A listening socket passed in by file descriptor (tests bind port 0 and hand it over)."""
    probe = socket.socket(fileno=fd)
    family = probe.family
    probe.detach()
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    listener.set_inheritable(True)
    return listener


def run(
    settings: ServeSettings,
    listener: socket.socket,
    *,
    workers: int,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted: in this process when ``workers`` is 1, else in ``workers`` processes."""
    for name in THREAD_ENV:
        os.environ[name] = str(settings.threads)
    os.environ.update(settings.to_environment())
    metrics_folder = None
    if workers > 1:
        metrics_folder = Path(tempfile.mkdtemp(prefix="taxiway-metrics-"))
        os.environ[MULTIPROCESS_ENV] = str(metrics_folder)
    common = {
        "workers": workers,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        "backlog": BACKLOG,
        "loop": settings.loop,
    }
    host, port = listener.getsockname()[:2]
    address = f"http://{host}:{port}"
    try:
        if workers == 1:
            from taxiway.serve.app import create_app, with_direct_routes

            app = create_app(settings)  # in this process: a bad model is an error before anything listens
            server = uvicorn.Server(uvicorn.Config(with_direct_routes(app), **common))  # type: ignore[arg-type]
            if on_listening is not None:
                on_listening(address)
            server.run(sockets=[listener])
        else:
            _preflight(settings)
            config = uvicorn.Config(FACTORY, factory=True, **common)  # type: ignore[arg-type]
            if on_listening is not None:
                on_listening(address)
            Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)


def _preflight(settings: ServeSettings) -> None:
    """Fail in the parent, with a readable error, when the workers could not load the model."""
    from taxiway.project import Project
    from taxiway.serve.source import resolve_model

    project = Project.load(settings.project)
    try:
        resolve_model(project.store, settings.model)
    finally:
        project.store.close()
