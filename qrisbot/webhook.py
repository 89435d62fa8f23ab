"""Pakasir's completion push: an ASGI app served by hypercorn inside the daemon's nursery.

A notification is only a hint. The sender must know the webhook secret (compared in
constant time); the order it names must exist with the same amount; and only a fresh
status query that says `completed` moves the order, through the same compare-and-set
transition the checker uses. A replay, a forgery, an unknown order or a wrong amount
changes nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from qrisbot.shop.checkout import Checkout, Hint

log = logging.getLogger("qrisbot.webhook")

ORDER_ID = re.compile(r"VPN[0-9]{1,40}")
MAX_BODY = 16 * 1024

# Hint outcome -> HTTP status (Pakasir retries what is not 2xx).
STATUS = {
    Hint.PAID: 200,
    Hint.ALREADY: 200,  # a replay: acknowledged, nothing changes
    Hint.UNKNOWN_ORDER: 404,
    Hint.WRONG_AMOUNT: 409,
    Hint.NOT_COMPLETED: 409,
    Hint.UNAVAILABLE: 503,  # Pakasir's status API did not answer: try again later
}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Webhook:
    def __init__(self, checkout: Checkout, path: str, secret: str) -> None:
        self.checkout = checkout
        self.path = path
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, message = await self._answer(scope, receive)
        body = json.dumps({"message": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, str]:
        if scope.get("path") != self.path:
            return 404, "not found"
        if scope.get("method") != "POST":
            return 405, "use POST"
        body = await _read_body(receive)
        if body is None:
            return 413, "body too large"
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = headers.get("x-secret") or (query.get("secret") or [""])[0].encode()
        if not hmac.compare_digest(offered, self._secret):
            log.warning("webhook refused: wrong or missing secret")
            return 401, "unauthorized"
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
    except ValueError:
        return dict(parse_qsl(text))
    return value if isinstance(value, dict) else {}


async def _read_body(receive: Receive) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body"):
            return bytes(body)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def run(
    webhook: Webhook, listen: str,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; `started` once the socket is bound."""
    config = HypercornConfig()
    config.bind = [listen]
    config.accesslog = None
    config.errorlog = logging.getLogger("qrisbot.webhook.server")
    config.include_server_header = False

    async def serving(task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(webhook, config, mode="asgi", task_status=task_status)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serving)
        log.info("listening for Pakasir webhooks on %s%s", ", ".join(bound), webhook.path)
        task_status.started()
