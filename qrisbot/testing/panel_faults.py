"""Ways a panel's answer goes wrong, for the panel fakes' `fail(...)`.

A panel usually sits behind nginx or Caddy: when it is down the shop sees the proxy's 502
page (HTML), when it is slow a hang, and a connection cut mid-answer leaves a truncated
body. `performed` makes the panel do the work first, so the shop loses the answer to a call
that took effect (the case idempotent create exists for).
"""

from __future__ import annotations

import attrs
import trio

from qrisbot.testing.http import Cut, Drop, Response


@attrs.frozen
class Fault:
    status: int = 500
    body: bytes = b"Internal Server Error"  # what uvicorn answers for an unhandled error
    content_type: str = "text/plain; charset=utf-8"
    delay: float = 0.0
    hang: bool = False  # never answer
    drop: bool = False  # close the connection without an answer
    truncate: bool = False  # the real answer, its Content-Length whole, half its body sent
    performed: bool = False  # the panel does the work before misbehaving

    @property
    def after_work(self) -> bool:
        return self.performed or self.truncate

    async def apply(self, answer: Response | None) -> Response:
        """What the client gets; `answer` is the panel's real answer when it did the work."""
        if self.delay:
            await trio.sleep(self.delay)
        if self.hang:
            await trio.sleep_forever()
        if self.drop:
            raise Drop
        if self.truncate and answer is not None:
            raise Cut(answer, max(len(answer.body) // 2, 1))
        return Response(self.status, self.body, self.content_type)


NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")

SERVER_ERROR = Fault()
BAD_GATEWAY = Fault(502, NGINX_502, "text/html")
HANG = Fault(hang=True)
TRUNCATED = Fault(truncate=True)
LOST_ANSWER = Fault(drop=True, performed=True)
