"""The checklist page shows each state with its own mark (warned, stale, accepted apart from proven) and the
chain from record to mark that `taxiway check --explain` prints; served by a real uvicorn."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from pathlib import Path

import httpx

from taxiway.charter import load_charter
from taxiway.checklist.bound import checklist_of
from taxiway.checklist.explain import item_chain
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.ui import create_app
from tests.checklist.world import build_world
from tests.ui.server import serving


def test_the_page_marks_warned_stale_accepted_and_explains_each_item(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(tmp_path / "p", answers={"serving.p99_latency_ms": 50.0})
    world = build_world(root)
    log = world.store.evidence
    try:
        log.record(  # warned, then accepted
            Check.TRAIN_BASELINES,
            subject_kind="run",
            subject_id=world.candidate_run,
            value=0.02,
            limit=Limit(0.0, ">"),
            warn="the gain is not significant",
        )
        log.accept(
            Check.TRAIN_BASELINES,
            subject_kind="run",
            subject_id=world.candidate_run,
            reason="worth it",
            by="Ana",
        )
        log.record(  # warned
            Check.MODEL_REPRODUCED,
            subject_kind="model",
            subject_id="v1",
            value=0.0,
            limit=Limit(0.001, "<="),
            warn="the package versions differ",
        )
        log.record(  # stale: the service stopped reporting an hour ago
            Check.MONITOR_LATENCY,
            subject_kind="deployment",
            subject_id="v1",
            value=30.0,
            limit=Limit(50.0, "<=", key="serving.p99_latency_ms"),
            measured=Measurement(sample_size=900, method="p99 of request latencies"),
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        )
        latency = log.history(Check.MONITOR_LATENCY)[0]
        with serving(create_app(world.project)) as url:
            page = html.unescape(httpx.get(f"{url}/checklist", timeout=30).text)
            record_page = html.unescape(httpx.get(f"{url}/evidence/{latency.id}", timeout=30).text)
        report = checklist_of(world.store, load_charter(root / "taxiway.toml"), root)
    finally:
        world.store.close()
    marked = {
        item_id: (state, mark)
        for state, item_id, mark in re.findall(
            r'<li class="item state-(\w+)" id="item-([\w.]+)">\s*<span class="mark" title="\w+">(.)</span>',
            page,
        )
    }
    assert marked["modelling.baselines"] == ("accepted", "☑")
    assert marked["modelling.reproducible"] == ("warned", "⚠")
    assert marked["deployment.monitor_latency"] == ("stale", "◷")
    assert marked["deployment.ci"] == ("missing", "✗")
    for item_id in ("modelling.baselines", "modelling.reproducible", "deployment.monitor_latency"):
        result = next(r for r in report.items if r.item.id == item_id)
        block = rf'<details class="explain" id="explain-{re.escape(item_id)}">.*?<pre>(.*?)</pre>'
        explained = re.search(block, page, re.DOTALL)
        assert explained is not None and explained.group(1) == "\n".join(item_chain(result))
    assert "accepted by Ana: worth it" in page
    assert "measured: 30, over 900 observations, by p99 of request latencies" in page
    # the record's own page shows the measurement, the limit with its charter key, and its validity
    assert "<dt>sample size</dt><dd>900</dd>" in record_page
    assert "<dt>method</dt><dd>p99 of request latencies</dd>" in record_page
    assert "(charter key <code>serving.p99_latency_ms</code>)" in record_page
    assert "<dt>holds until</dt>" in record_page
