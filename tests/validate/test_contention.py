"""Contention normalisation of the latency reading: the arithmetic, and the host's reference kept on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taxiway.validate.contention import (
    MAX_CONTENTION,
    host_key,
    load_host_reference,
    read_latency,
    save_host_reference,
)

# Pure arithmetic and a JSON file: the store backend changes nothing here.
pytestmark = pytest.mark.store_agnostic

ROWS = 100
QUIET_MS = 2.0  # the reference workload on a quiet host
RNG = np.random.default_rng(0)
MODEL_MS = 3.0 + RNG.random(ROWS)  # rows differ in cost: 3-4 ms


def _seconds(ms: np.ndarray) -> list[list[float]]:
    return (ms / 1000).tolist()  # type: ignore[no-any-return]


def test_a_slowdown_shared_by_model_and_reference_is_divided_out() -> None:
    """Rounds where the machine slowed everything by 1.2-1.6x read as the quiet round, raw reads higher."""
    quiet = read_latency(_seconds(np.array([MODEL_MS])), _seconds(np.full((1, ROWS), QUIET_MS)), QUIET_MS)
    slowdown = 1.2 + 0.4 * RNG.random((3, ROWS))
    busy = read_latency(_seconds(MODEL_MS * slowdown), _seconds(QUIET_MS * slowdown), QUIET_MS)
    assert busy.raw_p99_ms > 1.15 * quiet.p99_ms
    assert busy.p99_ms == pytest.approx(quiet.p99_ms, rel=0.06)  # the window's median of nearby slowdowns
    assert busy.contention == pytest.approx(busy.raw_p99_ms / busy.p99_ms)
    assert quiet.contention == 1.0 and quiet.p99_ms == pytest.approx(np.percentile(MODEL_MS, 99))


def test_a_slower_model_still_reads_slower_on_a_busy_machine() -> None:
    """The same contention, a model twice as costly: the reading doubles."""
    slowdown = 1.3 + 0.2 * RNG.random((2, ROWS))
    one = read_latency(_seconds(MODEL_MS * slowdown), _seconds(QUIET_MS * slowdown), QUIET_MS)
    two = read_latency(_seconds(2 * MODEL_MS * slowdown), _seconds(QUIET_MS * slowdown), QUIET_MS)
    assert two.p99_ms == pytest.approx(2 * one.p99_ms, rel=0.01)


def test_the_factor_is_never_below_1_nor_above_the_cap() -> None:
    """A reference faster than the host's kept time does not scale a reading up; one ten times slower
    (or a kept time far too low) divides it by MAX_CONTENTION at most."""
    fast = read_latency(_seconds(np.array([MODEL_MS])), _seconds(np.full((1, ROWS), 1.0)), QUIET_MS)
    assert fast.contention == 1.0 and fast.host_reference_ms == 1.0  # a lower median becomes the host's
    slow = read_latency(_seconds(np.array([MODEL_MS])), _seconds(np.full((1, ROWS), 20.0)), QUIET_MS)
    assert slow.contention == pytest.approx(MAX_CONTENTION)
    assert slow.p99_ms == pytest.approx(slow.raw_p99_ms / MAX_CONTENTION)


def test_one_disturbed_reference_does_not_move_its_prediction() -> None:
    """A single reference timing 5x slow (a page fault in it, not in the model) leaves the reading alone:
    each prediction is divided by the median of the references around it."""
    references = np.full((1, ROWS), QUIET_MS)
    slowest = int(np.argmax(MODEL_MS))
    references[0, slowest] = 5 * QUIET_MS
    found = read_latency(_seconds(np.array([MODEL_MS])), _seconds(references), QUIET_MS)
    assert found.p99_ms == pytest.approx(np.percentile(MODEL_MS, 99)) and found.contention == 1.0


def test_the_host_reference_file_keeps_the_lowest_per_host(tmp_path: Path) -> None:
    kept = tmp_path / ".taxiway" / "latency_reference.json"
    assert load_host_reference(kept) is None
    save_host_reference(kept, 2.4)
    save_host_reference(kept, 2.6)  # higher: not kept
    assert load_host_reference(kept) == 2.4
    save_host_reference(kept, 2.1)
    document = json.loads(kept.read_text(encoding="utf-8"))
    assert document == {"hosts": {host_key(): {"reference_ms": 2.1}}}
    document["hosts"]["another host"] = {"reference_ms": 0.5}  # a second machine sharing the project folder
    kept.write_text(json.dumps(document), encoding="utf-8")
    assert load_host_reference(kept) == 2.1


@pytest.mark.parametrize("text", ["not json", "[]", '{"hosts": {"x": 1}}', '{"hosts": []}'])
def test_an_unreadable_host_reference_counts_as_none_and_is_written_afresh(tmp_path: Path, text: str) -> None:
    kept = tmp_path / "latency_reference.json"
    kept.write_text(text, encoding="utf-8")
    assert load_host_reference(kept) is None
    save_host_reference(kept, 2.2)
    assert load_host_reference(kept) == 2.2
