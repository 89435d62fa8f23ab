"""`qrisbot demo`: the real shop against the built-in fakes, one scripted buyer, a transcript.

Nothing leaves the machine: Telegram and Pakasir are the loopback fakes of
`qrisbot.testing`, and accounts are made by the in-memory provisioning stand-in.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from qrisbot import app, config
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import FakePakasir
from qrisbot.testing.fake_telegram import FakeTelegram, Sent
from qrisbot.testing.local_provisioner import LocalProvisioner

CHAT = 424242
SERVERS = [
    {"id": "sg1", "name": "Singapore SSH", "protocol": "ssh", "domain": "sg1.demo.example",
     "price_per_month": 10000, "ports": {"OpenSSH": 22, "SSH WS": 80}},
    {"id": "id1", "name": "Jakarta VLESS", "protocol": "vless", "domain": "id1.demo.example",
     "price_per_month": 12000},
]


class _Transcript:
    """The buyer's side of the chat, printed as it happens."""

    def __init__(self, telegram: FakeTelegram, out: Callable[[str], None]) -> None:
        self.telegram = telegram
        self.out = out
        self.seen = 0

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
        for shown in self.telegram.messages(CHAT):
            if self.seen < shown.message_id <= message.message_id:
                self.show(shown)
        self.seen = message.message_id
        return message

    def show(self, message: Sent, prefix: str = "Bot") -> None:
        body = html.unescape(re.sub(r"</?(b|i|code|pre|a)[^>]*>", "", message.body))
        kind = " [photo: QRIS code]" if message.photo else ""
        self.out(f"\n{prefix}{kind} >\n  " + body.replace("\n", "\n  "))
        labels = message.button_labels()
        if labels:
            self.out("  " + "  ".join(f"[{label}]" for label in labels))


async def run(out_dir: Path, out: Callable[[str], None] = print) -> Path:
    """Drive one purchase; returns the path of the QR PNG the shop sent."""
    telegram, pakasir = FakeTelegram(), FakePakasir()
    chat = _Transcript(telegram, out)
    with tempfile.TemporaryDirectory(prefix="qrisbot-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            await nursery.start(telegram.serve)
            await nursery.start(pakasir.serve)
            servers = [entry | {"ssh": {"host": "127.0.0.1", "key_file": "demo",
                                        "known_hosts": "demo"}} for entry in SERVERS]
            raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                             pakasir.api_key, str(Path(tmp) / "ledger.sqlite3"), servers,
                             check_interval=4)
            raw["shop"]["name"] = "Toko VPN Demo"
            await nursery.start(partial(app.run, config.parse(raw, {}),
                                        provisioner=LocalProvisioner()))
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
            png = out_dir / "qrisbot-demo-qris.png"
            png.write_bytes(qr.photo or b"")
            order_id = re.search(r"VPN\d+", qr.body)
            assert order_id is not None
            out(f"\n(The QRIS code the shop sent is saved at {png})")
            out(f"\nPayment network > order {order_id.group(0)} paid "
                f"(Rp{pakasir.transactions[order_id.group(0)].total:,})".replace(",", "."))
            pakasir.pay(order_id.group(0))
            await chat.bot_says("Akun SSH Anda siap")
            chat.show(qr, prefix="Bot (QR message, edited)")
            nursery.cancel_scope.cancel()
    out(f"\nDemo finished: the buyer paid and received the account. QR image: {png}")
    return png


def main(out_dir: Path) -> int:
    logging.basicConfig(level=logging.WARNING)
    for name in ("httpx", "httpcore", "qrisbot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    trio.run(run, out_dir.resolve())
    return 0
