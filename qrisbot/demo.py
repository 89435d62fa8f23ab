"""`qrisbot demo`: the real shop against the built-in fakes, one scripted buyer, a transcript.

Nothing leaves the machine: Telegram and Pakasir are the loopback fakes of
`qrisbot.testing`, and accounts are made by the in-memory provisioning stand-in. The
transcript is printed as it happens and, with `--html`, written as a chat page.
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

import attrs
import trio

from qrisbot import app, config, demo_html
from qrisbot.demo_html import BOT, NOTE, PERSON, Entry
from qrisbot.ledger import Ledger
from qrisbot.shop.buttons import pack
from qrisbot.shop.dialogue import Draft
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import FakePakasir
from qrisbot.testing.fake_telegram import FakeTelegram, Sent
from qrisbot.testing.local_provisioner import LocalProvisioner

CHAT = 424242  # the buyer (in a private chat, the chat is its user)
ADMIN = 777001  # the seller, one of `shop.admins`
QUIET = 1.5  # seconds without a Bot API call that end the bot's answer (interactive)
SHOP_NAME = "Toko VPN Demo"
SERVERS = [
    {"id": "sg1", "name": "Singapore SSH", "protocol": "ssh", "domain": "sg1.demo.example",
     "price_per_month": 10000, "ports": {"OpenSSH": 22, "SSH WS": 80}},
    {"id": "id1", "name": "Jakarta VLESS", "protocol": "vless", "domain": "id1.demo.example",
     "price_per_month": 12000},
]
TRIAL_HOURS = 3


@attrs.frozen
class Options:
    """What `qrisbot demo` was asked for."""

    out_dir: Path
    lang: str = "id"
    trial: bool = False  # the buyer takes the free trial instead of buying
    admin: bool = False  # then the seller opens /admin
    html: Path | None = None  # write the conversation as a chat page here
    pay_within: float = 300  # seconds a QR can be paid


class _Transcript:
    """One chat as its person sees it, printed as it happens; buttons are numbered."""

    def __init__(self, telegram: FakeTelegram, out: Callable[[str], None],
                 entries: list[Entry], chat: int = CHAT, who: str = "Buyer",
                 ledger: Ledger | None = None) -> None:
        self.telegram = telegram
        self.out = out
        self.entries = entries  # shared by the chats of one demo, in order
        self.chat = chat
        self.who = who
        self.bot = "Bot" if chat == CHAT else f"Bot → {who.lower()}"
        self.ledger = ledger
        self.seen = 0
        self.edits: dict[int, int] = {}  # message id -> edits already shown
        self.bodies: dict[int, str] = {}  # message id -> the body last shown
        self.numbered: dict[int, tuple[int, str, str]] = {}  # number -> (message, data, label)
        self.on_photo: Callable[[Sent], None] = lambda message: None

    def says(self, text: str) -> None:
        self.out(f"\n{self.who} > {text}")
        self.entries.append(Entry(PERSON, text, tag=self._tag()))
        self.telegram.user_sends(self.chat, text)

    def taps(self, data: str) -> None:
        for message in reversed(self.telegram.messages(self.chat)):
            for row in message.buttons:
                for button in row:
                    if button.get("callback_data") == data:
                        self._tap(message.message_id, data, button.get("text", ""))
                        return
        raise LookupError(data)

    def _tap(self, message_id: int, data: str, label: str) -> None:
        self.out(f"\n{self.who} taps [{label}]")
        self.entries.append(Entry(PERSON, label, tag=self._tag(), tap=True))
        self.telegram.user_taps(self.chat, message_id, data)

    def _tag(self) -> str:
        return "" if self.chat == CHAT else self.who

    def note(self, text: str) -> None:
        self.out(f"\n{text}")
        self.entries.append(Entry(NOTE, text))

    async def bot_says(self, needle: str | Callable[[Sent], bool]) -> Sent:
        with trio.fail_after(30):
            message = await self.telegram.wait_for(self.chat, needle, after=self.seen)
        self.show_new(upto=message.message_id)
        return message

    def show_new(self, upto: int | None = None) -> list[Sent]:
        """Print messages not shown yet (up to `upto`) and edits of earlier ones."""
        shown = []
        for message in self.telegram.messages(self.chat, include_deleted=True):
            if message.message_id <= self.seen:
                if message.edits > self.edits.get(message.message_id, 0) or (
                        message.deleted and self.edits.get(message.message_id) != -1):
                    self.show(message, "deleted its message" if message.deleted
                              else "edited its message")
                    self.edits[message.message_id] = -1 if message.deleted else message.edits
            elif upto is None or message.message_id <= upto:
                if not message.deleted:
                    self.show(message)
                    shown.append(message)
                    if message.photo is not None:
                        self.on_photo(message)
                self.edits[message.message_id] = message.edits
                self.seen = message.message_id
        return shown

    def show(self, message: Sent, change: str = "") -> None:
        prefix = f"{self.bot} ({change})" if change else self.bot
        body = html.unescape(re.sub(r"</?(b|i|u|s|code|pre|a)( [^>]*)?>", "", message.body))
        kind = " [photo: QRIS code]" if message.photo else ""
        self.out(f"\n{prefix}{kind} >\n  " + body.replace("\n", "\n  "))
        self._page(message, change)
        if message.deleted or not message.buttons:
            return
        self.numbered = {}
        labels = []
        for row in message.buttons:
            for button in row:
                number = len(self.numbered) + 1
                label = button.get("text", "")
                self.numbered[number] = (message.message_id, button.get("callback_data", ""),
                                         label)
                labels.append(f"[{number} {label}]")
        self.out("  " + "  ".join(labels))

    def _page(self, message: Sent, change: str) -> None:
        """The chat page shows a message as it was sent, then only changes of its text."""
        before = self.bodies.get(message.message_id)
        self.bodies[message.message_id] = message.body
        to = "" if self.chat == CHAT else f"to the {self.who.lower()}"
        if message.deleted:
            what = "the QRIS code" if message.photo else "a message"
            self.entries.append(Entry(NOTE, f"The bot deleted {what} {to}".strip()))
            return
        buttons = tuple(tuple(button.get("text", "") for button in row)
                        for row in message.buttons)
        if not change:
            self.entries.append(Entry(BOT, message.body, tag=to, buttons=buttons,
                                      photo=message.photo))
        elif message.body != before:
            what = "its QRIS message" if message.photo else "a message"
            self.entries.append(Entry(BOT, message.body, tag=f"edited {what} {to}".strip(),
                                      buttons=buttons))

    def tap_number(self, number: int) -> bool:
        if number not in self.numbered:
            return False
        message_id, data, label = self.numbered[number]
        self.entries.append(Entry(PERSON, label, tag=self._tag(), tap=True))
        self.telegram.user_taps(self.chat, message_id, data)
        return True

    def asks_for_text(self) -> bool:
        """Whether the bot waits for something typed (a username, a password): the chat's
        step has a prompt whose only button cancels."""
        draft = Draft.load(self.ledger.draft(self.chat)) if self.ledger else None
        if draft is None or draft.message_id is None:
            return False
        prompt = next((m for m in self.telegram.messages(self.chat)
                       if m.message_id == draft.message_id), None)
        return prompt is not None and set(prompt.button_data()) <= {pack("cancel")}

    async def settle(self, within: float) -> None:
        """Wait for the bot's next message (up to `within` s), then until it goes quiet."""
        def count() -> int:
            return len(self.telegram.messages(self.chat, include_deleted=True))

        before = count()
        with trio.move_on_after(within):
            while count() == before:
                await self.telegram.changed()
        await quiet(self.telegram)


