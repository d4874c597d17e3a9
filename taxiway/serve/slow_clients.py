"""Slow clients are cut off: a request must arrive whole (headers and body) within a deadline.

uvicorn times out idle keep-alive connections, but not a connection that sends its headers a byte at a
time, or a body at one byte every two seconds: 1,000 such sockets held a server's connections for as long
as they liked. This protocol arms a timer when a request starts (when the connection opens, for the first
one) and disarms it once the request's last byte is read; when it fires, the client gets 408 and the
connection is closed. The answer to a request that did arrive is not limited here (``--timeout`` is).
"""

from __future__ import annotations

import json
import os
import socket
from asyncio import TimerHandle
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CONFIG_ENV = "TAXIWAY_SERVE_CONFIG"
DEFAULT_SECONDS = 30.0
_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)

__all__ = ["GuardedHttpTools", "client_timeout"]


@cache
def client_timeout() -> float:
    """Seconds a client has to send one whole request (``--client-timeout``; read once per process).

    Example:
        >>> client_timeout() > 0
        True
    """
    settings = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    return float(settings.get("client_timeout_s", DEFAULT_SECONDS))


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on reading each request, and Nagle's algorithm off.

    ``TCP_NODELAY``: with several uvicorn workers the accepted sockets kept Nagle on (uvicorn issue #3149)
    and each small response waited for a delayed ACK (~40 ms).
    """

    _deadline: TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._arm()  # the first request's clock starts with the connection: silence counts too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(client_timeout(), self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.response_started:
            self.transport.close()  # an answer is on its way already: nothing else may be written
            return
        body = json.dumps(
            {
                "error": f"the request did not arrive within {client_timeout():g} s",
                "hint": "send the headers and the body at once; the server closes slow connections",
            }
        ).encode()
        self.transport.write(_ANSWER % (len(body), body))
        self.transport.close()
