"""Benchmark 6: start-up with 10,000 unfinished orders in the ledger.

Times qrisbot's `Checkout.resume()` (read every non-final order from SQLite and start its
checker) until every checker task is running, and, as the peer, the asyncio bot creating
its 10,000 polling tasks from memory (which is all it can do: after a restart it has
nothing to resume, the defect qrisbot exists to fix).
    python bench/resume.py [N]
"""

from __future__ import annotations

import json
import sys

from common import machine, spawn
from fake_pakasir_fast_port import start_fake


def run(script: str, count: int) -> dict[str, float]:
    fake, port = start_fake(6)
    contender = spawn(script, str(count), f"http://127.0.0.1:{port}", "3")
    assert contender.stdout is not None
    figures: dict[str, float] = json.loads(contender.stdout.readline())
    contender.wait()
    fake.wait()
    return figures


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    qrisbot = run("bench/bots/orders_qrisbot.py", count)
    peer = run("bench/bots/orders_asyncio.py", count)
    print(f"machine: {machine()}; {count} unfinished orders")
    print(f"qrisbot resume from the ledger      {qrisbot['resume_seconds']:.3f} s")
    print(f"peer: tasks from memory (no ledger) {peer['resume_seconds']:.3f} s")


if __name__ == "__main__":
    main()
