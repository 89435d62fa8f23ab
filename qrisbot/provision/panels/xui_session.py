"""A 3x-ui panel's session: which version family it is, logging in, and the `{success, msg,
obj}` envelope (reference/panels.md, "3x-ui").

The family is found on first contact and again whenever the panel's answers say the
session is gone (a bare 404 or 401; 3.0's CSRF refusal, a 403 with an empty body): the
panel may have been upgraded in between. One login serves every call waiting on it, and a
call whose session ended is sent once more after logging in again, never more.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final

import trio

from qrisbot.config import Panel
from qrisbot.provision.panels.http import LoginRefused, PanelError, PanelHttp

XHR: Final = {"X-Requested-With": "XMLHttpRequest"}  # 3.1+: 401, not 404, without a session
_SESSION_GONE: Final = (401, 403, 404)
_UUID_LIKE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                               r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Family(enum.Enum):
    """What decides the endpoints and the email rule."""

    V2 = "2.x"  # cookie login; one email once in the whole panel
    V3_0 = "3.0"  # CSRF token or API token; an email shared by inbounds with one subId
    V3_1 = "3.1+"  # as 3.0, clients under panel/api/clients/*


class Refused(PanelError):
    """The panel answered `success: false` (HTTP 200): `msg` is what it said (masked)."""

    def __init__(self, message: str, msg: str) -> None:
        super().__init__(message, transient=True, status=200, answer=msg)
        self.msg = msg


class FamilyChanged(Exception):
    """The panel came back as another version family after logging in again: the operation
    must start over with that family's endpoints (internal to the backend)."""


class XuiSession:
    def __init__(self, server_id: str, panel: Panel, http: PanelHttp) -> None:
        self._id = server_id
        self._panel = panel
        self._http = http
        self.family: Family | None = None
        self._csrf = ""
        self._logins = 0  # which login a call was sent under (one re-login per expiry)
        self._lock = trio.Lock()

    async def current(self) -> Family:
        """The family (found by logging in on first contact)."""
        await self._ready()
        assert self.family is not None
        return self.family

    async def api(self, family: Family, method: str, path: str, *segments: str,
                  json: Any = None) -> Any:
        """`obj` of a panel/api call whose path was chosen for `family`; raises Refused on
        `success: false`, FamilyChanged when logging in again found another family,
        PanelError on anything else."""
        for attempt in range(2):
            login = await self._ready()
            if self.family is not family:
                raise FamilyChanged(f"{self._id}: the panel is now 3x-ui {self.family}")
            answer = await self._http.call(method, "panel/api/" + path, *segments, json=json,
                                           headers=self._headers(method),
                                           expect=(200, *_SESSION_GONE))
            if answer.status == 200:
                return envelope(f"{self._id}: {method} {path}", answer.body)
            if (answer.status == 403 and answer.body is not None) or attempt:
                raise PanelError(f"{self._id}: {method} {path}: HTTP {answer.status}"
                                 + (" after logging in again" if attempt else ""),
                                 transient=True, status=answer.status)
            await self._login_again(login)
        raise AssertionError("unreachable")

    def _headers(self, method: str) -> dict[str, str]:
        headers = dict(XHR)
        if self._panel.token:
            headers["Authorization"] = f"Bearer {self._panel.token}"
        elif self._csrf and method not in ("GET", "HEAD"):
            headers["X-CSRF-Token"] = self._csrf
        return headers

    async def _ready(self) -> int:
        async with self._lock:
            if self.family is None:
                await self._connect()
            return self._logins

    async def _login_again(self, login: int) -> None:
        async with self._lock:
            if self._logins == login:  # nobody else logged in again meanwhile
                self.family = None
                await self._connect()

    async def _connect(self) -> None:
        """Find the family and log in (a token needs no login)."""
        self._csrf = ""
        if self._panel.token:
            self.family = await self._probe_token()
        else:
            self.family = await self._login()
        self._logins += 1

    async def _probe_token(self) -> Family:
        headers = {**XHR, "Authorization": f"Bearer {self._panel.token}"}
        answer = await self._http.call("GET", "panel/api/inbounds/list", headers=headers,
                                       expect=(200, *_SESSION_GONE))
        if answer.status != 200:
            raise LoginRefused(f"{self._id}: the panel refused the API token (HTTP "
                               f"{answer.status}; tokens exist from 3x-ui 3.0)",
                               status=answer.status)
        envelope(f"{self._id}: GET inbounds/list", answer.body)
        return await self._clients_api(headers)

    async def _login(self) -> Family:
        what = f"{self._id}: login"
        headers = dict(XHR)
        token = await self._http.call("GET", "csrf-token", headers=XHR, expect=(200, 404))
        if token.status == 200:  # 3.0+: the login POST needs the session's CSRF token
            csrf = envelope(f"{self._id}: GET csrf-token", token.body)
            if not isinstance(csrf, str) or not csrf:
                raise PanelError(f"{self._id}: csrf-token: no token in the answer",
                                 transient=True)
            self._http.keep_secret(csrf)
            headers["X-CSRF-Token"] = csrf
        answer = await self._http.call(
            "POST", "login", form={"username": self._panel.username,
                                   "password": self._panel.password},
            headers=headers, expect=(200, 403))
        if answer.status == 403:
            raise PanelError(f"{what}: the panel refused the CSRF token (HTTP 403)",
                             transient=True, status=403)
        try:
            envelope(what, answer.body)
        except Refused as exc:
            # A wrong password (or 3.x's login limiter): the operator must act; the order
            # waits all the same (the message says which).
            raise LoginRefused(f"{what}: the panel refused the login: {exc.msg}",
                               status=200, answer=exc.msg) from None
        if token.status != 200:
            return Family.V2
        self._csrf = headers["X-CSRF-Token"]
        return await self._clients_api({**XHR})

    async def _clients_api(self, headers: dict[str, str]) -> Family:
        probe = await self._http.call("GET", "panel/api/clients/list", headers=headers,
                                      expect=(200, 404))
        return Family.V3_1 if probe.status == 200 else Family.V3_0


def envelope(what: str, body: Any) -> Any:
    """`obj` of 3x-ui's `{success, msg, obj}`; `success: false` is a failure even though
    the status was 200."""
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        raise PanelError(f"{what}: not the panel's answer (no success field)", transient=True)
    if not body["success"]:
        msg = body.get("msg")
        text = " ".join(msg.split()) if isinstance(msg, str) else ""
        text = _UUID_LIKE.sub("***", text)[:200]  # a client's id is its owner's secret
        raise Refused(f"{what}: the panel said: {text or 'no message'}", text)
    return body.get("obj")
