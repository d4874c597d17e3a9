"""`taxiway serve`: the prediction service, which follows the deployment the store holds."""

from __future__ import annotations

import signal
from dataclasses import replace
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
) -> None:
    """Serve the deployed model version (`taxiway deploy` chooses it; servers follow within a second)."""
    from taxiway.serve.run import ServeSettings, run_server

    project = Project.load()
    project.store.close()  # each worker opens its own: connections do not cross processes
    listener = bind(host, port)
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
    )
    typer.echo(
        f"taxiway serve: serving {project.charter.project.name} at http://{host}:{bound}/ "
        f"({workers} worker{'s' if workers > 1 else ''}; Ctrl+C stops)"
    )

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        run_server(replace(settings), listener)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
    typer.echo("taxiway serve: stopped", err=True)


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
