"""``taxiway serve`` with uvicorn's worker health-check timeout raised; used by benchmarks/serving.py only
when it is given ``--taxiway-healthcheck-timeout SECONDS``.

Why: with ``--workers N`` uvicorn's supervisor pings each worker and kills (then respawns) one that does not
answer within ``timeout_worker_healthcheck`` seconds: 5 by default, and ``taxiway.serve.run`` does not set
it. A spawned taxiway worker can only answer once it has re-imported the ``taxiway`` script's modules and
unpickled its config, which imports ``taxiway.serve.run`` (skops, scikit-learn, pandas, SQLAlchemy): about
5 s of CPU. On a busy machine the workers are killed and respawned without end. This wrapper changes that
one setting before running taxiway's own CLI; the request path is taxiway's, unchanged.

Usage: ``.venv/bin/python benchmarks/serving_taxiway_serve.py SECONDS [taxiway arguments ...]``
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    timeout = int(sys.argv[1])
    import uvicorn.config

    original = uvicorn.config.Config.__init__

    def patched(self: uvicorn.config.Config, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timeout_worker_healthcheck", timeout)
        original(self, *args, **kwargs)

    uvicorn.config.Config.__init__ = patched  # type: ignore[method-assign]
    from taxiway.cli import main as taxiway

    sys.argv = ["taxiway", *sys.argv[2:]]
    return taxiway()


if __name__ == "__main__":
    sys.exit(main())
