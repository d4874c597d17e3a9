"""Who may use the serving plane: bearer tokens for predicting and for writing feedback, and request ids
that feedback may name.

Off by default on a loopback address, required when binding elsewhere (as the dashboard does): a service
any host can reach must not take writes to the store (``/feedback``) from anyone, nor answer predictions
to anyone. Tokens are compared in constant time. ``/health``, ``/metrics`` and the docs stay open: they
show no data and load balancers need them.

Feedback may only name requests this service answered: the ids it makes are signed with a key kept in the
project (``.taxiway/serve.key``), so any worker, and any later server of the project, knows them without a
lookup; ids a client chose (``x-request-id``) are remembered by the worker that answered them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from taxiway.serve.refusals import RequestRefused

KEY_FILE = Path(".taxiway") / "serve.key"
REMEMBERED_IDS = 100_000  # client-chosen request ids a worker remembers for feedback
_SIGNATURE_CHARS = 16

__all__ = ["Access", "NotAllowed", "RateLimiter", "RequestIds", "project_key"]


class NotAllowed(RequestRefused):
    """A request without the token its route needs: 401."""

    http_status = 401


class TooManyRequests(RequestRefused):
    http_status = 429


@dataclass(frozen=True)
class Access:
    """The tokens the routes need (None: open).

    Example:
        >>> access = Access(predict_token="p", feedback_token="f")
        >>> access.allows("predict", "Bearer p"), access.allows("feedback", "Bearer p")
        (True, False)
        >>> Access().allows("feedback", None)
        True
    """

    predict_token: str | None = None
    feedback_token: str | None = None

    def allows(self, kind: str, authorization: str | None) -> bool:
        token = self.predict_token if kind == "predict" else self.feedback_token
        if not token:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    def check(self, kind: str, authorization: str | None) -> None:
        """Raise 401 unless ``authorization`` carries the token ``kind`` (predict or feedback) needs."""
        if not self.allows(kind, authorization):
            raise NotAllowed(
                f"this server needs a bearer token to {'predict' if kind == 'predict' else 'send feedback'}",
                hint=f"send the header Authorization: Bearer <token> (the server's "
                f"TAXIWAY_{kind.upper()}_TOKEN)",
            )


def project_key(root: Path | None) -> bytes:
    """The project's key for signing request ids, made on first use (a random key when there is no root)."""
    if root is None:
        return secrets.token_bytes(32)
    path = root / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        if not path.exists():  # two workers at once: the first one's key stays
            os.replace(temporary, path)
        else:
            temporary.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


class RequestIds:
    """Makes signed request ids and tells whether feedback may name one.

    Example:
        >>> ids = RequestIds(b"k" * 32)
        >>> made = ids.new()
        >>> forged = made[:-1] + ("1" if made.endswith("0") else "0")  # the signature's last digit changed
        >>> ids.known(made), ids.known(forged), ids.known("mine-1")
        (True, False, False)
        >>> ids.remember("mine-1"); ids.known("mine-1")
        True
    """

    def __init__(self, key: bytes, *, capacity: int = REMEMBERED_IDS) -> None:
        self._key = key
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def new(self) -> str:
        base = uuid.uuid4().hex
        return f"{base}-{self._sign(base)}"

    def remember(self, request_id: str) -> None:
        with self._lock:
            self._seen[request_id] = None
            self._seen.move_to_end(request_id)
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)

    def known(self, request_id: str) -> bool:
        base, _, signature = request_id.rpartition("-")
        if base and len(signature) == _SIGNATURE_CHARS and hmac.compare_digest(signature, self._sign(base)):
            return True
        with self._lock:
            return request_id in self._seen

    def _sign(self, base: str) -> str:
        return hmac.new(self._key, base.encode(), hashlib.sha256).hexdigest()[:_SIGNATURE_CHARS]


class RateLimiter:
    """A token bucket per client address: ``rate`` requests a second on average, ``burst`` at once.

    Example:
        >>> limiter = RateLimiter(rate=1.0, burst=2)
        >>> [limiter.allow("1.2.3.4", now=0.0) for _ in range(3)], limiter.allow("1.2.3.4", now=1.5)
        ([True, True, False], True)
    """

    def __init__(self, *, rate: float, burst: int, clients: int = 10_000) -> None:
        self.rate, self.burst, self._clients = rate, burst, clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str, *, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._clients:
            self._buckets.popitem(last=False)
        return allowed

    def check(self, client: str) -> None:
        if not self.allow(client):
            raise TooManyRequests(
                f"more than {self.rate:g} feedback requests a second from {client}",
                hint='send labels in batches ({"labels": [...]}, up to 1,000 a request) and slow down',
            )
