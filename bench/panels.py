"""Benchmark 11: web-panel servers — accounts created per second, and one usage read.

1. N accounts (default 100) created one after another on the 3x-ui fake, 3.1+ (3.4.0) and
   2.x (2.8.5), two inbounds each: one `XuiBackend` keeping its session (qrisbot) against
   a fresh backend per create, which logs in for every account (a bot that logs in per
   call). Accounts/s, logins and panel calls.
2. The traffic of M accounts (default 1,000, seeded straight into the fake) read on 3x-ui
   (3.4.0 and 2.8.5) and on Marzban: `backend.usage()`, one call per server, against one
   read per account over the same logged-in session (3x-ui: the client's traffic
   endpoint, `clients/traffic` on 3.1+, `inbounds/getClientTraffics` per email on 2.x,
   where an account has one email per inbound; Marzban: `GET /api/user/<name>`). Wall
   seconds, this process's CPU seconds (time.process_time) and panel calls; both reads
   are checked against the traffic seeded. usage() is the median of 5 calls.

Each fake runs in its own process (bench/panel_fake.py), so that this process's CPU time
is the shop's side alone and the fake (pure Python, slower than a real panel) does not
share the trio loop with the code measured.
    python bench/panels.py [N] [M]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio
from common import machine, median, spawn
from panel_fake import PASSWORD, TAG, used

from qrisbot.config import Panel, Rupiah, Server, Shop
from qrisbot.provision.panels.marzban import MarzbanBackend
from qrisbot.provision.panels.xui import XuiBackend
from qrisbot.provision.panels.xui_session import Family
from qrisbot.provision.port import Account

SHOP = Shop(timezone="Asia/Jakarta")
V31, V2 = "3.4.0", "2.8.5"
Stats = dict[str, Any]


class Fake:
    """A panel fake in a child process: its URL and its counters."""

    def __init__(self, kind: str, version: str = "") -> None:
        self.process = spawn("bench/panel_fake.py", kind, version)
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}/"

    async def stats(self) -> Stats:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.url + "_bench/stats")).json()  # type: ignore[no-any-return]

    async def seed(self, count: int) -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            (await client.post(self.url + "_bench/seed", params={"count": count})
             ).raise_for_status()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def server(kind: str, url: str) -> Server:
    if kind == "xui":
        panel = Panel(type="3x-ui", url=url, username="admin", password=PASSWORD,
                      inbound_ids=(1, 2), sub_url="https://bench.example.com:2096/sub/")
    else:
        panel = Panel(type="marzban", url=url, username="admin", password=PASSWORD,
                      inbounds=(TAG,), sub_url="https://bench.example.com")
    return Server(id="bench", name="Bench", protocol="vless", domain="bench.example.com",
                  price_per_month=Rupiah(15000), quota_gb=100, ip_limit=2, panel=panel)


def accounts(count: int, prefix: str) -> list[Account]:
    expires = dt.date.today() + dt.timedelta(days=30)
    return [Account(f"{prefix.upper()}{n}", f"{prefix}{n}", str(uuid.uuid4()), expires, 1, 30)
            for n in range(count)]


# --- 1. creates ---------------------------------------------------------------------------

async def create_reused(panel: Server, batch: list[Account]) -> None:
    backend = XuiBackend(panel, SHOP)
    for account in batch:
        await backend.create(account)
    await backend.aclose()


async def create_fresh(panel: Server, batch: list[Account]) -> None:
    for account in batch:
        backend = XuiBackend(panel, SHOP)  # its own session: a login for this call
        await backend.create(account)
        await backend.aclose()


CREATES: dict[str, Callable[[Server, list[Account]], Awaitable[None]]] = {
    "reused session": create_reused, "login per create": create_fresh}


async def creates(version: str, count: int) -> dict[str, dict[str, float]]:
    fake = Fake("xui", version)
    try:
        panel = server("xui", fake.url)
        results = {}
        for name, run in CREATES.items():
            batch = accounts(count, "r" if run is create_reused else "f")
            before = await fake.stats()
            start, cpu = time.perf_counter(), time.process_time()
            await run(panel, batch)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            after = await fake.stats()
            results[name] = {"seconds": seconds, "rate": count / seconds, "cpu": cpu,
                             "fake_cpu": after["cpu"] - before["cpu"],
                             "logins": after["logins"] - before["logins"],
                             "calls": after["calls"] - before["calls"]}
        return results
    finally:
        fake.close()


# --- 2. usage -----------------------------------------------------------------------------

async def per_account_xui(backend: XuiBackend, names: list[str]) -> dict[str, int]:
    family = backend.family
    session = backend._session  # the backend's own logged-in session, reused
    found = {}
    for name in names:
        if family is Family.V3_1:
            emails, path = [name], "clients/traffic/{}"
        else:  # 2.x: the account's email in each inbound (see xui.py)
            emails, path = [name, f"{name}-2"], "inbounds/getClientTraffics/{}"
        total = 0
        for email in emails:
            row = await session.api(family, "GET", path, email)  # type: ignore[arg-type]
            total += row["up"] + row["down"]
        found[name] = total
    return found


async def per_account_marzban(backend: MarzbanBackend, names: list[str]) -> dict[str, int]:
    found = {}
    for name in names:
        user = await backend._read(name)  # GET api/user/<name>, as presence() does
        assert user is not None
        found[name] = user.used
    return found


async def usage(kind: str, version: str, count: int) -> dict[str, dict[str, float]]:
    fake = Fake(kind, version)
    try:
        await fake.seed(count)
        panel = server(kind, fake.url)
        backend: XuiBackend | MarzbanBackend = (
            XuiBackend(panel, SHOP) if kind == "xui" else MarzbanBackend(panel, SHOP))
        await backend.presence("warmup")  # logged in before either is timed
        names = [f"seed{n}" for n in range(count)]
        expected = {name: used(n) for n, name in enumerate(names)}

        async def batch() -> dict[str, int]:
            return {name: u.used for name, u in (await backend.usage()).items()}

        async def each() -> dict[str, int]:
            if isinstance(backend, XuiBackend):
                return await per_account_xui(backend, names)
            return await per_account_marzban(backend, names)

        results = {}
        # One call of ~50 ms is at the scheduler's mercy: median of 5. The loop of 1,000
        # calls evens itself out: once.
        for name, read, rounds in (("usage(), one call", batch, 5),
                                   ("one read per account", each, 1)):
            walls, cpus, fake_cpus, calls = [], [], [], []
            for _ in range(rounds):
                before = await fake.stats()
                start, cpu = time.perf_counter(), time.process_time()
                found = await read()
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
                after = await fake.stats()
                if found != expected:
                    raise SystemExit(f"{kind} {version} {name}: other figures than seeded")
                fake_cpus.append(after["cpu"] - before["cpu"])
                calls.append(after["calls"] - before["calls"])
            results[name] = {"seconds": median(walls), "cpu": median(cpus),
                             "fake_cpu": median(fake_cpus), "calls": median(calls)}
        await backend.aclose()
        return results
    finally:
        fake.close()


# --- the run ------------------------------------------------------------------------------

async def main(count: int, readers: int) -> None:
    print(f"machine: {machine()}; {count} creates, usage of {readers} accounts "
          "(CPU: this process; the fake's own in brackets)", flush=True)
    for version in (V31, V2):
        results = await creates(version, count)
        for name, r in results.items():
            print(f"3x-ui {version} create, {name:16} {r['rate']:6.1f} accounts/s  "
                  f"{r['seconds']:5.2f} s  CPU {r['cpu']:5.2f} s ({r['fake_cpu']:5.2f} s)  "
                  f"{r['logins']:3.0f} logins  {r['calls'] / count:3.1f} calls/account",
                  flush=True)
        reused, fresh = results["reused session"], results["login per create"]
        print(f"3x-ui {version} create: reused session x{reused['rate'] / fresh['rate']:.2f} "
              "the accounts/s of a login per create", flush=True)
    for kind, version in (("xui", V31), ("xui", V2), ("marzban", "")):
        label = f"3x-ui {version}" if kind == "xui" else "Marzban 0.8"
        results = await usage(kind, version, readers)
        for name, r in results.items():
            print(f"{label} usage, {name:21} {r['seconds']:6.3f} s wall  "
                  f"CPU {r['cpu']:6.3f} s ({r['fake_cpu']:6.3f} s)  {r['calls']:5.0f} calls",
                  flush=True)
        one, each = results["usage(), one call"], results["one read per account"]
        print(f"{label} usage: usage() x{each['seconds'] / one['seconds']:.1f} faster (wall), "
              f"x{each['cpu'] / one['cpu']:.1f} less CPU than one read per account",
              flush=True)


if __name__ == "__main__":
    accounts_n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    readers_n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    trio.run(main, accounts_n, readers_n)
