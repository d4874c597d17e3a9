"""`taxiway serve`: the prediction service, which follows the deployment the store holds."""

from __future__ import annotations

import signal
import socket
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from taxiway.cli.output import FORMAT_OPTION, Format, show_report, stderr
from taxiway.cli.ui import bind
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

DEFAULT_PORT = 8000


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port",
            "-p",
            min=0,
            max=65535,
            envvar="TAXIWAY_PORT",
            help="port to listen on; 0 picks a free one",
        ),
    ] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64, help="worker processes")] = 1,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=64, help="model threads (OpenMP/BLAS) per worker")
    ] = 1,
    telemetry: Annotated[
        bool, typer.Option("--telemetry/--no-telemetry", help="Prometheus metrics and stats snapshots")
    ] = True,
    log_predictions: Annotated[
        bool, typer.Option("--log/--no-log", help="append every prediction to the Parquet prediction log")
    ] = True,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.001, help="largest request body")
    ] = 16.0,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="most rows in one request")] = 10_000,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.01, help="seconds before a request gets 408")
    ] = 10.0,
    prometheus_targets: Annotated[
        Path | None,
        typer.Option(
            "--prometheus-targets",
            help="folder where this replica writes its Prometheus file-SD target (removed when it stops)",
            show_default=False,
        ),
    ] = None,
    print_kind: Annotated[
        PrintKind | None,
        typer.Option(
            "--print",
            help="print a file for running replicas and exit: an nginx site over them (--upstream, or "
            "those alive in the store), a systemd unit, a Compose file, Kubernetes manifests",
            show_default=False,
        ),
    ] = None,
    print_nginx: Annotated[bool, typer.Option("--print-nginx", help="the same as --print nginx")] = False,
    replicas: Annotated[
        int, typer.Option("--replicas", min=1, max=100, help="with --print compose|kubernetes: how many")
    ] = 3,
    image: Annotated[
        str, typer.Option("--image", help="with --print compose|kubernetes: the image holding the project")
    ] = "taxiway-serve:latest",
    upstreams: Annotated[
        list[str] | None,
        typer.Option("--upstream", help="with --print-nginx: a replica's HOST:PORT (repeat it)"),
    ] = None,
    nginx_listen: Annotated[
        str, typer.Option("--nginx-listen", help="with --print-nginx: where nginx listens (PORT, HOST:PORT)")
    ] = "80",
    client_timeout: Annotated[
        float,
        typer.Option(
            "--client-timeout", min=0.01, help="seconds a client has to send a request's headers and body"
        ),
    ] = 30.0,
    predict_token: Annotated[
        str | None,
        typer.Option(
            "--predict-token",
            envvar="TAXIWAY_PREDICT_TOKEN",
            help="bearer token predictions need (required off loopback)",
            show_default=False,
        ),
    ] = None,
    feedback_token: Annotated[
        str | None,
        typer.Option(
            "--feedback-token",
            envvar="TAXIWAY_FEEDBACK_TOKEN",
            help="bearer token /feedback needs (required off loopback)",
            show_default=False,
        ),
    ] = None,
    monitor_every: Annotated[
        float,
        typer.Option("--monitor-every", min=1.0, help="seconds between judgements of the live limits"),
    ] = 60.0,
) -> None:
    """Serve the deployed model version (`taxiway deploy` chooses it; servers follow within a second)."""
    from taxiway.cli.ui import is_loopback
    from taxiway.errors import TaxiwayError
    from taxiway.serve.run import ServeSettings, run_server

    if not is_loopback(host) and not (predict_token and feedback_token):
        raise TaxiwayError(
            f"--host {host} lets other machines reach the service; it will not serve there without tokens",
            hint="set TAXIWAY_PREDICT_TOKEN and TAXIWAY_FEEDBACK_TOKEN (or --predict-token and "
            "--feedback-token), or keep the default --host 127.0.0.1",
        )
    project = Project.load()
    if print_nginx or print_kind is PrintKind.nginx:
        _print_nginx(project, upstreams or [], nginx_listen, max_body_mb=max_body_mb, timeout_s=timeout)
        return
    if print_kind is not None:
        from taxiway.deploy.manifests import ServeFiles

        files = ServeFiles(
            project.charter.project.name,
            str(project.root),
            str(Path(sys.executable).with_name("taxiway")) if print_kind is PrintKind.systemd else "taxiway",
            replicas=replicas,
            workers=workers,
            port=port or DEFAULT_PORT,
            image=image,
        )
        project.store.close()
        typer.echo(_manifest(print_kind, files, max_body_mb=max_body_mb, timeout_s=timeout), nl=False)
        return
    try:
        listener = bind(host, port)
    except TaxiwayError as refused:
        raise _port_holder(project, port) or refused from None
    finally:
        project.store.close()  # each worker opens its own: connections do not cross processes
    bound = listener.getsockname()[1]
    settings = ServeSettings(
        project=str(project.root),
        host=host,
        port=bound,
        workers=workers,
        threads=threads,
        telemetry=telemetry,
        log_predictions=log_predictions and telemetry,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_rows=max_rows,
        timeout_s=timeout,
        client_timeout_s=client_timeout,
        predict_token=predict_token or None,
        feedback_token=feedback_token or None,
        minute_hook="taxiway.monitor.live_limits:minute_hook" if telemetry else None,
        hook_seconds=monitor_every,
    )
    typer.echo(
        f"taxiway serve: serving {project.charter.project.name} at http://{host}:{bound}/ "
        f"({workers} worker{'s' if workers > 1 else ''}; Ctrl+C stops)"
    )

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    target = None
    try:
        if prometheus_targets is not None:
            from taxiway.serve.prometheus_sd import advertised_host, write_target

            labels = {"taxiway_project": project.charter.project.name}
            target = write_target(prometheus_targets, advertised_host(host), bound, labels=labels)
        run_server(replace(settings), listener)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
        if target is not None:
            target.unlink(missing_ok=True)
    typer.echo("taxiway serve: stopped", err=True)


