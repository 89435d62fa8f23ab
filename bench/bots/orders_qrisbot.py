"""N orders awaiting payment, each watched by qrisbot's own checker (one task per order).

Prints one JSON line: RSS before and after the orders exist, peak RSS, CPU seconds.
    python bench/bots/orders_qrisbot.py N PAKASIR_URL SECONDS
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import cpu_seconds, peak_rss_kib, rss_kib  # noqa: E402

from qrisbot import config, http  # noqa: E402
from qrisbot import ledger as L  # noqa: E402
from qrisbot.ledger import Ledger  # noqa: E402
from qrisbot.pakasir import Pakasir  # noqa: E402
from qrisbot.shop.checkout import Checkout  # noqa: E402
from qrisbot.telegram.api import BotApi  # noqa: E402
from qrisbot.testing import config_for  # noqa: E402
from qrisbot.testing.local_provisioner import LocalProvisioner  # noqa: E402


def seed(path: Path, count: int) -> None:
    """The ledger as it stands with `count` orders awaiting payment."""
    ledger = Ledger.open(path)
    ledger._db.execute("PRAGMA synchronous=OFF")
    ledger._db.execute("BEGIN")
    now = time.time()
    for n in range(count):
        ledger._db.execute(
            "INSERT INTO orders (id, chat_id, user_id, server_id, protocol, username, secret,"
            " months, amount, language, state, created_at, deadline, updated_at, txn_id,"
            " fee, total, qr, qr_message_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (f"VPN{n}", 10_000_000 + n, 10_000_000 + n, "sg1", "ssh", f"user{n}",
             "password1", 1, 10000, "id", L.AWAITING, now, now + 3600, now, f"T{n}", 100,
             10100, "qr", 1))
    ledger._db.execute("COMMIT")
    ledger.close()


async def main(count: int, url: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        seed(path, count)
        raw = config_for("http://127.0.0.1:9", "1:benchmark-token-xx", url, "p", "k",
                         str(path), [{"id": "sg1", "name": "SG", "protocol": "ssh",
                                      "domain": "sg.example.com", "price_per_month": 10000,
                                      "ssh": {"host": "h", "key_file": "k",
                                              "known_hosts": "k"}}])
        cfg = config.parse(raw, {})
        ledger = Ledger.open(path)
        before = rss_kib()
        cpu0 = cpu_seconds()
        async with http.client(20) as pakasir_http, httpx.AsyncClient() as bot_http:
            pakasir = Pakasir(pakasir_http, project="p", api_key="k", base_url=url)
            bot = BotApi(bot_http, cfg.telegram.token, cfg.telegram.api_url)
            with trio.move_on_after(seconds):
                async with trio.open_nursery() as nursery:
                    checkout = Checkout(cfg, ledger, bot, pakasir, LocalProvisioner(), nursery)
                    started = time.perf_counter()
                    await checkout.resume()
                    resumed = time.perf_counter() - started
                    await trio.sleep(1)
                    after = rss_kib()
        print(json.dumps({"rss_before_kib": before, "rss_after_kib": after,
                          "peak_rss_kib": peak_rss_kib(), "cpu_seconds": cpu_seconds() - cpu0,
                          "resume_seconds": resumed}), flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
