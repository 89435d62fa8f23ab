"""How the shop's httpx clients are made (one place for timeouts and pool size)."""

from __future__ import annotations

import httpx

from qrisbot.transport import Transport

# Concurrent requests per client (connections kept per origin).
CONNECTIONS = 10


def client(read_timeout: float, transport: httpx.AsyncBaseTransport | None = None
           ) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=10.0),
        transport=transport or Transport(connections=CONNECTIONS),
    )
