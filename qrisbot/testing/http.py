"""A small HTTP/1.1 server on trio (h11) for the loopback fakes.

Real sockets, real HTTP: the clients under test use their ordinary transports. Runs in
the caller's trio loop, so fakes share trio's clock with the code under test.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

log = logging.getLogger("qrisbot.testing")


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> tuple[dict[str, str], dict[str, bytes]]:
        """Fields and files of a multipart/form-data or urlencoded body."""
        kind = self.headers.get("content-type", "")
        if kind.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(self.body.decode())), {}
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for name, file_name, payload in self._parts():
            if file_name:
                files[name] = payload
            else:
                fields[name] = payload.decode()
        return fields, files

    def file_names(self) -> dict[str, str]:
        """The file name each uploaded part of a multipart/form-data body carries."""
        return {name: file_name for name, file_name, _ in self._parts() if file_name}

    def _parts(self) -> list[tuple[str, str | None, bytes]]:
        kind = self.headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            return []
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + self.body
        )
        parts = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                parts.append((name, part.get_filename() or None, payload))
        return parts


@attrs.frozen
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"  # "" sends none (Go's bare AbortWithStatus)
    headers: tuple[tuple[str, str], ...] = ()  # extra ones, e.g. ("set-cookie", ...)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode())


class Drop(Exception):
    """Raised by a handler to close the connection without answering."""


class Cut(Exception):
    """Raised by a handler to send `response` with its whole Content-Length but only the
    first `keep` bytes of its body, then close: a truncated answer."""

    def __init__(self, response: Response, keep: int) -> None:
        super().__init__(response.status)
        self.response = response
        self.keep = keep


Handler = Callable[[Request], Awaitable[Response]]


class Fake:
    """Base of the loopback fakes: `await nursery.start(fake.serve)` binds a free port."""

    port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(serve, self.handle)
            task_status.started(self.port)

    async def handle(self, request: Request) -> Response:
        raise NotImplementedError


async def serve(
    handler: Handler, *, port: int = 0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve on 127.0.0.1; reports the bound port through `nursery.start`."""
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(partial(_connection, handler), listeners)


async def _connection(handler: Handler, stream: trio.SocketStream) -> None:
    connection = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await _read_request(connection, stream)
            if request is None:
                return
            try:
                response = await handler(request)
            except Drop:
                return
            except Cut as cut:
                await _send_cut(connection, stream, cut)
                return
            headers = [("content-type", response.content_type),
                       ("content-length", str(len(response.body)))]
            if not response.content_type:
                headers = headers[1:]
            headers += response.headers
            await stream.send_all(connection.send(h11.Response(
                status_code=response.status, headers=headers)) or b"")
            await stream.send_all(connection.send(h11.Data(data=response.body)) or b"")
            await stream.send_all(connection.send(h11.EndOfMessage()) or b"")
            if connection.our_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
        return
    finally:
        await stream.aclose()


async def _send_cut(connection: h11.Connection, stream: trio.SocketStream, cut: Cut) -> None:
    response = cut.response
    headers = [("content-type", response.content_type),
               ("content-length", str(len(response.body)))]
    await stream.send_all(connection.send(h11.Response(
        status_code=response.status, headers=headers)) or b"")
    await stream.send_all(connection.send(h11.Data(data=response.body[:cut.keep])) or b"")


async def _read_request(connection: h11.Connection, stream: trio.SocketStream) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            connection.receive_data(data)
            if not data and head is None:
                return None
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            target = urlsplit(head.target.decode())
            return Request(
                method=head.method.decode(),
                path=target.path,
                query=dict(parse_qsl(target.query)),
                headers={k.decode().lower(): v.decode() for k, v in head.headers},
                body=bytes(body),
            )
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
