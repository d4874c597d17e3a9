"""`taxiway monitor`: logged traffic judged against the reference profile and the charter's limits."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer
from rich.text import Text

from taxiway.cli.output import TableFormat, TableFormatOption, emit_json, new_table, stderr, stdout
from taxiway.cli.runs import parse_since
from taxiway.project import Project

app = typer.Typer()  # this module's commands; taxiway.cli.app lists them in `taxiway --help`

EXIT_FAILED = 1  # a judged limit failed
EXIT_TOO_FEW = 3  # the window held too few rows to judge drift and quality (not a pass, not a fail)
_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


@app.command("monitor")
def monitor(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="judge traffic since a UTC time (2026-11-01T08:00Z) or an age (30m, 2h, 7d); "
            "default: the charter's monitoring.window_minutes",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="the model version to judge (default: the live one)", show_default=False
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="repeat every --every seconds until Ctrl+C, recording as the monitor"),
    ] = False,
    every: Annotated[
        float, typer.Option("--every", min=1.0, help="seconds between passes with --watch")
    ] = 60.0,
    rules: Annotated[
        str | None,
        typer.Option(
            "--prometheus-rules",
            help="also write the charter's live limits as a Prometheus alerting-rules file here",
            show_default=False,
        ),
    ] = None,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Judge served traffic: drift, confidence, estimated and realised quality, live limits, alerts."""
    from taxiway.monitor.alerts import write_prometheus_rules
    from taxiway.monitor.report import monitor_pass
    from taxiway.store.evidence import started_by

    project = Project.load()
    if rules:
        write_prometheus_rules(project.charter, rules)
        stderr().print(f"Prometheus alerting rules written to {rules}")
    while True:
        started = time.monotonic()
        until = dt.datetime.now(dt.UTC)
        window_start = parse_since(since, until) if since else None
        if watch:
            with started_by("monitor"):
                report = monitor_pass(
                    project,
                    since=window_start,
                    until=until,
                    version=version,
                    expires_after=dt.timedelta(seconds=3 * every),
                )
        else:
            report = monitor_pass(project, since=window_start, until=until, version=version)
        if output == TableFormat.json:
            emit_json(report.to_dict())
        else:
            _show(report)
        if not watch:
            if report.failed:
                raise typer.Exit(EXIT_FAILED)
            if not report.enough_rows:
                raise typer.Exit(EXIT_TOO_FEW)
            return
        time.sleep(max(every - (time.monotonic() - started), 0.0))


def _show(report: object) -> None:
    from taxiway.monitor.report import MonitorReport

    assert isinstance(report, MonitorReport)
    console = stdout()
    reference = report.reference
    console.print(
        f"[bold]{report.version}[/bold]: {report.rows} rows from {report.since:%Y-%m-%d %H:%M} to "
        f"{report.until:%Y-%m-%d %H:%M} UTC; reference {reference['source']} ({reference['rows']} rows)"
    )
    rate = reference.get("false_alarm_rate")
    if rate is not None:
        console.print(
            f"drift thresholds: measured false-alarm rate {rate:.2%} on {reference['false_alarm_chunks']} "
            f"reference chunks of {reference['chunk_rows']} rows"
        )
    if report.drift:
        table = new_table(
            [("feature", "left"), ("kind", "left"), ("effect (PSI)", "right"), ("threshold", "right"),
             ("", "left"), ("largest change", "left")],
            title="Drift",
        )  # fmt: skip
        extra = [d for d in (report.prediction_drift, report.confidence_drift) if d is not None]
        for drift in [*report.drift, *extra, *[s for s in report.segments if s.drifted]]:
            name = f"{drift.column} [{drift.segment}]" if drift.segment else drift.column
            table.add_row(
                name,
                drift.kind,
                f"{drift.effect:.4f}",
                f"{drift.threshold:.4f}",
                Text("drifted", style="red") if drift.drifted else Text("ok", style="green"),
                drift.top_change,
            )
        console.print(table)
    if report.estimated.get("metric"):
        e = report.estimated
        metric = e["metric"]
        trusted = "trusted" if e["trusted"] else "NOT trusted: " + "; ".join(e["untrusted_because"])
        value = e.get(metric)
        shown = f"{value:.4f}" if value is not None else "n/a"
        offline = e.get("offline")
        console.print(
            f"estimated {metric}: {shown} (validation: {offline:.4f}) — {trusted}"
            if offline is not None
            else f"estimated {metric}: {shown} — {trusted}"
        )
    if report.realised.get("labelled_rows"):
        figures = ", ".join(
            f"{k} {v:.4f}" for k, v in report.realised.items() if k != "labelled_rows" and v is not None
        )
        console.print(f"realised on {report.realised['labelled_rows']} labelled rows: {figures}")
    table = new_table(
        [("check", "left"), ("status", "left"), ("value", "right"), ("limit", "left"), ("rows", "right")],
        title="Judgements",
    )
    for judgement in report.judgements:
        if judgement.details.get("alert_key"):
            continue  # the per-feature drift rows are in the drift table
        limit = judgement.limit
        key = f" ({limit.key})" if limit.key else ""
        table.add_row(
            judgement.check,
            Text(judgement.status, style=_STYLE.get(judgement.status, "")),
            f"{judgement.value:.4g}",
            f"{limit.comparison} {limit.threshold:.4g}{key}",
            str(judgement.measured.sample_size or ""),
        )
    console.print(table)
    open_alerts = [a for a in report.alerts if a.state in ("pending", "firing")]
    for alert in open_alerts:
        console.print(
            Text(f"[{alert.state}] {alert.message}", style="red" if alert.state == "firing" else "yellow")
        )
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"))


