"""How a server process is configured: one frozen record, handed to worker processes as JSON.

With ``--workers N`` uvicorn starts each worker in a fresh interpreter that imports the app factory;
the factory reads this record from ``TAXIWAY_SERVE_SETTINGS`` when it is called (never at import time).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SETTINGS_ENV = "TAXIWAY_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    """Everything a serving process needs to know beyond the project's charter and store.

    Example:
        >>> settings = ServeSettings(project=Path("/p"), model="v2")
        >>> ServeSettings.model_validate_json(settings.model_dump_json()) == settings
        True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Path = Field(description="the project folder (holding taxiway.toml)")
    model: str | None = Field(
        None, description="pin this version (vN or a run id); default: follow the deployment's live version"
    )
    threads: int = Field(1, ge=1, description="native threads (OpenMP/BLAS) per model call")
    max_body_bytes: int = Field(10 * 2**20, ge=1024, description="larger bodies are answered 413")
    max_rows: int = Field(10_000, ge=1, description="requests with more rows are answered 413")
    timeout_s: float = Field(10.0, gt=0, description="requests not answered in time are answered 408")
    max_batch_rows: int = Field(512, ge=1, description="rows per model call after micro-batching")
    log_predictions: bool = Field(True, description="append every answer to the prediction log")
    telemetry: bool = Field(True, description="stats snapshots and server evidence in the store")
    flush_interval_s: float = Field(
        1.0, gt=0, description="prediction log: at most this much is lost on kill -9"
    )
    snapshot_interval_s: float = Field(10.0, gt=0, description="stats snapshots to the store")
    reconcile_interval_s: float = Field(0.5, gt=0, description="how often the deployment state is read")
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto", description="the event loop: uvloop when installed (auto), or the standard library's"
    )
    shadow_queue_rows: int = Field(
        2_000, ge=1, description="shadow copies beyond this many waiting are dropped"
    )

    def to_environment(self) -> dict[str, str]:
        """The environment variable that carries these settings to worker processes."""
        return {SETTINGS_ENV: self.model_dump_json()}

    @classmethod
    def from_environment(cls) -> ServeSettings:
        """The settings ``taxiway serve`` put in the environment for this worker."""
        text = os.environ.get(SETTINGS_ENV)
        if not text:
            raise RuntimeError(f"{SETTINGS_ENV} is not set: start workers with `taxiway serve`")
        return cls.model_validate_json(text)
