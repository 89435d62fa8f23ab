"""The panel HTTP client against real loopback servers: every bad answer is a PanelError
with a clear message, secrets never in one, and a self-signed panel is pinned."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import pytest
import trio

from qrisbot.config import Panel
from qrisbot.provision.panels import pins
from qrisbot.provision.panels.http import MAX_BODY, PanelError, PanelHttp, PanelUnreachable
from qrisbot.provision.port import BackendError, NoAnswer
from qrisbot.testing.http import Cut, Drop, Request, Response, serve
from qrisbot.testing.panel_faults import NGINX_502

PASSWORD = "S3cret-panel-pass"  # noqa: S105  (test values that no message may show)
TOKEN = "pg_key_9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"  # noqa: S105
COOKIE = "MTc2NTE1-session-cookie-value"
CSRF = "csrf-1f2e3d4c5b6a"
BASE = "/AbCdEf7gHiJkLmNoPq/"  # 3x-ui's random web base path: not shown either
LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Login</title></head><body><form "
              b"method=post><input name=username></form></body></html>")
NEVER_SHOWN = (PASSWORD, TOKEN, COOKIE, CSRF, BASE.strip("/"))


def panel(url: str, tmp_path: Path) -> Panel:
    return Panel(type="3x-ui", url=url, username="admin", password=PASSWORD, token=TOKEN,
                 inbound_ids=(1,), pins=str(tmp_path / "panel_pins"))


# What each path of the loopback panel answers.
ANSWERS: dict[str, Response | type[Exception] | Cut] = {
    "login": Response(200, b'{"success":true,"msg":"ok","obj":null}',
                      headers=(("set-cookie", f"3x-ui={COOKIE}; Path={BASE}; HttpOnly"),)),
    "proxy-502": Response(502, NGINX_502, "text/html"),
    "login-page": Response(200, LOGIN_PAGE, "text/html; charset=utf-8"),
    "crash": Response(500, b"Internal Server Error", "text/plain; charset=utf-8"),
    "gin-404": Response(404, b"404 page not found", "text/plain"),
    "csrf-403": Response(403, b"", ""),
    "taken": Response.json({"detail": "User already exists"}, 409),
    "busy": Response.json({"detail": "too many requests"}, 429),
    "half-json": Response(200, b'{"success": true, "obj": [1, 2'),
    "cut": Cut(Response.json({"success": True, "obj": list(range(500))}), 40),
    "drop": Drop,
    "huge": Response(200, b'{"obj": "' + b"x" * (MAX_BODY + 10) + b'"}'),
    "redirect": Response(302, b"", "text/html"),
    # A panel that echoes what it was sent: the password, the cookie, the tokens.
    "echo": Response.json({"success": False, "msg": f"wrong password {PASSWORD} for "
                           f"token {TOKEN} (cookie {COOKIE}, csrf {CSRF})"}, 401),
    "deleted": Response(204, b"", ""),
    "links": Response(200, b"vless://uuid@nl1.example.com:443?type=tcp#nl1\n", "text/plain"),
}


async def loopback_panel(nursery: trio.Nursery, seen: list[Request]) -> str:
    async def handle(request: Request) -> Response:
        seen.append(request)
        name = request.path.removeprefix(BASE).split("/")[0]
        answer = ANSWERS.get(name, Response.json({"success": True, "obj": request.path}))
        if isinstance(answer, Cut):
            raise answer
        if isinstance(answer, type):
            raise answer
        return answer

    port = await nursery.start(serve, handle)
    return f"http://127.0.0.1:{port}{BASE}"


async def failure(http: PanelHttp, name: str, **kwargs) -> PanelError:
    with pytest.raises(PanelError) as caught:
        await http.call("POST", name, **kwargs)
    message = str(caught.value)
    assert not any(secret in message for secret in NEVER_SHOWN), message
    assert message.startswith(f"nl1: POST {name}"), message
    return caught.value


async def test_calls_join_the_base_path_keep_the_session_and_decode_json(nursery, tmp_path):
    seen: list[Request] = []
    url = await loopback_panel(nursery, seen)
    http = PanelHttp("nl1", panel(url.rstrip("/"), tmp_path))  # with or without the slash
    try:
        await http.call("POST", "login", form={"username": "admin", "password": PASSWORD})
        answer = await http.call("GET", "panel/api/clients/get/{}", "bob 1/x",
                                 headers={"X-Requested-With": "XMLHttpRequest"})
        assert answer.status == 200 and answer.body == {
            "success": True, "obj": f"{BASE}panel/api/clients/get/bob%201%2Fx"}  # one segment
        assert seen[1].headers["cookie"] == f"3x-ui={COOKIE}"  # the session goes along
        assert seen[1].headers["x-requested-with"] == "XMLHttpRequest"
        assert (await http.call("DELETE", "deleted", expect=(204,))).body is None
        links = await http.call("GET", "links", plain=True)
        assert links.body.startswith("vless://")
    finally:
        await http.aclose()


async def test_every_bad_answer_is_a_panel_error_with_a_clear_message(nursery, tmp_path):
    url = await loopback_panel(nursery, [])
    http = PanelHttp("nl1", panel(url, tmp_path))
    http.keep_secret(CSRF)
    await http.call("POST", "login")  # so that a cookie is there to leak
    try:
        error = await failure(http, "proxy-502")
        assert error.transient and error.status == 502 and "web page" in str(error)
        error = await failure(http, "login-page")
        assert "login page" in str(error) and "base path" in str(error)
        error = await failure(http, "crash")
        assert error.transient and str(error).endswith("HTTP 500: Internal Server Error")
        error = await failure(http, "gin-404")  # 3x-ui's "log in again"
        assert (error.status, error.transient, error.answer) == (404, False,
                                                                 "404 page not found")
        error = await failure(http, "csrf-403")
        assert (error.status, error.transient) == (403, False)
        error = await failure(http, "taken")
        assert (error.status, error.answer, error.transient) == (409, "User already exists",
                                                                 False)
        assert (await failure(http, "busy")).transient
        error = await failure(http, "half-json")
        assert error.transient and "not JSON" in str(error)
        error = await failure(http, "cut")
        assert error.transient and "cut off" in str(error)
        assert "without answering" in str(await failure(http, "drop"))
        error = await failure(http, "huge")
        assert error.transient and "too large" in str(error)
        assert "base path" in str(await failure(http, "redirect"))
        error = await failure(http, "echo", headers={"X-CSRF-Token": CSRF})
        assert error.status == 401 and error.answer.startswith("wrong password ***")
        # The family the shop's retry rules know.
        assert isinstance(error, BackendError) and not isinstance(error, NoAnswer)
    finally:
        await http.aclose()


async def test_a_silent_or_absent_panel_is_no_answer_within_the_deadline(
        autojump_clock, nursery, tmp_path):
    async def hang(request: Request) -> Response:
        await trio.sleep_forever()
        raise AssertionError

    port = await nursery.start(serve, hang)
    http = PanelHttp("nl1", panel(f"http://127.0.0.1:{port}/", tmp_path), seconds=20)
    start = trio.current_time()
    with pytest.raises(PanelUnreachable, match="no answer within 20 s") as caught:
        await http.call("GET", "panel/api/clients/list")
    assert 20 <= trio.current_time() - start < 21
    assert isinstance(caught.value, NoAnswer) and caught.value.silent
    await http.aclose()
    http = PanelHttp("nl1", panel("http://127.0.0.1:9/", tmp_path))
    with pytest.raises(PanelUnreachable, match="cannot connect"):
        await http.call("GET", "panel/api/clients/list")
    await http.aclose()


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


def openssl_fingerprint(cert: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                          str(cert)], check=True, capture_output=True, text=True).stdout
    return out.strip().partition("=")[2]


async def tls_panel(nursery: trio.Nursery, key: Path, cert: Path) -> int:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handler(stream: trio.SSLStream) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                data += await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return  # the client refused the certificate
        body = json.dumps({"success": True, "obj": "panel"}).encode()
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                              b"content-length: %d\r\n\r\n%s" % (len(body), body))
        await trio.aclose_forcefully(stream)

    listeners = await nursery.start(trio.serve_ssl_over_tcp, handler, 0, context)
    return listeners[0].transport_listener.socket.getsockname()[1]


async def test_a_self_signed_panel_is_pinned_like_an_ssh_host(nursery, tmp_path):
    key, cert = certificate(tmp_path, "panel")
    port = await tls_panel(nursery, key, cert)
    url = f"https://127.0.0.1:{port}{BASE}"
    config = panel(url, tmp_path)
    # Unknown: refused, with what to do.
    http = PanelHttp("nl1", config)
    error = await failure(http, "panel/api/clients/list")
    assert "not trusted" in str(error) and "qrisbot servers trust nl1" in str(error)
    await http.aclose()
    # What `servers trust` shows: the fingerprint openssl prints on the panel's machine.
    shown = await pins.presented(url)
    assert shown.fingerprint == openssl_fingerprint(cert)
    assert shown.untrusted_because and "self" in shown.untrusted_because
    pins.add(config.pins, url, shown.fingerprint)
    assert Path(config.pins).read_text() == f"127.0.0.1:{port} {shown.fingerprint}\n"
    assert Path(config.pins).stat().st_mode & 0o777 == 0o640
    http = PanelHttp("nl1", config)
    assert (await http.call("GET", "panel/api/clients/list")).body["obj"] == "panel"
    await http.aclose()
    # Changed (the panel's certificate replaced, or someone in the middle): refused.
    other_key, other_cert = certificate(tmp_path, "other")
    other_port = await tls_panel(nursery, other_key, other_cert)
    pins.add(config.pins, f"https://127.0.0.1:{other_port}/", shown.fingerprint)
    assert len(pins.read(config.pins)) == 2
    http = PanelHttp("nl1", panel(f"https://127.0.0.1:{other_port}{BASE}", tmp_path))
    error = await failure(http, "panel/api/clients/list")
    assert f"({openssl_fingerprint(other_cert)}) is not the one pinned" in str(error)
    await http.aclose()
    # Trusting again replaces that origin's pin, and only it.
    pins.add(config.pins, f"https://127.0.0.1:{other_port}/", openssl_fingerprint(other_cert))
    assert pins.read(config.pins) == {f"127.0.0.1:{port}": shown.fingerprint,
                                      f"127.0.0.1:{other_port}": openssl_fingerprint(other_cert)}


async def test_servers_trust_shows_the_fingerprint_and_pins_it_once_confirmed(
        nursery, tmp_path):
    import os
    import sys

    from test_cli import edited_example
    from test_config import PANEL_PASSWORD, with_panel

    key, cert = certificate(tmp_path, "panel")
    port = await tls_panel(nursery, key, cert)
    url = f"https://127.0.0.1:{port}/AbCdEf/"
    path = edited_example(tmp_path, with_panel("3x-ui").replace(
        "https://nl1.example.com:2053/AbCdEf/", url))
    env = {**os.environ, "QRISBOT_PANEL_NL1_PASSWORD": PANEL_PASSWORD}

    async def trust(answer: bytes) -> subprocess.CompletedProcess[bytes]:
        return await trio.run_process(
            [sys.executable, "-m", "qrisbot", "servers", "trust", "nl1", "-c", str(path)],
            stdin=answer, capture_stdout=True, capture_stderr=True, check=False, env=env)

    expected = openssl_fingerprint(cert)
    refused = await trust(b"n\n")
    assert refused.returncode == 1 and not (tmp_path / "panel_pins").exists()
    assert expected in refused.stdout.decode()
    done = await trust(b"y\n")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "panel_pins").read_text() == f"127.0.0.1:{port} {expected}\n"
    again = await trust(b"")
    assert again.returncode == 0 and "already pinned" in again.stdout.decode()
    assert PANEL_PASSWORD.encode() not in done.stdout + done.stderr + again.stdout
