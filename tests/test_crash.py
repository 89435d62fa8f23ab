"""The crash suite: buyers keep buying while the real `qrisbot run` is SIGKILLed at random
moments and restarted. Afterwards every paid order has exactly one account on the (real)
server and was delivered; nothing unpaid has one; nothing is stuck.

Quick form (in the test command): 20 kills. Long form, for RELIABILITY.md:
    QRISBOT_CRASH_KILLS=200 .venv/bin/pytest tests/test_crash.py -s
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import sqlite3
import subprocess
from pathlib import Path

import httpx
import trio
from buyer import Buyer
from conftest import server_entry
from daemon import Daemon, write_config
from sshd import free_port

from qrisbot.testing import config_for

KILLS = int(os.environ.get("QRISBOT_CRASH_KILLS", "20"))
BUYERS = 4
GAP = (1.0, 8.0)  # seconds the daemon runs between kills
SECRET = "crash-suite-webhook-secret"
TERMINAL = {"delivered", "expired", "cancelled", "refunded"}


def slow_server(sshd) -> dict:
    """The operator's own commands, idempotent per order, taking a second on the server, so
    kills land in the middle of remote commands too."""
    create = (
        "sleep 1; read -r p; "
        "getent passwd {username} >/dev/null || "
        "useradd -M -s /bin/false -c qrisbot-{order_id} {username}; "
        "printf '%s:%s\\n' {username} \"$p\" | chpasswd"
    )
    return server_entry("slow", ssh=sshd.access(), commands={
        "create": create, "exists": "getent passwd {username} >/dev/null || exit 1"})


def states(db: Path) -> collections.Counter[str]:
    if not db.exists():
        return collections.Counter()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return collections.Counter(s for (s,) in conn.execute("SELECT state FROM orders"))


def tagged_accounts() -> collections.Counter[str]:
    """Order id -> Linux users on the server that carry its tag."""
    counts: collections.Counter[str] = collections.Counter()
    for line in Path("/etc/passwd").read_text().splitlines():
        found = re.search(r":qrisbot-(VPN\d+):", line)
        if found:
            counts[found.group(1)] += 1
    return counts


class Shoppers:
    """Buyers that go on buying like people do: when the bot goes quiet they pay the QR they
    have, or /cancel and start over."""

    def __init__(self, telegram, pakasir, webhook: str, linux_users: list[str]) -> None:
        self.telegram = telegram
        self.pakasir = pakasir
        self.webhook = webhook
        self.linux_users = linux_users
        self.paid: set[str] = set()
        self.left_unpaid: set[str] = set()
        self.notifying = 0  # webhook posts in flight
        self.attempts = 0

    async def shop(self, index: int, stop: trio.Event) -> None:
        buyer = Buyer(self.telegram, 9100 + index)
        rng = random.Random(index)
        n = 0
        while not stop.is_set():
            n += 1
            self.attempts += 1
            username = f"qbt_c{index}x{n}"
            self.linux_users.append(username)
            server = rng.choice(["sg1", "slow"])
            with trio.move_on_after(15):
                _, order_id = await buyer.buys(username=username, password=f"pw{index}-{n}-zz",
                                               months=1, server=server, within=15)
                if rng.random() < 0.85:
                    await self.pay(order_id)
                else:
                    self.left_unpaid.add(order_id)
                continue
            # The bot went quiet (it was killed): pay any QR still payable, else start over.
            for message in self.telegram.messages(buyer.chat_id):
                found = re.search(r"VPN\d+", message.caption or "") if message.photo else None
                if found and found.group(0) not in self.left_unpaid:
                    await self.pay(found.group(0))
            buyer.says("/cancel")
            await trio.sleep(1)
            buyer.seen = max((m.message_id for m in self.telegram.messages(buyer.chat_id)),
                             default=0)

    async def pay(self, order_id: str) -> None:
        if not self.pakasir.pay(order_id):
            return
        self.paid.add(order_id)
        self.notifying += 1
        try:  # Pakasir's push; lost when the shop is down, which polling must make up for
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(self.webhook, headers={"X-Secret": SECRET}, json={
                    "order_id": order_id, "amount": self.pakasir.transactions[order_id].amount,
                    "status": "completed"})
        except httpx.HTTPError:
            pass
        finally:
            self.notifying -= 1


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path, telegram, pakasir, sshd, linux_users
):
    port = free_port()
    raw = config_for(
        telegram.url, telegram.token, pakasir.url, pakasir.project, pakasir.api_key,
        str(tmp_path / "ledger.sqlite3"),
        [server_entry("sg1", ssh=sshd.access(), capacity=10_000),
         slow_server(sshd) | {"capacity": 10_000}],
        check_interval=4, payment_timeout=45, webhook_listen=f"127.0.0.1:{port}",
        webhook_secret=SECRET, webhook_fallback_interval=5,
    )
    raw["telegram"]["poll_timeout"] = 2
    db = tmp_path / "ledger.sqlite3"
    daemon = Daemon(write_config(tmp_path / "config.toml", raw), tmp_path / "daemon.log")
    shoppers = Shoppers(telegram, pakasir, f"http://127.0.0.1:{port}/pakasir/webhook",
                        linux_users)
    rng = random.Random(20261126)
    moments: collections.Counter[str] = collections.Counter()
    stop = trio.Event()
    try:
        async with trio.open_nursery() as nursery:
            await daemon.start()
            for index in range(BUYERS):
                nursery.start_soon(shoppers.shop, index, stop)
            for _ in range(KILLS):
                await trio.sleep(rng.uniform(*GAP))
                in_flight = states(db)
                for state in ("new", "awaiting_payment", "paid", "provisioning", "provisioned"):
                    if in_flight[state]:
                        moments[state] += 1
                if shoppers.notifying:
                    moments["webhook in flight"] += 1
                await daemon.kill()
                await trio.sleep(rng.uniform(0, 0.5))
                await daemon.start()
            stop.set()
        # Let the shop finish what was paid and let the rest expire.
        with trio.move_on_after(120):
            while any(s not in TERMINAL and n for s, n in states(db).items()):  # noqa: ASYNC110
                await trio.sleep(0.5)  # (the ledger is another process's file)
    finally:
        status = await daemon.stop()
    assert status == 0

    accounts = tagged_accounts()
    delivered: collections.Counter[str] = collections.Counter()
    for message in telegram.sent:
        found = re.search(r"Akun SSH Anda siap</b> \(order <code>(VPN\d+)", message.body)
        if found:
            delivered[found.group(1)] += 1
    paid = {t.order_id for t in pakasir.transactions.values() if t.status == "completed"}
    final = states(db)
    figures = {
        "kills": KILLS, "purchase attempts": shoppers.attempts, "orders": sum(final.values()),
        "orders paid": len(paid), "accounts on the server": sum(
            1 for order_id in paid if accounts[order_id]),
        "accounts delivered": sum(1 for order_id in paid if delivered[order_id]),
        "lost (paid, no account or not delivered)": sum(
            1 for order_id in paid if not accounts[order_id] or not delivered[order_id]),
        "duplicated accounts": sum(1 for n in accounts.values() if n > 1),
        "accounts without payment": sum(1 for order_id in accounts if order_id not in paid),
        "repeated delivery messages": sum(1 for n in delivered.values() if n > 1),
        "stuck (not finished)": sum(n for s, n in final.items() if s not in TERMINAL),
        "final states": dict(final), "kills with orders in state": dict(moments),
    }
    print("\ncrash suite:", json.dumps(figures, indent=1))
    assert figures["orders paid"] >= KILLS // 2, figures  # the suite did exercise the shop
    assert figures["lost (paid, no account or not delivered)"] == 0, figures
    assert figures["duplicated accounts"] == 0, figures
    assert figures["accounts without payment"] == 0, figures
    assert figures["stuck (not finished)"] == 0, figures
    assert {o for o in paid if final} <= paid and final["delivered"] == len(paid), figures
    log = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]


def seed(db: Path, count: int, failed: int) -> list[str]:
    """A ledger with `count` delivered orders and `failed` paid ones given up on (the admin
    is to refund them)."""
    from qrisbot.ledger import Ledger

    Ledger.open(db).close()
    rows = []
    now = 1_790_000_000.0
    for n in range(count + failed):
        state = "failed" if n < failed else "delivered"
        rows.append((f"VPN{n}", 7000 + n, 7000 + n, "sg1", "ssh", f"user{n}", "pw-seeded",
                     1, 10000, "id", state, now, now, now, 1 if n < failed else 0,
                     0 if n < failed else 1))
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO orders (id, chat_id, user_id, server_id, protocol, username, secret,"
            " months, amount, language, state, created_at, deadline, updated_at,"
            " needs_attention, retryable) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return [f"VPN{n}" for n in range(failed)]


def consistent(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


async def test_killing_a_backup_or_a_refund_leaves_everything_consistent(
    tmp_path, telegram, pakasir, sshd
):
    import sys

    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", ssh=sshd.access())], check_interval=4)
    raw["telegram"]["poll_timeout"] = 2
    config = write_config(tmp_path / "config.toml", raw)
    rounds = max(KILLS // 2, 10)
    refunds = seed(tmp_path / "ledger.sqlite3", 60_000, rounds)
    daemon = Daemon(config, tmp_path / "daemon.log")
    await daemon.start()  # the shop runs (and writes) while its operator works
    rng = random.Random(7)
    outcomes: collections.Counter[str] = collections.Counter()

    async def killed(*args: str) -> None:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "qrisbot", *args, "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await trio.sleep(rng.uniform(0.05, 0.5))
        process.kill()
        await process.wait()
        outcomes[f"{args[0]} {'finished' if process.returncode == 0 else 'killed'}"] += 1

    try:
        for n in range(rounds):
            target = tmp_path / f"backup-{n}.sqlite3"
            await killed("backup", str(target))
            if target.exists():  # a copy that exists is whole
                assert consistent(target) == 60_000 + rounds
            await killed("orders", "refund", refunds[n], "--yes")
            with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
                state, flag = conn.execute(
                    "SELECT state, needs_attention FROM orders WHERE id=?",
                    (refunds[n],)).fetchone()
                events = conn.execute("SELECT detail FROM events WHERE order_id=? AND kind="
                                      "'refunded'", (refunds[n],)).fetchall()
            assert (state, flag, len(events)) in (("failed", 1, 0), ("refunded", 0, 1))
        assert consistent(tmp_path / "ledger.sqlite3") == 60_000 + rounds
    finally:
        assert await daemon.stop() == 0
    print("\nkilled operator commands:", dict(outcomes))
    assert outcomes["backup killed"] and outcomes["orders killed"]
