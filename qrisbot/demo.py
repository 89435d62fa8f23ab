"""`qrisbot demo`: the real shop against the built-in fakes, one scripted buyer, a transcript.

Nothing leaves the machine: Telegram and Pakasir are the loopback fakes of
`qrisbot.testing`, and accounts are made by the in-memory provisioning stand-in.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import trio

from qrisbot import app, config
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import FakePakasir
from qrisbot.testing.fake_telegram import FakeTelegram, Sent
from qrisbot.testing.local_provisioner import LocalProvisioner

CHAT = 424242
QUIET = 1.5  # seconds without a Bot API call that end the bot's answer (interactive)
SERVERS = [
    {"id": "sg1", "name": "Singapore SSH", "protocol": "ssh", "domain": "sg1.demo.example",
     "price_per_month": 10000, "ports": {"OpenSSH": 22, "SSH WS": 80}},
    {"id": "id1", "name": "Jakarta VLESS", "protocol": "vless", "domain": "id1.demo.example",
     "price_per_month": 12000},
]


class _Transcript:
    """The buyer's side of the chat, printed as it happens; buttons are numbered."""

    def __init__(self, telegram: FakeTelegram, out: Callable[[str], None]) -> None:
        self.telegram = telegram
        self.out = out
        self.seen = 0
        self.edits: dict[int, int] = {}  # message id -> edits already shown
        self.numbered: dict[int, tuple[int, str]] = {}  # number -> (message id, data)

    def says(self, text: str) -> None:
        self.out(f"\nBuyer > {text}")
        self.telegram.user_sends(CHAT, text)

    def taps(self, data: str) -> None:
        for message in reversed(self.telegram.messages(CHAT)):
            for row in message.buttons:
                for button in row:
                    if button.get("callback_data") == data:
                        self.out(f"\nBuyer taps [{button['text']}]")
                        self.telegram.user_taps(CHAT, message.message_id, data)
                        return
        raise LookupError(data)

    async def bot_says(self, needle: str | Callable[[Sent], bool]) -> Sent:
        with trio.fail_after(30):
            message = await self.telegram.wait_for(CHAT, needle, after=self.seen)
        self.show_new(upto=message.message_id)
        return message

    def show_new(self, upto: int | None = None) -> list[Sent]:
        """Print messages not shown yet (up to `upto`) and edits of earlier ones."""
        shown = []
        for message in self.telegram.messages(CHAT, include_deleted=True):
            if message.message_id <= self.seen:
                if message.edits > self.edits.get(message.message_id, 0) or (
                        message.deleted and self.edits.get(message.message_id) != -1):
                    self.show(message, "Bot (deleted its message)" if message.deleted
                              else "Bot (edited its message)")
                    self.edits[message.message_id] = -1 if message.deleted else message.edits
            elif upto is None or message.message_id <= upto:
                if not message.deleted:
                    self.show(message)
                    shown.append(message)
                self.edits[message.message_id] = message.edits
                self.seen = message.message_id
        return shown

    def show(self, message: Sent, prefix: str = "Bot") -> None:
        body = html.unescape(re.sub(r"</?(b|i|code|pre|a)[^>]*>", "", message.body))
        kind = " [photo: QRIS code]" if message.photo else ""
        self.out(f"\n{prefix}{kind} >\n  " + body.replace("\n", "\n  "))
        if message.deleted or not message.buttons:
            return
        self.numbered = {}
        labels = []
        for row in message.buttons:
            for button in row:
                number = len(self.numbered) + 1
                self.numbered[number] = (message.message_id, button.get("callback_data", ""))
                labels.append(f"[{number} {button.get('text', '')}]")
        self.out("  " + "  ".join(labels))

    def tap_number(self, number: int) -> bool:
        if number not in self.numbered:
            return False
        message_id, data = self.numbered[number]
        self.telegram.user_taps(CHAT, message_id, data)
        return True

    async def settle(self, within: float) -> None:
        """Wait for the bot's next message (up to `within` s), then until it goes quiet."""
        def count() -> int:
            return len(self.telegram.messages(CHAT, include_deleted=True))

        before = count()
        with trio.move_on_after(within):
            while count() == before:
                await self.telegram.changed()
        # Replies to one chat are paced (about one a second), so quiet means a little longer.
        while True:
            with trio.move_on_after(QUIET):
                await self.telegram.changed()
                continue
            return


