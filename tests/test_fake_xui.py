"""The 3x-ui fake, driven with plain httpx as a panel client would, for each version family:
every trap the 3x-ui backend will rely on is asserted here, so its tests run against a fake
known to behave like the panel (3x-ui's source, cited in qrisbot/testing/xui/)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from qrisbot.testing.fake_xui import LOGIN_PAGE, FakeXui
from qrisbot.testing.panel_faults import BAD_GATEWAY, HANG, LOST_ANSWER, TRUNCATED

GB = 2**30
V2, V30, V31, V36 = "2.8.5", "3.0.2", "3.4.0", "3.6.1"
ADD_CLIENT = "panel/api/inbounds/addClient"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def start(nursery: trio.Nursery, version: str, **kwargs: Any) -> FakeXui:
    fake = FakeXui(version, **kwargs)
    await nursery.start(fake.serve)
    return fake


async def login(http: httpx.AsyncClient, fake: FakeXui, password: str = "admin") -> Any:
    """Log in as a client must for this version: 3.0+ fetches a CSRF token first."""
    if fake.version.csrf:
        token = (await http.get(fake.url + "csrf-token")).json()["obj"]
        http.headers["X-CSRF-Token"] = token
    answer = await http.post(fake.url + "login",
                             data={"username": "admin", "password": password})
    assert answer.status_code == 200
    return answer.json()


def client(email: str, **fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "email": email, "enable": True, "limitIp": 2,
            "totalGB": 0, "expiryTime": 0, "subId": "", "flow": "", "tgId": 0,
            "comment": "", "reset": 0} | fields


async def add_client(http: httpx.AsyncClient, fake: FakeXui, inbound: int,
                     *clients: dict[str, Any]) -> Any:
    body = {"id": inbound, "settings": json.dumps({"clients": list(clients)})}
    answer = await http.post(fake.url + ADD_CLIENT, json=body)
    assert answer.status_code == 200  # failures too: the envelope says
    return answer.json()


async def api(http: httpx.AsyncClient, fake: FakeXui, method: str, path: str,
              **kwargs: Any) -> Any:
    answer = await http.request(method, fake.url + "panel/api/" + path, **kwargs)
    assert answer.status_code == 200, (answer.status_code, answer.text)
    return answer.json()


# --- login and sessions -----------------------------------------------------------------------

@pytest.mark.parametrize("version", [V2, V30, V31])
async def test_a_refused_login_is_http_200_with_success_false(nursery, http, version):
    fake = await start(nursery, version)
    refused = await login(http, fake, password="wrong")
    assert refused == {"success": False, "obj": None,
                       "msg": "Invalid username or password or two-factor code."}
    assert (fake.logins, fake.failed_logins) == (0, 1)
    assert (await login(http, fake))["success"] is True
    assert fake.logins == 1
    assert http.cookies.get("3x-ui")


@pytest.mark.parametrize("version", [V2, V30])
async def test_without_a_session_the_api_is_a_bare_404_up_to_3_0(nursery, http, version):
    fake = await start(nursery, version)
    for headers in ({}, {"X-Requested-With": "XMLHttpRequest"}):
        answer = await http.get(fake.url + "panel/api/inbounds/list", headers=headers)
        assert (answer.status_code, answer.content) == (404, b"")


async def test_from_3_1_an_xhr_without_a_session_gets_401_anything_else_404(nursery, http):
    fake = await start(nursery, V31)
    plain = await http.get(fake.url + "panel/api/clients/list")
    xhr = await http.get(fake.url + "panel/api/clients/list",
                         headers={"X-Requested-With": "XMLHttpRequest"})
    assert (plain.status_code, plain.content) == (404, b"")
    assert (xhr.status_code, xhr.content) == (401, b"")


async def test_3_0_login_and_unsafe_calls_need_the_csrf_token_else_403_empty(nursery, http):
    fake = await start(nursery, V30)
    fake.add_inbound("vless")
    answer = await http.post(fake.url + "login", data={"username": "admin", "password": "admin"})
    assert (answer.status_code, answer.content) == (403, b"")
    assert fake.logins == 0
    token = await http.get(fake.url + "csrf-token")
    assert token.json()["success"] is True and len(token.json()["obj"]) >= 32
    answer = await http.post(fake.url + "login", data={"username": "admin", "password": "admin"},
                             headers={"X-CSRF-Token": token.json()["obj"]})
    assert answer.json()["success"] is True
    # Logged in, but a POST without the header (or with another token) is still refused.
    body = {"id": 1, "settings": json.dumps({"clients": [client("bob")]})}
    for headers in ({}, {"X-CSRF-Token": "x" * len(token.json()["obj"])}):
        refused = await http.post(fake.url + ADD_CLIENT, json=body, headers=headers)
        assert (refused.status_code, refused.content) == (403, b"")
    assert fake.clients(1) == []
    assert (await api(http, fake, "GET", "inbounds/list"))["success"] is True  # GET is safe
    done = await http.post(fake.url + ADD_CLIENT, json=body,
                           headers={"X-CSRF-Token": token.json()["obj"]})
    assert done.json()["success"] is True


async def test_2x_has_no_csrf_token_endpoint_and_needs_none(nursery, http):
    fake = await start(nursery, V2)
    answer = await http.get(fake.url + "csrf-token")
    assert (answer.status_code, answer.content) == (404, b"")
    fake.add_inbound("vless")
    assert (await login(http, fake))["success"] is True
    assert (await add_client(http, fake, 1, client("bob")))["success"] is True


@pytest.mark.parametrize("version", [V30, V31])
async def test_an_api_token_needs_no_login_and_no_csrf(nursery, http, version):
    fake = await start(nursery, version, api_token="tok-123")
    fake.add_inbound("vless")
    wrong = await http.get(fake.url + "panel/api/inbounds/list",
                           headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 404
    http.headers["Authorization"] = "Bearer tok-123"
    if fake.version.clients_api:
        body = {"client": client("bob"), "inboundIds": [1]}
        assert (await api(http, fake, "POST", "clients/add", json=body))["success"] is True
    else:
        assert (await add_client(http, fake, 1, client("bob")))["success"] is True
    assert fake.logins == 0 and [c["email"] for c in fake.clients(1)] == ["bob"]


async def test_2x_ignores_a_bearer_token(nursery, http):
    fake = await start(nursery, V2, api_token="tok-123")
    answer = await http.get(fake.url + "panel/api/inbounds/list",
                            headers={"Authorization": "Bearer tok-123"})
    assert answer.status_code == 404


@pytest.mark.parametrize("version, status", [(V2, 404), (V30, 404), (V31, 401)])
async def test_an_expired_session_hides_the_api_again(nursery, http, version, status):
    fake = await start(nursery, version)
    await login(http, fake)
    assert (await api(http, fake, "GET", "inbounds/list"))["success"] is True
    fake.expire_sessions()
    answer = await http.get(fake.url + "panel/api/inbounds/list",
                            headers={"X-Requested-With": "XMLHttpRequest"})
    assert answer.status_code == status
    await login(http, fake)
    assert (await api(http, fake, "GET", "inbounds/list"))["success"] is True
    assert fake.logins == 2


async def test_sessions_also_run_out_by_age(nursery, http):
    fake = await start(nursery, V2, session_max_age=0.2)
    await login(http, fake)
    await trio.sleep(0.3)
    answer = await http.get(fake.url + "panel/api/inbounds/list")
    assert answer.status_code == 404


async def test_3_0_the_csrf_token_dies_with_the_session(nursery, http):
    fake = await start(nursery, V30)
    await login(http, fake)
    fake.expire_sessions()
    # Logging in again with the old token is a 403: a new token must be fetched first.
    stale = await http.post(fake.url + "login", data={"username": "admin", "password": "admin"})
    assert (stale.status_code, stale.content) == (403, b"")
    assert (await login(http, fake))["success"] is True


async def test_3x_blocks_a_name_after_five_failed_logins(nursery, http):
    fake = await start(nursery, V31)
    for _ in range(5):
        assert (await login(http, fake, password="wrong"))["success"] is False
    assert (await login(http, fake))["success"] is False  # the right password, refused
    assert fake.logins == 0


# --- the envelope and the client record -------------------------------------------------------

async def test_2x_email_is_unique_across_the_panel_ignoring_case(nursery, http):
    fake = await start(nursery, V2)
    fake.add_inbound("vless")
    fake.add_inbound("vmess")
    await login(http, fake)
    assert (await add_client(http, fake, 1, client("bob", subId="s1")))["success"] is True
    for email in ("bob", "BOB"):
        # Even with the same subId: 2.x allows an email in one inbound only.
        refused = await add_client(http, fake, 2, client(email, subId="s1"))
        assert refused == {"success": False, "obj": None,
                           "msg": f"Something went wrong (Duplicate email: {email}\n)"}
    assert fake.clients(2) == []


@pytest.mark.parametrize("version", [V30, V31])
async def test_3x_one_email_in_several_inbounds_only_with_the_same_subid(nursery, http, version):
    fake = await start(nursery, version)
    fake.add_inbound("vless")
    fake.add_inbound("trojan")
    fake.add_inbound("vmess")
    await login(http, fake)
    if fake.version.clients_api:
        body = {"client": client("bob", subId="s1"), "inboundIds": [1]}
        assert (await api(http, fake, "POST", "clients/add", json=body))["success"] is True
        body = {"client": client("bob", subId="s1", password="pw"), "inboundIds": [2]}
        assert (await api(http, fake, "POST", "clients/add", json=body))["success"] is True
        for sub in ("s2", ""):
            body = {"client": client("bob", subId=sub), "inboundIds": [3]}
            refused = await api(http, fake, "POST", "clients/add", json=body)
            assert refused["msg"] == "Something went wrong (email already in use: bob\n)"
        # Another case is another record, but the panel-wide rule still catches it.
        body = {"client": client("BOB", subId="s2"), "inboundIds": [3]}
        refused = await api(http, fake, "POST", "clients/add", json=body)
        assert refused["msg"] == "Something went wrong (Duplicate email: BOB\n)"
    else:
        assert (await add_client(http, fake, 1, client("bob", subId="s1")))["success"] is True
        shared = client("bob", subId="s1", password="pw")
        assert (await add_client(http, fake, 2, shared))["success"] is True
        for sub in ("s2", ""):
            refused = await add_client(http, fake, 3, client("Bob", subId=sub))
            assert refused["msg"] == "Something went wrong (Duplicate email: Bob\n)"
    assert fake.clients(3) == []
    # One traffic row per email, reported against the first inbound.
    assert [row["email"] for row in fake.panel.inbound_json(fake.panel.inbound(1))
            ["clientStats"]] == ["bob"]
    assert fake.panel.inbound_json(fake.panel.inbound(2))["clientStats"] == []


@pytest.mark.parametrize("version", [V2, V30])
async def test_2x_3_0_units_settings_string_and_traffic(nursery, http, version):
    fake = await start(nursery, version)
    fake.add_inbound("vless")
    await login(http, fake)
    expiry = int(time.time() * 1000) + 30 * 86400 * 1000
    await add_client(http, fake, 1, client("bob", totalGB=100 * GB, expiryTime=expiry,
                                           subId="sub-bob"))
    inbound = (await api(http, fake, "GET", "inbounds/get/1"))["obj"]
    assert isinstance(inbound["settings"], str)  # a JSON string inside the JSON
    (stored,) = json.loads(inbound["settings"])["clients"]
    assert (stored["totalGB"], stored["expiryTime"]) == (100 * GB, expiry)
    fake.set_usage("bob", up=3 * GB, down=7 * GB)
    traffic = (await api(http, fake, "GET", "inbounds/getClientTraffics/bob"))["obj"]
    assert (traffic["up"], traffic["down"], traffic["total"]) == (3 * GB, 7 * GB, 100 * GB)
    assert (traffic["expiryTime"], traffic["uuid"], traffic["subId"]) == (
        expiry, stored["id"], "sub-bob")


async def test_an_unknown_email_s_traffic_is_null_up_to_2_8_0_then_a_failure(nursery, http):
    old = await start(nursery, "2.8.0")
    await login(http, old)
    assert await api(http, old, "GET", "inbounds/getClientTraffics/nobody") == {
        "success": True, "msg": "", "obj": None}
    new = await start(nursery, V2)
    async with httpx.AsyncClient() as other:
        await login(other, new)
        answer = await api(other, new, "GET", "inbounds/getClientTraffics/nobody")
    assert answer == {"success": False, "obj": None, "msg":
                      "Error getting traffics. (Inbound Not Found For Email: nobody\n)"}


@pytest.mark.parametrize("version", [V2, V30])
async def test_2x_3_0_refuse_to_delete_an_inbound_s_last_client(nursery, http, version):
    fake = await start(nursery, version)
    fake.add_inbound("vless")
    await login(http, fake)
    bob, ann = client("bob"), client("ann")
    await add_client(http, fake, 1, bob, ann)
    assert (await api(http, fake, "POST", f"inbounds/1/delClient/{bob['id']}"))["success"]
    refused = await api(http, fake, "POST", f"inbounds/1/delClient/{ann['id']}")
    assert refused["msg"] == "Something went wrong (no client remained in Inbound\n)"
    refused = await api(http, fake, "POST", "inbounds/1/delClientByEmail/ann")
    assert refused["msg"] == "Failed to delete client by email (no client remained in Inbound\n)"
    assert [c["email"] for c in fake.clients(1)] == ["ann"]


async def test_2_8_deletes_an_unknown_client_id_silently_3_0_says_not_found(nursery, http):
    old, new = await start(nursery, V2), await start(nursery, V30)
    for fake in (old, new):
        fake.add_inbound("vless", clients=[client("bob"), client("ann")])
    await login(http, old)
    assert (await api(http, old, "POST", "inbounds/1/delClient/no-such-id"))["success"] is True
    async with httpx.AsyncClient() as other:
        await login(other, new)
        answer = await api(other, new, "POST", "inbounds/1/delClient/no-such-id")
    assert answer["msg"] == (
        "Something went wrong (Client Not Found In Inbound For ID: no-such-id\n)")


async def test_2x_update_replaces_the_whole_client_and_keeps_its_usage(nursery, http):
    fake = await start(nursery, V2)
    fake.add_inbound("vless")
    await login(http, fake)
    bob = client("bob", totalGB=10 * GB)
    await add_client(http, fake, 1, bob)
    fake.set_usage("bob", up=GB, down=2 * GB)
    new = {"id": bob["id"], "email": "bob", "enable": True, "totalGB": 20 * GB}
    body = {"id": 1, "settings": json.dumps({"clients": [new]})}
    assert (await api(http, fake, "POST", f"inbounds/updateClient/{bob['id']}",
                      json=body))["success"] is True
    (stored,) = fake.clients(1)
    assert "limitIp" not in stored and stored["totalGB"] == 20 * GB  # whole, not merged
    traffic = (await api(http, fake, "GET", "inbounds/getClientTraffics/bob"))["obj"]
    assert (traffic["up"], traffic["down"], traffic["total"]) == (GB, 2 * GB, 20 * GB)


# --- 3.1+: panel/api/clients/* -----------------------------------------------------------------

async def test_3_1_clients_api_from_add_to_delete(nursery, http):
    fake = await start(nursery, V31)
    fake.add_inbound("vless", port=443, remark="nl")
    fake.add_inbound("trojan", port=8443, remark="nl-tr")
    await login(http, fake)
    bob = client("bob", totalGB=50 * GB, expiryTime=1_900_000_000_000, password="pw-bob")
    added = await api(http, fake, "POST", "clients/add",
                      json={"client": bob, "inboundIds": [1, 2]})
    assert added == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    got = (await api(http, fake, "GET", "clients/get/bob"))["obj"]
    record = got["client"]
    assert got["inboundIds"] == [1, 2]
    # `id` is the record's number; the UUID travels as `uuid`; an empty subId became a UUID.
    assert isinstance(record["id"], int) and record["uuid"] == bob["id"]
    assert uuid.UUID(record["subId"])
    assert (record["totalGB"], record["expiryTime"], record["password"]) == (
        50 * GB, 1_900_000_000_000, "pw-bob")
    fake.set_usage("bob", up=5, down=6)
    traffic = (await api(http, fake, "GET", "clients/traffic/bob"))["obj"]
    assert (traffic["up"], traffic["down"], traffic["total"]) == (5, 6, 50 * GB)
    links = (await api(http, fake, "GET", "clients/links/bob"))["obj"]
    assert links[0].startswith(f"vless://{bob['id']}@127.0.0.1:443")
    assert links[1].startswith("trojan://pw-bob@127.0.0.1:8443")
    assert (await api(http, fake, "GET", f"clients/subLinks/{record['subId']}"))["obj"] == links
    update = bob | {"totalGB": 100 * GB, "subId": ""}
    assert (await api(http, fake, "POST", "clients/update/bob", json=update))["success"]
    after = (await api(http, fake, "GET", "clients/get/bob"))["obj"]["client"]
    assert (after["totalGB"], after["subId"]) == (100 * GB, record["subId"])  # subId kept
    assert (await api(http, fake, "GET", "clients/traffic/bob"))["obj"]["up"] == 5
    # 3.1 removes an inbound's last client (2.x/3.0 would refuse).
    assert (await api(http, fake, "POST", "clients/del/bob"))["success"] is True
    assert fake.clients(1) == fake.clients(2) == []
    gone = await api(http, fake, "GET", "clients/get/bob")
    assert gone == {"success": False, "msg": " (record not found)", "obj": None}
    gone = await api(http, fake, "GET", "clients/traffic/bob")
    assert gone["msg"] == "Error getting traffic. (Inbound Not Found For Email: bob\n)"


async def test_3_1_a_repeated_add_with_the_same_subid_succeeds(nursery, http):
    fake = await start(nursery, V36)
    fake.add_inbound("vless")
    await login(http, fake)
    body = {"client": client("bob", subId="order-7"), "inboundIds": [1]}
    assert (await api(http, fake, "POST", "clients/add", json=body))["success"] is True
    assert (await api(http, fake, "POST", "clients/add", json=body))["success"] is True
    other = {"client": client("bob", subId="order-8"), "inboundIds": [1]}
    refused = await api(http, fake, "POST", "clients/add", json=other)
    assert refused["msg"] == "Something went wrong (email already in use: bob\n)"


async def test_3_1_an_update_without_the_uuid_gives_the_client_a_new_one(nursery, http):
    fake = await start(nursery, V31)
    fake.add_inbound("vless")
    await login(http, fake)
    bob = client("bob")
    await api(http, fake, "POST", "clients/add", json={"client": bob, "inboundIds": [1]})
    update = {k: v for k, v in bob.items() if k != "id"}
    assert (await api(http, fake, "POST", "clients/update/bob", json=update))["success"]
    assert fake.clients(1)[0]["id"] not in ("", bob["id"])


async def test_3_1_wrong_json_types_fail_in_the_envelope(nursery, http):
    fake = await start(nursery, V31)
    fake.add_inbound("vless")
    await login(http, fake)
    body = {"client": client("bob", totalGB="10"), "inboundIds": [1]}
    refused = await api(http, fake, "POST", "clients/add", json=body)
    assert refused["success"] is False and "totalGB of type int64" in refused["msg"]
    assert fake.clients(1) == []


@pytest.mark.parametrize("version, gone, present", [
    (V2, "clients/add", "inbounds/addClient"),
    (V31, "inbounds/addClient", "clients/add"),
])
async def test_each_family_has_only_its_own_client_endpoints(nursery, http, version, gone,
                                                             present):
    fake = await start(nursery, version)
    fake.add_inbound("vless")
    await login(http, fake)
    answer = await http.post(fake.url + "panel/api/" + gone, json={})
    assert (answer.status_code, answer.content) == (404, b"")
    assert (await http.post(fake.url + "panel/api/" + present, json={})).status_code == 200


@pytest.mark.parametrize("version, status", [(V31, 404), (V36, 200)])
async def test_openapi_json_exists_from_3_6_behind_the_login(nursery, http, version, status):
    fake = await start(nursery, version)
    assert (await http.get(fake.url + "panel/api/openapi.json")).status_code == 404
    await login(http, fake)
    answer = await http.get(fake.url + "panel/api/openapi.json")
    assert answer.status_code == status
    if status == 200:
        assert answer.json()["openapi"].startswith("3.")


# --- base path, faults, counters --------------------------------------------------------------

async def test_the_panel_lives_under_its_web_base_path(nursery, http):
    fake = await start(nursery, V2, base_path="AbCdEf")
    assert fake.url.endswith("/AbCdEf/")
    root = fake.url.removesuffix("AbCdEf/")
    answer = await http.post(root + "login", data={"username": "admin", "password": "admin"})
    assert (answer.status_code, answer.content) == (404, b"")
    assert "text/html" in (await http.get(fake.url)).headers["content-type"]
    assert (await login(http, fake))["success"] is True
    assert (await api(http, fake, "GET", "inbounds/list"))["success"] is True


async def test_faults_a_proxy_502_a_login_page_and_a_hang(nursery, http):
    fake = await start(nursery, V2)
    fake.fail("login", BAD_GATEWAY)
    fake.fail("*", LOGIN_PAGE)
    answer = await http.post(fake.url + "login", data={"username": "admin", "password": "x"})
    assert answer.status_code == 502 and b"nginx" in answer.content
    answer = await http.get(fake.url + "panel/api/inbounds/list")
    assert answer.status_code == 200 and answer.text.startswith("<!DOCTYPE html>")
    fake.fail("inbounds/list", HANG)
    with pytest.raises(httpx.ReadTimeout):
        await http.get(fake.url + "panel/api/inbounds/list", timeout=0.2)
    assert fake.count("login") == 1 and fake.count("inbounds/list") == 2
    assert fake.logins == 0


@pytest.mark.parametrize("fault", [TRUNCATED, LOST_ANSWER])
async def test_an_answer_lost_on_the_way_back_leaves_the_client_made(nursery, http, fault):
    fake = await start(nursery, V31)
    fake.add_inbound("vless")
    await login(http, fake)
    fake.fail("clients/add", fault)
    with pytest.raises(httpx.TransportError):
        await http.post(fake.url + "panel/api/clients/add",
                        json={"client": client("bob", subId="s"), "inboundIds": [1]})
    assert [c["email"] for c in fake.clients(1)] == ["bob"]
    assert fake.count("clients/add") == 1


@pytest.mark.parametrize("version", [V2, V31])
async def test_one_call_reads_every_client_s_usage(nursery, http, version):
    """What the lifecycle's once-per-server look reads: inbounds/list's clientStats (all
    versions) or, from 3.1, clients/list with each client's traffic."""
    fake = await start(nursery, version)
    fake.add_inbound("vless", clients=[client("bob", totalGB=10 * GB),
                                       client("ann", totalGB=20 * GB)])
    fake.set_usage("bob", up=GB, down=8 * GB)
    await login(http, fake)
    (inbound,) = (await api(http, fake, "GET", "inbounds/list"))["obj"]
    stats = {row["email"]: (row["up"] + row["down"], row["total"])
             for row in inbound["clientStats"]}
    assert stats == {"bob": (9 * GB, 10 * GB), "ann": (0, 20 * GB)}
    if fake.version.clients_api:
        rows = (await api(http, fake, "GET", "clients/list"))["obj"]
        assert {r["email"]: (r["traffic"]["down"], r["inboundIds"]) for r in rows} == {
            "bob": (8 * GB, [1]), "ann": (0, [1])}
    assert fake.count("inbounds/list") == 1
