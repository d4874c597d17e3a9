"""`taxiway serve` (the prediction service) and `taxiway predict` (batch prediction of a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from taxiway.cli.app import app
from taxiway.cli.output import FORMAT_OPTION, Format, emit_json, stdout
from taxiway.errors import TaxiwayError
from taxiway.project import Project

MAX_WORKERS = 64


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one")] = 8000,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", "-w", help="server processes")] = 1,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="serve this version (vN or a run id) and ignore deployments; default: the deployment's "
            "live version, else the newest training's best candidate",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="native threads per model call, per worker")] = 1,
    max_rows: Annotated[int, typer.Option("--max-rows", help="rows per request; more answer 413")] = 10_000,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="body size; more answers 413")] = 10.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="seconds per request; slower answer 408")
    ] = 10.0,
    no_log: Annotated[bool, typer.Option("--no-log", help="do not write the prediction log")] = False,
    no_telemetry: Annotated[
        bool, typer.Option("--no-telemetry", help="no stats snapshots or server evidence (heartbeats stay)")
    ] = False,
    fd: Annotated[int | None, typer.Option("--fd", hidden=True, help="serve on this bound socket")] = None,
    loop: Annotated[
        str, typer.Option("--loop", help="event loop: auto (uvloop if installed), asyncio, uvloop")
    ] = "auto",
    snapshot_interval: Annotated[
        float, typer.Option("--snapshot-interval", hidden=True, help="seconds between stats snapshots")
    ] = 10.0,
    flush_interval: Annotated[
        float, typer.Option("--flush-interval", hidden=True, help="seconds between prediction log flushes")
    ] = 1.0,
) -> None:
    """Serve predictions over HTTP: /predict, MLflow's /invocations, the Open Inference Protocol /v2."""
    from taxiway.serve.server import adopt, bind, run
    from taxiway.serve.settings import ServeSettings

    if not 1 <= workers <= MAX_WORKERS:
        raise TaxiwayError(f"--workers {workers} is out of range", hint=f"use 1 to {MAX_WORKERS} processes")
    if not 0 <= port <= 65535:
        raise TaxiwayError(f"--port {port} is not a TCP port", hint="use 0 to 65535 (0 picks a free port)")
    if threads < 1 or max_rows < 1 or max_body_mb <= 0 or timeout <= 0:
        raise TaxiwayError(
            "--threads and --max-rows must be at least 1, --max-body-mb and --timeout above 0",
            hint="e.g. --threads 1 --max-rows 10000 --max-body-mb 10 --timeout 10",
        )
    project = Project.load()
    settings = ServeSettings(
        project=project.root,
        model=model,
        threads=threads,
        max_rows=max_rows,
        max_body_bytes=int(max_body_mb * 2**20),
        timeout_s=timeout,
        log_predictions=not no_log,
        telemetry=not no_telemetry,
        loop=_choice("--loop", loop, ("auto", "asyncio", "uvloop")),
        snapshot_interval_s=snapshot_interval,
        flush_interval_s=flush_interval,
    )
    listener = adopt(fd) if fd is not None else bind(host, port)

    def listening(address: str) -> None:
        typer.echo(f"taxiway serve: listening on {address} ({workers} worker(s)); Ctrl+C stops", err=True)

    run(settings, listener, workers=workers, on_listening=listening)


def _choice(option: str, value: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise TaxiwayError(f"{option} {value!r} is not a choice", hint=f"use one of {', '.join(choices)}")
    return value


@app.command("predict")
def predict(
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="CSV or Parquet file of rows", dir_okay=False)
    ],
    output_file: Annotated[
        Path,
        typer.Option("--output", "-o", help="where to write predictions (.csv or .parquet)", dir_okay=False),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="vN or a run id (default: as `taxiway serve`)")
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="do not write the prediction log")] = False,
    output: Format = FORMAT_OPTION,
) -> None:
    """Predict every row of a file through serving's validation, fallback and logging; exit 1 if any row
    was rejected."""
    from taxiway.serve.batch import predict_file

    project = Project.load()
    try:
        report = predict_file(project, input_file, output_file, model=model, log=not no_log)
    finally:
        project.store.close()
    if output is Format.json:
        emit_json(report.document())
    else:
        stdout().print(report.sentence())
    if report.n_rejected:
        raise typer.Exit(1)
