"""Benchmark 2: 10,000 orders awaiting payment at once, each checked every 5 s.

qrisbot's checkers (one trio task per order, from the ledger) against the peer (one
asyncio task per order over aiohttp, state in memory), each in its own process, against
the same fast Pakasir stand-in in a third process.
    python bench/open_orders.py [N] [SECONDS]
"""

from __future__ import annotations

import json
import sys

from common import machine, spawn
from fake_pakasir_fast_port import start_fake

CONTENDERS = {"qrisbot (trio + httpx, ledger)": "bench/bots/orders_qrisbot.py",
              "peer (asyncio + aiohttp, in memory)": "bench/bots/orders_asyncio.py"}


def run(script: str, count: int, seconds: float) -> dict[str, float]:
    fake, port = start_fake(seconds + 3)
    contender = spawn(script, str(count), f"http://127.0.0.1:{port}", str(seconds))
    assert contender.stdout is not None
    figures = json.loads(contender.stdout.readline())
    contender.wait()
    assert fake.stdout is not None
    figures |= json.loads(fake.stdout.readline())
    fake.wait()
    return figures


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(f"machine: {machine()}; {count} open orders for {seconds:g} s, checks every 5 s")
    for name, script in CONTENDERS.items():
        f = run(script, count, seconds)
        per_order = (f["rss_after_kib"] - f["rss_before_kib"]) * 1024 / count
        cpu_per_1000 = f["cpu_seconds"] / max(f["checks"], 1) * 1000
        print(f"{name:38} peak RSS {f['peak_rss_kib'] / 1024:6.1f} MiB  "
              f"{per_order / 1024:5.2f} KiB/order  {cpu_per_1000:5.3f} CPU s/1000 checks  "
              f"{f['checks']:6d} checks  lateness p50 {f['late_p50']:.3f} s "
              f"p99 {f['late_p99']:.3f} s max {f['late_max']:.3f} s")


if __name__ == "__main__":
    main()
