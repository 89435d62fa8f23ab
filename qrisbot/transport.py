"""A lean HTTP/1.1 transport for httpx on trio: h11 over a small keep-alive pool.

The shop talks to two JSON APIs with small bodies. httpcore's general pool costs several
times the work of the request itself (it rescans every connection for every queued
request), which decides how many updates and payment checks a small machine can handle.
This transport keeps up to `connections` persistent connections per origin, reads each
response whole, and maps every failure to httpx's own exceptions, so client modules see
the usual httpx behaviour.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import h11
import httpx
import trio

MAX_BODY = 16 * 1024 * 1024


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def close(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.aclose()


class Transport(httpx.AsyncBaseTransport):
    def __init__(self, *, connections: int = 10, ssl_context: ssl.SSLContext | None = None
                 ) -> None:
        self._connections = connections
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._slots: dict[tuple[str, str, int], trio.Semaphore] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.scheme, request.url.host, request.url.port or (
            443 if request.url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout", {})
        slots = self._slots.setdefault(origin, trio.Semaphore(self._connections))
        with _deadline(timeouts.get("pool"), httpx.PoolTimeout, request):
            await slots.acquire()
        try:
            body = await request.aread()
            for attempt in (1, 2):
                connection, reused = await self._connection(origin, request, timeouts)
                try:
                    response = await self._exchange(connection, request, body, timeouts)
                except _Stale:
                    await connection.close()
                    if reused and attempt == 1 and _may_resend(request):
                        continue  # the server had closed the idle connection: once more
                    raise httpx.RemoteProtocolError("server closed the connection",
                                                    request=request) from None
                except BaseException:
                    await connection.close()
                    raise
                if connection.h11.our_state is h11.DONE and (
                    connection.h11.their_state is h11.DONE
                ):
                    connection.h11.start_next_cycle()
                    self._idle.setdefault(origin, []).append(connection)
                else:
                    await connection.close()
                return response
            raise AssertionError("unreachable")
        finally:
            slots.release()

    async def _connection(
        self, origin: tuple[str, str, int], request: httpx.Request, timeouts: dict[str, float]
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin)
        if idle:
            return idle.pop(), True
        scheme, host, port = origin
        with _deadline(timeouts.get("connect"), httpx.ConnectTimeout, request):
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
                if scheme == "https":
                    context = self._ssl or ssl.create_default_context()
                    tls = trio.SSLStream(stream, context, server_hostname=host,
                                         https_compatible=True)
                    await tls.do_handshake()
                    stream = tls
            except (OSError, trio.BrokenResourceError) as exc:
                raise httpx.ConnectError(f"cannot connect ({type(exc).__name__})",
                                         request=request) from None
        return _Connection(stream), False

    async def _exchange(
        self, connection: _Connection, request: httpx.Request, body: bytes,
        timeouts: dict[str, float],
    ) -> httpx.Response:
        conn = connection.h11
        headers = list(_headers(request, body))
        target = request.url.raw_path
        data = conn.send(h11.Request(method=request.method, target=target, headers=headers))
        data = (data or b"") + (conn.send(h11.Data(data=body)) or b"" if body else b"")
        data += conn.send(h11.EndOfMessage()) or b""
        with _deadline(timeouts.get("write"), httpx.WriteTimeout, request):
            try:
                await connection.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                raise _Stale from None
        head: h11.Response | None = None
        content = bytearray()
        with _deadline(timeouts.get("read"), httpx.ReadTimeout, request):
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from None
                if event is h11.NEED_DATA:
                    try:
                        chunk = await connection.stream.receive_some(65536)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        if head is None:
                            raise _Stale from None
                        raise httpx.ReadError("connection lost", request=request) from None
                    if not chunk and head is None and conn.their_state is h11.SEND_RESPONSE:
                        raise _Stale
                    conn.receive_data(bytes(chunk))
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    content += event.data
                    if len(content) > MAX_BODY:
                        raise httpx.ReadError("response too large", request=request)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError("connection closed mid-response",
                                                    request=request)
        assert head is not None
        return httpx.Response(
            status_code=head.status_code,
            headers=[(k, v) for k, v in head.headers if k.lower() != b"transfer-encoding"],
            content=bytes(content),
            request=request,
        )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.close()


def _headers(request: httpx.Request, body: bytes) -> Iterable[tuple[bytes, bytes]]:
    seen_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower in (b"transfer-encoding", b"accept-encoding"):
            continue  # the body is sent whole, with its length; responses come plain
        if lower == b"content-length":
            seen_length = True
        yield name, value
    if not seen_length and (body or request.method in ("POST", "PUT", "PATCH")):
        yield b"content-length", str(len(body)).encode()


class _Stale(Exception):
    """The connection failed before any response arrived."""


class _deadline:
    """A cancel scope that turns its deadline into the given httpx timeout exception."""

    def __init__(self, seconds: float | None, error: type[httpx.TimeoutException],
                 request: httpx.Request) -> None:
        self._scope = trio.move_on_after(seconds if seconds is not None else float("inf"))
        self._error = error
        self._request = request

    def __enter__(self) -> None:
        self._scope.__enter__()

    def __exit__(self, *exc: object) -> bool:
        suppressed = self._scope.__exit__(*exc)  # type: ignore[arg-type]
        if self._scope.cancelled_caught:
            raise self._error("timed out", request=self._request)
        return bool(suppressed)


# Methods that may be sent twice without harm (RFC 9110, 9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def _may_resend(request: httpx.Request) -> bool:
    """A request that got no answer on a reused connection goes out again only when a
    second copy is harmless: the server may have acted on the first before the connection
    died (a panel's POST would make a second client). Callers whose POSTs are safe to
    repeat say so with the `resend_if_stale` extension."""
    return request.method in _IDEMPOTENT or request.extensions.get("resend_if_stale") is True
