"""One line per event on stderr, each order's lines carrying its id, never a secret."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

# Libraries that would log request URLs (with the bot token) or key exchanges below WARNING.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "paramiko")

order_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("order_id", default=None)


class _Formatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        current = order_id.get()
        if current and not getattr(record, "_qrisbot_tagged", False):
            record.msg = f"[{current}] {record.msg}"
            record._qrisbot_tagged = True
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text.replace("\n", "\n    ")


def setup(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Log to stderr; redact `secrets` from every line, tracebacks included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the bot token is part of that URL.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)



class order_context:
    """`with order_context(id):` tags this task's log lines with the order id."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id

    def __enter__(self) -> None:
        self._token = order_id.set(self.order_id)

    def __exit__(self, *exc: object) -> None:
        order_id.reset(self._token)


async def guarded(order: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run an order's task; a bug in it is logged, never allowed to stop the shop."""
    with order_context(order):
        try:
            await fn(*args)
        except Exception:
            logging.getLogger("qrisbot").exception(
                "unexpected error; the order stays as the ledger has it")
