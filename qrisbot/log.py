"""One line per event on stderr, each order's lines carrying its id, never a secret."""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

# Libraries that would log request URLs (with the bot token) or key exchanges below WARNING.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "paramiko")

# Seconds before a long-running task stopped by a bug starts again; doubled while it
# keeps failing, up to the last.
RESTART_PAUSE, RESTART_PAUSE_MAX = 60.0, 3600.0

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


async def supervised(task: str, report: Callable[[str, BaseException], None],
                     fn: Callable[..., Awaitable[object]], *args: Any) -> None:
    """Run one of the daemon's long-running tasks, as `guarded` runs an order's: a bug in
    it is logged, `report`ed the first time it is seen (once per kind of error and place),
    and the task starts again after a pause, so it goes on at its next round. Never
    allowed to stop the shop; returns when `fn` does."""
    log = logging.getLogger("qrisbot")
    seen: set[tuple[str, str, int]] = set()
    pause = RESTART_PAUSE
    while True:
        began = trio.current_time()
        try:
            await fn(*args)
            return
        except Exception as exc:
            if trio.current_time() - began >= RESTART_PAUSE_MAX:
                pause = RESTART_PAUSE  # it worked for a long while before this
            log.exception("unexpected error in the %s task; it starts again in %d s",
                          task, pause)
            error = _innermost(exc)
            fault = _where(error)
            if fault not in seen:
                seen.add(fault)
                report(task, error)
        await trio.sleep(pause)
        pause = min(pause * 2, RESTART_PAUSE_MAX)


def _innermost(exc: BaseException) -> BaseException:
    """The first error inside nested exception groups (a nursery wraps what it raises)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _where(error: BaseException) -> tuple[str, str, int]:
    """A bug's identity: its kind and the line that raised it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(error).__name__, "", 0
    return type(error).__name__, tb.tb_frame.f_code.co_filename, tb.tb_lineno
