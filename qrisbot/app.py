"""Wires the parts into one nursery: resume the ledger, poll Telegram, watch orders."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import trio

from qrisbot import http, instance, systemd, webhook
from qrisbot import log as qlog
from qrisbot.backups import sending as backups
from qrisbot.config import Config
from qrisbot.ledger import Ledger, LedgerError
from qrisbot.pacing import TelegramPacer
from qrisbot.pakasir import Pakasir
from qrisbot.provision import Backends, Registry
from qrisbot.shop import drift, winback
from qrisbot.shop.calendar import Calendar
from qrisbot.shop.checkout import Checkout
from qrisbot.shop.conversation import Conversation
from qrisbot.shop.expiry import Expiry
from qrisbot.shop.notify import Notifier, daily_summaries
from qrisbot.shop.reminders import send_reminders
from qrisbot.shop.texts import text
from qrisbot.shop.traffic import remind_traffic
from qrisbot.telegram import polling
from qrisbot.telegram.api import BotApi, TelegramError, Unauthorized
from qrisbot.telegram.types import Update, parse_update, private_chat

log = logging.getLogger("qrisbot")

GRACE = 30  # seconds running provisioning may take to finish on SIGTERM
EXIT_INTERRUPTED = 130  # a second signal: the shell's convention for "interrupted"
# A revoked or mistyped token does not heal by restarting: the unit's RestartPreventExitStatus=.
EXIT_TOKEN_REFUSED = 3
UNAUTHORIZED = ("Telegram refused the bot token (401): check telegram.token or "
                 "QRISBOT_TELEGRAM_TOKEN")


class Fatal(Exception):
    """The daemon cannot go on until the operator changes something: the message is one
    line naming what to fix (its key or environment variable); `status` the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


