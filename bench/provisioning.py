"""Benchmark 5: 50 accounts on one sshd, reused serialised connection vs fresh connections.

qrisbot keeps one SSH connection per server and sends it one command at a time; the
original design implies a new SSH connection (handshake, key exchange, login) per account.
Both make VLESS accounts in an autoscript-layout file through the same recipe, over a real
local sshd (needs sshd, run as root).
    python bench/provisioning.py [ACCOUNTS]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import sshd as test_sshd  # noqa: E402
from common import machine, vless_server  # noqa: E402

from qrisbot.config import Server  # noqa: E402
from qrisbot.provision import Account, SshProvisioner  # noqa: E402
from qrisbot.provision.ssh.connections import Connections  # noqa: E402


def accounts(count: int, prefix: str) -> list[Account]:
    return [Account(order_id=f"VPN{n}", username=f"{prefix}{n}", secret=str(uuid.uuid4()),
                    expires=dt.date(2030, 1, 1), months=1, days=30) for n in range(count)]


async def reused(server: Server, batch: list[Account]) -> float:
    provisioner = SshProvisioner()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:  # all at once: the connection serialises them
        for account in batch:
            nursery.start_soon(provisioner.create, server, account)
    elapsed = time.perf_counter() - start
    provisioner.close()
    return elapsed


async def one_at_a_time(server: Server, batch: list[Account]) -> float:
    provisioner = SshProvisioner()
    start = time.perf_counter()
    for account in batch:  # each waits for the last: no batching, only the reused connection
        await provisioner.create(server, account)
    elapsed = time.perf_counter() - start
    provisioner.close()
    return elapsed


async def fresh(server: Server, batch: list[Account]) -> float:
    start = time.perf_counter()
    for account in batch:
        provisioner = SshProvisioner(Connections())  # a new SSH connection every time
        await provisioner.create(server, account)
        provisioner.close()
    return time.perf_counter() - start


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sshd = test_sshd.start(tmp / "sshd")
        try:
            figures = {}
            for label, how in (("reused, batched", reused), ("reused, one by one", one_at_a_time),
                               ("fresh connection", fresh)):
                config = tmp / f"{how.__name__}.json"
                server = vless_server(config, sshd.access())
                figures[label] = await how(server, accounts(count, how.__name__))
                assert config.read_text().count("#& ") == count
        finally:
            test_sshd.stop(sshd)
    print(f"machine: {machine()}; {count} VLESS accounts on one local sshd")
    for label, seconds in figures.items():
        ratio = figures["fresh connection"] / seconds
        print(f"{label:20} {seconds:6.2f} s  {count / seconds:6.1f} accounts/s  "
              f"x{ratio:.1f} vs a fresh connection per account")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 50)
