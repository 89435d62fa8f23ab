"""Benchmark 9: removing N expired VLESS accounts (default 500) from one server.

qrisbot removes the accounts due on a server together: one script, one lock, one restart
of Xray per batch (`SshProvisioner.remove` with all of them). The peer removes them one by
one over the same reused connection, as a loop over expired accounts calling a delete
command would (each call its own script, lock and restart). Both edit an autoscript-layout
file over a real local sshd (needs sshd, run as root); the restart command is `true` here,
so the real cost of one-by-one (an Xray restart per account, dropping every user's
connections each time) is not even counted.
    python bench/removals.py [ACCOUNTS]
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
from common import VLESS_LAYOUT, machine, vless_server  # noqa: E402

from qrisbot.config import Server  # noqa: E402
from qrisbot.provision import (  # noqa: E402
    MAX_BATCH,
    Account,
    Removal,
    Removed,
    SshProvisioner,
)

LAST_DAY = dt.date(2026, 11, 1)


async def fill(provisioner: SshProvisioner, server: Server, count: int, prefix: str
               ) -> list[Removal]:
    accounts = [Account(order_id=f"VPN{n}", username=f"{prefix}{n}", secret=str(uuid.uuid4()),
                        expires=LAST_DAY, months=1, days=30) for n in range(count)]
    async with trio.open_nursery() as nursery:  # made together: batched creation
        for account in accounts:
            nursery.start_soon(provisioner.create, server, account)
    return [Removal(made_by=a.order_id, username=a.username, secret=a.secret,
                    expires=a.expires) for a in accounts]


async def batched(provisioner: SshProvisioner, server: Server, removals: list[Removal]
                  ) -> int:
    outcomes = await provisioner.remove(server, removals)
    return sum(o is Removed.GONE for o in outcomes.values())


async def one_by_one(provisioner: SshProvisioner, server: Server, removals: list[Removal]
                     ) -> int:
    gone = 0
    for removal in removals:
        outcomes = await provisioner.remove(server, [removal])
        gone += outcomes.get(removal.username) is Removed.GONE
    return gone


async def main(count: int) -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sshd = test_sshd.start(tmp / "sshd")
        try:
            for label, how in (("batched (qrisbot)", batched), ("one by one", one_by_one)):
                config = tmp / f"{how.__name__}.json"
                server = vless_server(config, sshd.access())
                provisioner = SshProvisioner()
                removals = await fill(provisioner, server, count, how.__name__[:3])
                assert config.read_text().count("#& ") == count
                start = time.perf_counter()
                gone = await how(provisioner, server, removals)
                figures[label] = time.perf_counter() - start
                provisioner.close()
                assert gone == count and config.read_text() == VLESS_LAYOUT, label
        finally:
            test_sshd.stop(sshd)
    print(f"machine: {machine()}; {count} expired VLESS accounts removed from one local sshd")
    for label, seconds in figures.items():
        print(f"{label:18} {seconds:7.2f} s  {count / seconds:7.1f} accounts/s")
    print(f"batched x{figures['one by one'] / figures['batched (qrisbot)']:.1f} faster "
          f"(and 1 Xray restart per {min(count, MAX_BATCH)} accounts instead of 1 per account)")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 500)
