"""`taxiway ui`: serve the dashboard, print its address, and prove it serves: once listening, it fetches its
own pages over HTTP and records ``ui.served`` from the answers (taxiway.ui.served)."""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.ui.served import TIMEOUT_S

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

if TYPE_CHECKING:
    import uvicorn

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_STARTED_POLL_S = 0.05


@app.command("ui")
def ui(
    host: Annotated[
        str, typer.Option("--host", help="address to listen on; other than 127.0.0.1/localhost needs --token")
    ] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="port to listen on; 0 picks a free one")
    ] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TAXIWAY_UI_TOKEN",
            help="a secret every page asks for (from $TAXIWAY_UI_TOKEN too, which keeps it out of `ps`)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the metrics web page: runs, comparisons with intervals, data, the checklist. Ctrl+C stops it."""
    import uvicorn

    from taxiway.ui import create_app

    if not is_loopback(host) and not token:
        raise TaxiwayError(
            f"--host {host} would let other machines read the project's runs, data and checklist "
            "without a token",
            hint="add --token SECRET (or set TAXIWAY_UI_TOKEN), or keep the default --host 127.0.0.1",
        )
    project = Project.load()
    listener = bind(host, port)
    try:
        bound_port = listener.getsockname()[1]
        url = page_url(host, bound_port)
        shown = f"{url}?token={token}" if token else url
        typer.echo(f"taxiway ui: serving {project.charter.project.name} at {shown} (Ctrl+C stops)", err=False)
        config = uvicorn.Config(create_app(project, token=token), log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        # ui.served is proven by the running dashboard answering its own pages over HTTP, once it listens.
        prover = threading.Thread(
            target=_prove_once_started,
            args=(server, project, url, token),
            name="taxiway-ui-served",
            daemon=True,
        )
        prover.start()
        _serve_until_stopped(server, listener)
        prover.join(timeout=2 * TIMEOUT_S)
    finally:
        listener.close()
        project.store.close()


def _prove_once_started(server: uvicorn.Server, project: Project, url: str, token: str | None) -> None:
    """Wait until the server listens (or is told to stop), then record ``ui.served`` from its answers."""
    from taxiway.ui.served import prove_served

    started = threading.Event()
    while not started.wait(_STARTED_POLL_S):
        if server.should_exit:
            return
        if server.started:
            started.set()
    try:
        record = prove_served(project.store, project.charter.project.name, url, token=token)
    except (TaxiwayError, SQLAlchemyError) as error:  # a dashboard that cannot record still serves
        typer.echo(f"taxiway ui: could not record ui.served: {error}", err=True)
        return
    if record.status != "pass":
        typer.echo(f"taxiway ui: the dashboard did not answer its own pages: {record.details}", err=True)


def _serve_until_stopped(server: uvicorn.Server, listener: socket.socket) -> None:
    """Serve until Ctrl+C or SIGTERM; either is the normal way to stop, so both end with exit code 0.

    uvicorn shuts down gracefully, then raises the signal it caught again: SIGINT arrives here as
    KeyboardInterrupt, and SIGTERM is turned into one for the duration.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    typer.echo("taxiway ui: stopped", err=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine.

    Example:
        >>> is_loopback("localhost"), is_loopback("127.0.0.2"), is_loopback("0.0.0.0"), is_loopback("::1")
        (True, True, False, True)
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port, chosen by the system as it binds).

    Binding here and handing the socket to the server leaves no gap in which another program could take
    the port between choosing it and using it.

    Raises:
        TaxiwayError: the address cannot be resolved or bound (e.g. the port is in use).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise TaxiwayError(
            f"--host {host} is not an address of this machine: {error.strerror}",
            hint="use 127.0.0.1 (this machine only), or an address `ip addr` lists",
        ) from None
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise TaxiwayError(
            f"cannot listen on {host}:{port}: {error.strerror}",
            hint="pick another port with --port N, or --port 0 for any free one",
        ) from None
    return listener


def page_url(host: str, port: int) -> str:
    """The address people open (IPv6 hosts in brackets).

    Example:
        >>> page_url("127.0.0.1", 8765), page_url("::1", 8000)
        ('http://127.0.0.1:8765/', 'http://[::1]:8000/')
    """
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
