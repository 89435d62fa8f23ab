"""How the shop's httpx clients are made (one place for timeouts and pool size)."""

from __future__ import annotations

import httpx
import trio

# Concurrent requests per client. httpcore's pool scans every queued request against every
# connection on each change (quadratic in a flood), so our clients queue requests on a
# limiter of this size and the pool keeps exactly that many connections.
CONNECTIONS = 10


def client(read_timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=10.0),
        limits=httpx.Limits(max_connections=CONNECTIONS,
                            max_keepalive_connections=CONNECTIONS),
    )


def slots() -> trio.CapacityLimiter:
    """The limiter a client module holds its requests in."""
    return trio.CapacityLimiter(CONNECTIONS)
