"""The Marzban/PasarGuard fake, driven with plain httpx as a panel client would: each trap a
backend relies on is asserted here, so the backend is tested against a fake known to
behave like the panels."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.marzban_rules import password_errors
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG, LOST_ANSWER, SERVER_ERROR, TRUNCATED

GB = 2**30
DIALECTS = ["marzban", "pasarguard"]


async def _start(nursery: trio.Nursery, dialect: Any, **kwargs: Any) -> FakeMarzban:
    fake = FakeMarzban(dialect, **kwargs)
    await nursery.start(fake.serve)
    return fake


@pytest.fixture(params=DIALECTS)
async def panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> FakeMarzban:
    return await _start(nursery, request.param)


@pytest.fixture
async def client(panel: FakeMarzban) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=panel.url) as http:
        yield http


async def login(http: httpx.AsyncClient, panel: FakeMarzban) -> dict[str, str]:
    username, password = panel.admin
    response = await http.post("/api/admin/token",
                               data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def new_user(panel: FakeMarzban, username: str, secret: str, **extra: Any) -> dict[str, Any]:
    """A create body the way the backend will send it."""
    if panel.dialect == "marzban":
        return {"username": username, "proxies": {"vless": {"id": secret, "flow": ""}},
                "inbounds": {"vless": ["VLESS TCP REALITY"]}, **extra}
    return {"username": username, "proxy_settings": {"vless": {"id": secret, "flow": ""}},
            "group_ids": [2], **extra}


def created(panel: FakeMarzban) -> int:
    return 200 if panel.dialect == "marzban" else 201


async def test_login_is_a_form_and_an_expired_token_is_401(
        panel: FakeMarzban, client: httpx.AsyncClient) -> None:
    username, password = panel.admin
    as_json = await client.post("/api/admin/token",
                                json={"username": username, "password": password})
    assert as_json.status_code == 422
    wrong = await client.post("/api/admin/token", data={"username": username, "password": "x"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Incorrect username or password"})
    headers = await login(client, panel)
    assert (await client.get("/api/user/nobody", headers=headers)).json() == {
        "detail": "User not found"}
    panel.expire_tokens()
    stale = await client.get("/api/user/nobody", headers=headers)
    assert (stale.status_code, stale.json()) == (401, {"detail": "Could not validate credentials"})
    bad = await client.get("/api/user/nobody", headers={"Authorization": "Bearer eyJnope"})
    assert bad.status_code == 401
    headers = await login(client, panel)
    assert (await client.get("/api/user/nobody", headers=headers)).status_code == 404
    assert panel.logins == 2 and panel.count("token") == 4


async def test_create_answers_200_or_201_and_a_taken_name_409(
        panel: FakeMarzban, client: httpx.AsyncClient) -> None:
    headers = await login(client, panel)
    secret = str(uuid.uuid4())
    expire = int(time.time()) + 30 * 86400
    body = new_user(panel, "budi_99", secret, expire=expire, data_limit=100 * GB)
    response = await client.post("/api/user", json=body, headers=headers)
    assert response.status_code == created(panel), response.text
    user = response.json()
    assert (user["status"], user["used_traffic"], user["data_limit"]) == ("active", 0, 100 * GB)
    again = await client.post("/api/user", json=new_user(panel, "budi_99", str(uuid.uuid4())),
                              headers=headers)
    assert (again.status_code, again.json()) == (409, {"detail": "User already exists"})
    read = (await client.get("/api/user/budi_99", headers=headers)).json()
    proxies = read["proxies" if panel.dialect == "marzban" else "proxy_settings"]
    assert proxies["vless"]["id"] == secret  # the repeated create left the first user alone
    assert len(panel.users) == 1


async def test_marzban_proxies_inbounds_links_and_a_relative_subscription(
        nursery: trio.Nursery) -> None:
    panel = await _start(nursery, "marzban")
    async with httpx.AsyncClient(base_url=panel.url) as http:
        headers = await login(http, panel)
        secret = str(uuid.uuid4())
        response = await http.post("/api/user", json=new_user(panel, "budi_99", secret,
                                                               expire=1_900_000_000),
                                   headers=headers)
        user = response.json()
        assert user["expire"] == 1_900_000_000  # epoch seconds both ways
        assert user["inbounds"] == {"vless": ["VLESS TCP REALITY"]}
        assert user["excluded_inbounds"] == {"vless": ["VLESS WS"]}
        assert len(user["links"]) == 1 and secret in user["links"][0]
        assert user["links"][0].startswith("vless://")
        assert user["subscription_url"].startswith("/sub/")
        # No tags for a protocol: every inbound of that protocol.
        trojan = await http.post("/api/user", headers=headers, json={
            "username": "sari_01", "proxies": {"trojan": {"password": "tr0jan-secret"}}})
        assert trojan.json()["inbounds"] == {"trojan": ["Trojan WS"]}
        assert "tr0jan-secret" in trojan.json()["links"][0]
        refused = await http.post("/api/user", headers=headers,
                                  json={"username": "tono_1", "proxies": {}})
        assert refused.status_code == 422 and "proxies" in refused.json()["detail"]
        unknown = await http.post("/api/user", headers=headers, json={
            "username": "tono_1", "proxies": {"vless": {}}, "inbounds": {"vless": ["Nope"]}})
        assert unknown.json() == {"detail": {"inbounds": "Value error, Inbound Nope doesn't exist"}}
        inbounds = (await http.get("/api/inbounds", headers=headers)).json()
        assert [i["tag"] for i in inbounds["vless"]] == ["VLESS TCP REALITY", "VLESS WS"]
        assert (await http.get("/api/inbounds")).json() == {"detail": "Not authenticated"}
        assert (await http.get("/api/groups", headers=headers)).status_code == 404
    prefixed = await _start(nursery, "marzban", sub_prefix="https://sub.example.com")
    async with httpx.AsyncClient(base_url=prefixed.url) as http:
        headers = await login(http, prefixed)
        user = (await http.post("/api/user", json=new_user(prefixed, "budi_99", secret),
                                headers=headers)).json()
        assert user["subscription_url"].startswith("https://sub.example.com/sub/")


async def test_usernames_follow_each_panels_rule(
        panel: FakeMarzban, client: httpx.AsyncClient) -> None:
    headers = await login(client, panel)

    async def status(name: str) -> int:
        body = new_user(panel, name, str(uuid.uuid4()))
        return (await client.post("/api/user", json=body, headers=headers)).status_code

    ok = created(panel)
    assert await status("ab") == 422
    assert await status("budi_99") == ok
    assert await status("abc@y.z_1") == ok
    assert await status("bad name") == 422
    assert await status("a" * 32) == ok
    if panel.dialect == "marzban":
        assert await status("b" * 33) == 422
        assert await status("ab.cd") == 422  # Marzban's regex wants 3 word characters first
    else:
        assert await status("b" * 33) == ok  # PasarGuard allows up to 128
        assert await status("ab.cd") == ok
        assert await status("a__b") == 422  # no consecutive special characters


async def test_pasarguard_groups_proxy_settings_and_iso_expire(nursery: trio.Nursery) -> None:
    panel = await _start(nursery, "pasarguard")
    async with httpx.AsyncClient(base_url=panel.url) as http:
        headers = await login(http, panel)
        groups = (await http.get("/api/groups", headers=headers)).json()
        assert groups["total"] == 3
        assert {g["name"]: g["id"] for g in groups["groups"]}["VLESS only"] == 2
        secret = str(uuid.uuid4())
        response = await http.post("/api/user", headers=headers, json=new_user(
            panel, "budi_99", secret, expire=1_900_000_000))
        assert response.status_code == 201
        user = response.json()
        assert user["expire"] == "2030-03-17T17:46:40Z"  # seconds in, ISO out
        assert "links" not in user and user["group_ids"] == [2]
        settings = user["proxy_settings"]
        assert settings["vless"]["id"] == secret
        assert settings["trojan"]["password"] and settings["vmess"]["id"] != secret
        iso = await http.post("/api/user", headers=headers, json=new_user(
            panel, "sari_01", secret, expire="2030-03-17T17:46:40"))  # naive ISO = UTC
        assert iso.json()["expire"] == "2030-03-17T17:46:40Z"
        empty = await http.post("/api/user", headers=headers,
                                json=new_user(panel, "tono_1", secret, group_ids=[]))
        assert (empty.status_code, empty.json()) == (422, {"detail": {
            "group_ids": "Value error, you must select at least one group"}})
        unknown = await http.post("/api/user", headers=headers,
                                  json=new_user(panel, "tono_1", secret, group_ids=[99]))
        assert (unknown.status_code, unknown.json()) == (404, {"detail": "Group not found"})
        body = new_user(panel, "tono_1", secret)
        del body["group_ids"]
        bare = await http.post("/api/user", headers=headers, json=body)
        assert bare.status_code == 201 and bare.json()["group_ids"] == []
        # Share links come from the subscription, as plain text; the token moves each read.
        first = (await http.get("/api/user/budi_99", headers=headers)).json()["subscription_url"]
        second = (await http.get("/api/user/budi_99", headers=headers)).json()["subscription_url"]
        assert first.startswith("/sub/") and first != second
        links = await http.get(f"{first}/links")
        assert links.headers["content-type"].startswith("text/plain")
        lines = links.text.splitlines()
        assert len(lines) == 2 and all(secret in line for line in lines)  # VLESS only: 2 tags
        assert (await http.get(f"{second}/links")).text == links.text
        no_links = (await http.get("/api/user/tono_1", headers=headers)).json()
        assert (await http.get(f"{no_links['subscription_url']}/links")).text == ""


async def test_modify_reset_and_delete(panel: FakeMarzban, client: httpx.AsyncClient) -> None:
    headers = await login(client, panel)
    secret = str(uuid.uuid4())
    now = int(time.time())
    await client.post("/api/user", headers=headers, json=new_user(
        panel, "budi_99", secret, expire=now + 86400, data_limit=10 * GB))

    async def put(**body: Any) -> dict[str, Any]:
        response = await client.put("/api/user/budi_99", json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def expire_of(user: dict[str, Any]) -> Any:
        return user["expire"] if panel.dialect == "marzban" else panel.users["budi_99"].expire

    same = await put(expire=None, data_limit=None, note=None)  # null = unchanged
    assert expire_of(same) == now + 86400 and same["data_limit"] == 10 * GB
    assert (await put(expire=now - 60))["status"] == "expired"
    assert (await put(expire=now + 40 * 86400))["status"] == "active"  # a renewal
    panel.set_usage("budi_99", 11 * GB)
    limited = (await client.get("/api/user/budi_99", headers=headers)).json()
    assert (limited["status"], limited["used_traffic"]) == ("limited", 11 * GB)
    raised = await put(data_limit=20 * GB)
    assert (raised["status"], raised["used_traffic"], raised["data_limit"]) == (
        "active", 11 * GB, 20 * GB)  # a higher limit, usage kept
    kept = (await client.get("/api/user/budi_99", headers=headers)).json()
    proxies = kept["proxies" if panel.dialect == "marzban" else "proxy_settings"]
    assert proxies["vless"]["id"] == secret
    not_uuid = await client.post("/api/user", headers=headers,
                                 json=new_user(panel, "sari_01", "not-a-uuid"))
    assert not_uuid.status_code == 422
    await client.post("/api/user", headers=headers,
                      json=new_user(panel, "sari_01", str(uuid.uuid4())))
    listed = (await client.get("/api/users", headers=headers)).json()  # usage in one call
    assert listed["total"] == 2
    assert {u["username"]: u["used_traffic"] for u in listed["users"]} == {
        "budi_99": 11 * GB, "sari_01": 0}
    page = await client.get("/api/users", params={"offset": 1, "limit": 1}, headers=headers)
    assert [u["username"] for u in page.json()["users"]] == ["sari_01"]
    reset = await client.post("/api/user/budi_99/reset", headers=headers)
    assert reset.json()["used_traffic"] == 0
    assert (await put(data_limit=0))["data_limit"] is None  # 0 = unlimited
    gone = await client.delete("/api/user/budi_99", headers=headers)
    if panel.dialect == "marzban":
        assert (gone.status_code, gone.json()) == (200, {"detail": "User successfully deleted"})
    else:
        assert (gone.status_code, gone.content) == (204, b"")
    assert (await client.get("/api/user/budi_99", headers=headers)).status_code == 404
    assert (await client.delete("/api/user/budi_99", headers=headers)).status_code == 404
    missing = await client.put("/api/user/budi_99", json={"expire": now}, headers=headers)
    assert missing.json() == {"detail": "User not found"}


async def test_pasarguard_api_keys_from_5_1(nursery: trio.Nursery) -> None:
    panel = await _start(nursery, "pasarguard")
    key = panel.make_api_key()
    assert key.startswith("pg_key_") and uuid.UUID(key[7:]).version == 4
    async with httpx.AsyncClient(base_url=panel.url) as http:
        for headers in ({"X-Api-Key": key}, {"Authorization": f"ApiKey {key}"}):
            assert (await http.get("/api/groups", headers=headers)).status_code == 200
        other = {"X-Api-Key": f"pg_key_{uuid.uuid4()}"}
        refused = await http.get("/api/groups", headers=other)
        assert (refused.status_code, refused.json()) == (
            401, {"detail": "Could not validate credentials"})
        assert (await http.get("/api/groups")).status_code == 401
    old = await _start(nursery, "pasarguard", version="5.0.2")
    with pytest.raises(ValueError, match="no API keys"):
        old.make_api_key()
    old._api_keys.add(key)  # a key from elsewhere: 5.0 does not read the header at all
    async with httpx.AsyncClient(base_url=old.url) as http:
        assert (await http.get("/api/groups", headers={"X-Api-Key": key})).status_code == 401
    with pytest.raises(ValueError):
        FakeMarzban("marzban").make_api_key()


def test_pasarguard_admin_password_rule() -> None:
    assert password_errors("Adm1n-Pa55word", "admin") == []
    assert len(password_errors("admin", "admin")) == 5
    assert password_errors("Xy12abCD!admin", "admin") == ["Password cannot contain the username"]
    with pytest.raises(ValueError, match="at least 12 characters"):
        FakeMarzban("pasarguard", password="secret")
    FakeMarzban("marzban", password="secret")  # Marzban has no rule


async def test_faults_a_proxy_page_a_500_a_truncated_body_a_hang_a_lost_answer(
        panel: FakeMarzban, client: httpx.AsyncClient) -> None:
    headers = await login(client, panel)
    panel.fail("get", BAD_GATEWAY)
    page = await client.get("/api/user/budi_99", headers=headers)
    assert page.status_code == 502 and page.headers["content-type"] == "text/html"
    assert b"nginx" in page.content
    panel.fail("token", SERVER_ERROR)
    assert (await client.post("/api/admin/token", data={})).status_code == 500
    panel.fail("create", TRUNCATED)
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        await client.post("/api/user", headers=headers,
                          json=new_user(panel, "budi_99", str(uuid.uuid4())))
    assert "budi_99" in panel.users  # the panel made it; the answer was cut
    panel.fail("create", LOST_ANSWER)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await client.post("/api/user", headers=headers,
                          json=new_user(panel, "sari_01", str(uuid.uuid4())))
    assert "sari_01" in panel.users
    panel.fail("get", HANG)
    with trio.move_on_after(0.3) as scope:
        await client.get("/api/user/budi_99", headers=headers)
    assert scope.cancelled_caught
    async with httpx.AsyncClient(base_url=panel.url) as fresh:
        assert (await fresh.get("/api/user/budi_99", headers=headers)).status_code == 200
    assert panel.count("create") == 2 and panel.count("get", "budi_99") == 3


async def test_put_traps_a_backend_must_avoid(panel: FakeMarzban,
                                              client: httpx.AsyncClient) -> None:
    headers = await login(client, panel)
    secret = str(uuid.uuid4())
    await client.post("/api/user", headers=headers, json=new_user(panel, "budi_99", secret))
    if panel.dialect == "marzban":
        # Proxies named without an id get a new UUID; protocols not named are removed.
        changed = await client.put("/api/user/budi_99", headers=headers,
                                   json={"proxies": {"vless": {}}})
        assert changed.json()["proxies"]["vless"]["id"] != secret
        disabled = await client.put("/api/user/budi_99", headers=headers,
                                    json={"proxies": {"shadowsocks": {}}})
        assert disabled.json() == {"detail": "Protocol shadowsocks is disabled on your server"}
    else:
        before = panel.users["budi_99"].proxies["trojan"]["password"]
        changed = await client.put("/api/user/budi_99", headers=headers,
                                   json={"proxy_settings": {"vless": {"id": secret}}})
        settings = changed.json()["proxy_settings"]
        assert settings["vless"]["id"] == secret and settings["trojan"]["password"] != before
        emptied = await client.put("/api/user/budi_99", headers=headers, json={"group_ids": []})
        assert emptied.status_code == 200 and emptied.json()["group_ids"] == []  # no inbounds
    # The panel's clock is the test's: the review job expires a user once it passes.
    await client.post("/api/user", headers=headers, json=new_user(
        panel, "sari_01", str(uuid.uuid4()), expire=int(time.time()) + 86400))
    assert (await client.get("/api/user/sari_01", headers=headers)).json()["status"] == "active"
    panel.clock = lambda: time.time() + 2 * 86400
    assert (await client.get("/api/user/sari_01", headers=headers)).json()["status"] == "expired"
