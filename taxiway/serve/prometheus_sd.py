"""Prometheus file-based service discovery: each `taxiway serve` replica writes its own target file.

``taxiway serve --prometheus-targets DIR`` writes ``DIR/taxiway-<host>-<port>.json`` when the replica starts
listening and removes it when it stops cleanly. Prometheus reads every file matching a glob::

    scrape_configs:
      - job_name: taxiway
        file_sd_configs:
          - files: ["/var/lib/taxiway/targets/*.json"]

One file per replica, not one list that every replica rewrites: replicas never race on a file, and a
restarted replica (same host and port) rewrites its own. A replica killed with ``kill -9`` leaves its file:
Prometheus shows the target down (``up == 0``), which is what an alert should see. Each file is written to a
temporary name and renamed, so Prometheus never reads half a file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from pathlib import Path

from taxiway.errors import TaxiwayError

__all__ = ["advertised_host", "remove_target", "target_file", "write_target"]

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def advertised_host(bound_host: str) -> str:
    """The address others reach a replica at: the one it listens on, or this machine's name for 0.0.0.0.

    Example:
        >>> advertised_host("127.0.0.1")
        '127.0.0.1'
        >>> advertised_host("0.0.0.0") == socket.getfqdn()
        True
    """
    return socket.getfqdn() if bound_host in ("0.0.0.0", "::", "") else bound_host


def target_file(folder: Path, host: str, port: int) -> Path:
    """The target file of the replica at ``host:port`` in ``folder``.

    Example:
        >>> target_file(Path("/t"), "10.0.0.5", 8001).name
        'taxiway-10.0.0.5-8001.json'
    """
    return folder / f"taxiway-{_UNSAFE.sub('_', host)}-{port}.json"


def write_target(folder: Path, host: str, port: int, *, labels: dict[str, str]) -> Path:
    """Write the replica's target file (atomically) and return its path.

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> path = write_target(folder, "127.0.0.1", 8001, labels={"project": "weather"})
        >>> json.loads(path.read_text())
        [{'targets': ['127.0.0.1:8001'], 'labels': {'project': 'weather'}}]

    Raises:
        TaxiwayError: the folder cannot be made or written.
    """
    path = target_file(folder, host, port)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    document = [{"targets": [address], "labels": dict(labels)}]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".taxiway-", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; Prometheus runs as its own user
        os.replace(temporary, path)
    except OSError as error:
        raise TaxiwayError(
            f"cannot write the Prometheus target file in {folder}: {error.strerror or error}",
            hint="give --prometheus-targets a folder this user can write (Prometheus reads it)",
        ) from None
    return path


def remove_target(path: Path) -> None:
    """Remove a replica's target file (a clean stop); nothing happens when it is already gone."""
    path.unlink(missing_ok=True)
