"""nginx in front of several `taxiway serve` replicas: the site configuration `taxiway serve --print-nginx`
prints.

Why each directive is there (a blue/green switch and a replica's restart must lose no request):

- ``proxy_next_upstream error timeout http_502 http_503 non_idempotent``: a replica that is gone (refused
  connection, reset, 502/503 while it stops) hands the request to the next replica. ``non_idempotent``
  because ``POST /predict`` is safe to repeat (the same row gets the same answer); nginx would otherwise
  send a 502 to the client for a POST already written to a replica that then died.
- ``max_fails=1 fail_timeout=2s``: a dead replica is skipped for two seconds, then tried again, so a
  restarted one gets traffic back without a reload.
- ``keepalive`` with HTTP/1.1 and an empty ``Connection`` header: connections to the replicas are reused
  (a new TCP connection per request costs more than a one-row prediction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from taxiway.errors import TaxiwayError

UPSTREAM = "taxiway_replicas"
_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")

__all__ = ["nginx_site", "parse_address"]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as a pair, or a clear error.

    Example:
        >>> parse_address("127.0.0.1:8001")
        ('127.0.0.1', 8001)

    Raises:
        TaxiwayError: not HOST:PORT, or a port outside 1–65535.
    """
    match = _ADDRESS.match(text.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise TaxiwayError(
            f"'{text}' is not a replica address",
            hint="give HOST:PORT, e.g. --upstream 127.0.0.1:8001 (once per replica)",
        )
    return match["host"], int(match["port"])


def nginx_site(
    upstreams: Sequence[tuple[str, int]],
    *,
    listen: str = "80",
    server_name: str = "_",
    max_body_mb: float = 16.0,
    timeout_s: float = 10.0,
) -> str:
    """An nginx site (an ``upstream`` and a ``server`` block, for ``http { include … }``) that balances over
    ``upstreams``.

    Example:
        >>> site = nginx_site([("127.0.0.1", 8001), ("127.0.0.1", 8002)], listen="127.0.0.1:8080")
        >>> "server 127.0.0.1:8002 max_fails=1 fail_timeout=2s;" in site, "listen 127.0.0.1:8080;" in site
        (True, True)

    Raises:
        TaxiwayError: no upstream given.
    """
    if not upstreams:
        raise TaxiwayError(
            "nginx needs at least one replica to send requests to",
            hint="give --upstream HOST:PORT once per `taxiway serve` replica",
        )
    servers = "\n".join(f"    server {host}:{port} max_fails=1 fail_timeout=2s;" for host, port in upstreams)
    # The proxy's read timeout is above the replicas' own request timeout, so a slow request ends with the
    # replica's 408 (and its message), not nginx's 504.
    read_timeout = max(int(timeout_s) + 5, 10)
    return f"""# `taxiway serve --print-nginx`: {len(upstreams)} replica(s) behind nginx
upstream {UPSTREAM} {{
{servers}
    keepalive 32;
}}

server {{
    listen {listen};
    server_name {server_name};
    client_max_body_size {max(1, round(max_body_mb))}m;

    location / {{
        proxy_pass http://{UPSTREAM};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries {len(upstreams) + 1};
        proxy_connect_timeout 2s;
        proxy_read_timeout {read_timeout}s;
    }}
}}
"""