@asynccontextmanager
async def _shop(out: Callable[[str], None]) -> AsyncIterator[tuple[_Transcript, FakePakasir]]:
    """The fakes and the real daemon, in a temporary directory."""
    telegram, pakasir = FakeTelegram(), FakePakasir()
    with tempfile.TemporaryDirectory(prefix="qrisbot-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            await nursery.start(telegram.serve)
            await nursery.start(pakasir.serve)
            servers = [entry | {"ssh": {"host": "127.0.0.1", "key_file": "demo",
                                        "known_hosts": "demo"}} for entry in SERVERS]
            raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                             pakasir.api_key, str(Path(tmp) / "ledger.sqlite3"), servers,
                             {"name": "Toko VPN Demo"}, check_interval=4)
            await nursery.start(partial(app.run, config.parse(raw, {}),
                                        provisioner=LocalProvisioner()))
            yield _Transcript(telegram, out), pakasir
            nursery.cancel_scope.cancel()


def _save_qr(qr: Sent, out_dir: Path, out: Callable[[str], None]) -> Path:
    png = out_dir / "qrisbot-demo-qris.png"
    png.write_bytes(qr.photo or b"")
    out(f"\n(The QRIS code the shop sent is saved at {png})")
    return png


def _paid(pakasir: FakePakasir, order_id: str, out: Callable[[str], None]) -> None:
    total = f"{pakasir.transactions[order_id].total:,}".replace(",", ".")
    out(f"\nPayment network > order {order_id} paid (Rp{total})")
    pakasir.pay(order_id)


async def run(out_dir: Path, out: Callable[[str], None] = print) -> Path:
    """Drive one purchase; returns the path of the QR PNG the shop sent."""
    async with _shop(out) as (chat, pakasir):
        chat.says("/start")
        await chat.bot_says("Pilih server")
        chat.taps("srv:sg1")
        await chat.bot_says("username")
        chat.says("budi_demo")
        await chat.bot_says("password")
        chat.says("rahasia123")
        await chat.bot_says("durasi")
        chat.taps("dur:1")
        await chat.bot_says("Periksa pesanan")
        chat.taps("pay")
        qr = await chat.bot_says(lambda m: m.photo is not None)
        png = _save_qr(qr, out_dir, out)
        order_id = re.search(r"VPN\d+", qr.body)
        assert order_id is not None
        _paid(pakasir, order_id.group(0), out)
        await chat.bot_says("Akun SSH Anda siap")
        chat.show(qr, prefix="Bot (QR message, edited)")
    out(f"\nDemo finished: the buyer paid and received the account. QR image: {png}")
    return png


HELP = """You are the buyer. Type a message and press Enter (start with /start).
A number taps that button of the bot's last message; `pay` pays the QRIS code shown;
`quit` (or Ctrl-D) ends the demo."""


async def interactive(out_dir: Path, read: Callable[[], str],
                      out: Callable[[str], None] = print) -> None:
    """Let a person play the buyer; `read` returns one typed line ('' at the end)."""
    out(HELP)
    async with _shop(out) as (chat, pakasir):
        order_id = None
        while True:
            line = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
            if not line or line.strip().lower() in ("quit", "exit"):
                break
            typed = line.strip()
            if not typed:
                continue
            wait = 5.0
            if typed.isdigit():
                if not chat.tap_number(int(typed)):
                    out(f"(no button {typed} on the last message)")
                    continue
            elif typed.lower() == "pay":
                if order_id is None:
                    out("(no QRIS code to pay yet: go through the purchase first)")
                    continue
                _paid(pakasir, order_id, out)
                wait = 15.0  # the shop sees it at its next status check
            else:
                chat.says(typed)
            await chat.settle(wait)
            for message in chat.show_new():
                if message.photo is not None:
                    _save_qr(message, out_dir, out)
                    found = re.search(r"VPN\d+", message.body)
                    order_id = found.group(0) if found else order_id
    out("\nDemo finished.")


def main(out_dir: Path, *, play: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING)
    for name in ("httpx", "httpcore", "qrisbot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if play:
        trio.run(interactive, out_dir.resolve(), _read_line)
    else:
        trio.run(run, out_dir.resolve())
    return 0


def _read_line() -> str:
    try:
        return input("\nYou > ") + "\n"
    except EOFError:
        return ""