async def quiet(telegram: FakeTelegram) -> None:
    """Until QUIET s pass without a Bot API call (replies to one chat are paced, about one
    a second, so quiet means a little longer)."""
    while True:
        with trio.move_on_after(QUIET):
            await telegram.changed()
            continue
        return


@attrs.define
class _Demo:
    buyer: _Transcript
    admin: _Transcript
    pakasir: FakePakasir


@asynccontextmanager
async def _shop(options: Options, out: Callable[[str], None]) -> AsyncIterator[_Demo]:
    """The fakes and the real daemon, in a temporary directory."""
    telegram, pakasir = FakeTelegram(), FakePakasir()
    with tempfile.TemporaryDirectory(prefix="qrisbot-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            await nursery.start(telegram.serve)
            await nursery.start(pakasir.serve)
            servers = [entry | {"ssh": {"host": "127.0.0.1", "key_file": "demo",
                                        "known_hosts": "demo"}} for entry in SERVERS]
            database = str(Path(tmp) / "ledger.sqlite3")
            raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                             pakasir.api_key, database, servers,
                             {"name": SHOP_NAME, "language": options.lang,
                              "admins": [ADMIN]},
                             check_interval=4, payment_timeout=options.pay_within)
            raw["trial"] = {"hours": TRIAL_HOURS}
            await nursery.start(partial(app.run, config.parse(raw, {}),
                                        backends=LocalProvisioner()))
            ledger = Ledger.open(database)  # read beside the daemon, as operators do
            try:
                entries: list[Entry] = []
                yield _Demo(_Transcript(telegram, out, entries, ledger=ledger),
                            _Transcript(telegram, out, entries, ADMIN, "Admin"), pakasir)
            finally:
                ledger.close()
                nursery.cancel_scope.cancel()


