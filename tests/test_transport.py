"""The shop's own HTTP transport: keep-alive, stale connections, timeouts, chunked bodies."""

from __future__ import annotations

import httpx
import pytest
import trio

from qrisbot.http import client
from qrisbot.transport import Transport


async def raw_server(nursery, respond) -> int:
    """A TCP server whose handler gets (stream, request_bytes) for each request."""

    async def handler(stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    body, buffer = buffer[:length], buffer[length:]
                    if await respond(stream, head, body) == "close":
                        return

    listeners = await nursery.start(trio.serve_tcp, handler, 0)
    return listeners[0].socket.getsockname()[1]


async def test_connections_are_kept_alive_and_reused(nursery):
    connections = []

    async def respond(stream, head, body):
        if stream not in connections:
            connections.append(stream)
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    port = await raw_server(nursery, respond)
    async with client(5) as http:
        for _ in range(20):
            response = await http.post(f"http://127.0.0.1:{port}/x", json={"a": 1})
            assert response.text == "ok"
    assert len(connections) == 1


async def test_a_connection_closed_by_the_server_is_replaced(nursery):
    served = []

    async def respond(stream, head, body):
        served.append(body)
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return "close"  # closes without saying so: the next request finds it dead

    port = await raw_server(nursery, respond)
    async with client(5) as http:
        for n in range(5):  # a GET, or a POST its caller says may go out twice
            response = await http.post(f"http://127.0.0.1:{port}/x", content=str(n).encode(),
                                       extensions={"resend_if_stale": True})
            assert response.status_code == 200
            assert (await http.get(f"http://127.0.0.1:{port}/y")).status_code == 200
    assert served == [b"0", b"", b"1", b"", b"2", b"", b"3", b"", b"4", b""]


async def test_a_post_that_got_no_answer_is_never_sent_twice_unasked(nursery):
    """The server may have acted on it before the connection died (a panel's client made):
    a second copy is sent only when its caller says that is harmless."""
    served = []

    async def respond(stream, head, body):
        served.append(body)
        if body == b"acted":
            return "close"  # took the request, then the connection died: no answer
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    port = await raw_server(nursery, respond)
    async with client(5) as http:
        await http.get(f"http://127.0.0.1:{port}/warm")  # a connection to reuse
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"http://127.0.0.1:{port}/x", content=b"acted")
    assert served == [b"", b"acted"]


async def test_chunked_responses_and_errors_are_read_whole(nursery):
    async def respond(stream, head, body):
        await stream.send_all(b"HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\n"
                              b"content-type: application/json\r\n\r\n"
                              b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n")

    port = await raw_server(nursery, respond)
    async with client(5) as http:
        response = await http.get(f"http://127.0.0.1:{port}/x")
    assert response.status_code == 502 and response.json() == {"a": 1}


async def test_a_silent_server_times_out_as_httpx_does(autojump_clock, nursery):
    async def respond(stream, head, body):
        await trio.sleep_forever()

    port = await raw_server(nursery, respond)
    async with client(3) as http:
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/x")
        assert 3 <= trio.current_time() - start < 4
    async with httpx.AsyncClient(transport=Transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/nothing-listens")


async def test_connection_count_per_origin_is_bounded(nursery):
    open_now = 0
    most = 0

    async def respond(stream, head, body):
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        await trio.sleep(0.01)
        open_now -= 1
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    port = await raw_server(nursery, respond)
    async with httpx.AsyncClient(transport=Transport(connections=3)) as http:
        async with trio.open_nursery() as requests:
            for _ in range(30):
                requests.start_soon(http.get, f"http://127.0.0.1:{port}/x")
    assert most == 3


async def test_https_with_the_servers_certificate_checked(nursery, tmp_path):
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def handler(stream):
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure")
        await stream.aclose()

    listeners = await nursery.start(trio.serve_ssl_over_tcp, handler, 0, server_context)
    port = listeners[0].transport_listener.socket.getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(transport=Transport(ssl_context=trusted)) as http:
        response = await http.get(f"https://localhost:{port}/")
        assert response.text == "secure"
    async with httpx.AsyncClient(transport=Transport()) as http:  # system CAs: refused
        with pytest.raises(httpx.ConnectError):
            await http.get(f"https://localhost:{port}/")
