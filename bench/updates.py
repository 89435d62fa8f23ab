"""Benchmark 1: updates handled per second, qrisbot vs aiogram 3 vs python-telegram-bot 22.

Each bot runs in its own process against the same loopback Bot API fake (another process)
that serves N queued messages and accepts the replies; the figure is N divided by the time
from the first getUpdates to the N-th reply.
    python bench/updates.py [N] [ROUNDS]
"""

from __future__ import annotations

import sys

from common import machine, median, spawn

TOKEN = "123456:TEST-token-for-the-fake"
BOTS = {
    "qrisbot (polling + dispatch)": ("bench/bots/qrisbot_minimal.py", "hello"),
    "qrisbot (whole shop, /help)": ("bench/bots/qrisbot_shop.py", "/help"),
    "aiogram 3": ("bench/bots/aiogram_minimal.py", "hello"),
    "python-telegram-bot 22": ("bench/bots/ptb_minimal.py", "hello"),
}


def once(script: str, text: str, count: int) -> float:
    fake = spawn("bench/fake_bot_api.py", str(count), text)
    assert fake.stdout is not None
    port = int(fake.stdout.readline())
    bot = spawn(script, f"http://127.0.0.1:{port}", TOKEN)
    try:
        elapsed = float(fake.stdout.readline())
    finally:
        bot.kill()
        bot.wait()
        fake.wait()
    return count / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results = {}
    for name, (script, text) in BOTS.items():
        rates = [once(script, text, count) for _ in range(rounds)]
        results[name] = median(rates)
        print(f"{name}: {', '.join(f'{r:.0f}' for r in rates)} updates/s", flush=True)
    aiogram = results["aiogram 3"]
    ptb = results["python-telegram-bot 22"]
    print(f"machine: {machine()}; {count} updates, median of {rounds} rounds")
    for name, rate in results.items():
        print(f"{name:32} {rate:7.0f} updates/s  x{rate / aiogram:.2f} aiogram  "
              f"x{rate / ptb:.2f} PTB")


if __name__ == "__main__":
    main()
