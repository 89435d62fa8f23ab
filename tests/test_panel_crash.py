"""The crash suite on panel servers: the real `qrisbot run` sells on a loopback 3x-ui 3.4.0,
a 3x-ui 2.8.5 and a PasarGuard (served from this process) and is SIGKILLed, at random
moments and at the one that matters most: after the panel made (or extended) the client,
before the ledger recorded it. Afterwards every paid order has one client on its panel with
the order's secret, one account in the ledger, its account message; every paid renewal
added its days and its quota (quota_gb x months, usage never reset) exactly once.

Quick form (in the test command): 8 random kills. Long form, with the SSH crash suite:
    QRISBOT_CRASH_KILLS=200 .venv/bin/pytest tests/test_crash.py tests/test_panel_crash.py -s
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import re
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
import trio
from buyer import Buyer, eventually
from daemon import Daemon, write_config
from sshd import free_port
from test_crash import ledger_rows, states
from test_panel_shop import Panel

from qrisbot.provision.panels.terms import GB
from qrisbot.testing import config_for
from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.fake_xui import FakeXui
from qrisbot.testing.http import Request, Response
from qrisbot.testing.panel_faults import Fault

KILLS = int(os.environ.get("QRISBOT_CRASH_KILLS", "8"))
BUYERS = 3
GAP = (1.5, 5.0)  # seconds the daemon runs between kills
SECRET = "panel-crash-webhook-secret"
TERMINAL = {"delivered", "expired", "cancelled", "refunded"}
ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")
QUOTA_GB = 50
KINDS = {"x34": "3x-ui 3.4.0", "x28": "3x-ui 2.8.5", "pg": "pasarguard"}
# The calls that make and extend a client, as each fake names them.
CREATE = {"3x-ui 3.4.0": "clients/add", "3x-ui 2.8.5": "inbounds/addClient",
          "pasarguard": "create"}
EXTEND = {"3x-ui 3.4.0": "clients/update", "3x-ui 2.8.5": "inbounds/updateClient",
          "pasarguard": "modify"}
# The panel does the work and never answers: the daemon waits (30 s) and is killed.
ACTED_THEN_SILENT = Fault(hang=True, performed=True)
ACCOUNT = r"Akun VLESS Anda siap</b> \(order <code>(VPN\d+)"
READY_TEXT = "Akun VLESS Anda siap"
RENEWED = r"diperpanjang sampai [\d-]+</b> \(order <code>(VPN\d+)"


class Slow:
    """A panel that takes its time over every change it makes: it acts at once, answers up
    to `lag` seconds later, so kills land between the two."""

    lag = 0.0
    rng = random.Random(3)

    async def handle(self, request: Request) -> Response:
        answer: Response = await super().handle(request)  # type: ignore[misc]
        if request.method in ("POST", "PUT") and self.lag:
            await trio.sleep(self.rng.uniform(0, self.lag))
        return answer


class SlowXui(Slow, FakeXui):
    pass


class SlowMarzban(Slow, FakeMarzban):
    pass


class PanelServer(Panel):
    """A fake panel and its `[[servers]]` entry, with the reads the checks need."""

    def __init__(self, server_id: str, kind: str) -> None:
        self.id = server_id
        self.kind = kind
        if kind.startswith("3x-ui"):
            self.fake: Any = SlowXui(kind.split()[1], password="s3cret-pw")
            self.fake.add_inbound("vless")
            self.fake.add_inbound("vless")
        else:
            self.fake = SlowMarzban(kind)  # type: ignore[arg-type]

    @property
    def copies(self) -> int:
        """Clients one account is on this panel: one per configured inbound on 3x-ui."""
        return 2 if self.kind.startswith("3x-ui") else 1

    def server(self) -> dict[str, Any]:
        return self.entry(id=self.id, name=f"Panel {self.id}", quota_gb=QUOTA_GB,
                          capacity=10_000, domain=f"{self.id}.example.com")

    def clients(self) -> dict[str, list[str]]:
        """Username -> the secrets of its live clients (every inbound on 3x-ui)."""
        found: dict[str, list[str]] = collections.defaultdict(list)
        if self.kind.startswith("3x-ui"):
            for inbound in (1, 2):
                for client in self.fake.clients(inbound):
                    if client.get("enable", True):
                        name = re.sub(r"-2$", "", client["email"]) if inbound == 2 \
                            else client["email"]
                        found[name].append(client["id"])
        else:
            for name, user in self.fake.users.items():
                found[name].append(user.proxies["vless"]["id"])
        return found


def panel_config(tmp_path: Path, telegram, pakasir, panels: list[PanelServer], port: int
                 ) -> Path:
    raw = config_for(
        telegram.url, telegram.token, pakasir.url, pakasir.project, pakasir.api_key,
        str(tmp_path / "ledger.sqlite3"), [p.server() for p in panels],
        check_interval=4, payment_timeout=45, webhook_listen=f"127.0.0.1:{port}",
        webhook_secret=SECRET, webhook_fallback_interval=5,
    )
    raw["telegram"]["poll_timeout"] = 2
    return write_config(tmp_path / "config.toml", raw)


async def notify(pakasir, webhook: str, order_id: str) -> bool:
    """The buyer pays; Pakasir pushes it (lost while the shop is down: polling finds it)."""
    if not pakasir.pay(order_id):
        return False
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(webhook, headers={"X-Secret": SECRET}, json={
                "order_id": order_id, "amount": pakasir.transactions[order_id].amount,
                "status": "completed"})
    except httpx.HTTPError:
        pass
    return True


def told(telegram, pattern: str) -> collections.Counter[str]:
    """Order id -> how many messages matching `pattern` were sent for it."""
    counts: collections.Counter[str] = collections.Counter()
    for message in telegram.sent:
        if found := re.search(pattern, message.body):
            counts[found.group(1)] += 1
    return counts


def panel_secrets(panel: PanelServer) -> list[str]:
    return [s for secrets in panel.clients().values() for s in secrets]


def assert_no_secret_logged(tmp_path: Path, panels: list[PanelServer]) -> None:
    log = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
    for panel in panels:
        assert "s3cret-pw" not in log and "Adm1n-Pa55word" not in log
        for secret in panel_secrets(panel):
            assert secret not in log


# --- the moment that matters: the panel acted, the ledger does not know it yet -------------

async def test_a_kill_after_the_panel_acted_and_before_the_ledger_knew_gives_it_once(
    tmp_path, telegram, pakasir, nursery
):
    """One buyer on each panel, all three caught at once: the panels made (then extended)
    their clients and hold their answers; the daemon is killed while it waits."""
    panels = [PanelServer(server_id, kind) for server_id, kind in KINDS.items()]
    for panel in panels:
        await nursery.start(panel.fake.serve)
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/pakasir/webhook"
    daemon = Daemon(panel_config(tmp_path, telegram, pakasir, panels, port),
                    tmp_path / "daemon.log")
    db = tmp_path / "ledger.sqlite3"
    buyers = {p.id: Buyer(telegram, 9500 + n) for n, p in enumerate(panels)}
    today = dt.datetime.now(ZONE).date()
    orders: dict[str, str] = {}
    renewals: dict[str, str] = {}
    texts: dict[str, str] = {}
    used = 7 * GB

    async def buy(panel: PanelServer) -> None:
        _, orders[panel.id] = await buyers[panel.id].buys(
            username=f"qbt_{panel.id}", password=None, months=2, server=panel.id, within=30)
        panel.fake.fail(CREATE[panel.kind], ACTED_THEN_SILENT)
        await notify(pakasir, webhook, orders[panel.id])

    async def delivered(panel: PanelServer) -> None:
        texts[panel.id] = (await buyers[panel.id].sees(READY_TEXT, within=60)).text

    async def renew(panel: PanelServer) -> None:
        buyer = buyers[panel.id]
        if panel.kind.startswith("3x-ui"):
            panel.fake.set_usage(f"qbt_{panel.id}", up=used)
        else:
            panel.fake.set_usage(f"qbt_{panel.id}", used)
        buyer.says("/akun")
        listing = await buyer.sees("Akun saya", within=30)
        (button,) = [b for b in listing.button_data() if b.startswith("ren:")]
        _, renewals[panel.id] = await buyer.renews(button, months=1, within=30)
        panel.fake.fail(EXTEND[panel.kind], ACTED_THEN_SILENT)
        await notify(pakasir, webhook, renewals[panel.id])

    async def each(step: Any) -> None:
        async with trio.open_nursery() as steps:
            for panel in panels:
                steps.start_soon(step, panel)

    try:
        await daemon.start()
        await each(buy)
        await eventually(lambda: all(f"qbt_{p.id}" in p.clients() for p in panels), 30)
        await trio.sleep(0.3)
        await daemon.kill()
        assert states(db)["provisioning"] == 3  # the ledger has not recorded them
        await daemon.start()
        await each(delivered)
        await eventually(lambda: states(db)["delivered"] == 3, 30)
        for panel in panels:
            name = f"qbt_{panel.id}"
            ((secret,),) = ledger_rows(db, f"SELECT secret FROM accounts WHERE username='{name}'")
            assert panel.clients() == {name: [secret] * panel.copies}, panel.kind
            assert secret in texts[panel.id]
            assert panel.limit(name) == 2 * QUOTA_GB * GB
            assert panel.last_day(name) == today + dt.timedelta(days=60)

        # Renewals killed the same way: the panels set the new date and raised the limit.
        await each(renew)
        await eventually(lambda: all(p.limit(f"qbt_{p.id}") == 3 * QUOTA_GB * GB
                                     for p in panels), 30)
        await trio.sleep(0.3)
        await daemon.kill()
        assert states(db)["provisioning"] == 3
        await daemon.start()
        await eventually(lambda: states(db)["delivered"] == 6, 60)
    finally:
        assert await daemon.stop() == 0
    for panel in panels:
        name = f"qbt_{panel.id}"
        assert panel.limit(name) == 3 * QUOTA_GB * GB, panel.kind  # raised once, not twice
        assert panel.last_day(name) == today + dt.timedelta(days=90), panel.kind
        if panel.kind.startswith("3x-ui"):
            (client,) = [c for c in panel.fake.clients(1) if c["email"] == name]
            assert panel.fake.panel.traffic[name].up == used  # usage kept
            # Both inbounds' clients carry the same terms (2.x: a second email).
            (other,) = [c for c in panel.fake.clients(2) if c["email"] in (name, name + "-2")]
            assert (other["totalGB"], other["expiryTime"]) == (
                client["totalGB"], client["expiryTime"])
        else:
            assert panel.fake.users[name].used_traffic == used
        ((expires,),) = ledger_rows(db, f"SELECT expires_on FROM accounts WHERE username="
                                        f"'{name}'")
        assert dt.date.fromisoformat(expires) == today + dt.timedelta(days=90)
    assert told(telegram, ACCOUNT) == {o: 1 for o in orders.values()}
    assert told(telegram, RENEWED) == {o: 1 for o in renewals.values()}
    assert_no_secret_logged(tmp_path, panels)


# --- kills at random moments -----------------------------------------------------------------

class Shoppers:
    """Buyers on the panel servers who buy and renew like people do: when the bot goes
    quiet they pay the QR they have, or /cancel and start over."""

    def __init__(self, telegram, pakasir, webhook: str) -> None:
        self.telegram = telegram
        self.pakasir = pakasir
        self.webhook = webhook
        self.left_unpaid: set[str] = set()
        self.attempts = 0
        self.renewal_attempts = 0

    async def shop(self, index: int, stop: trio.Event) -> None:
        buyer = Buyer(self.telegram, 9600 + index)
        buyer.seen = max((m.message_id for m in self.telegram.messages(buyer.chat_id)),
                         default=0)
        rng = random.Random(100 + index)
        n = 0
        while not stop.is_set():
            n += 1
            with trio.move_on_after(15):
                if not (rng.random() < 0.4 and await self.renew(buyer, rng)):
                    await self.buy(buyer, rng, index, n)
                continue
            for message in self.telegram.messages(buyer.chat_id):
                found = re.search(r"VPN\d+", message.caption or "") if message.photo else None
                if found and found.group(0) not in self.left_unpaid:
                    await notify(self.pakasir, self.webhook, found.group(0))
            buyer.says("/cancel")
            await trio.sleep(1)
            buyer.seen = max((m.message_id for m in self.telegram.messages(buyer.chat_id)),
                             default=0)

    async def first_account(self, index: int) -> None:
        """Bought before the kills start, so there is something to renew from the first."""
        buyer = Buyer(self.telegram, 9600 + index)
        _, order_id = await buyer.buys(username=f"qbt_p{index}x0", password=None, months=1,
                                       server=list(KINDS)[index % len(KINDS)], within=30)
        await notify(self.pakasir, self.webhook, order_id)
        await buyer.sees(READY_TEXT, 60)

    async def buy(self, buyer: Buyer, rng: random.Random, index: int, n: int) -> None:
        self.attempts += 1
        _, order_id = await buyer.buys(username=f"qbt_p{index}x{n}", password=None,
                                       months=1, server=rng.choice(list(KINDS)), within=15)
        await self.pay_or_leave(order_id, rng)

    async def renew(self, buyer: Buyer, rng: random.Random) -> bool:
        buyer.says("/akun")
        listing = await buyer.sees("Akun saya", 15)
        buttons = [d for d in listing.button_data() if d.startswith("ren:")]
        if not buttons:
            return False
        self.renewal_attempts += 1
        _, order_id = await buyer.renews(rng.choice(buttons), months=1, within=15)
        await self.pay_or_leave(order_id, rng)
        return True

    async def pay_or_leave(self, order_id: str, rng: random.Random) -> None:
        if rng.random() < 0.85:
            await notify(self.pakasir, self.webhook, order_id)
        else:
            self.left_unpaid.add(order_id)


async def test_panel_buyers_under_sigkill_at_random_moments_get_exactly_what_they_paid(
    tmp_path, telegram, pakasir, nursery
):
    panels = [PanelServer(server_id, kind) for server_id, kind in KINDS.items()]
    for panel in panels:
        await nursery.start(panel.fake.serve)
        panel.fake.lag = 1.5
    port = free_port()
    daemon = Daemon(panel_config(tmp_path, telegram, pakasir, panels, port),
                    tmp_path / "daemon.log")
    db = tmp_path / "ledger.sqlite3"
    shoppers = Shoppers(telegram, pakasir, f"http://127.0.0.1:{port}/pakasir/webhook")
    rng = random.Random(20261208)
    moments: collections.Counter[str] = collections.Counter()
    stop = trio.Event()
    try:
        async with trio.open_nursery() as shopping:
            await daemon.start()
            async with trio.open_nursery() as first:
                for index in range(BUYERS):
                    first.start_soon(shoppers.first_account, index)
            for index in range(BUYERS):
                shopping.start_soon(shoppers.shop, index, stop)
            for _ in range(KILLS):
                await trio.sleep(rng.uniform(*GAP))
                for state, n in states(db).items():
                    if n and state not in TERMINAL:
                        moments[state] += 1
                await daemon.kill()
                await trio.sleep(rng.uniform(0, 0.5))
                await daemon.start()
            stop.set()
        with trio.move_on_after(120):
            while any(s not in TERMINAL and n for s, n in states(db).items()):  # noqa: ASYNC110
                await trio.sleep(0.5)  # (the ledger is another process's file)
    finally:
        status = await daemon.stop()
    assert status == 0

    completed = {t.order_id for t in pakasir.transactions.values() if t.status == "completed"}
    kinds = dict(ledger_rows(db, "SELECT id, kind FROM orders"))
    paid = {o for o in completed if kinds.get(o) == "purchase"}
    renewed = {o for o in completed if kinds.get(o) == "renewal"}
    delivered, extended = told(telegram, ACCOUNT), told(telegram, RENEWED)
    by_server = {p.id: p for p in panels}
    accounts = ledger_rows(
        db, "SELECT a.id, a.server_id, a.username, a.secret, a.expires_on, o.id, o.expires_on"
            " FROM accounts a JOIN orders o ON o.id = a.made_by")
    made = collections.Counter(order_id for *_, order_id, _ in accounts)
    wrong = []
    for account_id, server_id, name, secret, last_day, _, first in accounts:
        panel = by_server[server_id]
        renewals = sum(1 for (o,) in ledger_rows(
            db, f"SELECT id FROM orders WHERE account_id={account_id} AND kind='renewal'")
            if o in renewed)
        expected = dt.date.fromisoformat(first) + dt.timedelta(days=30 * renewals)
        clients = panel.clients().get(name, [])
        if (clients != [secret] * panel.copies or dt.date.fromisoformat(last_day) != expected
                or panel.last_day(name) != expected
                or panel.limit(name) != QUOTA_GB * (1 + renewals) * GB):
            wrong.append((server_id, name, renewals, last_day, str(panel.last_day(name)),
                          panel.limit(name) // GB, str(expected)))
    names = {name for _, _, name, *_ in accounts}
    strays = [(p.id, n) for p in panels for n in p.clients() if n not in names]
    final = states(db)
    figures = {
        "kills": KILLS, "purchase attempts": shoppers.attempts,
        "renewal attempts": shoppers.renewal_attempts, "orders": sum(final.values()),
        "orders paid": len(paid),
        "accounts on a panel with the order's secret": sum(
            1 for _, server_id, name, secret, *_ in accounts
            if by_server[server_id].clients().get(name) == [secret] * by_server[server_id].copies),
        "lost (paid, no account or not delivered)": sum(
            1 for o in paid if made[o] != 1 or not delivered[o]),
        "accounts without payment": sum(1 for o in made if o not in paid),
        "clients on a panel without an account": strays,
        "repeated account messages": sum(1 for n in delivered.values() if n > 1),
        "renewals paid": len(renewed),
        "renewals lost (paid, not applied or not told)": sum(
            1 for o in renewed if not extended[o]),
        "repeated renewal messages": sum(1 for n in extended.values() if n > 1),
        "accounts with wrong days or quota (ledger or panel)": wrong,
        "stuck (not finished)": sum(n for s, n in final.items() if s not in TERMINAL),
        "final states": dict(final), "kills with orders in state": dict(moments),
    }
    print("\npanel crash suite:", json.dumps(figures, indent=1))
    # Bought and renewed while the kills went on, beyond the first accounts.
    assert figures["orders paid"] > BUYERS and figures["renewals paid"] >= 1, figures
    assert figures["lost (paid, no account or not delivered)"] == 0, figures
    assert figures["accounts without payment"] == 0, figures
    assert strays == [], figures
    assert figures["renewals lost (paid, not applied or not told)"] == 0, figures
    assert wrong == [], figures
    assert figures["stuck (not finished)"] == 0, figures
    assert final["delivered"] == len(paid) + len(renewed), figures
    assert_no_secret_logged(tmp_path, panels)

