"""Benchmarks 3 and 4: paid -> delivered latency, and Pakasir calls per paid order.

The real shop (in process) against the loopback fakes, provisioning VLESS accounts into an
autoscript-layout file over a real local sshd (needs sshd, run as root). Each buyer pays
at a random moment; the figure is the time from the fake marking the order paid to the
buyer's fake Telegram chat receiving the account. Run with the webhook (the fake posts the
notice right after the payment) and with plain 5 s polling.
    python bench/paid_flow.py [ORDERS]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import sshd as test_sshd  # noqa: E402
from buyer import Buyer  # noqa: E402
from common import machine, percentile  # noqa: E402

from qrisbot import app, config  # noqa: E402
from qrisbot.provision import SshProvisioner  # noqa: E402
from qrisbot.testing import config_for  # noqa: E402
from qrisbot.testing.fake_pakasir import FakePakasir  # noqa: E402
from qrisbot.testing.fake_telegram import FakeTelegram  # noqa: E402

LAYOUT = '{"inbounds": [{"settings": {"clients": [\n  {"id": "x"\n#vless\n  }]}}]}\n'
SECRET = "bench-webhook-secret-0123"


class TimedProvisioner(SshProvisioner):
    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []

    async def create(self, server, account) -> None:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        await super().create(server, account)
        self.durations.append(time.perf_counter() - start)


async def run(mode: str, orders: int, server: test_sshd.Sshd, tmp: Path) -> dict[str, float]:
    telegram, pakasir = FakeTelegram(), FakePakasir()
    xray = tmp / f"{mode}.json"
    xray.write_text(LAYOUT)
    port = test_sshd.free_port()
    settings = {"check_interval": 5, "payment_timeout": 300}
    if mode == "webhook":
        settings |= {"webhook_listen": f"127.0.0.1:{port}", "webhook_secret": SECRET}
    provisioner = TimedProvisioner()
    latencies: list[float] = []
    calls: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(telegram.serve)
        await nursery.start(pakasir.serve)
        raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                         pakasir.api_key, str(tmp / f"{mode}.sqlite3"), [{
                             "id": "sg1", "name": "SG", "protocol": "vless",
                             "domain": "sg.example.com", "price_per_month": 10000,
                             "capacity": 10_000, "ssh": server.access(),
                             "xray": {"config": str(xray), "markers": ["#vless"],
                                      "prefix": "#&", "restart": "true", "path": "/vless"}}],
                         **settings)
        await nursery.start(partial(app.run, config.parse(raw, {}), backends=provisioner))
        for n in range(orders + 1):  # the first one warms up (SSH login, first requests)
            buyer = Buyer(telegram, 50_000 + n)
            qr, order_id = await buyer.buys(username=f"bench{n}", password=None, within=60)
            await trio.sleep(random.uniform(0, 15))  # scanning and paying takes a while
            paid = time.perf_counter()
            pakasir.pay(order_id)
            if mode == "webhook":
                await pakasir.notify(f"http://127.0.0.1:{port}/pakasir/webhook", order_id,
                                     secret=SECRET)
            await buyer.sees("Akun VLESS Anda siap", within=60)
            if n == 0:
                continue
            latencies.append(time.perf_counter() - paid)
            txn = pakasir.transactions[order_id].txn_id
            calls.append(sum(1 for _, key in pakasir.calls if key in (order_id, txn)))
        nursery.cancel_scope.cancel()
    provisioning = percentile(provisioner.durations, 50)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "provisioning_p50": provisioning, "calls": sum(calls) / len(calls),
            "calls_max": max(calls)}


async def main(orders: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        server = test_sshd.start(tmp / "sshd")
        try:
            results = {mode: await run(mode, orders, server, tmp)
                       for mode in ("webhook", "polling")}
        finally:
            test_sshd.stop(server)
    print(f"machine: {machine()}; {orders} paid orders per mode, VLESS over a local sshd")
    for mode, r in results.items():
        label = "webhook (fallback 30 s)" if mode == "webhook" else "polling every 5 s"
        print(f"{label:24} paid->delivered p50 {r['p50']:.3f} s p99 {r['p99']:.3f} s "
              f"(provisioning p50 {r['provisioning_p50']:.3f} s)  Pakasir calls/paid order "
              f"{r['calls']:.1f} (max {r['calls_max']})")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 12)