@app.command("loadtest")
def loadtest(
    url: Annotated[
        str, typer.Option("--url", help="the running server's /predict, e.g. http://127.0.0.1:8000/predict")
    ],
    row: Annotated[
        str | None,
        typer.Option("--row", help="one request row as JSON (default: the first row of the training data)"),
    ] = None,
    duration: Annotated[float, typer.Option("--duration", min=1.0, help="seconds per load step")] = 5.0,
    max_connections: Annotated[int, typer.Option("--max-connections", min=1, help="highest load step")] = 16,
    output: TableFormatOption = TableFormat.text,
) -> None:
    """Measure the capacity of the running server with wrk, within the charter's p99 latency; record it."""
    import json

    from taxiway.charter.questions import question
    from taxiway.monitor.capacity import measure_capacity
    from taxiway.monitor.live_limits import live_subject
    from taxiway.store.checks import Check
    from taxiway.store.evidence import Limit, Measurement

    project = Project.load()
    charter, store = project.charter, project.store

    def setting(key: str) -> float:
        section, name = key.split(".")
        value = getattr(getattr(charter, section), name)
        return float(value if value is not None else question(key).default_value(charter.problem.task))

    body = {"rows": [json.loads(row) if row else _first_row(project)]}
    p99, target = setting("serving.p99_latency_ms"), setting("serving.min_throughput_rps")
    started = dt.datetime.now(dt.UTC)
    capacity, steps = measure_capacity(
        url, body, p99_limit_ms=p99, target_rps=target, duration_s=duration, max_connections=max_connections
    )
    subject = live_subject(store)
    evidence = store.evidence.record(
        Check.MONITOR_CAPACITY,
        subject_kind="deployment",
        subject_id=subject,
        value=capacity,
        limit=Limit(target, ">=", key="serving.min_throughput_rps"),
        measured=Measurement(
            sum(1 for _ in steps),
            started,
            dt.datetime.now(dt.UTC),
            f"wrk, best throughput with p99 <= {p99:g} ms",
        ),
        details={"url": url, "p99_limit_ms": p99, "steps": [s.__dict__ for s in steps]},
    )
    if output == TableFormat.json:
        emit_json({"capacity_rps": capacity, "status": evidence.status, "steps": [s.__dict__ for s in steps]})
    else:
        for s in steps:
            stdout().print(
                f"{s.connections:>3} connections: {s.requests_per_second:8.1f} requests/s, "
                f"p99 {s.p99_ms:.1f} ms, {s.errors} errors"
            )
        stdout().print(
            f"capacity of {subject}: {capacity:.1f} requests/s within p99 {p99:g} ms "
            f"(serving.min_throughput_rps = {target:g}): {evidence.status}"
        )
    if evidence.status == "fail":
        raise typer.Exit(EXIT_FAILED)


def _first_row(project: Project) -> dict[str, object]:
    """A valid request row: the first training row's features, as the server's contract reads them."""
    import json

    from taxiway.data.versions import latest_dataset, load_dataset
    from taxiway.errors import TaxiwayError
    from taxiway.train.features import feature_columns

    version = latest_dataset(project.store)
    if version is None:
        raise TaxiwayError("no dataset to take a request row from", hint="give one with --row '{...}'")
    frame = load_dataset(project.store, version)
    features = feature_columns(frame.columns, project.charter)
    first: dict[str, object] = json.loads(frame[features].head(1).to_json(orient="records"))[0]
    return first