def _save_qr(qr: Sent, out_dir: Path, out: Callable[[str], None]) -> Path:
    png = out_dir / "qrisbot-demo-qris.png"
    png.write_bytes(qr.photo or b"")
    out(f"\n(The QRIS code the shop sent is saved at {png})")
    return png


def _paid(demo: _Demo, order_id: str) -> None:
    total = f"{demo.pakasir.transactions[order_id].total:,}".replace(",", ".")
    demo.buyer.note(f"Payment network > order {order_id} paid (Rp{total})")
    demo.pakasir.pay(order_id)


def _has_button(data: str) -> Callable[[Sent], bool]:
    return lambda message: data in message.button_data()


async def _buy(demo: _Demo, options: Options, out: Callable[[str], None]) -> Path:
    """The scripted purchase, from /start to the delivered account; the QR PNG's path."""
    chat = demo.buyer
    chat.says("/start")
    await chat.bot_says(_has_button(pack("srv", "sg1")))
    chat.taps(pack("srv", "sg1"))
    await chat.bot_says(lambda m: True)  # what username?
    chat.says("budi_demo")
    await chat.bot_says(lambda m: True)  # what password?
    chat.says("rahasia123")
    await chat.bot_says(_has_button(pack("dur", 1)))
    chat.taps(pack("dur", 1))
    await chat.bot_says(_has_button(pack("pay")))
    chat.taps(pack("pay"))
    qr = await chat.bot_says(lambda m: m.photo is not None)
    png = _save_qr(qr, options.out_dir, out)
    order_id = re.search(r"VPN\d+", qr.body)
    assert order_id is not None
    _paid(demo, order_id.group(0))
    await chat.bot_says(lambda m: "rahasia123" in m.body)  # the account's details
    await quiet(chat.telegram)
    chat.show_new()  # whatever follows it
    return png


async def _try(demo: _Demo) -> None:
    """The scripted free trial: Coba gratis, a server, the account at once."""
    chat = demo.buyer
    chat.says("/start")
    await chat.bot_says(_has_button(pack("trial")))
    chat.taps(pack("trial"))
    await chat.bot_says(_has_button(pack("tsrv", "sg1")))
    chat.taps(pack("tsrv", "sg1"))
    await chat.bot_says(lambda m: re.search(r"trial[a-z0-9]{5}", m.body) is not None)
    await quiet(chat.telegram)
    chat.show_new()