class PrintKind(StrEnum):
    """The files `taxiway serve --print KIND` writes (docs/deploying.md)."""

    nginx = "nginx"
    systemd = "systemd"
    compose = "compose"
    kubernetes = "kubernetes"


def _manifest(kind: PrintKind, files: Any, *, max_body_mb: float, timeout_s: float) -> str:
    from taxiway.deploy.manifests import compose_file, kubernetes_manifests, systemd_unit
    from taxiway.deploy.nginx import nginx_site

    if kind is PrintKind.systemd:
        return systemd_unit(files)
    if kind is PrintKind.kubernetes:
        return kubernetes_manifests(files)
    # In Compose, the replicas are one service: Docker's DNS gives nginx every replica's address.
    site = nginx_site([("taxiway", files.port)], max_body_mb=max_body_mb, timeout_s=timeout_s)
    return compose_file(files, nginx_site=site)


def _print_nginx(
    project: Project, upstreams: list[str], listen: str, *, max_body_mb: float, timeout_s: float
) -> None:
    """Print the nginx site for the replicas given, or for those alive in the store."""
    from taxiway.deploy.nginx import nginx_site, parse_address

    addresses = [parse_address(text) for text in upstreams]
    if not addresses:
        from taxiway.deploy import list_replicas

        addresses = sorted({(r.host, r.port) for r in list_replicas(project.store)})
    project.store.close()
    typer.echo(nginx_site(addresses, listen=listen, max_body_mb=max_body_mb, timeout_s=timeout_s), nl=False)


def _port_holder(project: Project, port: int) -> Exception | None:
    """An error naming the `taxiway serve` of this project that holds ``port``, if the store knows one."""
    import psutil

    from taxiway.deploy import list_replicas
    from taxiway.errors import TaxiwayError
    from taxiway.store.tables import utcnow

    if port == 0:
        return None
    holders = [
        r for r in list_replicas(project.store, include_stale=True) if r.port == port and r.stopped_at is None
    ]
    here = socket.gethostname()
    alive = [r for r in holders if r.host == here and psutil.pid_exists(r.pid)]
    if not alive:
        return None
    pids = ", ".join(str(r.pid) for r in alive)
    age = min((utcnow() - r.heartbeat_at).total_seconds() for r in alive)
    state = "still serving" if age < 10 else f"silent for {age:.0f} s (its parent may have been killed)"
    return TaxiwayError(
        f"port {port} is held by an earlier `taxiway serve` of this project: process {pids}, {state}",
        hint=f"stop it (kill {alive[0].pid}) or pick another port with --port N",
    )


@app.command("predict")
def predict(
    source: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="CSV or Parquet file of rows (with --dask: a Parquet file or folder, local to the workers "
            "or s3://…)",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="file of answers (.csv or .parquet)", show_default=False)
    ],
    version: Annotated[
        str | None, typer.Option("--version", help="model version (default: the one deployed live)")
    ] = None,
    log_predictions: Annotated[
        bool, typer.Option("--log/--no-log", help="append the answers to the prediction log")
    ] = True,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="predict on the Dask cluster whose scheduler is at this address (tcp://host:8786); needs "
            "taxiway[dask]",
            show_default=False,
        ),
    ] = None,
    output_format: Format = FORMAT_OPTION,
) -> None:
    """Batch prediction: every row of a file through the input contract, the model and its fallback.

    Exit code 1 when some rows broke the input contract (their `error` column says why).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from taxiway.serve.batch import predict_file

    project = Project.load()
    columns = (TextColumn("predicting"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=stderr(), transient=True) as bar:
        task = bar.add_task("rows", total=None)
        if dask is not None:
            from taxiway.serve.batch_dask import predict_on_dask

            report = predict_on_dask(
                project,
                source,
                output,
                address=dask,
                version=version,
                log=log_predictions,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        else:
            report = predict_file(
                project,
                Path(source),
                output,
                version=version,
                log=log_predictions,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    document = {
        "version": report.version,
        "rows": report.rows,
        "answered": report.answered,
        "refused": report.refused,
        "fallbacks": report.fallbacks,
        "output": str(report.output),
        "seconds": report.seconds,
        "logged": report.logged,
    }

    def render(document: dict[str, Any], console: Console) -> None:
        console.print(
            f"{report.version} answered {report.answered:,} of {report.rows:,} rows "
            f"in {report.seconds:.1f} s → {report.output}"
        )
        if report.fallbacks:
            reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(report.fallbacks.items()))
            console.print(f"the fallback answered {report.fallback_rows:,} rows ({reasons})")
        if report.refused:
            console.print(f"{report.refused:,} rows broke the input schema: see their `error` column")

    show_report(document, output_format, render, passed=report.refused == 0)
