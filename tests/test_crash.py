"""The crash suite: buyers keep buying, renewing and taking free trials while the real
`qrisbot run` is SIGKILLed at random moments and restarted, and expired accounts wait to be
removed. Afterwards every paid order has exactly one account on the (real) server and was
delivered; every paid renewal added its days exactly once (ledger and server agree); every
trial made one account; every expired account was removed once; nothing unpaid has an
account; nothing is stuck.

Quick form (in the test command): 16 kills. Long form, for RELIABILITY.md:
    QRISBOT_CRASH_KILLS=200 .venv/bin/pytest tests/test_crash.py -s
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import re
import sqlite3
import subprocess
import zoneinfo
from pathlib import Path

import httpx
import trio
from buyer import Buyer
from conftest import server_entry
from daemon import Daemon, write_config
from sshd import free_port

from qrisbot.testing import config_for

KILLS = int(os.environ.get("QRISBOT_CRASH_KILLS", "16"))
BUYERS = 4
GAP = (1.0, 8.0)  # seconds the daemon runs between kills
SECRET = "crash-suite-webhook-secret"
TERMINAL = {"delivered", "expired", "cancelled", "refunded"}
EXPIRED_ACCOUNTS = 6  # seeded, past their grace period: removed while the kills go on
ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


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
        "create": create, "exists": "getent passwd {username} >/dev/null || exit 1",
        # Sets the date (so repeating it cannot add twice), slowly.
        "extend": "sleep 1; getent passwd {username} >/dev/null || exit 6; "
                  "usermod -e {expires} {username}"})


def seed_expired(db: Path, linux_users: list[str]) -> dict[str, int]:
    """Accounts whose last day was five days ago, on sg1 and in the ledger as the shop made
    them; username -> their owner's chat."""
    from qrisbot.ledger import Ledger

    ledger = Ledger.open(db)
    last_day = dt.datetime.now(ZONE).date() - dt.timedelta(days=5)
    owners = {}
    for i in range(EXPIRED_ACCOUNTS):
        name, order_id, chat = f"qbt_old{i}", f"VPN9{i:012d}", 9300 + i
        ledger.create_order(order_id=order_id, chat_id=chat, user_id=chat, server_id="sg1",
                            protocol="ssh", username=name, secret=f"old-pw-{i}", months=1,
                            amount=10000, language="id", deadline=0, capacity=10**6)
        ledger.transition(order_id, {"new"}, "awaiting_payment", txn_id=f"T{i}")
        ledger.transition(order_id, {"awaiting_payment"}, "paid",
                          expires_on=last_day.isoformat())
        ledger.transition(order_id, {"paid"}, "provisioning")
        ledger.record_provisioned(order_id, json.dumps({"kind": "ssh"}), last_day)
        ledger.transition(order_id, {"provisioned"}, "delivered")
        linux_users.append(name)
        subprocess.run(["useradd", "-M", "-s", "/bin/false", "-c", f"qrisbot-{order_id}",
                        "-e", (last_day + dt.timedelta(days=1)).isoformat(), name],
                       check=True, capture_output=True)
        owners[name] = chat
    ledger.close()
    return owners


def shadow_expiry(name: str) -> dt.date | None:
    """The day the server's account stops working (`chage -E`), from /etc/shadow."""
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name and fields[7]:
            return dt.date(1970, 1, 1) + dt.timedelta(days=int(fields[7]))
    return None


