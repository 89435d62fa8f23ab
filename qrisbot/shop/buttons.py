"""Every kind of button data the buyer's dialogue uses, packed and unpacked in one place.

Button data comes back from Telegram as untrusted text (any client can send any data):
`unpack` accepts only the kinds below, each with the shape of value it carries, and at
most Telegram's 64 bytes.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

# kind -> the value it carries (None: the kind alone).
SERVER: Final = re.compile(r"[a-z0-9-]{1,16}")
ORDER: Final = re.compile(r"[A-Za-z0-9-]{1,40}")
MONTHS: Final = re.compile(r"[1-9][0-9]?")
# SQLite integers stop at 2**63: more digits than that cannot name an account.
ACCOUNT: Final = re.compile(r"[0-9]{1,18}")

KINDS: Final[dict[str, re.Pattern[str] | None]] = {
    "srv": SERVER,  # buy on this server
    "again": SERVER,  # Beli lagi: a reseller's next purchase on this server
    "full": SERVER,  # a full server's button (answers "full", shows the menu again)
    "dur": MONTHS,  # this many months
    "pay": None,  # confirm and pay
    "cancel": None,  # leave the dialogue
    "promo": None,  # Punya kode promo? (at a confirmation)
    "back": None,  # back to the confirmation (from typing a promo code)
    "retry": ORDER,  # make this order's QR again
    "qcancel": ORDER,  # cancel this order
    "qcheck": ORDER,  # where does this order's payment stand (one status check now)
    "qshow": ORDER,  # show this order's QR again
    "acc": None,  # my accounts
    "acd": ACCOUNT,  # this account's details
    "ren": ACCOUNT,  # renew this account
    "trial": None,  # a free trial: pick its server
    "tsrv": SERVER,  # a free trial on this server
    "claim": None,  # add an account made before the shop: pick its server
    "contact": None,  # how to reach the seller (shop.contact)
    "csrv": SERVER,  # its server
    "joined": None,  # Sudah join: check the channel (shop.join_channel) again
    "invite": None,  # Ajak teman: my referral link and its count
    "refday": ACCOUNT,  # put my waiting referral days on this account
    "shop": None,  # the /start menu (from a win-back offer)
    # The admins' (`shop.admins` only; the dialogue checks the sender first).
    "adm:menu": None,  # the figures
    "adm:open": None,  # orders awaiting payment
    "adm:attn": None,  # orders that need attention
    "adm:srv": None,  # the servers
    "adm:promos": None,  # the promo codes
    "adm:resel": None,  # sales per reseller
    "adm:chart": None,  # the sales chart (a photo)
    "adm:retry": ORDER,  # retry this failed order
    "adm:refund": ORDER,  # ask: mark this order refunded?
    "adm:refunded": ORDER,  # yes, it was refunded
    "adm:on": SERVER,  # sell on this server again
    "adm:off": SERVER,  # stop selling on it
    "adm:bcgo": None,  # send the broadcast
    "adm:bcno": None,  # drop it
}
ADMIN: Final = "adm:"  # the prefix of the admins' kinds
MAX_BYTES: Final = 64


@attrs.frozen
class Press:
    kind: str
    value: str = ""

    @property
    def number(self) -> int:
        """The value as a number (kinds carrying MONTHS or ACCOUNT)."""
        return int(self.value)


def pack(kind: str, value: object = None) -> str:
    shape = KINDS[kind]
    if shape is None:
        assert value is None, kind
        return kind
    data = f"{kind}:{value}"
    assert shape.fullmatch(str(value)) and len(data.encode()) <= MAX_BYTES, data
    return data


def unpack(data: str | None) -> Press | None:
    """The press the data stands for, or None for anything the shop never sent."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    if data in KINDS:
        return Press(data) if KINDS[data] is None else None
    kind, _, value = data.rpartition(":")
    shape = KINDS.get(kind)
    return Press(kind, value) if shape is not None and shape.fullmatch(value) else None
