"""A fast Pakasir stand-in for the load benchmarks: every transaction is pending.

Answers `GET /api/v2/transaction-status/{project}/{txn}` from canned bytes on plain asyncio
(the in-package fake validates like Pakasir and is too slow to be the cheap side here) and
records when each transaction was checked. After DURATION seconds it prints one JSON line:
checks made and how late each check came after the previous one of its transaction.
    python bench/fake_pakasir_fast.py DURATION INTERVAL
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import percentile  # noqa: E402


class Protocol(asyncio.Protocol):
    def __init__(self, seen: dict[str, list[float]]) -> None:
        self.seen = seen
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            path = head.split(b" ", 2)[1].decode()
            txn = path.rsplit("/", 1)[-1]
            self.seen[txn].append(time.monotonic())
            order = "VPN" + txn.removeprefix("T")
            body = json.dumps({"txn_id": txn, "order_id": order, "amount": 10000,
                               "status": "pending", "completed_at": None}).encode()
            self.transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)


async def main(duration: float, interval: float) -> None:
    seen: dict[str, list[float]] = defaultdict(list)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(seen), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(duration)
    late = [b - a - interval for times in seen.values()
            for a, b in zip(times, times[1:], strict=False)]
    print(json.dumps({
        "transactions": len(seen), "checks": sum(map(len, seen.values())),
        "late_p50": percentile(late, 50), "late_p99": percentile(late, 99),
        "late_max": max(late, default=float("nan")),
    }), flush=True)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), float(sys.argv[2])))
