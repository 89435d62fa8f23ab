"""A buyer in a private chat, driving the Telegram fake the way a person would."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import trio

from qrisbot.testing.fake_telegram import FakeTelegram, Sent

# Every password a test buyer typed: the log scan (conftest) looks for each of them.
TYPED_PASSWORDS: set[str] = set()


class Buyer:
    def __init__(self, telegram: FakeTelegram, chat_id: int) -> None:
        self.telegram = telegram
        self.chat_id = chat_id
        self.seen = 0  # newest message id already looked at

    def says(self, text: str) -> int:
        return self.telegram.user_sends(self.chat_id, text)

    def taps(self, button: str) -> None:
        self.telegram.tap(self.chat_id, button)

    async def sees(self, expected: str | Callable[[Sent], bool], within: float = 60) -> Sent:
        """The next new message containing `expected` (mock or real seconds)."""
        with trio.fail_after(within):
            message = await self.telegram.wait_for(self.chat_id, expected, after=self.seen)
        self.seen = message.message_id
        return message

    async def picks_server(self, server: str = "sg1", within: float = 60) -> Sent:
        """/start and pick the server; returns the prompt for the username."""
        self.says("/start")
        await self.sees("Pilih server", within)
        self.taps(f"srv:{server}")
        return await self.sees("username", within)

    async def orders(
        self, *, username: str = "budi_99", password: str | None = "rahasia123",
        months: int = 3, server: str = "sg1", within: float = 60,
    ) -> Sent:
        """/start through the confirmation; returns the confirmation message."""
        await self.picks_server(server, within)
        self.says(username)
        if password is not None:
            TYPED_PASSWORDS.add(password)
            await self.sees("password", within)
            self.says(password)
        await self.sees("durasi", within)
        self.taps(f"dur:{months}")
        return await self.sees("Periksa pesanan", within)

    async def buys(self, within: float = 60, **order: Any) -> tuple[Sent, str]:
        """Order and press Bayar; returns the QR message and the order id."""
        await self.orders(within=within, **order)
        self.taps("pay")
        qr = await self.sees(lambda m: m.photo is not None, within)
        return qr, order_id_of(qr.caption or "")


    async def renews(self, button: str, months: int = 1, within: float = 60
                     ) -> tuple[Sent, str]:
        """Tap a Perpanjang button, pick the months, press Bayar; returns the confirmation
        and the renewal's order id (its QR is shown)."""
        self.taps(button)
        await self.sees("Pilih berapa bulan", within)
        self.taps(f"dur:{months}")
        confirm = await self.sees("Periksa perpanjangan", within)
        self.taps("pay")
        qr = await self.sees(lambda m: m.photo is not None, within)
        return confirm, order_id_of(qr.caption or "")


def order_id_of(caption: str) -> str:
    match = re.search(r"VPN\d+", caption)
    assert match, caption
    return match.group(0)


async def eventually(predicate: Callable[[], bool], within: float = 60) -> None:
    """Wait until `predicate()` holds; it watches state outside this loop (files, processes)."""
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - nothing to wait on but the state itself
            await trio.sleep(0.02)


async def buy_on_each(telegram: FakeTelegram, names: list[str], *, chat_base: int,
                      server_prefix: str, tag: str, within: float = 60
                      ) -> dict[str, tuple[Buyer, str]]:
    """One buyer per server `<server_prefix><n>`, all at once, each up to the QR, as user
    `qbt_<tag><n>` with password `<tag>-pw-<n>`; name -> (buyer, order id)."""
    bought: dict[str, tuple[Buyer, str]] = {}

    async def buy(n: int, name: str) -> None:
        buyer = Buyer(telegram, chat_base + n)
        _, order_id = await buyer.buys(username=f"qbt_{tag}{n}", password=f"{tag}-pw-{n}",
                                       server=f"{server_prefix}{n}", within=within)
        bought[name] = (buyer, order_id)

    async with trio.open_nursery() as buying:
        for n, name in enumerate(names):
            buying.start_soon(buy, n, name)
    return bought
