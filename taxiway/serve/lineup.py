"""Which loaded model answers a request: the live blue/green slot, the warm standby, shadow and canary.

A :class:`Lineup` is immutable. The reconciler builds a new one off the request path and swaps it in with
one assignment, so a request sees either the old lineup or the new one, whole: a switch loses no request,
and every answer names the version that gave it.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from taxiway.serve.served_model import ServedModel

Slot = Literal["blue", "green"]
Role = Literal["live", "canary", "shadow"]
_BUCKETS = 10_000

__all__ = ["Lineup", "Role", "Route", "Slot", "other_slot"]


def other_slot(slot: Slot) -> Slot:
    """The idle slot of a blue/green pair.

    Example:
        >>> other_slot("blue")
        'green'
    """
    return "green" if slot == "blue" else "blue"


@dataclass(frozen=True)
class Route:
    """The model a request goes to and under which name it answers."""

    model: ServedModel
    role: Role
    slot: str  # blue | green for live, "canary" for the canary


@dataclass(frozen=True)
class Lineup:
    """What this process serves at one generation of the desired deployment.

    Example:
        >>> Lineup().route(None) is None
        True
    """

    generation: int = 0
    live: ServedModel | None = None
    live_slot: Slot = "blue"
    standby: ServedModel | None = None  # the other slot: the previous live, kept warm for a rollback
    shadow: ServedModel | None = None
    canary: ServedModel | None = None
    canary_weight: float = 0.0

    def route(self, key: str | None) -> Route | None:
        """The live model, or the canary for its share of requests (sticky when a key is given).

        None when nothing is deployed.
        """
        if self.live is None:
            return None
        if self.canary is not None and _in_canary(key, self.canary_weight):
            return Route(self.canary, "canary", "canary")
        return Route(self.live, "live", self.live_slot)

    def loaded(self) -> dict[int, ServedModel]:
        """Every loaded version, by number: the reconciler reuses them instead of loading again."""
        models = (self.live, self.standby, self.shadow, self.canary)
        return {model.version: model for model in models if model is not None}

    def slots(self) -> dict[str, Any]:
        """What each slot holds, as a replica reports it."""
        shown: dict[str, Any] = {}
        if self.live is not None:
            shown[self.live_slot] = {"version": self.live.name, "role": "live"}
        if self.standby is not None:
            shown[other_slot(self.live_slot)] = {"version": self.standby.name, "role": "standby"}
        if self.shadow is not None:
            shown["shadow"] = {"version": self.shadow.name, "role": "shadow"}
        if self.canary is not None:
            shown["canary"] = {"version": self.canary.name, "role": "canary", "weight": self.canary_weight}
        return shown


def _in_canary(key: str | None, weight: float) -> bool:
    """Whether a request goes to the canary: by a stable hash of its key, else at random."""
    if key is None:
        return random.random() < weight  # a traffic share, not a secret
    return zlib.crc32(key.encode()) % _BUCKETS < weight * _BUCKETS
