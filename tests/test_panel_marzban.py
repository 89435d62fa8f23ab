"""The Marzban and PasarGuard backends against the loopback fake of each panel: what a
buyer gets (the date, the traffic by the quota rule, links and a subscription that opens),
a create repeated after a lost answer, a token that expires mid-way, and every bad answer
a BackendError that shows no secret."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import attrs
import pytest
import trio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qrisbot.config import Panel, Rupiah, Server, Shop
from qrisbot.provision.panels import marzban_answers as answers
from qrisbot.provision.panels.delivery import labelled
from qrisbot.provision.panels.marzban import MarzbanBackend
from qrisbot.provision.panels.pasarguard import PasarGuardBackend
from qrisbot.provision.panels.terms import GB, last_day
from qrisbot.provision.port import (
    Account,
    AccountMissing,
    BackendError,
    Extension,
    Feature,
    NoAnswer,
    Presence,
    Removal,
    Removed,
    Usage,
    UsernameTaken,
)
from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG, LOST_ANSWER, SERVER_ERROR, TRUNCATED

PASSWORD = "Adm1n-Pa55word"  # noqa: S105  (the fake's admin: no message may show it)
SHOP = Shop()  # Asia/Jakarta, 30 days a month
ZONE = zoneinfo.ZoneInfo(SHOP.timezone)
DIALECTS = ["marzban", "pasarguard"]
SECRET = str(uuid.uuid4())
Backend = MarzbanBackend | PasarGuardBackend


def end_of(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(23, 59, 59), ZONE).timestamp())


def today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def make(fake: FakeMarzban, *, protocol: str = "vless", quota_gb: int = 100,
         seconds: float = 30.0, **panel: Any) -> Backend:
    settings: dict[str, Any] = {"username": "admin", "password": PASSWORD,
                                "sub_url": "https://sub.example.com"}
    if fake.dialect == "marzban":
        settings["inbounds"] = ("VLESS TCP REALITY",) if protocol == "vless" else ()
    else:
        settings["groups"] = ("VLESS only",) if protocol == "vless" else ("Default",)
    server = Server(id="nl1", name="Amsterdam", protocol=protocol,  # type: ignore[arg-type]
                    domain="nl1.example.com", price_per_month=Rupiah(15000),
                    quota_gb=quota_gb,
                    panel=Panel(type=fake.dialect, url=fake.url, **settings | panel))
    kind = MarzbanBackend if fake.dialect == "marzban" else PasarGuardBackend
    return kind(server, SHOP, seconds=seconds)


def account(name: str = "budi_99", secret: str = SECRET, *, months: int = 1,
            days: int = 30, order: str = "ORD1") -> Account:
    return Account(order_id=order, username=name, secret=secret,
                   expires=today() + dt.timedelta(days=days), months=months, days=days)


def renewal(name: str = "budi_99", secret: str = SECRET, *, expires: dt.date,
            months: int = 1, order: str = "ORD2") -> Extension:
    return Extension(order_id=order, made_by="ORD1", username=name, secret=secret,
                     expires=expires, months=months)


def secret_of(fake: FakeMarzban, name: str, protocol: str = "vless") -> str:
    settings = fake.users[name].proxies[protocol]
    return settings["password" if protocol == "trojan" else "id"]


@pytest.fixture(params=DIALECTS)
async def fake(request: pytest.FixtureRequest, nursery: trio.Nursery) -> FakeMarzban:
    panel = FakeMarzban(request.param)
    await nursery.start(panel.serve)
    return panel


@pytest.fixture
async def backend(fake: FakeMarzban) -> Any:
    made = make(fake)
    yield made
    await made.aclose()


async def test_create_gives_the_buyer_their_secret_date_quota_links_and_subscription(
        fake: FakeMarzban, backend: Backend) -> None:
    assert backend.features == {Feature.EXTEND, Feature.REMOVE, Feature.READ,
                                Feature.QUOTA, Feature.USAGE,
                                Feature.SUBSCRIPTION}  # no IP limit
    await backend.create(account(months=2, days=60))
    user = fake.users["budi_99"]
    assert secret_of(fake, "budi_99") == SECRET
    assert user.expire == end_of(today() + dt.timedelta(days=60))
    assert user.data_limit == 200 * GB and user.status == "active"
    # Only the configured inbounds (Marzban: tags; PasarGuard: the group's two tags).
    if fake.dialect == "marzban":
        assert user.inbounds == {"vless": ["VLESS TCP REALITY"]}
    else:
        assert user.group_ids == [2]
    delivery = await backend.share("budi_99")
    expected = 1 if fake.dialect == "marzban" else 2
    assert len(delivery.links) == expected
    assert all(SECRET in link and link.startswith("vless://") for _, link in delivery.links)
    assert delivery.links[0][0] == "budi_99 [VLESS TCP REALITY]"  # the panel's remark
    sub = delivery.subscription_url
    assert sub is not None and sub.startswith("https://sub.example.com/sub/")
    made = await backend.create(account(months=2, days=60))  # a repeat gives the same
    assert made.to_json()["kind"] == "panel" and made.subscription is not None
    assert made.to_json()["links"] == [list(link) for link in delivery.links]


async def test_trial_quota_is_its_days_share_of_a_month_and_at_least_1_gb(
        fake: FakeMarzban, backend: Backend) -> None:
    await backend.create(account("tono_1", str(uuid.uuid4()), months=0, days=6))
    assert fake.users["tono_1"].data_limit == 20 * GB  # 100 GB x 6/30
    await backend.create(account("sari_1", str(uuid.uuid4()), months=0, days=0))
    assert fake.users["sari_1"].data_limit == GB


async def test_a_create_repeated_after_a_lost_answer_makes_one_user(
        fake: FakeMarzban, backend: Backend) -> None:
    await backend.presence("budi_99")  # a kept-alive connection, as in a running shop
    # The panel makes the user and the connection drops before its answer.
    fake.fail("create", LOST_ANSWER)
    try:
        await backend.create(account())
    except BackendError as lost:  # the order waits (a transport that resends a POST on a
        assert lost.transient  # stale connection would meet the 409 and adopt it here)
    assert "budi_99" in fake.users
    await backend.create(account())  # the order's retry adopts the user its try made
    assert len(fake.users) == 1 and secret_of(fake, "budi_99") == SECRET


async def test_a_name_someone_else_has_is_taken(fake: FakeMarzban, backend: Backend) -> None:
    assert await backend.presence("budi_99") is Presence.ABSENT
    await backend.create(account(secret=str(uuid.uuid4()), order="OTHER"))
    assert await backend.presence("budi_99") is Presence.TAKEN
    with pytest.raises(UsernameTaken) as taken:
        await backend.create(account())
    assert SECRET not in str(taken.value)
    with pytest.raises(UsernameTaken):
        await backend.extend(renewal(expires=today() + dt.timedelta(days=40)))
    assert len(fake.users) == 1


async def test_extend_sets_the_day_raises_the_quota_and_keeps_the_usage(
        fake: FakeMarzban, backend: Backend) -> None:
    await backend.create(account(days=30))
    fake.set_usage("budi_99", 100 * GB)  # all of it: the panel has limited the user
    assert fake.users["budi_99"].status == "limited"
    new_day = today() + dt.timedelta(days=90)
    await backend.extend(renewal(expires=new_day, months=2))
    user = fake.users["budi_99"]
    assert user.expire == end_of(new_day)
    assert (user.data_limit, user.used_traffic, user.status) == (300 * GB, 100 * GB, "active")
    assert secret_of(fake, "budi_99") == SECRET
    await backend.extend(renewal(expires=new_day, months=2))  # a repeat: nothing added
    assert fake.users["budi_99"].data_limit == 300 * GB
    await backend.extend(renewal(expires=new_day + dt.timedelta(days=30), order="ORD3"))
    assert fake.users["budi_99"].data_limit == 400 * GB
    # Days the operator gives (no paid months) add no traffic.
    await backend.extend(renewal(expires=new_day + dt.timedelta(days=37), months=0,
                                 order="ORD4"))
    assert fake.users["budi_99"].data_limit == 400 * GB
    with pytest.raises(AccountMissing):
        await backend.extend(renewal("sari_1", expires=new_day))


async def test_remove_deletes_only_an_account_still_ending_that_day(
        fake: FakeMarzban, backend: Backend) -> None:
    day = today() + dt.timedelta(days=30)
    other = str(uuid.uuid4())
    await backend.create(account("budi_99", days=30))
    await backend.create(account("sari_1", other, days=30, order="ORD3"))
    await backend.create(account("tono_1", str(uuid.uuid4()), days=30, order="ORD4"))
    await backend.extend(renewal("tono_1", secret_of(fake, "tono_1"),
                                 expires=day + dt.timedelta(days=30)))
    done = await backend.remove([
        Removal("ORD1", "budi_99", SECRET, day),
        Removal("ORD3", "sari_1", str(uuid.uuid4()), day),  # the name is someone else's
        Removal("ORD4", "tono_1", secret_of(fake, "tono_1"), day),  # renewed meanwhile
        Removal("ORD5", "gone_1", str(uuid.uuid4()), day),
    ])
    assert done == {"budi_99": Removed.GONE, "sari_1": Removed.FOREIGN,
                    "tono_1": Removed.KEPT, "gone_1": Removed.GONE}
    assert set(fake.users) == {"sari_1", "tono_1"}


async def test_read_accounts_and_usage_each_in_one_call(fake: FakeMarzban,
                                                        backend: Backend) -> None:
    await backend.create(account(days=30))
    await backend.create(account("sari_1", str(uuid.uuid4()), months=0, days=1, order="T1"))
    fake.set_usage("budi_99", 7 * GB)
    before = fake.count("list")
    assert await backend.usage() == {"budi_99": Usage(7 * GB, 100 * GB),
                                     "sari_1": Usage(0, 100 * GB // 30)}
    found = await backend.read_accounts()
    assert fake.count("list") == before + 2
    assert {(a.username, a.secret, a.last_day) for a in found.accounts} == {
        ("budi_99", SECRET, today() + dt.timedelta(days=30)),
        ("sari_1", secret_of(fake, "sari_1"), today() + dt.timedelta(days=1))}
    assert found.skipped == 0


async def test_read_accounts_names_what_it_cannot_take_on(fake: FakeMarzban) -> None:
    trojan = make(fake, protocol="trojan")
    await trojan.create(account("tr_user", "Tr0jan-pass", days=30))
    vless = make(fake)
    await vless.create(account("budi_99", days=30))
    fake.users["budi_99"].expire = None  # made unlimited on the panel
    found = await trojan.read_accounts()
    assert [a.secret for a in found.accounts] == ["Tr0jan-pass"]
    assert found.skipped == 1 and found.notes[0].startswith("budi_99: ")
    found = await vless.read_accounts()
    assert found.accounts == () and found.skipped == 2
    assert any("never expires" in note for note in found.notes)
    await trojan.aclose()
    await vless.aclose()


async def test_an_expired_token_is_fetched_again_once(fake: FakeMarzban,
                                                      backend: Backend) -> None:
    await backend.create(account())
    assert fake.logins == 1
    fake.expire_tokens()  # 24 h later, in the middle of a batch
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(backend.presence, "budi_99")
    assert fake.logins == 2
    await backend.extend(renewal(expires=today() + dt.timedelta(days=60)))
    assert fake.logins == 2


async def test_a_wrong_password_is_said_once_and_not_shown(fake: FakeMarzban) -> None:
    backend = make(fake, password="Wr0ng-Pa55word")
    with pytest.raises(BackendError) as refused:
        await backend.presence("budi_99")
    assert not refused.value.transient
    assert "username or password" in str(refused.value)
    assert "Wr0ng-Pa55word" not in str(refused.value)
    await backend.aclose()


@pytest.mark.parametrize(("fault", "said"), [
    (BAD_GATEWAY, "web page"), (SERVER_ERROR, "HTTP 500"), (TRUNCATED, "cut off")])
async def test_each_fault_is_a_transient_backend_error_without_secrets(
        fake: FakeMarzban, backend: Backend, fault: Any, said: str) -> None:
    await backend.create(account())
    attempts: list[tuple[Any, ...]] = [
        ("get", backend.presence, "budi_99"), ("get", backend.share, "budi_99"),
        ("create", backend.create, account("sari_1")), ("list", backend.read_accounts)]
    for call, method, *args in attempts:
        fake.fail(call, fault)
        with pytest.raises(BackendError) as caught:
            await method(*args)
        error = caught.value
        assert error.transient and said in str(error), error
        assert not any(s in str(error) for s in (SECRET, PASSWORD, *fake._tokens)), error


async def test_a_hanging_panel_is_no_answer_and_a_cancel_scope_ends_a_call(
        fake: FakeMarzban) -> None:
    backend = make(fake, seconds=0.5)
    await backend.create(account())
    fake.fail("get", HANG)
    with pytest.raises(NoAnswer):
        await backend.presence("budi_99")
    fake.fail("get", HANG)
    with trio.move_on_after(0.2) as scope:
        await backend.presence("budi_99")
    assert scope.cancelled_caught
    assert await backend.presence("budi_99") is Presence.TAKEN  # and it goes on working
    await backend.aclose()


async def test_usernames_follow_the_shops_rule_and_the_panels(
        fake: FakeMarzban, backend: Backend) -> None:
    assert backend.is_sellable_username("budi_99")
    assert not backend.is_sellable_username("root")  # the shop's reserved names
    assert not backend.is_sellable_username("Budi")  # the shop's own rule
    assert backend.is_sellable_username("ab_c")
    # The shop's rule allows "a__b"; PasarGuard refuses two specials in a row.
    assert backend.is_sellable_username("ab__c") is (fake.dialect == "marzban")


async def test_marzban_without_configured_tags_uses_every_inbound_of_the_protocol(
        nursery: trio.Nursery) -> None:
    fake = FakeMarzban("marzban")
    await nursery.start(fake.serve)
    backend = make(fake, protocol="vmess")
    await backend.create(account())
    assert fake.users["budi_99"].inbounds == {"vmess": ["VMess WS"]}
    assert fake.users["budi_99"].proxies == {"vmess": {"id": SECRET}}
    (label, link), = (await backend.share("budi_99")).links
    assert link.startswith("vmess://") and label == "budi_99 [VMess WS]"
    await backend.aclose()


async def pasarguard(nursery: trio.Nursery) -> FakeMarzban:
    fake = FakeMarzban("pasarguard")
    await nursery.start(fake.serve)
    return fake


async def test_pasarguard_groups_are_resolved_once_and_again_when_gone(
        nursery: trio.Nursery) -> None:
    fake = await pasarguard(nursery)
    backend = make(fake)
    await backend.create(account())
    await backend.create(account("sari_1", str(uuid.uuid4()), order="ORD3"))
    assert fake.count("groups") == 1
    assert fake.users["sari_1"].group_ids == [2]
    # The seller deletes the group and makes it again: another id.
    group = fake.groups.pop(2)
    fake.groups[7] = attrs.evolve(group, id=7)
    with pytest.raises(BackendError) as gone:
        await backend.create(account("tono_1", str(uuid.uuid4()), order="ORD4"))
    assert "Group not found" in str(gone.value)
    await backend.create(account("tono_1", str(uuid.uuid4()), order="ORD4"))
    assert fake.users["tono_1"].group_ids == [7] and fake.count("groups") == 2
    await backend.aclose()


@pytest.mark.parametrize(("group", "said"), [
    ("Nope", "no group 'Nope' (it has: Default, Old, VLESS only)"),
    ("Old", "group 'Old' is disabled")])
async def test_pasarguard_a_group_it_cannot_use_is_said(
        nursery: trio.Nursery, group: str, said: str) -> None:
    fake = await pasarguard(nursery)
    backend = make(fake, groups=(group,))
    with pytest.raises(BackendError) as refused:
        await backend.create(account())
    assert said in str(refused.value) and not refused.value.transient
    assert fake.users == {}
    await backend.aclose()


async def test_pasarguard_api_key_needs_no_login_and_a_revoked_one_is_said(
        nursery: trio.Nursery) -> None:
    fake = await pasarguard(nursery)
    key = fake.make_api_key()
    backend = make(fake, password="", token=key)
    await backend.create(account())
    assert await backend.usage() == {"budi_99": Usage(0, 100 * GB)}
    assert fake.logins == 0
    fake._api_keys.clear()  # the seller revoked it
    with pytest.raises(BackendError) as refused:
        await backend.presence("budi_99")
    assert "API key" in str(refused.value) and not refused.value.transient
    assert key not in str(refused.value)
    await backend.aclose()


async def test_pasarguard_links_come_from_the_subscription_whose_url_always_changes(
        nursery: trio.Nursery) -> None:
    fake = await pasarguard(nursery)
    backend = make(fake)
    await backend.create(account())
    first, second = await backend.share("budi_99"), await backend.share("budi_99")
    assert first.subscription_url != second.subscription_url
    assert first.links == second.links and len(first.links) == 2
    assert fake.count("links") == 3  # the create read them once for the buyer
    # Unchanged state is not drift: read_accounts gives the same account both times.
    assert (await backend.read_accounts()) == (await backend.read_accounts())
    await backend.aclose()


# --- hostile answers ----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
VALID = {"username": "budi_99", "proxies": {"vless": {"id": SECRET}}, "expire": 1_900_000_000,
         "data_limit": 0, "used_traffic": 0, "status": "active", "subscription_url": "/sub/x",
         "links": [], "inbounds": {}, "group_ids": []}
ODD = st.sampled_from([None, "2030-03-17T17:46:40Z", "2030-13-01", 10**30, -5, 1.5, 1e300,
                       float("nan"), True, "", [], {}, {"vless": ["VLESS WS"]}, [2, "x"],
                       {"trojan": {"password": 5}}, "\x00budi"])
# A user as the panel sends it with one or two fields replaced by anything, so the odd
# value gets past the reader's first checks and meets whatever reads it later.
USERISH = st.builds(lambda odd: VALID | odd, st.dictionaries(
    st.sampled_from(sorted(VALID)), ODD | st.integers() | JSON, min_size=1, max_size=2))


@settings(max_examples=300, deadline=None)
@example(body=None, user=VALID | {"expire": 10**30})  # past year 9999: no date
@example(body=None, user=VALID | {"expire": "0001-01-01T00:00:00"})
@given(body=JSON | USERISH | st.fixed_dictionaries({"users": st.lists(USERISH, max_size=3)})
       | st.fixed_dictionaries({"groups": JSON}), user=USERISH)
def test_hostile_answers_are_backend_errors_never_crashes(body: Any, user: Any) -> None:
    for read in (answers.user, answers.users, answers.groups):
        try:
            read(body, "nl1: GET api/user")
        except BackendError as error:
            assert SECRET not in str(error)
    try:
        found, _ = answers.users({"users": [user]}, "nl1: GET api/users")
    except BackendError:
        return
    for seen in found:  # what the backend does with a user the reader let through
        if seen.expire is not None:
            last_day(seen.expire, ZONE)
        seen.secret("vless"), seen.secret("trojan")


@given(st.lists(st.text(max_size=60), max_size=4))
def test_any_share_link_text_gets_a_label(links: list[str]) -> None:
    assert [link for _, link in labelled(links)] == links
