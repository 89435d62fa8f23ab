"""The webhook port under a flood, on the real process with a lowered descriptor limit:
idle connections cannot starve the shop of descriptors, and the watchdog keeps pinging."""

from __future__ import annotations

import resource
import socket as stdlib_socket

import trio
from buyer import Buyer
from conftest import server_entry
from daemon import Daemon, write_config
from sshd import free_port

from qrisbot.testing import config_for

SECRET = "whsec-0123456789abcdef"
PATH = "/pakasir/webhook"
FILES = 128  # the daemon's descriptor limit in this test (systemd's default is 1,024)


def head(secret: str | None) -> bytes:
    extra = f"X-Secret: {secret}\r\n" if secret else ""
    return (f"POST {PATH} HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100\r\n{extra}\r\n").encode()


async def open_idle(port: int, secret: str | None) -> trio.socket.SocketType:
    sock = trio.socket.socket()
    await sock.connect(("127.0.0.1", port))
    await sock.send(head(secret))
    return sock


async def test_idle_connections_cannot_starve_the_shop(
    tmp_path, telegram, pakasir, sshd, linux_users
):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this side holds the flood
    port = free_port()
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", ssh=sshd.access())],
                     check_interval=4, payment_timeout=120, webhook_listen=f"127.0.0.1:{port}",
                     webhook_secret=SECRET, webhook_fallback_interval=4)
    raw["telegram"]["poll_timeout"] = 2
    daemon = Daemon(write_config(tmp_path / "config.toml", raw), tmp_path / "daemon.log")
    notify_path = tmp_path / "notify.sock"
    notify = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    await daemon.start(max_files=FILES, NOTIFY_SOCKET=str(notify_path),
                       WATCHDOG_USEC="1000000")
    flood: list[trio.socket.SocketType] = []
    try:
        buyer = Buyer(telegram, 8801)
        buyer.says("/start")
        await buyer.sees("Pilih server", 30)

        # Without the secret, the headers are enough for an answer: no body is awaited.
        probe = await open_idle(port, None)
        with trio.fail_after(2):
            answer = await probe.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401"), answer
        probe.close()

        # Hundreds of idle connections, with and without the secret, none sending a body:
        # more than the daemon has descriptors.
        for n in range(2 * FILES):
            flood.append(await open_idle(port, SECRET if n % 2 else None))

        # A buyer buys from start to account meanwhile: QR (Pakasir), Telegram and SSH all
        # need descriptors.
        linux_users.append("qbt_flood")
        _, order_id = await buyer.buys(username="qbt_flood", password="flood-pass1",
                                       within=30)
        pakasir.pay(order_id)
        await buyer.sees("Akun SSH Anda siap", 30)

        # The watchdog went on pinging through all of it.
        while True:
            try:
                pings = notify.recv(4096)
            except BlockingIOError:
                break
            assert pings
        await trio.sleep(2)
        assert b"WATCHDOG=1" in notify.recv(4096)

        # A connection that showed the secret but sends no body is answered by the deadline.
        with trio.fail_after(30):
            answer = await flood[1].recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert daemon.process is not None and daemon.process.returncode is None
    finally:
        for sock in flood:
            sock.close()
        notify.close()
        await daemon.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    log = (tmp_path / "daemon.log").read_text()
    assert "Too many open files" not in log, log[-2000:]
