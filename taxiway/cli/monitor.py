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
