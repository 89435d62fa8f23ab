"""What the growth crash suites share (promo codes, offers, resellers, referrals): the
daemon killed at random moments while buyers shop, what a buyer does when the bot went
quiet, and waiting for the orders to settle."""

from __future__ import annotations

import collections
import random
import re
from collections.abc import Callable
from pathlib import Path

import trio
from buyer import Buyer
from daemon import Daemon
from test_crash import TERMINAL, states
from test_panel_crash import notify

QR = re.compile(r"VPN\d+")


async def kill_at_random(daemon: Daemon, db: Path, rng: random.Random, kills: int,
                         gap: tuple[float, float]) -> collections.Counter[str]:
    """SIGKILL the daemon `kills` times, `gap` seconds apart, restarting it at once; the
    unfinished states each kill landed in."""
    moments: collections.Counter[str] = collections.Counter()
    for _ in range(kills):
        await trio.sleep(rng.uniform(*gap))
        for state, n in states(db).items():
            if n and state not in TERMINAL:
                moments[state] += 1
        await daemon.kill()
        await trio.sleep(rng.uniform(0, 0.5))
        await daemon.start()
    return moments


async def settle(db: Path) -> None:
    """What was paid is made, the rest runs out (90 s at most)."""
    with trio.move_on_after(90):
        while any(s not in TERMINAL and n for s, n in states(db).items()):  # noqa: ASYNC110
            await trio.sleep(0.5)


async def after_quiet_bot(telegram, pakasir, webhook: str, buyer: Buyer, rng: random.Random,
                          may_pay: Callable[[], bool] = lambda: True) -> None:
    """The bot went quiet (it was killed): pay a QR still payable (half the time, if the
    buyer `may_pay`), else start over."""
    for message in telegram.messages(buyer.chat_id):
        found = QR.search(message.caption or "") if message.photo else None
        if found and may_pay() and rng.random() < 0.5:
            await notify(pakasir, webhook, found.group(0))
    buyer.says("/cancel")
    await trio.sleep(1)
    buyer.seen = max((m.message_id for m in telegram.messages(buyer.chat_id)), default=0)
