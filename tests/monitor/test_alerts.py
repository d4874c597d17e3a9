"""Alerts on a real store: pending → firing → resolved, de-duplicated, delivered to a local webhook;
the Prometheus rules file checked by the real promtool."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from taxiway.charter import Charter
from taxiway.monitor.alerts import list_alerts, update_alerts, write_prometheus_rules
from taxiway.monitor.judgement import Judgement
from taxiway.store import Store
from taxiway.store.evidence import Limit

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def charter(**monitoring: Any) -> Charter:
    return Charter.model_validate(
        {"project": {"name": "p"}, "problem": {"target": "y"}, "monitoring": monitoring}
    )


def latency(value: float) -> Judgement:
    return Judgement(
        "monitor.latency", "deployment", "v1", value, Limit(50.0, "<=", key="serving.p99_latency_ms")
    )


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        _Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    _Receiver.bodies.clear()
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_an_alert_is_pending_then_fires_after_the_minimum_duration_then_resolves(
    store: Store, webhook: str
) -> None:
    settings = charter(alert_for_minutes=5, webhook_url=webhook)
    assert update_alerts(store, settings, [latency(90)], now=T0) == []  # pending: no page yet
    assert [a.state for a in list_alerts(store)] == ["pending"]
    update_alerts(store, settings, [latency(95)], now=T0 + dt.timedelta(minutes=2))
    assert len(list_alerts(store)) == 1  # the same breach seen again: one alert, updated
    fired = update_alerts(store, settings, [latency(99)], now=T0 + dt.timedelta(minutes=6))
    assert [(a.state, a.value, a.threshold) for a in fired] == [("firing", 99.0, 50.0)]
    resolved = update_alerts(store, settings, [latency(20)], now=T0 + dt.timedelta(minutes=7))
    assert [a.state for a in resolved] == ["resolved"]
    texts = [body["text"] for body in _Receiver.bodies]
    assert len(texts) == 2 and "[FIRING] monitor.latency" in texts[0] and "[RESOLVED]" in texts[1]
    assert _Receiver.bodies[0]["alerts"][0]["rule"] == "monitor.latency"
    update_alerts(store, settings, [latency(90)], now=T0 + dt.timedelta(minutes=8))
    assert [a.state for a in list_alerts(store)] == ["pending", "resolved"]  # a new breach, a new alert


def test_a_breach_shorter_than_the_minimum_duration_never_fires(store: Store) -> None:
    settings = charter(alert_for_minutes=5)
    update_alerts(store, settings, [latency(90)], now=T0)
    update_alerts(store, settings, [latency(10)], now=T0 + dt.timedelta(minutes=1))
    assert [a.state for a in list_alerts(store)] == ["resolved"]
    assert list_alerts(store)[0].fired_at is None


def test_silenced_rules_raise_nothing(store: Store) -> None:
    update_alerts(store, charter(alert_for_minutes=0, silenced=["monitor.latency"]), [latency(90)], now=T0)
    assert list_alerts(store) == []


def test_an_unreachable_webhook_keeps_the_alert(store: Store) -> None:
    settings = charter(alert_for_minutes=0, webhook_url="http://127.0.0.1:9/nothing-listens")
    assert [a.state for a in update_alerts(store, settings, [latency(90)], now=T0)] == ["firing"]


def test_promtool_accepts_the_rules_file(tmp_path: Path) -> None:
    assert shutil.which("promtool"), "promtool comes with Debian's prometheus package: run make test as root"
    path = tmp_path / "rules.yml"
    write_prometheus_rules(charter(max_error_rate=0.02, silenced=["monitor.cpu"]), str(path))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    text = path.read_text()
    assert "TaxiwayCPU" not in text and "> 0.02" in text
