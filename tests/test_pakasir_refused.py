"""A wrong Pakasir key or project slug: Pakasir refuses every QRIS (401 for the key, 404
for a project it does not know on v2; v1 answers 401 for either). Buyers hear that the
QRIS could not be made; the admins hear once which setting to fix, never the key itself,
and again only after Pakasir accepted the shop in between."""

from __future__ import annotations

import pytest
from buyer import Buyer
from conftest import server_entry

from qrisbot import config
from qrisbot.testing import config_for

ADMIN = 9001
# Holds the fake's key (which the log scan looks for): a leak of the shop's key is caught.
WRONG_KEY = "pk-test-secret-key-OLD"


def refused_notices(telegram) -> list[str]:
    return [m.body for m in telegram.messages(ADMIN) if "Pakasir menolak" in m.body]


async def qr_fails(telegram, chat_id: int, name: str) -> None:
    buyer = Buyer(telegram, chat_id)
    await buyer.orders(username=name, password=None, months=1)
    buyer.taps("pay")
    await buyer.sees("kode QRIS gagal dibuat")


async def qr_shown(telegram, chat_id: int, name: str) -> None:
    buyer = Buyer(telegram, chat_id)
    await buyer.buys(username=name, password=None, months=1)


@pytest.mark.parametrize(("version", "wrong", "named", "not_named"), [
    (2, "api_key", ("[pakasir] api_key", "QRISBOT_PAKASIR_API_KEY"), "[pakasir] project"),
    (2, "project", ("[pakasir] project",), "[pakasir] api_key"),
    (1, "api_key", ("[pakasir] api_key", "[pakasir] project"), None),
])
async def test_a_refused_key_or_slug_is_told_to_the_admins_once_naming_the_setting(
    version, wrong, named, not_named, start_shop, telegram, pakasir, tmp_path
):
    raw = config_for(telegram.url, telegram.token, pakasir.url,
                     "toko-lama" if wrong == "project" else pakasir.project,
                     WRONG_KEY if wrong == "api_key" else pakasir.api_key,
                     str(tmp_path / "ledger.sqlite3"), [server_entry("sg1", protocol="vless")],
                     {"admins": [ADMIN]}, api_version=version)
    await start_shop(config.parse(raw, {}))
    await qr_fails(telegram, 7001, "budi")
    admin = Buyer(telegram, ADMIN)
    notice = await admin.sees("Pakasir menolak")
    for setting in named:
        assert setting in notice.body
    if not_named:
        assert not_named not in notice.body
    assert WRONG_KEY not in notice.body and pakasir.api_key not in notice.body
    # Every buyer after is refused too; the admins are not told again and again.
    await qr_fails(telegram, 7002, "sari")
    await qr_fails(telegram, 7003, "tono")
    assert len(refused_notices(telegram)) == 1

    # The seller makes Pakasir take what the shop sends (the dashboard's key, the slug):
    # QRIS are made again; a refusal after that is news, told once more.
    saved = pakasir.api_key, pakasir.project
    pakasir.api_key, pakasir.project = raw["pakasir"]["api_key"], raw["pakasir"]["project"]
    await qr_shown(telegram, 7004, "umar")
    pakasir.api_key, pakasir.project = saved
    await qr_fails(telegram, 7005, "wati")
    await admin.sees("Pakasir menolak")
    assert len(refused_notices(telegram)) == 2
