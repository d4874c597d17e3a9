"""The guided path: the next command from the project's state (`taxiway next`), and `taxiway up`."""

from taxiway.guide.steps import Step, next_step

__all__ = ["Step", "next_step"]
