"""The peer: N orders each polled every 5 s by its own asyncio task over aiohttp.

This is the shape of the bots sellers run today (a timer per order, state in memory),
on aiogram's own HTTP stack. Prints the same JSON line as orders_qrisbot.py.
    python bench/bots/orders_asyncio.py N PAKASIR_URL SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import cpu_seconds, peak_rss_kib, rss_kib  # noqa: E402


async def watch(session: aiohttp.ClientSession, url: str, order: dict[str, object]) -> None:
    while True:
        await asyncio.sleep(5)
        async with session.get(f"{url}/api/v2/transaction-status/p/{order['txn_id']}",
                               headers={"X-Api-Key": "k"}) as response:
            body = await response.json()
        if body.get("status") == "completed":
            return


async def main(count: int, url: str, seconds: float) -> None:
    orders = [{"id": f"VPN{n}", "txn_id": f"T{n}", "amount": 10000, "chat_id": n}
              for n in range(count)]
    before = rss_kib()
    cpu0 = cpu_seconds()
    connector = aiohttp.TCPConnector(limit=10)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        tasks = [asyncio.create_task(watch(session, url, order)) for order in orders]
        resumed = time.perf_counter() - started
        await asyncio.sleep(1)
        after = rss_kib()
        await asyncio.sleep(seconds - 1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"rss_before_kib": before, "rss_after_kib": after,
                      "peak_rss_kib": peak_rss_kib(), "cpu_seconds": cpu_seconds() - cpu0,
                      "resume_seconds": resumed}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
