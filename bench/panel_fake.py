"""A panel fake in its own process for bench/panels.py: 3x-ui (a version) or Marzban.

    python bench/panel_fake.py xui 3.4.0 | python bench/panel_fake.py marzban

Prints its port, then serves the fake (qrisbot/testing) with two inbounds (3x-ui) until
killed. Two bench-only paths sit beside the panel's own: `GET /_bench/stats` (logins and
calls so far) and `POST /_bench/seed?count=N` (N accounts with traffic, put straight into
the fake's state, as if sold long ago).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import trio

from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.fake_xui import FakeXui
from qrisbot.testing.http import Request, Response
from qrisbot.testing.marzban_api import user_call

PASSWORD = "Adm1n-Pa55word"
INBOUNDS = (1, 2)
TAG = "VLESS TCP REALITY"
GB = 2**30


def used(n: int) -> int:
    """The traffic seeded for the n-th account (bytes), so that readers can be checked."""
    return (n + 1) * 1_000_003


def seed_xui(fake: FakeXui, count: int) -> None:
    expiry = int(time.time() + 30 * 86400) * 1000
    for inbound in INBOUNDS:
        clients: list[dict[str, Any]] = []
        for n in range(count):
            # 2.x: an email once in the whole panel (the backend's `<name>-<inbound>`).
            email = f"seed{n}" if inbound == INBOUNDS[0] or fake.version.shared_emails \
                else f"seed{n}-{inbound}"
            clients.append({"id": str(uuid.UUID(int=n + 1)), "email": email,
                            "subId": f"{n:016x}", "totalGB": 100 * GB,
                            "expiryTime": expiry, "limitIp": 2, "enable": True,
                            "flow": "", "tgId": 0, "reset": 0, "comment": f"qrisbot S{n}"})
        fake.panel.add_clients(inbound, clients)
    for n in range(count):
        fake.set_usage(f"seed{n}", up=used(n) // 2, down=used(n) - used(n) // 2)


def seed_marzban(fake: FakeMarzban, count: int) -> None:
    expire = int(time.time() + 30 * 86400)
    for n in range(count):
        user_call(fake, "create", "", {
            "username": f"seed{n}", "proxies": {"vless": {"id": str(uuid.UUID(int=n + 1)),
                                                          "flow": ""}},
            "inbounds": {"vless": [TAG]}, "expire": expire, "data_limit": 100 * GB,
            "data_limit_reset_strategy": "no_reset", "status": "active"})
        fake.set_usage(f"seed{n}", used(n))


async def main(kind: str, version: str) -> None:
    fake: FakeXui | FakeMarzban
    if kind == "xui":
        fake = FakeXui(version, password=PASSWORD)
        for _ in INBOUNDS:
            fake.add_inbound("vless")
    else:
        fake = FakeMarzban("marzban", password=PASSWORD)
    panel_handle = fake.handle

    async def handle(request: Request) -> Response:
        if request.path == "/_bench/stats":
            return Response.json({"logins": fake.logins, "calls": len(fake.calls),
                                  "cpu": time.process_time()})
        if request.path == "/_bench/seed":
            count = int(request.query["count"])
            if isinstance(fake, FakeXui):
                seed_xui(fake, count)
            else:
                seed_marzban(fake, count)
            return Response.json({"seeded": count})
        return await panel_handle(request)

    fake.handle = handle  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        port = await nursery.start(fake.serve)
        print(port, flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