async def _admin(demo: _Demo) -> None:
    """The seller's side: what the admins were told, then /admin and its servers view."""
    chat = demo.admin
    chat.show_new()
    chat.says("/admin")
    panel = await chat.bot_says(_has_button(pack("adm:srv")))
    edits = panel.edits  # `panel` is the fake's record: it changes as the bot edits it
    chat.taps(pack("adm:srv"))
    with trio.fail_after(30):
        while panel.edits == edits:
            await chat.telegram.changed()
    chat.show_new()


async def run(options: Options, out: Callable[[str], None] = print) -> Path | None:
    """Drive one purchase (or trial); returns the path of the QR PNG the shop sent."""
    png = None
    async with _shop(options, out) as demo:
        if options.trial:
            await _try(demo)
        else:
            png = await _buy(demo, options, out)
        if options.admin:
            await _admin(demo)
    _write_page(options, demo.buyer.entries, out)
    if png is None:
        out("\nDemo finished: the buyer took the free trial and received the account.")
    else:
        out(f"\nDemo finished: the buyer paid and received the account. QR image: {png}")
    return png


def _write_page(options: Options, entries: list[Entry], out: Callable[[str], None]) -> None:
    if options.html is not None:
        options.html.write_text(demo_html.render(SHOP_NAME, entries), encoding="utf-8")
        out(f"\n(The conversation is written as a chat page at {options.html})")


HELP = """You are the buyer. Type a message and press Enter (start with /start).
A number taps that button of the bot's last message (when the bot asks you to type
something, any other number is sent as text); `pay` pays the QRIS code shown;
`quit` (or Ctrl-D) ends the demo."""


async def interactive(options: Options, read: Callable[[], str],
                      out: Callable[[str], None] = print) -> None:
    """Let a person play the buyer; `read` returns one typed line ('' at the end). What
    the bot says on its own (a QR that runs out) is printed when it happens."""
    out(HELP)
    order_id = None

    def qr_shown(message: Sent) -> None:
        nonlocal order_id
        _save_qr(message, options.out_dir, out)
        found = re.search(r"VPN\d+", message.body)
        order_id = found.group(0) if found else order_id

    async with _shop(options, out) as demo, trio.open_nursery() as watching:
        chat = demo.buyer
        chat.on_photo = qr_shown
        answering = trio.Lock()  # held while a typed line's answer is awaited
        watching.start_soon(_watch, chat, answering)
        while True:
            line = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
            if not line or line.strip().lower() in ("quit", "exit"):
                break
            typed = line.strip()
            if not typed:
                continue
            async with answering:
                wait = 5.0
                if typed.isdigit():
                    if chat.tap_number(int(typed)):
                        pass
                    elif chat.asks_for_text():
                        chat.says(typed)
                    else:
                        out(f"(no button {typed} on the last message)")
                        continue
                elif typed.lower() == "pay":
                    if order_id is None:
                        out("(no QRIS code to pay yet: go through the purchase first)")
                        continue
                    _paid(demo, order_id)
                    wait = 15.0  # the shop sees it at its next status check
                else:
                    chat.says(typed)
                await chat.settle(wait)
                chat.show_new()
        watching.cancel_scope.cancel()
    _write_page(options, demo.buyer.entries, out)
    out("\nDemo finished.")


async def _watch(chat: _Transcript, answering: trio.Lock) -> None:
    """Print what the bot says while nobody typed (a QR's expiry), once it goes quiet."""
    while True:
        await chat.telegram.changed()
        await quiet(chat.telegram)
        async with answering:
            chat.show_new()


def main(options: Options, *, play: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING)
    for name in ("httpx", "httpcore", "qrisbot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    options = attrs.evolve(options, out_dir=options.out_dir.resolve(),
                           html=options.html.resolve() if options.html else None)
    if play:
        trio.run(interactive, options, _read_line)
    else:
        trio.run(run, options)
    return 0


def _read_line() -> str:
    try:
        return input("\nYou > ") + "\n"
    except EOFError:
        return ""
