"""The one request helper every panel module uses (in the shape of `Pakasir._request`).

A panel's API is reached at its configured URL (3x-ui: with its web base path). Every
foreign failure becomes a `PanelError` here, once: the network, a deadline, a proxy's 502
page, the panel's HTML login page where JSON was expected, a body cut short or too large.
Messages name the server and the call's path template, never a value put in the path, a
password, a token or a cookie (whatever the panel echoes of them is masked).

`transient` is False only when the panel refused this request (a 4xx other than 408, 425
and 429): everything else may pass later (the order waits; the operator is told).
`silent` (the health watch's outage) when nothing answered, or only a proxy's 502-504.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import attrs
import httpx
import trio

from qrisbot.config import Panel
from qrisbot.http import client
from qrisbot.provision.panels import pins
from qrisbot.provision.port import BackendError, NoAnswer
from qrisbot.transport import Transport

MAX_BODY: Final = 8 * 1024 * 1024  # a 3x-ui inbound list with some thousand clients fits
SECONDS: Final = 30.0  # the whole of one call, connection and answer
CONNECTIONS: Final = 4
_LATER: Final = frozenset({408, 425, 429})
_NOBODY_BEHIND: Final = frozenset({502, 503, 504})  # a proxy's word: the panel is not there
_MASK: Final = "***"


class PanelError(BackendError):
    """A panel call failed. `status` is the HTTP status when the panel answered (0 when
    nothing usable came back); `answer` what it said, short and masked."""

    def __init__(self, message: str, *, transient: bool, status: int = 0, answer: str = ""
                 ) -> None:
        super().__init__(message, transient=transient)
        self.status = status
        self.answer = answer


class PanelUnreachable(NoAnswer):
    """The panel could not be reached or did not answer in time (as silent as down)."""


class PanelDown(PanelError):
    """A proxy in front of the panel answered for it (502, 503, 504: nginx's page when the
    panel behind it is dead): the panel itself is as silent as down (the health watch)."""

    silent = True


class LoginRefused(PanelError):
    """The panel refused the shop's login (password, API token or key). As with an SSH key
    refused, nothing can be sold there until the seller fixes it: the health watch tells
    the admins (silent), with this reason."""

    silent = True

    def __init__(self, message: str, *, status: int = 0, answer: str = "") -> None:
        super().__init__(message, transient=False, status=status, answer=answer)


@attrs.frozen
class Answer:
    status: int
    body: Any  # the decoded JSON; None for an empty body (204, or a bare status)


class PanelHttp:
    """One panel's HTTP client: its base URL, its TLS rules (a pin, or a public authority),
    its cookies (a 3x-ui session) and the values never to show."""

    def __init__(self, server_id: str, panel: Panel, *, seconds: float = SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._id = server_id
        self._base = panel.url if panel.url.endswith("/") else panel.url + "/"
        self._seconds = seconds
        self._secrets = {v for v in (panel.password, panel.token) if v}
        self._tls: pins.PanelTls | None = None
        if urlsplit(panel.url).scheme == "https":
            self._tls = pins.tls_context(pins.pinned(panel.pins, panel.url))
        self._http = client(seconds, transport or Transport(connections=CONNECTIONS,
                                                            ssl_context=self._tls))

    def keep_secret(self, value: str) -> None:
        """A value the panel handed out (a session token, a CSRF token) that no message
        may show."""
        if value:
            self._secrets.add(value)

    async def call(self, method: str, path: str, *segments: str, json: Any = None,
                   form: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None,
                   expect: Collection[int] = (200,), plain: bool = False) -> Answer:
        """`path` is relative to the panel's URL with `{}` for each of `segments` (quoted
        whole, and never shown in a message). An answer with a status in `expect` is
        returned with its JSON decoded (`plain`: its text, e.g. PasarGuard's share links);
        any other raises PanelError."""
        what = f"{self._id}: {method} {path.lstrip('/')}"
        url = self._base + path.lstrip("/").format(*(quote(s, safe="") for s in segments))
        hidden = {*self._secrets, *(headers or {}).values()}
        response = await self._send(what, method, url, json=json, data=form,
                                    headers=dict(headers or {}), hidden=hidden)
        content = response.content
        if len(content) > MAX_BODY:
            raise PanelError(f"{what}: the answer is too large ({len(content)} bytes)",
                             transient=True, status=response.status_code)
        status = response.status_code
        hidden |= set(self._http.cookies.values())
        said = _said(content, hidden)
        if status in expect and plain and not _is_html(response):
            return Answer(status, content.decode("utf-8", "replace"))
        if status in expect:
            return Answer(status, _decoded(what, response))
        if 300 <= status < 400:
            raise PanelError(f"{what}: HTTP {status}, sent elsewhere: is the url right "
                             "(on 3x-ui with its base path)?", transient=True, status=status)
        if _is_html(response) or status in _NOBODY_BEHIND:
            error = PanelDown if status in _NOBODY_BEHIND else PanelError
            raise error(f"{what}: HTTP {status} " + (
                "with a web page, not the panel's answer (a proxy in front of a panel that is "
                "down?)" if _is_html(response) else f"from a proxy: {said or 'no message'}"),
                transient=True, status=status)
        transient = status >= 500 or status in _LATER
        raise PanelError(f"{what}: HTTP {status}: {said or 'no message'}",
                         transient=transient, status=status, answer=said)

    async def _send(self, what: str, method: str, url: str, *, hidden: set[str],
                    **kwargs: Any) -> httpx.Response:
        if self._tls is not None:
            self._tls.refusal = None
        with trio.move_on_after(self._seconds) as scope:
            try:
                return await self._http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                scope.cancel()
            except httpx.ConnectError as exc:
                refusal = self._tls.refusal if self._tls is not None else None
                if refusal:
                    raise PanelError(
                        f"{what}: the panel was refused: {refusal}; if it is yours, compare "
                        f"and pin it: qrisbot servers trust {self._id}", transient=True
                    ) from None
                raise PanelUnreachable(f"{what}: {_masked(str(exc), hidden)}") from None
            except httpx.RemoteProtocolError as exc:
                unanswered = "closed the connection" in str(exc)  # before any answer
                raise PanelError(f"{what}: " + (
                    "the panel closed the connection without answering" if unanswered
                    else "the answer was cut off"), transient=True) from None
            except httpx.ReadError as exc:
                too_large = "too large" in str(exc)
                raise PanelError(f"{what}: " + ("the answer is too large" if too_large else
                                                "the connection was lost mid-answer"),
                                 transient=True) from None
            except httpx.HTTPError as exc:
                raise PanelError(f"{what}: network error ({type(exc).__name__})",
                                 transient=True) from None
        raise PanelUnreachable(f"{what}: no answer within {math.ceil(self._seconds)} s")

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._http.aclose()


def _decoded(what: str, response: httpx.Response) -> Any:
    content = response.content
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        pass
    if _is_html(response):
        raise PanelError(f"{what}: a web page came instead of the panel's answer (its login "
                         "page? check the url and, on 3x-ui, its base path)",
                         transient=True, status=response.status_code)
    # Not quoted: a body meant for the shop may carry a buyer's link or UUID.
    raise PanelError(f"{what}: the answer is not JSON (cut short?)",
                     transient=True, status=response.status_code)


def _is_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    start = response.content[:200].lstrip().lower()
    return "html" in kind or start.startswith((b"<!doctype", b"<html"))


def _said(content: bytes, hidden: set[str]) -> str:
    """What the panel said, in one short line: 3x-ui's `msg`, FastAPI's `detail`, or a
    short plain text; masked, and nothing of a web page."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("msg") or body.get("detail") or body.get("message") or ""
        text = message if isinstance(message, str) else json.dumps(message)[:300]
    elif body is None and b"<" not in content[:200]:
        text = content[:300].decode("utf-8", "replace")
    else:
        text = ""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return _masked(text, hidden)[:200]


def _masked(text: str, hidden: set[str]) -> str:
    for value in sorted(hidden, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, _MASK)
    return text
