"""The daemon's health watch on panel servers, the whole shop in process: a panel that stops
answering (stopped, hanging, or only its proxy's 502 page left) is told to the admins once,
and once again when it is back; so is a panel that answers but refuses the shop's password
(as an SSH key refused is: nothing can be sold there until the seller fixes it)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from buyer import Buyer
from test_panel_shop import Panel

from qrisbot.shop.servers import PROBE_INTERVAL
from qrisbot.testing.http import serve
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG

ADMIN = 9001
DOWN, UP = "Server NL1 tidak menjawab", "Server NL1 menjawab lagi"
KINDS = ["3x-ui 2.8.5", "3x-ui 3.4.0", "marzban", "pasarguard"]


async def running(nursery: trio.Nursery, fake: Any, port: int = 0) -> trio.CancelScope:
    """Serve the fake (on `port`, 0: any) until the returned scope is cancelled."""
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await serve(fake.handle, port=port, task_status=task_status)

    fake.port = await nursery.start(run)
    return scope


async def shop_on(kind: str, nursery, make_config, start_shop) -> tuple[Panel, trio.CancelScope]:
    panel = Panel(kind)
    scope = await running(nursery, panel.fake)
    await start_shop(make_config([panel.entry()], shop={"admins": [ADMIN]}), backends=None)
    return panel, scope


def notices(admin: Buyer, text: str) -> int:
    return sum(text in m.body for m in admin.telegram.messages(ADMIN))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stopped_panel_is_down_once_and_up_once_when_it_is_back(
        autojump_clock, nursery, make_config, start_shop, telegram, kind):
    admin = Buyer(telegram, ADMIN)
    panel, scope = await shop_on(kind, nursery, make_config, start_shop)
    await trio.sleep(PROBE_INTERVAL + 10)  # one probe answered: nothing to say
    assert notices(admin, "tidak menjawab") == 0
    scope.cancel()  # the panel's process stops: connections refused
    down = await admin.sees(DOWN, within=PROBE_INTERVAL + 10)
    assert "Connection refused" in down.text or "cannot connect" in down.text, down.text
    await trio.sleep(3 * PROBE_INTERVAL)  # still down: told once
    await running(nursery, panel.fake, panel.fake.port)
    await admin.sees(UP, within=PROBE_INTERVAL + 10)
    await trio.sleep(2 * PROBE_INTERVAL)
    assert (notices(admin, "tidak menjawab"), notices(admin, "menjawab lagi")) == (1, 1)


@pytest.mark.parametrize("fault", [HANG, BAD_GATEWAY], ids=["hang", "proxy-502"])
@pytest.mark.parametrize("kind", ["3x-ui 3.4.0", "marzban"])
async def test_a_hanging_panel_or_a_proxy_without_its_panel_is_down(
        autojump_clock, nursery, make_config, start_shop, telegram, kind, fault):
    admin = Buyer(telegram, ADMIN)
    panel, _ = await shop_on(kind, nursery, make_config, start_shop)
    await trio.sleep(PROBE_INTERVAL + 10)
    panel.fake.fail("inbounds/list" if kind.startswith("3x-ui") else "get", fault, times=3)
    await admin.sees(DOWN, within=PROBE_INTERVAL + 130)
    await admin.sees(UP, within=4 * PROBE_INTERVAL)
    assert (notices(admin, "tidak menjawab"), notices(admin, "menjawab lagi")) == (1, 1)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_password_is_told_once_with_its_reason(
        autojump_clock, nursery, make_config, start_shop, telegram, kind):
    admin = Buyer(telegram, ADMIN)
    panel, _ = await shop_on(kind, nursery, make_config, start_shop)
    await trio.sleep(PROBE_INTERVAL + 10)
    # The seller changes the panel's admin password; the shop's session or token ends.
    if kind.startswith("3x-ui"):
        panel.fake.password = "n3w-pw-on-the-panel"
        panel.fake.expire_sessions()
    else:
        panel.fake.admin = ("admin", "N3w-Pa55word-0n-it")
        panel.fake.expire_tokens()
    await trio.sleep(3 * PROBE_INTERVAL)
    logins = [c for c in getattr(panel.fake, "calls", []) if c in ("login", ("token", ""))]
    assert logins  # the probes did ask again, and were refused
    assert notices(admin, "tidak menjawab") == 1
    told = [m.body for m in admin.telegram.messages(ADMIN) if "tidak menjawab" in m.body]
    assert "refused" in told[0] and ("password" in told[0] or "login" in told[0])
    assert "N3w-Pa55word" not in told[0] and "n3w-pw" not in told[0]