async def run(
    config: Config,
    *,
    backends: Backends | None = None,
    pacer: TelegramPacer | None = None,
    stop: trio.Event | None = None,
    calendar: Calendar | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the shop until cancelled, or until `stop` is set: then take no more updates,
    give running provisioning and delivery GRACE seconds, and return. Orders awaiting
    payment are left to resume on the next start. Raises Fatal when the token is refused.
    `calendar` (tests) gives the shop's date and time.
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(instance.sole_daemon(config.shop.database))
        except instance.InUse as exc:
            raise Fatal(f"{exc} (shop.database)") from None
        except OSError as exc:
            raise Fatal(f"cannot use the ledger {config.shop.database} (shop.database): "
                        f"{exc.strerror}") from None
        await _run(config, backends, pacer, stop, calendar, task_status)


async def _run(
    config: Config, backends: Backends | None, pacer: TelegramPacer | None,
    stop: trio.Event | None, calendar: Calendar | None, task_status: trio.TaskStatus[None],
) -> None:
    try:
        ledger = Ledger.open(config.shop.database)
    except (OSError, sqlite3.Error, LedgerError) as exc:
        raise Fatal(f"cannot open the ledger {config.shop.database} (shop.database): "
                    f"{exc}") from None
    backends = backends or Registry(shop=config.shop)
    try:
        async with (
            http.client(20.0) as bot_http,
            http.client(config.telegram.poll_timeout + 15.0) as poll_http,
            http.client(20.0) as pakasir_http,
        ):
            tg = config.telegram
            bot = BotApi(bot_http, tg.token, tg.api_url, pacer=pacer)
            # getUpdates gets a client of its own so the long poll never holds a
            # connection a sendMessage needs.
            poller = BotApi(poll_http, tg.token, tg.api_url)
            pakasir = Pakasir(
                pakasir_http, project=config.pakasir.project, api_key=config.pakasir.api_key,
                base_url=config.pakasir.api_url, version=config.pakasir.api_version,
            )
            await _prepare_bot(bot, config)
            # `work` holds provisioning and delivery, which a stop lets finish;
            # `intake` holds everything that takes new work in.
            async with trio.open_nursery() as work, trio.open_nursery() as intake:
                notifier = Notifier(config, bot, intake)
                checkout = Checkout(config, ledger, bot, pakasir, backends, intake,
                                    work=work, notifier=notifier, calendar=calendar)
                conversation = Conversation(config, ledger, bot, checkout, intake)
                await checkout.resume()
                expiry = Expiry(config, ledger, bot, backends, checkout.servers,
                                checkout.calendar)
                keep = partial(_keep, intake, notifier)
                keep("sweep", checkout.sweep, expiry.wake)
                keep("probe", checkout.servers.probe, backends)
                keep("summary", daily_summaries, config, ledger, notifier)
                keep("reminders", send_reminders, config, ledger, bot, backends, checkout.calendar)
                keep("traffic", remind_traffic, config, ledger, bot, backends, checkout.calendar)
                keep("expiry", expiry.run)
                keep("drift", drift.watch, config, ledger, backends, notifier,
                     checkout.calendar)
                keep("backup", backups.daily, config, ledger, bot, checkout.calendar)
                keep("winback", winback.send_offers, config, ledger, bot, checkout.calendar)
                pk = config.pakasir
                if pk.webhook_listen:
                    receiver = webhook.Webhook(checkout, pk.webhook_path, pk.webhook_secret)
                    try:
                        await intake.start(webhook.run, receiver, pk.webhook_listen)
                    except OSError as exc:
                        raise Fatal(f"cannot listen on {pk.webhook_listen} "
                                    f"(pakasir.webhook_listen): {exc.strerror}") from None
                await intake.start(_poll, poller, conversation, ledger, config)
                log.info("qrisbot is running: %d server(s), polling Telegram",
                         len(config.servers))
                systemd.notify("READY=1\nSTATUS=polling Telegram")
                keep("watchdog", systemd.watchdog)
                task_status.started()
                if stop is not None:
                    await stop.wait()
                    log.info("stopping: no new updates; running provisioning gets %d s", GRACE)
                    systemd.notify("STOPPING=1")
                    intake.cancel_scope.cancel()
                    checkout.fulfilment.stopping.set()
                    work.cancel_scope.deadline = trio.current_time() + GRACE
    finally:
        try:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
                await backends.aclose()
        finally:
            ledger.close()


def _keep(nursery: trio.Nursery, notifier: Notifier, task: str,
          fn: Callable[..., Awaitable[object]], *args: object) -> None:
    """Start one of the daemon's long-running tasks: a bug in it is logged and told to the
    admins once, and the task starts again (`log.supervised`); never fatal."""
    nursery.start_soon(qlog.supervised, task, notifier.task_failed, fn, *args)


async def _poll(
    poller: BotApi, conversation: Conversation, ledger: Ledger, config: Config,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    def keep(batch: Sequence[tuple[Update, Any]], offset: int) -> None:
        ledger.take_updates([(update.update_id, json.dumps(raw)) for update, raw in batch],
                            offset, [chat for update, _ in batch if (chat := private_chat(update))])

    # Updates taken before the last stop but not handled: first, in their order.
    for raw in ledger.inbox():
        update = parse_update(json.loads(raw))
        if update is not None:
            conversation.handle(update)
    try:
        await polling.poll(
            poller, conversation.handle, offset=ledger.telegram_offset(),
            wait=config.telegram.poll_timeout, keep=keep,
            on_conflict=partial(conversation.checkout.notifier.tell, "notify_conflict"),
            task_status=task_status,
        )
    except Unauthorized:
        raise Fatal(UNAUTHORIZED, EXIT_TOKEN_REFUSED) from None


async def _prepare_bot(bot: BotApi, config: Config) -> None:
    lang = config.shop.language

    def menu(*names: str) -> list[dict[str, str]]:
        return [{"command": n, "description": text(f"command_{n}", lang)} for n in names]

    calls: list[tuple[str, dict[str, object]]] = [
        ("deleteWebhook", {"drop_pending_updates": False}),
        ("setMyCommands", {"commands": menu("start", "akun", "help", "cancel")}),
    ]
    # Sellers see their own commands in the menu; buyers never do.
    calls += [("setMyCommands", {"commands": menu("start", "akun", "help", "cancel", "admin",
                                                  "broadcast"),
                                 "scope": {"type": "chat", "chat_id": admin}})
              for admin in config.shop.admins]
    for method, params in calls:
        try:
            await bot.call(method, params, attempts=2)
        except Unauthorized:
            raise Fatal(UNAUTHORIZED, EXIT_TOKEN_REFUSED) from None
        except TelegramError as exc:
            log.warning("%s failed at start-up: %s", method, exc.description)


async def run_until_signal(config: Config) -> None:
    """`qrisbot run`: SIGTERM or SIGINT stops gracefully; a second one stops at once."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if not stop.is_set():
                        log.info("received %s; stopping (send it again to stop at once)", name)
                        stop.set()
                    else:
                        # At once means not waiting for a remote command in its thread. The
                        # ledger is safe as after a crash: the next start takes over.
                        log.warning("received %s again; exiting now", name)
                        for handler in logging.getLogger().handlers:
                            handler.flush()
                        os._exit(EXIT_INTERRUPTED)

            nursery.start_soon(stop_on_signal)
            await run(config, stop=stop)
            nursery.cancel_scope.cancel()
