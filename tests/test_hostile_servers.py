"""Servers that misbehave on purpose (tests/hostile_sshd.py): whatever a server does, every
call to it ends by a deadline with the backend's own error, the daemon keeps running and
selling on its other servers, and a paid order ends provisioned or failed with retries and
an admin notice."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
import trio
from buyer import Buyer, buy_on_each
from conftest import server_entry
from daemon import Daemon, write_config
from hostile_sshd import HostileSshd
from sshd import keygen

from qrisbot.provision import Presence, ServerError, SshProvisioner
from qrisbot.provision.port import Account
from qrisbot.testing import config_for

ADMIN = 9001
BAD_MODES = ["refuse", "slow-open", "no-exit", "silent", "mute", "flood"]
TIMEOUTS = {"connect_timeout": 1, "command_timeout": 1}
DEADLINE = 3 * 1 + 1 + 5  # the Connection's own deadline for these timeouts


@pytest.fixture
def hostile():
    servers: list[HostileSshd] = []

    def make(mode: str = "answer") -> HostileSshd:
        servers.append(HostileSshd(mode))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def hostile_entry(server_id: str, hostile: HostileSshd, folder: Path, **timeouts: float):
    folder.mkdir(exist_ok=True)
    key = folder / f"{server_id}_key"
    if not key.exists():
        keygen(key)
    known = hostile.known_hosts(folder / f"{server_id}_known_hosts")
    return server_entry(
        server_id, ssh={"host": "127.0.0.1", "port": hostile.port, "user": "root",
                        "key_file": str(key), "known_hosts": str(known),
                        **(timeouts or TIMEOUTS)},
        commands={"create": "read -r p; exit 0", "exists": "exit 1"})


@pytest.mark.parametrize("mode", BAD_MODES)
async def test_every_misbehaviour_ends_by_the_deadline_with_the_backends_error(
    hostile, tmp_path, make_config, mode
):
    bad = hostile("answer")
    server = make_config([hostile_entry("h1", bad, tmp_path)]).servers[0]
    provisioner = SshProvisioner()
    try:
        assert await provisioner.presence(server, "budi_99") is Presence.ABSENT
        bad.mode = mode
        account = Account(order_id="VPN1", username="budi_99", secret="rahasia123",
                          expires=trio_date(), months=1, days=30)
        calls = [provisioner.presence(server, "budi_99")]
        if mode not in ("silent", "mute"):  # these wait out the whole deadline: once is enough
            calls.append(provisioner.create(server, account))
        for call in calls:
            started = time.monotonic()
            with pytest.raises(ServerError):
                await call
            assert time.monotonic() - started < DEADLINE + 3
        # The server behaves again: the next call connects anew and is answered.
        bad.mode = "answer"
        assert await provisioner.presence(server, "budi_99") is Presence.ABSENT
    finally:
        provisioner.close()


def trio_date():
    import datetime as dt

    return dt.date.today() + dt.timedelta(days=30)


# --- the real daemon with hostile servers beside a healthy one --------------------------

def ledger_rows(db: Path, order_ids: list[str]) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        marks = ",".join("?" * len(order_ids))
        rows = conn.execute(f"SELECT id, state, attempts FROM orders WHERE id IN ({marks})",
                            order_ids).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


async def test_the_daemon_keeps_selling_beside_servers_that_misbehave(
    hostile, tmp_path, telegram, pakasir, sshd, linux_users
):
    bad = {mode: hostile("answer") for mode in BAD_MODES}
    servers = [hostile_entry(f"h{n}", bad[mode], tmp_path / "keys")
               for n, mode in enumerate(BAD_MODES)]
    servers.append(server_entry("sg1", ssh=sshd.access()))
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"), servers,
                     {"admins": [ADMIN]}, check_interval=4, payment_timeout=120)
    raw["telegram"]["poll_timeout"] = 2
    daemon = Daemon(write_config(tmp_path / "config.toml", raw), tmp_path / "daemon.log")
    await daemon.start()
    try:
        # A buyer on each hostile server gets a QR while the server still answers.
        orders = await buy_on_each(telegram, BAD_MODES, chat_base=9500, server_prefix="h",
                                   tag="hostile", within=30)
        # Each server turns hostile its own way, then every order is paid.
        for mode, server in bad.items():
            server.mode = mode
        for _, order_id in orders.values():
            pakasir.pay(order_id)

        # Meanwhile the healthy server sells as usual.
        linux_users.append("qbt_good")
        good = Buyer(telegram, 9600)
        _, good_order = await good.buys(username="qbt_good", password="good-pass1",
                                        within=30)
        pakasir.pay(good_order)
        await good.sees("Akun SSH Anda siap", within=30)

        # Each paid order on a hostile server failed, is retried, and the buyer and the
        # admin were told; none is left in `provisioning` with nobody told.
        async def told(mode: str) -> None:
            buyer, order_id = orders[mode]
            await buyer.sees("Pembayaran Anda <b>aman</b>", within=DEADLINE + 30)
            with trio.fail_after(DEADLINE + 30):
                await telegram.wait_for(
                    ADMIN, lambda m: order_id in m.body and "gagal dibuat" in m.body)

        async with trio.open_nursery() as waiting:
            for mode in BAD_MODES:
                waiting.start_soon(told, mode)
        rows = ledger_rows(tmp_path / "ledger.sqlite3", [o for _, o in orders.values()])
        for mode, (_, order_id) in orders.items():
            state, attempts = rows[order_id]
            assert state in ("failed", "provisioning") and attempts >= 1, (mode, state)

        # A buyer asking about a name on a silent server hears back by the dialogue's
        # deadline, and other buyers are answered meanwhile.
        asking = Buyer(telegram, 9601)
        await asking.picks_server("h3", within=30)  # "silent"
        asking.says("qbt_ask")
        other = Buyer(telegram, 9602)
        other.says("/start")
        await other.sees("Pilih server", within=5)
        await asking.sees("tidak bisa dihubungi", within=30)
        assert daemon.process is not None and daemon.process.returncode is None

        # A stop is not held up by the wedged servers: a call under way ends by its
        # deadline, and no new attempt starts.
        daemon.signal(signal.SIGTERM)
        with trio.fail_after(DEADLINE + 10):
            assert await daemon.process.wait() == 0
    finally:
        await daemon.stop()
    log = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "hostile-pw" not in log
