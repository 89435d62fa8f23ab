"""Benchmark 10: N reminders (default 10,000) sent through the limit-enforcing Telegram fake.

qrisbot sends the reminders due through its paced client (about 25 messages/s overall, 1/s
per chat), one after another. The fake (`qrisbot.testing.FakeTelegram(limits=True)`)
answers 429 like Telegram when more than 30 messages leave in a second. The peer is the
same sender with pacing lifted, as bots that loop over their users and send as fast as
they can do: it meets Telegram's limit, every 429 costs a `retry_after` wait, and a bot
that does not retry loses those messages. Real time: 10,000 paced reminders take about 7
minutes; the peer is measured on the first 1,000.
    python bench/reminders.py [REMINDERS]
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

import trio
from common import machine

from qrisbot import config, http
from qrisbot.ledger import Ledger
from qrisbot.pacing import TelegramPacer
from qrisbot.shop import reminders
from qrisbot.shop.calendar import Calendar
from qrisbot.telegram.api import BotApi
from qrisbot.testing import config_for
from qrisbot.testing.fake_telegram import FakeTelegram

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
MORNING = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)
UNPACED = TelegramPacer(overall=1e9, overall_burst=1e9, per_chat=1e9, chat_burst=1e9)


def seed(path: Path, count: int) -> None:
    ledger = Ledger.open(path)
    tomorrow = (MORNING.date() + dt.timedelta(days=1)).isoformat()
    db = ledger._db  # seeding only: the bench measures the sending
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
        " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
        " updated_at) VALUES ('sg1','ssh',?,?,?,?,'id',?,'active','{}',?,0,0)",
        [(f"user{n}", f"pw-{n}", 20_000 + n, 20_000 + n, tomorrow, f"VPN{n}")
         for n in range(count)])
    db.execute("COMMIT")
    ledger.close()


async def send(tmp: Path, count: int, pacer: TelegramPacer | None) -> tuple[float, int, int]:
    """Seconds, messages delivered, 429s answered."""
    fake = FakeTelegram(limits=True)
    database = tmp / f"ledger-{'paced' if pacer is None else 'unpaced'}.sqlite3"
    seed(database, count)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        raw = config_for(fake.url, fake.token, "http://127.0.0.1:9", "p", "k", str(database),
                         [{"id": "sg1", "name": "SG1", "protocol": "ssh",
                           "domain": "sg1.example.com", "price_per_month": 10000,
                           "ssh": {"host": "127.0.0.1", "key_file": "/k",
                                   "known_hosts": "/kh"}}],
                         {"remind_days": [1]})
        cfg = config.parse(raw, {})
        ledger = Ledger.open(database)
        async with http.client(20.0) as client:
            bot = BotApi(client, fake.token, fake.url, pacer=pacer)
            start = time.perf_counter()
            await reminders._send_due(cfg, ledger, bot, Calendar("Asia/Jakarta", MORNING))
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return elapsed, len(fake.sent), fake.rate_limited


async def main(count: int) -> None:
    logging.disable(logging.WARNING)  # the peer's 429s are counted, not printed
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ours = await send(tmp, count, None)
        peer = await send(tmp, min(count, 1000), UNPACED)
    print(f"machine: {machine()}; reminders due for {count:,} accounts, each to its own chat")
    for label, n, (seconds, sent, refused) in (("qrisbot (paced)", count, ours),
                                               ("unpaced peer", min(count, 1000), peer)):
        print(f"{label:16} {n:6} due  {sent:6} sent in {seconds:7.1f} s = {sent / seconds:5.1f}"
              f" msg/s  429s: {refused}")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
