"""Long polling: fetch updates, have them kept (with the offset), hand each to the shop."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import trio

from qrisbot.telegram.api import BotApi, Conflict, TelegramError, Unauthorized, Unavailable
from qrisbot.telegram.types import Update, parse_update

log = logging.getLogger("qrisbot.telegram")


async def poll(
    api: BotApi,
    handle: Callable[[Update], None],
    *,
    offset: int | None,
    wait: int,
    keep: Callable[[Sequence[tuple[Update, Any]], int], None],
    on_conflict: Callable[[], None] = lambda: None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled. `handle` must not block: it hands the update over (e.g. spawns).

    `keep(batch, offset)` stores each new update (parsed and raw) and the next offset
    before any of them is handed over, so a crash never loses one Telegram has let go of.
    `on_conflict()` is called when another program starts polling with the same token.

    Raises Unauthorized when the token is refused: nothing can work without it.
    """
    task_status.started()
    delay = 1.0
    in_conflict = False
    while True:
        try:
            raw_updates = await api.get_updates(offset, wait)
        except Unauthorized:
            raise
        except Conflict as exc:
            if "webhook" in exc.description:
                log.warning("a webhook is set for this bot; deleting it to use long polling")
                await _delete_webhook(api)
                continue
            log.error(
                "another program is polling with this bot token (%s); only one copy of the "
                "bot may run. Retrying in 30s", exc.description,
            )
            if not in_conflict:
                in_conflict = True
                on_conflict()
            await trio.sleep(30)
            continue
        except (Unavailable, TelegramError) as exc:
            pause = delay * random.uniform(1, 1.5)
            log.warning("getUpdates failed: %s; retrying in %.1fs", exc.description, pause)
            await trio.sleep(pause)
            delay = min(delay * 2, 30.0)
            continue
        delay = 1.0
        in_conflict = False
        batch = []
        for raw in raw_updates:
            update = parse_update(raw)
            if update is None:
                log.warning("ignoring a malformed update")
                continue
            if offset is not None and update.update_id < offset:
                continue
            batch.append((update, raw))
            offset = update.update_id + 1
        if batch and offset is not None:
            keep(batch, offset)
            for update, _ in batch:
                handle(update)


async def _delete_webhook(api: BotApi) -> None:
    try:
        await api.call("deleteWebhook", {"drop_pending_updates": False})
    except TelegramError as exc:
        log.warning("deleteWebhook failed: %s", exc.description)
        await trio.sleep(5)


async def confirm(api: BotApi, offset: int | None) -> None:
    """Tell Telegram what was processed so a restart does not see it again."""
    if offset is None:
        return
    try:
        await api.call("getUpdates", {"offset": offset, "timeout": 0, "limit": 1}, attempts=1)
    except TelegramError as exc:
        log.info("final getUpdates failed: %s", exc.description)
