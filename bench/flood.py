"""Benchmark 8: does one chat flooding the bot slow the other buyers down?

The real shop (in process) against the loopback Telegram fake. Ten buyers each send /help
once a second; the figure is the time from a buyer's message to the bot's reply. Three runs
in one process: quiet; one chat flooding at FLOOD messages/s; the same flood with the
per-chat queue limit lifted (the peer: what the shop did before it had one).
    python bench/flood.py [SECONDS] [FLOOD]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from functools import partial
from pathlib import Path

import trio
from common import machine, percentile, rss_kib

from qrisbot import app, config
from qrisbot.shop import conversation
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import FakePakasir
from qrisbot.testing.fake_telegram import FakeTelegram
from qrisbot.testing.local_provisioner import LocalProvisioner

BUYERS = 10
FLOODER = 666


async def buyer(telegram: FakeTelegram, chat_id: int, seconds: float,
                latencies: list[float]) -> None:
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        started = trio.current_time()
        sent = telegram.user_sends(chat_id, "/help")
        await telegram.wait_for(chat_id, "Cara membeli", after=sent)
        latencies.append(trio.current_time() - started)
        await trio.sleep(max(0.0, 1.0 - (trio.current_time() - started)))


async def flooder(telegram: FakeTelegram, seconds: float, rate: int) -> int:
    sent = 0
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        for _ in range(rate // 20):
            telegram.user_sends(FLOODER, "spam spam spam")
            sent += 1
        await trio.sleep(0.05)
    return sent


async def run(mode: str, seconds: float, rate: int) -> dict[str, float]:
    telegram, pakasir = FakeTelegram(), FakePakasir()
    latencies: list[float] = []
    flood_sent = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with trio.open_nursery() as nursery:
            await nursery.start(telegram.serve)
            await nursery.start(pakasir.serve)
            raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                             pakasir.api_key, str(Path(tmp) / "ledger.sqlite3"), [{
                                 "id": "sg1", "name": "SG", "protocol": "ssh",
                                 "domain": "sg.example.com", "price_per_month": 10000,
                                 "ssh": {"host": "127.0.0.1", "key_file": "k",
                                         "known_hosts": "k"}}])
            await nursery.start(partial(app.run, config.parse(raw, {}),
                                        backends=LocalProvisioner()))
            async with trio.open_nursery() as load:
                for n in range(BUYERS):
                    load.start_soon(buyer, telegram, 1000 + n, seconds, latencies)
                if mode != "quiet":
                    async def flood() -> None:
                        nonlocal flood_sent
                        flood_sent = await flooder(telegram, seconds, rate)

                    load.start_soon(flood)
            ended = len(telegram.messages(FLOODER))
            await trio.sleep(5)
            after = len(telegram.messages(FLOODER)) - ended
            memory = rss_kib()
            with sqlite3.connect(Path(tmp) / "ledger.sqlite3") as db:
                backlog = db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
            nursery.cancel_scope.cancel()
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": max(latencies), "replies": len(latencies), "flood sent": flood_sent,
            "flood answered": ended, "flood replies still coming 5 s later": after,
            "backlog": backlog, "rss MiB": memory / 1024}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    results = {}
    for mode in ("quiet", "flood", "flood, no queue limit"):
        conversation.MAX_QUEUED = 10**9 if mode.endswith("limit") else 8
        results[mode] = trio.run(run, mode, seconds, rate)
        print(mode, results[mode], flush=True)
    print(f"machine: {machine()}; {BUYERS} buyers sending /help once a second for {seconds:g} s;"
          f" flood {rate} messages/s from one chat")
    quiet = results["quiet"]
    for mode, r in results.items():
        print(f"{mode:24} reply p50 {r['p50'] * 1000:6.1f} ms  p99 {r['p99'] * 1000:6.1f} ms  "
              f"max {r['max'] * 1000:6.1f} ms  (p99 x{r['p99'] / quiet['p99']:.2f} quiet)  "
              f"flood {r['flood sent']:.0f} sent, {r['flood answered']:.0f} answered, "
              f"{r['backlog']:.0f} still queued 5 s after it stopped; RSS {r['rss MiB']:.0f} MiB")


if __name__ == "__main__":
    main()