def ledger_rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(query).fetchall()


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
        if line.startswith("qbt_old"):
            continue  # seeded
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
        self.renewal_attempts = 0
        self.trial_attempts = 0

    async def shop(self, index: int, stop: trio.Event) -> None:
        buyer = Buyer(self.telegram, 9100 + index)
        rng = random.Random(index)
        n = 0
        trial = index % 2 == 0  # half of them try the shop first
        while not stop.is_set():
            n += 1
            with trio.move_on_after(15):
                if trial:
                    trial = False
                    self.trial_attempts += 1
                    await self.take_trial(buyer)
                elif n > 2 and rng.random() < 0.4 and await self.renew(buyer, rng):
                    pass
                else:
                    await self.buy(buyer, rng, index, n)
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

    async def buy(self, buyer: Buyer, rng: random.Random, index: int, n: int) -> None:
        self.attempts += 1
        username = f"qbt_c{index}x{n}"
        self.linux_users.append(username)
        server = rng.choice(["sg1", "slow"])
        _, order_id = await buyer.buys(username=username, password=f"pw{index}-{n}-zz",
                                       months=1, server=server, within=15)
        await self.pay_or_leave(order_id, rng)

    async def renew(self, buyer: Buyer, rng: random.Random) -> bool:
        """Perpanjang one of the buyer's accounts from /akun; False if they have none."""
        buyer.says("/akun")
        listing = await buyer.sees("Akun saya", 15)
        buttons = [d for d in listing.button_data() if d.startswith("ren:")]
        if not buttons:
            return False
        self.renewal_attempts += 1
        _, order_id = await buyer.renews(rng.choice(buttons), months=1, within=15)
        await self.pay_or_leave(order_id, rng)
        return True

    async def take_trial(self, buyer: Buyer) -> None:
        buyer.says("/start")
        menu = await buyer.sees("Pilih server", 15)
        if "trial" in menu.button_data():
            buyer.taps("trial")
            await buyer.sees("Coba gratis", 15)
            buyer.taps("tsrv:sg1")
            await buyer.sees("Akun trial SSH Anda siap", 15)

    async def pay_or_leave(self, order_id: str, rng: random.Random) -> None:
        if rng.random() < 0.85:
            await self.pay(order_id)
        else:
            self.left_unpaid.add(order_id)

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
    raw["trial"] = {"hours": 1, "servers": ["sg1"], "daily_limit": 0}
    db = tmp_path / "ledger.sqlite3"
    expired = seed_expired(db, linux_users)
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
        linux_users.extend(name for (name,) in ledger_rows(
            db, "SELECT username FROM accounts WHERE username LIKE 'trial%'"))
    assert status == 0

    delivered: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for message in telegram.sent:
        for kind, pattern in (("purchase", r"Akun SSH Anda siap</b> \(order <code>(VPN\d+)"),
                              ("renewal", r"diperpanjang sampai [\d-]+</b> \(order <code>"
                                          r"(VPN\d+)"),
                              ("trial", r"Akun trial SSH Anda siap</b>.*?\(order <code>"
                                        r"(VPN\d+)")):
            found = re.search(pattern, message.body)
            if found:
                delivered[kind][found.group(1)] += 1
    completed = {t.order_id for t in pakasir.transactions.values() if t.status == "completed"}
    kinds = dict(ledger_rows(db, "SELECT id, kind FROM orders"))
    # Other test files' shops make tagged users on this machine meanwhile: only this
    # ledger's orders count.
    accounts = collections.Counter({o: n for o, n in tagged_accounts().items() if o in kinds})
    paid = {o for o in completed if kinds.get(o) == "purchase"}
    renewed = {o for o in completed if kinds.get(o) == "renewal"}
    trials = {o for o, kind in kinds.items() if kind == "trial"}
    final = states(db)

    # Every account's last day is its purchase's plus 30 days per paid renewal, in the
    # ledger and on the server (sg1's recipe sets the day after the last, the slow server's
    # own command the last day itself).
    extended_wrong = []
    for account_id, server, name, last_day, first in ledger_rows(
            db, "SELECT a.id, a.server_id, a.username, a.expires_on, o.expires_on FROM"
                " accounts a JOIN orders o ON o.id = a.made_by WHERE o.kind = 'purchase'"
                " AND a.username LIKE 'qbt_c%'"):
        renewals = sum(1 for (o,) in ledger_rows(
            db, f"SELECT id FROM orders WHERE account_id={account_id} AND kind='renewal'")
            if o in renewed)
        expected = dt.date.fromisoformat(first) + dt.timedelta(days=30 * renewals)
        on_server = shadow_expiry(name)
        if on_server is not None and server == "sg1":
            on_server -= dt.timedelta(days=1)
        if dt.date.fromisoformat(last_day) != expected or (renewals and on_server != expected):
            extended_wrong.append((name, renewals, last_day, str(on_server), str(expected)))
    removed_once = [name for name, chat in expired.items()
                    if shadow_expiry(name) is None and not any(
                        line.startswith(f"{name}:") for line in
                        Path("/etc/passwd").read_text().splitlines())
                    and sum("sudah dihapus" in m.body for m in telegram.messages(chat)) == 1]
    figures = {
        "kills": KILLS, "purchase attempts": shoppers.attempts,
        "renewal attempts": shoppers.renewal_attempts,
        "trial attempts": shoppers.trial_attempts, "orders": sum(final.values()),
        "orders paid": len(paid), "accounts on the server": sum(
            1 for order_id in paid if accounts[order_id]),
        "accounts delivered": sum(1 for order_id in paid if delivered["purchase"][order_id]),
        "lost (paid, no account or not delivered)": sum(
            1 for order_id in paid
            if not accounts[order_id] or not delivered["purchase"][order_id]),
        "duplicated accounts": sum(1 for n in accounts.values() if n > 1),
        "accounts without payment": sum(1 for order_id in accounts
                                        if order_id not in paid and order_id not in trials),
        "repeated delivery messages": sum(1 for kind in delivered.values()
                                          for n in kind.values() if n > 1),
        "renewals paid": len(renewed),
        "renewals lost (paid, not applied or not told)": sum(
            1 for o in renewed if not delivered["renewal"][o]),
        "accounts extended wrongly (twice, or not at all)": extended_wrong,
        "trials made": len(trials),
        "trials without exactly one account or message": sum(
            1 for o in trials if accounts[o] != 1 or delivered["trial"][o] != 1),
        "expired accounts removed once (and told once)": f"{len(removed_once)} of "
                                                         f"{len(expired)}",
        "stuck (not finished)": sum(n for s, n in final.items() if s not in TERMINAL),
        "final states": dict(final), "kills with orders in state": dict(moments),
    }
    print("\ncrash suite:", json.dumps(figures, indent=1))
    # The suite did exercise the shop.
    assert figures["orders paid"] + figures["renewals paid"] >= KILLS // 2, figures
    assert figures["lost (paid, no account or not delivered)"] == 0, figures
    assert figures["duplicated accounts"] == 0, figures
    assert figures["accounts without payment"] == 0, figures
    assert figures["stuck (not finished)"] == 0, figures
    assert figures["renewals paid"] >= 1 and figures["trials made"] >= 1, figures
    assert figures["renewals lost (paid, not applied or not told)"] == 0, figures
    assert figures["accounts extended wrongly (twice, or not at all)"] == [], figures
    assert figures["trials without exactly one account or message"] == 0, figures
    assert len(removed_once) == len(expired), figures
    assert final["delivered"] == len(paid) + len(renewed) + len(trials) + len(expired), figures
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
