"""Slots: the model versions one server process holds, and which one answers a request.

Blue and green hold the live version and the previous one, still warm: a switch or a rollback only
moves a pointer between two loaded models, so no request waits for a load. A canary slot answers a
weighted share of requests (the same request key always goes the same way); a shadow slot gets a copy
of live traffic off the request path.
"""

from __future__ import annotations

import random
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

from taxiway.serve.batching import MicroBatcher
from taxiway.serve.model import ServedModel
from taxiway.serve.settings import ServeSettings
from taxiway.serve.telemetry import Metrics

SlotName = Literal["blue", "green", "canary", "shadow"]
Role = Literal["live", "canary", "shadow"]
_HASH_SPACE = 2**32


@dataclass(frozen=True)
class Slot:
    """One loaded version and the batcher that feeds it."""

    name: SlotName
    model: ServedModel
    batcher: MicroBatcher

    @property
    def version(self) -> str:
        return self.model.version


def share_of(key: str) -> float:
    """Where a request key falls in [0, 1): the same key always lands in the same place.

    Example:
        >>> share_of("customer-42") == share_of("customer-42"), 0 <= share_of("x") < 1
        (True, True)
    """
    return zlib.crc32(key.encode("utf-8")) / _HASH_SPACE


class Slots:
    """The live slot, its warm standby, and the optional canary and shadow slots of one process.

    Example:
        >>> from types import SimpleNamespace
        >>> live = Slot("blue", SimpleNamespace(version="v1"), None)  # type: ignore[arg-type]
        >>> canary = Slot("canary", SimpleNamespace(version="v2"), None)  # type: ignore[arg-type]
        >>> slots = Slots(live)
        >>> slots.set_canary(canary, 0.25)
        >>> slots.route("k").name == slots.route("k").name, slots.idle_color()
        (True, 'green')
    """

    def __init__(self, live: Slot, *, rng: random.Random | None = None) -> None:
        self.live = live
        self.standby: Slot | None = None
        self.canary: Slot | None = None
        self.canary_weight = 0.0
        self.shadow: Slot | None = None
        self._rng = rng or random.Random()

    def route(self, key: str | None) -> Slot:
        """The slot that answers a request: the canary for its share of keys (or of requests), else live."""
        canary = self.canary
        if canary is None or self.canary_weight <= 0:
            return self.live
        share = share_of(key) if key is not None else self._rng.random()
        return canary if share < self.canary_weight else self.live

    def role_of(self, slot: Slot) -> Role:
        if slot is self.canary:
            return "canary"
        return "shadow" if slot is self.shadow else "live"

    def idle_color(self) -> SlotName:
        """The blue/green slot not answering live traffic: where the next version is loaded."""
        return "green" if self.live.name == "blue" else "blue"

    def switch(self, slot: Slot) -> Slot:
        """Make ``slot`` live; the old live slot stays loaded as the standby. Returns the old live slot."""
        previous = self.live
        self.standby, self.live = previous, slot
        return previous

    def set_canary(self, slot: Slot | None, weight: float) -> None:
        self.canary, self.canary_weight = slot, (weight if slot is not None else 0.0)

    def loaded(self) -> list[Slot]:
        """Every slot holding a model, live first."""
        return [s for s in (self.live, self.standby, self.canary, self.shadow) if s is not None]


def make_slot(
    name: SlotName, model: ServedModel, executor: Executor, settings: ServeSettings, metrics: Metrics
) -> Slot:
    """A slot for ``model`` with its own batcher; the model's load is recorded in the metrics."""
    metrics.model_loaded(model.version, model.load_seconds)
    histogram = metrics.batch_rows

    def on_batch(requests: int, rows: int, seconds: float) -> None:
        histogram.observe(rows)

    batcher = MicroBatcher(model, executor, max_rows=settings.max_batch_rows, on_batch=on_batch)
    return Slot(name, model, batcher)
