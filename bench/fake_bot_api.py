"""A fast Bot API stand-in for the throughput benchmark: N queued updates, canned replies.

The in-package fake (qrisbot.testing) checks every call like Telegram does and is the right
tool for tests, but a pure-Python HTTP server doing that costs more per request than the
bots being measured. This one answers from pre-built bytes on plain asyncio, so that the
bots, not the fake, are the bottleneck. It serves getUpdates (offset, limit, timeout) and
counts every sendMessage; it exits once N replies arrived.

Prints its port, then the seconds from the first getUpdates to the N-th reply.
    python bench/fake_bot_api.py N TEXT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

REPLY = json.dumps({"ok": True, "result": {
    "message_id": 1, "date": 1700000000, "text": "pong",
    "chat": {"id": 1, "type": "private", "first_name": "Buyer"},
    "from": {"id": 1, "is_bot": True, "first_name": "Shop", "username": "shop_bot"},
}}).encode()
ME = json.dumps({"ok": True, "result": {
    "id": 1, "is_bot": True, "first_name": "Shop", "username": "shop_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": False}}).encode()
TRUE = b'{"ok": true, "result": true}'


class Server:
    def __init__(self, count: int, text: str) -> None:
        self.count = count
        self.updates = [json.dumps({"update_id": n + 1, "message": {
            "message_id": n + 1, "date": 1700000000, "text": text,
            "chat": {"id": 100_000 + n, "type": "private", "first_name": "Buyer"},
            "from": {"id": 100_000 + n, "is_bot": False, "first_name": "Buyer"},
        }}) for n in range(count)]
        self.replies = 0
        self.first: float | None = None
        self.done = asyncio.Event()

    def answer(self, path: str, body: bytes) -> bytes:
        method = path.rsplit("/", 1)[-1]
        if method == "sendMessage":
            self.replies += 1
            if self.replies == self.count:
                self.done.set()
            return REPLY
        if method == "getUpdates":
            if self.first is None:
                self.first = time.perf_counter()
            params = _params(body)
            offset = max(1, int(params.get("offset") or 1))
            limit = int(params.get("limit") or 100)
            chunk = self.updates[offset - 1:offset - 1 + limit]
            return b'{"ok": true, "result": [' + ",".join(chunk).encode() + b"]}"
        if method == "getMe":
            return ME
        return TRUE


def _params(body: bytes) -> dict[str, object]:
    if not body:
        return {}
    try:
        value = json.loads(body)
        return value if isinstance(value, dict) else {}
    except ValueError:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(body.decode()))


class Protocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            path = head.split(" ", 2)[1].split("?", 1)[0]
            payload = self.server.answer(path, body)
            self.transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(payload)).encode() + b"\r\n\r\n" + payload)


async def main(count: int, text: str) -> None:
    server = Server(count, text)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Protocol(server), "127.0.0.1", 0)
    print(listener.sockets[0].getsockname()[1], flush=True)
    await server.done.wait()
    assert server.first is not None
    print(f"{time.perf_counter() - server.first:.4f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
