"""The 3x-ui backend against the loopback fake, per version family (2.x, 3.0, 3.1+): what a
seller would see on the panel after the shop sold, renewed and removed accounts there."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from qrisbot.config import Panel, Server, Shop
from qrisbot.provision.panels.http import PanelError, PanelUnreachable
from qrisbot.provision.panels.xui import XuiBackend, sub_id
from qrisbot.provision.panels.xui_clients import share_link, snapshot
from qrisbot.provision.panels.xui_session import Family, envelope
from qrisbot.provision.port import (
    Account,
    AccountMissing,
    Extension,
    Presence,
    Removal,
    Removed,
    Usage,
    UsernameTaken,
)
from qrisbot.testing.fake_xui import LOGIN_PAGE, FakeXui
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG, LOST_ANSWER, TRUNCATED
from qrisbot.testing.xui.version import Version

GB = 2**30
V2, V30, V31 = "2.8.5", "3.0.2", "3.4.0"
SHOP = Shop(timezone="Asia/Jakarta")
DAY = dt.date(2027, 1, 15)
# 2027-01-15 23:59:59 in Jakarta (UTC+7), in milliseconds
END_OF_DAY_MS = int(dt.datetime(2027, 1, 15, 16, 59, 59, tzinfo=dt.UTC).timestamp()) * 1000
SECRET = str(uuid.uuid4())


async def panel(nursery: trio.Nursery, version: str, protocol: str = "vless",
                inbounds: int = 2, **kwargs: Any) -> FakeXui:
    fake = FakeXui(version, password="s3cret-pw", **kwargs)
    for _ in range(inbounds):
        fake.add_inbound(protocol)
    await nursery.start(fake.serve)
    return fake


def backend(fake: FakeXui, protocol: str = "vless", *, quota_gb: int = 100, ip_limit: int = 2,
            token: str = "", inbound_ids: tuple[int, ...] = (1, 2),
            seconds: float = 5.0) -> XuiBackend:
    server = Server(
        id="nl1", name="Amsterdam", protocol=protocol, domain="nl1.example.com",
        price_per_month=15000, quota_gb=quota_gb, ip_limit=ip_limit,
        panel=Panel(type="3x-ui", url=fake.url, username="admin",
                    password="" if token else "s3cret-pw", token=token,
                    inbound_ids=inbound_ids, sub_url="https://nl1.example.com:2096/sub/"))
    return XuiBackend(server, SHOP, seconds=seconds)


def account(username: str = "budi", secret: str = SECRET, order: str = "ord1", months: int = 1,
            expires: dt.date = DAY) -> Account:
    return Account(order, username, secret, expires, months, 30 * months)


def emails(fake: FakeXui) -> list[tuple[int, str]]:
    return [(i, str(c["email"])) for i in sorted(fake.panel.inbounds) for c in fake.clients(i)]


# --- 3.1+ -------------------------------------------------------------------------------------

async def test_3_1_create_puts_one_email_in_every_inbound_with_the_shop_s_terms(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    assert await xui.presence("budi") is Presence.ABSENT
    await xui.create(account(months=2))
    assert xui.family is Family.V3_1
    assert emails(fake) == [(1, "budi"), (2, "budi")]
    for inbound in (1, 2):
        client = fake.clients(inbound)[0]
        assert client["id"] == SECRET
        assert client["subId"] == sub_id("ord1", SECRET)
        assert client["totalGB"] == 200 * GB  # bytes: quota_gb x months
        assert client["expiryTime"] == END_OF_DAY_MS  # milliseconds
        assert client["limitIp"] == 2 and client["enable"] is True
    assert fake.count("clients/add") == 1
    assert await xui.presence("budi") is Presence.TAKEN
    assert await xui.presence("BUDI") is Presence.TAKEN  # the panel's rule: any case
    delivery = await xui.share("budi")
    assert delivery.subscription_url == ("https://nl1.example.com:2096/sub/"
                                         + sub_id("ord1", SECRET))
    assert len(delivery.links) == 2 and all(SECRET in link for _, link in delivery.links)
    await xui.aclose()


@pytest.mark.parametrize("version", [V2, V30, V31])
async def test_a_create_repeated_after_a_cut_answer_makes_one_client(nursery, version):
    fake = await panel(nursery, version)
    xui = backend(fake)
    fake.fail("clients/add" if version == V31 else "inbounds/addClient", TRUNCATED)
    with pytest.raises(PanelError):
        await xui.create(account())
    await xui.create(account())  # the order's retry finds its own client, adds the rest
    assert len(emails(fake)) == 2
    assert {c["id"] for i in (1, 2) for c in fake.clients(i)} == {SECRET}


async def test_an_answer_lost_after_the_panel_acted_is_not_sent_again(nursery):
    """The transport sends a POST again on a fresh connection only when the caller says a
    second copy is harmless: the panel had acted on the first (else: two clients)."""
    fake = await panel(nursery, V31)
    xui = backend(fake)
    await xui.presence("budi")  # a connection to reuse
    fake.fail("clients/add", LOST_ANSWER)
    with pytest.raises(PanelError):
        await xui.create(account())
    await xui.create(account())
    assert emails(fake) == [(1, "budi"), (2, "budi")]


@pytest.mark.parametrize("version", [V2, V30, V31])
async def test_a_name_anyone_else_holds_anywhere_on_the_panel_is_taken(nursery, version):
    fake = await panel(nursery, version, inbounds=3)
    # Another seller's client in an inbound the shop does not sell.
    fake.panel.add_clients(3, [{"id": str(uuid.uuid4()), "email": "Budi", "enable": True,
                                "subId": "other"}])
    xui = backend(fake)
    assert await xui.presence("budi") is Presence.TAKEN
    with pytest.raises(UsernameTaken):
        await xui.create(account())
    assert emails(fake) == [(3, "Budi")]


async def test_3_1_extend_sets_the_date_and_raises_the_quota_once_keeping_usage(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    await xui.create(account(months=1))
    fake.set_usage("budi", up=10 * GB, down=20 * GB)
    later = dt.date(2027, 2, 14)
    renewal = Extension("ren1", "ord1", "budi", SECRET, later, months=2)
    await xui.extend(renewal)
    given = await xui.extend(renewal)  # a retry of the same renewal: no second raise
    client = fake.clients(1)[0]
    assert client["totalGB"] == 300 * GB
    assert dt.datetime.fromtimestamp(client["expiryTime"] / 1000, dt.UTC).date() == later
    assert client["id"] == SECRET and client["subId"] == sub_id("ord1", SECRET)
    assert await xui.usage() == {"budi": Usage(30 * GB, 300 * GB)}
    assert fake.count("inbounds/list") >= 1
    assert given.expires == later and given.to_json()["kind"] == "panel"
    assert given.subscription == "https://nl1.example.com:2096/sub/" + sub_id("ord1", SECRET)
    with pytest.raises(AccountMissing):
        await xui.extend(Extension("ren2", "ord9", "sari", SECRET, later))
    with pytest.raises(UsernameTaken):
        await xui.extend(Extension("ren2", "ord9", "budi", str(uuid.uuid4()), later))


async def test_3_1_remove_deletes_unless_renewed_or_someone_else_s(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    other = str(uuid.uuid4())
    await xui.create(account("budi"))
    await xui.create(account("sari", other, order="ord2", expires=dt.date(2027, 3, 1)))
    outcomes = await xui.remove([
        Removal("ord1", "budi", SECRET, DAY),
        Removal("ord2", "sari", other, DAY),  # renewed past that day: kept
        Removal("ord3", "agus", SECRET, DAY),  # not there any more: gone
    ])
    assert outcomes == {"budi": Removed.GONE, "sari": Removed.KEPT, "agus": Removed.GONE}
    assert emails(fake) == [(1, "sari"), (2, "sari")]
    assert await xui.remove([Removal("ord2", "sari", str(uuid.uuid4()), dt.date(2028, 1, 1))]
                            ) == {"sari": Removed.FOREIGN}


async def test_3_1_read_accounts_lists_each_email_once(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    await xui.create(account("budi"))
    fake.panel.add_clients(1, [{"id": str(uuid.uuid4()), "email": "no expiry", "enable": True}])
    found = await xui.read_accounts()
    assert [(a.username, a.secret, a.last_day) for a in found.accounts] == [
        ("budi", SECRET, DAY)]
    assert found.skipped == 1 and "no expiry" in found.notes[0]


async def test_3_1_a_session_that_expires_mid_batch_logs_in_once_more(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    await xui.create(account("budi"))
    assert fake.logins == 1
    fake.expire_sessions()
    async with trio.open_nursery() as batch:
        for n in range(5):
            batch.start_soon(xui.create, account(f"user{n}", order=f"o{n}"))
    assert fake.logins == 2
    assert len(fake.clients(1)) == 6


# --- 2.x and 3.0 ------------------------------------------------------------------------------

async def test_2_x_gives_each_inbound_its_own_email_with_one_uuid_and_subscription(nursery):
    fake = await panel(nursery, V2)
    xui = backend(fake)
    made = await xui.create(account())
    assert fake.count("inbounds/list") == 1  # the buyer's links come from the same read
    assert xui.family is Family.V2
    assert emails(fake) == [(1, "budi"), (2, "budi-2")]
    assert {c["id"] for i in (1, 2) for c in fake.clients(i)} == {SECRET}
    assert {c["subId"] for i in (1, 2) for c in fake.clients(i)} == {sub_id("ord1", SECRET)}
    await xui.create(account())  # a repeat: nothing more
    assert fake.count("inbounds/addClient") == 2
    fake.set_usage("budi", down=3 * GB)
    fake.set_usage("budi-2", down=1 * GB)
    assert await xui.usage() == {"budi": Usage(4 * GB, 100 * GB)}
    # No clients/links before 3.1: links from each inbound's stream settings.
    delivery = await xui.share("budi")
    assert (made.links, made.subscription) == (delivery.links, delivery.subscription_url)
    assert [link.split("@")[1].split("?")[0] for _, link in delivery.links] == [
        f"nl1.example.com:{fake.panel.inbounds[i].port}" for i in (1, 2)]
    assert delivery.subscription_url is not None
    assert delivery.subscription_url.endswith(sub_id("ord1", SECRET))
    found = await xui.read_accounts()
    assert [(a.username, a.last_day) for a in found.accounts] == [("budi", DAY)]
    later = dt.date(2027, 2, 14)
    await xui.extend(Extension("ren1", "ord1", "budi", SECRET, later, months=1))
    assert [c["totalGB"] for i in (1, 2) for c in fake.clients(i)] == [200 * GB] * 2
    assert (await xui.read_accounts()).accounts[0].last_day == later


@pytest.mark.parametrize("version", [V2, V30])
async def test_an_inbound_s_last_client_is_emptied_and_its_name_sold_again(nursery, version):
    fake = await panel(nursery, version, protocol="trojan")
    xui = backend(fake, "trojan")
    await xui.create(account())
    assert fake.clients(1)[0]["password"] == SECRET  # Trojan's client id is its password
    outcomes = await xui.remove([Removal("ord1", "budi", SECRET, DAY)])
    assert outcomes == {"budi": Removed.GONE}
    for inbound in (1, 2):  # the panel refuses to delete them: nothing left in them
        (client,) = fake.clients(inbound)
        assert client["enable"] is False and client["expiryTime"] == 1
        assert client["totalGB"] == 1 and client["password"] != SECRET
    assert await xui.presence("budi") is Presence.ABSENT
    assert (await xui.read_accounts()).accounts == ()
    assert await xui.remove([Removal("ord1", "budi", SECRET, DAY)]) == {"budi": Removed.GONE}
    fake.set_usage("budi", down=5 * GB)
    again = str(uuid.uuid4())
    await xui.create(account(secret=again, order="ord2"))
    assert len(emails(fake)) == 2
    client = fake.clients(1)[0]
    assert (client["password"], client["enable"], client["totalGB"]) == (again, True, 100 * GB)
    assert await xui.usage() == {"budi": Usage(0, 100 * GB)}  # the reused client starts at zero


async def test_3_0_logs_in_with_the_csrf_token_and_sends_it_on_every_change(nursery):
    fake = await panel(nursery, V30)
    xui = backend(fake)
    await xui.create(account())
    assert xui.family is Family.V3_0
    assert emails(fake) == [(1, "budi"), (2, "budi")]  # 3.0: one email, one subId
    fake.expire_sessions()  # the CSRF token dies with the session: 404, log in again
    await xui.extend(Extension("ren1", "ord1", "budi", SECRET, dt.date(2027, 2, 14), months=1))
    assert fake.logins == 2
    assert fake.clients(2)[0]["totalGB"] == 200 * GB


async def test_3_0_with_an_api_token_never_logs_in(nursery):
    fake = await panel(nursery, V30, api_token="tok-" + "x" * 30)
    xui = backend(fake, token="tok-" + "x" * 30)
    await xui.create(account())
    assert xui.family is Family.V3_0 and fake.logins == 0
    assert emails(fake) == [(1, "budi"), (2, "budi")]
    wrong = backend(fake, token="tok-" + "y" * 30)
    with pytest.raises(PanelError) as refused:
        await wrong.presence("budi")
    assert refused.value.transient is False and "y" * 30 not in str(refused.value)


# --- bad answers ------------------------------------------------------------------------------

async def test_a_wrong_password_is_the_panel_s_message_and_never_the_password(nursery):
    fake = await panel(nursery, V31)
    fake.password = "another-one"
    xui = backend(fake)
    with pytest.raises(PanelError) as refused:
        await xui.presence("budi")
    assert "Invalid username or password" in str(refused.value)
    assert "s3cret-pw" not in str(refused.value) and refused.value.transient is False


@pytest.mark.parametrize("fault", [BAD_GATEWAY, LOGIN_PAGE, TRUNCATED])
async def test_a_bad_answer_is_a_transient_panel_error_without_the_secret(nursery, fault):
    fake = await panel(nursery, V31)
    xui = backend(fake)
    await xui.presence("budi")
    fake.fail("clients/add", fault)
    with pytest.raises(PanelError) as failed:
        await xui.create(account())
    assert failed.value.transient is True
    assert SECRET not in str(failed.value) and "s3cret-pw" not in str(failed.value)


async def test_a_panel_that_hangs_is_no_answer(nursery):
    fake = await panel(nursery, V31)
    xui = backend(fake, seconds=0.5)
    fake.fail("*", HANG)
    with pytest.raises(PanelUnreachable):
        await xui.presence("budi")


async def test_a_refusal_at_http_200_carries_the_panel_s_msg_masked(nursery):
    fake = await panel(nursery, V2)
    # Inbound 2 was deleted on the panel: its addClient fails with success false.
    xui = backend(fake, inbound_ids=(1, 7))
    with pytest.raises(PanelError) as missing:
        await xui.create(account())
    assert "inbound 7 is not on the panel" in str(missing.value)
    assert emails(fake) == []


async def test_a_panel_upgraded_to_3_1_meanwhile_is_found_again_after_its_404(nursery):
    fake = await panel(nursery, V30)
    xui = backend(fake)
    await xui.create(account())
    # The seller upgrades the panel: the per-inbound client routes are gone (a bare 404).
    fake.version = fake.panel.version = Version.parse(V31)
    fake.expire_sessions()
    await xui.create(account("sari", str(uuid.uuid4()), order="ord2"))
    assert xui.family is Family.V3_1
    assert fake.count("clients/add") == 1
    assert emails(fake) == [(1, "budi"), (1, "sari"), (2, "budi"), (2, "sari")]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
INBOUND = st.fixed_dictionaries({
    "id": st.integers(0, 3) | JSON, "protocol": st.sampled_from(["vless", "trojan"]) | JSON,
    "port": st.integers() | JSON, "streamSettings": JSON | JSON.map(json.dumps),
    "settings": st.fixed_dictionaries({"clients": st.lists(
        st.fixed_dictionaries({"email": st.text(max_size=6) | JSON}, optional={
            "id": JSON, "password": JSON, "subId": JSON, "totalGB": JSON,
            "expiryTime": JSON, "enable": JSON, "comment": JSON}), max_size=3) | JSON}
    ).map(json.dumps) | JSON,
    "clientStats": st.lists(st.fixed_dictionaries({"email": JSON, "up": JSON}), max_size=2)
    | JSON})


@given(st.lists(INBOUND, max_size=3) | JSON)
def test_hostile_inbound_lists_parse_or_fail_as_a_panel_error(obj):
    try:
        found = snapshot("nl1: inbounds/list", obj)
    except PanelError:
        return
    for entry in found.entries:
        assert isinstance(entry.email, str) and isinstance(entry.total, int)
        share_link(entry.inbound, "nl1.example.com", entry.key, entry.email)


@given(JSON)
def test_hostile_envelopes_are_the_obj_or_a_panel_error(body):
    try:
        envelope("nl1: GET x", body)
    except PanelError as exc:
        assert isinstance(str(exc), str)
