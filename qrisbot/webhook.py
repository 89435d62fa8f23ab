"""Pakasir's completion push: a small HTTP/1.1 listener (h11) inside the daemon's nursery.

A notification is only a hint. The sender must know the webhook secret (compared in
constant time); the order it names must exist with the same amount; and only a fresh
status query that says `completed` moves the order, through the same compare-and-set
transition the checker uses. A replay, a forgery, an unknown order or a wrong amount
changes nothing.

The port faces the internet, so nobody may make it hold the daemon's resources: the
secret (the v2 `X-Secret` header, or v1's `?secret=`) is checked as soon as the headers
are in, before any body is read; the headers and the body each have a read deadline; one
request per connection; and at most `max_connections()` connections are open at once
(further ones wait in the kernel's backlog, costing the daemon no descriptor), well below
the process's descriptor limit, so Pakasir, Telegram and the servers are never starved.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import resource
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import h11
import trio

from qrisbot.shop.checkout import Checkout, Hint

log = logging.getLogger("qrisbot.webhook")

ORDER_ID = re.compile(r"VPN[0-9]{1,40}")
MAX_BODY = 16 * 1024
MAX_HEAD = 8 * 1024
HEAD_DEADLINE = 10  # seconds for the request line and headers
BODY_DEADLINE = 10  # seconds for the body, once the headers showed the secret
ANSWER_DEADLINE = 60  # seconds for the whole exchange (a status check at Pakasir included)

# Hint outcome -> HTTP status (Pakasir retries what is not 2xx).
STATUS = {
    Hint.PAID: 200,
    Hint.ALREADY: 200,  # a replay: acknowledged, nothing changes
    Hint.UNKNOWN_ORDER: 404,
    Hint.WRONG_AMOUNT: 409,
    Hint.NOT_COMPLETED: 409,
    Hint.UNAVAILABLE: 503,  # Pakasir's status API did not answer: try again later
}

Answer = tuple[int, str]


def max_connections() -> int:
    """A share of the descriptor limit: the rest stays for the shop's own connections."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 256
    return max(4, min(256, soft // 8))


class Webhook:
    def __init__(self, checkout: Checkout, path: str, secret: str) -> None:
        self.checkout = checkout
        self.path = path
        self._secret = secret.encode()

    def screen(self, request: h11.Request) -> Answer | None:
        """What the request line and headers alone decide (None: read the body)."""
        target = urlsplit(request.target.decode("latin-1"))
        if target.path != self.path:
            return 404, "not found"
        if request.method != b"POST":
            return 405, "use POST"
        headers = {name.lower(): value for name, value in request.headers}
        query = parse_qs(target.query)
        offered = headers.get(b"x-secret") or (query.get("secret") or [""])[0].encode(
            "latin-1", "replace")
        if not hmac.compare_digest(offered, self._secret):
            log.warning("webhook refused: wrong or missing secret")
            return 401, "unauthorized"
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > MAX_BODY:
            return 413, "body too large"
        return None

    async def answer(self, body: bytes) -> Answer:
        fields = _fields(body)
        order_id = fields.get("order_id")
        amount = fields.get("amount")
        if isinstance(amount, str) and amount.isdigit():
            amount = int(amount)
        if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id) or not (
            isinstance(amount, int) and not isinstance(amount, bool)
        ):
            return 400, "order_id and amount are required"
        outcome = await self.checkout.payment_hint(order_id, amount)
        return STATUS[outcome], outcome.value


def _fields(body: bytes) -> dict[str, Any]:
    """The notification's fields, whatever Content-Type it came with (JSON or a form)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except RecursionError:  # thousands of nested brackets: not a notice
        return {}
    except ValueError:
        return dict(parse_qsl(text))
    return value if isinstance(value, dict) else {}


async def run(
    webhook: Webhook, listen: str,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; `started` once the socket is bound."""
    host, _, port = listen.rpartition(":")
    listeners = await trio.open_tcp_listeners(int(port), host=host.strip("[]") or None)
    slots = trio.Semaphore(max_connections())
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept, webhook, listener, slots, nursery)
        log.info("listening for Pakasir webhooks on %s%s (at most %d connections)", listen,
                 webhook.path, slots.value)
        task_status.started()


async def _accept(webhook: Webhook, listener: trio.SocketListener, slots: trio.Semaphore,
                  nursery: trio.Nursery) -> None:
    while True:
        await slots.acquire()
        try:
            stream = await listener.accept()
        except OSError as exc:  # e.g. out of descriptors after all: wait, do not spin
            slots.release()
            log.warning("webhook: accept failed (%s)", exc.strerror)
            await trio.sleep(1)
            continue
        nursery.start_soon(_exchange, webhook, stream, slots)


async def _exchange(webhook: Webhook, stream: trio.SocketStream, slots: trio.Semaphore) -> None:
    """One request, one answer, then the connection is closed."""
    try:
        with trio.move_on_after(ANSWER_DEADLINE):
            connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
            try:
                status, message = await _handle(webhook, connection, stream)
            except h11.RemoteProtocolError:
                status, message = 400, "malformed request"
            if status:
                await _respond(connection, stream, status, message)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        pass
    finally:
        slots.release()
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _handle(webhook: Webhook, connection: h11.Connection, stream: trio.SocketStream
                  ) -> Answer:
    """The answer to send, or (0, "") to close without one (the client went away)."""
    request = None
    with trio.move_on_after(HEAD_DEADLINE):
        request = await _next(connection, stream, h11.Request)
    if not isinstance(request, h11.Request):
        return (408, "request timeout") if request is None else (0, "")
    screened = webhook.screen(request)
    if screened is not None:
        return screened
    body = bytearray()
    with trio.move_on_after(BODY_DEADLINE):
        while True:
            event = await _next(connection, stream, h11.Data, h11.EndOfMessage)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    return 413, "body too large"
            elif isinstance(event, h11.EndOfMessage):
                return await webhook.answer(bytes(body))
            else:
                return 0, ""
    return 408, "request timeout"


async def _next(connection: h11.Connection, stream: trio.SocketStream, *wanted: type) -> Any:
    """The next event of a wanted kind; h11.ConnectionClosed when the client is gone."""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            connection.receive_data(data)
            continue
        if isinstance(event, (*wanted, h11.ConnectionClosed)):
            return event
        if event is h11.PAUSED:
            return h11.ConnectionClosed()


async def _respond(connection: h11.Connection, stream: trio.SocketStream, status: int,
                   message: str) -> None:
    body = json.dumps({"message": message}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body))),
               ("connection", "close")]
    for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=body),
                  h11.EndOfMessage()):
        await stream.send_all(connection.send(event) or b"")
