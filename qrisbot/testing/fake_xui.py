"""A loopback fake of the 3x-ui panel (2.x, 3.0, 3.1+) that keeps state like the real one.

`FakeXui("2.8.5" | "3.0.2" | "3.4.0" | "3.6.1", ...)` plays that version: cookie login
(2.x), CSRF token or Bearer API token (3.0+), `panel/api/clients/*` (3.1+), and their traps
(see ../shared/reference/panels.md and the sources cited in xui/). A test adds inbounds,
sets usage, expires sessions, and `fail(...)`s calls with panel_faults' faults (a proxy's
502, a hang, an answer truncated or lost after the panel acted) or LOGIN_PAGE.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import attrs
import trio

from qrisbot.testing.http import Fake, Request, Response
from qrisbot.testing.panel_faults import BAD_GATEWAY, Fault
from qrisbot.testing.xui.api import answer, find_route, ok
from qrisbot.testing.xui.panel import Inbound, Panel
from qrisbot.testing.xui.version import Version

COOKIE = "3x-ui"  # web/session/session.go sessionCookieName
LOGIN_HTML = (b"<!DOCTYPE html><html><head><title>Login</title></head><body>"
              b"<div id=\"app\"></div><script src=\"assets/login.js\"></script></body></html>")
# 3.0+ login limiter (web/controller/login_limiter.go): 5 failures in 5 min block 15 min.
MAX_FAILURES, FAILURE_WINDOW, COOLDOWN = 5, 300.0, 900.0


# A wrong web base path behind a proxy: the HTML login page, 200 (see panel_faults).
LOGIN_PAGE = Fault(200, LOGIN_HTML, "text/html; charset=utf-8")


@attrs.define
class Session:
    expires: float
    csrf: str | None = None
    logged_in: bool = False


class FakeXui(Fake):
    def __init__(self, version: str = "2.8.5", *, username: str = "admin",
                 password: str = "admin", base_path: str = "/", api_token: str | None = None,
                 session_max_age: float = 360 * 60.0) -> None:
        self.version = Version.parse(version)
        self.panel = Panel(self.version)
        self.username, self.password = username, password
        self.base_path = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        self.api_token = api_token  # 3.0+: made in the panel's settings
        self.session_max_age = session_max_age  # the panel's default: 360 minutes
        self.sessions: dict[str, Session] = {}
        self.calls: list[str] = []  # route names in order: "login", "clients/add", ...
        self.logins = 0  # successful
        self.failed_logins = 0
        self._failures: dict[str, list[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._faults: dict[str, list[Fault]] = {}

    @property
    def url(self) -> str:
        """The panel's address as a seller configures it, web base path included."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # --- driving it -------------------------------------------------------------------------

    def add_inbound(self, protocol: str = "vless", *, port: int | None = None,
                    remark: str | None = None, clients: list[dict[str, Any]] | None = None
                    ) -> int:
        inbound_id = max(self.panel.inbounds, default=0) + 1
        inbound = Inbound(inbound_id, protocol, port or 20000 + inbound_id,
                          remark or f"{protocol}-{inbound_id}")
        self.panel.inbounds[inbound_id] = inbound
        if clients:
            self.panel.add_clients(inbound_id, clients)
        return inbound_id

    def clients(self, inbound_id: int) -> list[dict[str, Any]]:
        return self.panel.inbound(inbound_id).clients

    def set_usage(self, email: str, *, up: int = 0, down: int = 0) -> None:
        """Traffic the client has used, in bytes (what Xray's stats would have added)."""
        row = self.panel.traffic[email]
        row.up, row.down = up, down

    def expire_sessions(self) -> None:
        """Every cookie session ends now (max age passed, panel restarted with a new secret)."""
        self.sessions.clear()

    def fail(self, call: str, fault: Fault | None = None, *, times: int = 1) -> None:
        """call: a route name ("login", "csrf-token", "inbounds/addClient", "clients/add",
        ...) or "*" for whatever comes next."""
        self._faults.setdefault(call, []).extend([fault or BAD_GATEWAY] * times)

    def count(self, call: str) -> int:
        return self.calls.count(call)

    # --- HTTP -------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        if not request.path.startswith(self.base_path):
            return Response(404, content_type="")  # NoRoute: a bare 404
        rel = request.path[len(self.base_path):]
        found = find_route(self.version, request.method, rel.removeprefix("panel/api/")) \
            if rel.startswith("panel/api/") else None
        name = found[0].name if found else {
            ("POST", "login"): "login", ("GET", "csrf-token"): "csrf-token",
            ("GET", ""): "index"}.get((request.method, rel), "?")
        if name == "csrf-token" and not self.version.csrf:
            name = "?"
        self.calls.append(name)
        fault = self._next_fault(name)
        if fault is not None and not fault.after_work:
            return await fault.apply(None)
        if found is not None:
            response = self._api(request, *found)
        elif name == "login":
            response = self._login(request)
        elif name == "csrf-token":
            response = self._csrf_token(request)
        elif name == "index":
            response = Response(200, LOGIN_HTML, "text/html; charset=utf-8")
        else:
            response = Response(404, content_type="")
        if fault is not None:
            return await fault.apply(response)
        return response

    def _next_fault(self, name: str) -> Fault | None:
        for key in (name, "*"):
            if self._faults.get(key):
                return self._faults[key].pop(0)
        return None

    def _session(self, request: Request) -> tuple[str, Session] | None:
        for part in request.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            session = self.sessions.get(value) if key == COOKIE else None
            if session is not None:
                if session.expires > trio.current_time():
                    return value, session
                del self.sessions[value]
        return None

    def _cookie(self, sid: str) -> tuple[str, str]:
        return ("set-cookie", f"{COOKIE}={sid}; Path={self.base_path}; "
                f"Max-Age={int(self.session_max_age)}; HttpOnly; SameSite=Lax")

    def _new_session(self) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = Session(trio.current_time() + self.session_max_age)
        return sid, self.sessions[sid]

    def _csrf_ok(self, request: Request, session: Session | None) -> bool:
        # web/session/csrf.go ValidateCSRFToken: the header, else a `_csrf` form field.
        if session is None or not session.csrf:
            return False
        given = request.headers.get("x-csrf-token") or request.form()[0].get("_csrf", "")
        return secrets.compare_digest(given, session.csrf)

    def _csrf_token(self, request: Request) -> Response:
        found = self._session(request)
        sid, session = found if found else self._new_session()
        session.csrf = session.csrf or secrets.token_urlsafe(32)
        return Response(200, json.dumps({"success": True, "obj": session.csrf}).encode(),
                        headers=(self._cookie(sid),))

    def _login(self, request: Request) -> Response:
        found = self._session(request)
        if self.version.csrf and not self._csrf_ok(request, found[1] if found else None):
            return Response(403, content_type="")  # CSRFMiddleware: AbortWithStatus(403)
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                form = request.json()
            except ValueError:
                form = None
            if not isinstance(form, dict) or not all(
                    isinstance(form.get(k, ""), str) for k in ("username", "password")):
                return self._refused("The Input data format is invalid.")
        else:
            form = request.form()[0]
        username, password = form.get("username", ""), form.get("password", "")
        if not username:
            return self._refused("Username is required")
        if not password:
            return self._refused("Password is required")
        key, now = username.strip().lower(), trio.current_time()
        if self.version.csrf and self._blocked_until.get(key, 0.0) > now:
            return self._refused("Invalid username or password or two-factor code.")
        if (username, password) != (self.username, self.password):
            self.failed_logins += 1
            if self.version.csrf:
                recent = [t for t in self._failures.get(key, []) if t > now - FAILURE_WINDOW]
                self._failures[key] = recent + [now]
                if len(self._failures[key]) >= MAX_FAILURES:
                    self._blocked_until[key] = now + COOLDOWN
            return self._refused("Invalid username or password or two-factor code.")
        self._failures.pop(key, None)
        self.logins += 1
        sid, session = found if found else self._new_session()
        session.logged_in = True
        session.expires = now + self.session_max_age
        # The 2.x translation carries a leading space; 3.x dropped it.
        text = "You have successfully logged into your account."
        response = ok(msg=text if self.version.csrf else " " + text)
        return attrs.evolve(response, headers=(self._cookie(sid),))

    @staticmethod
    def _refused(msg: str) -> Response:
        # pureJsonMsg(c, 200, false, ...): a refused login is HTTP 200 too.
        return Response.json({"success": False, "msg": msg, "obj": None})

    def _api(self, request: Request, route: Any, params: dict[str, str]) -> Response:
        found = self._session(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        token_ok = (self.version.csrf and self.api_token is not None
                    and request.headers.get("authorization", "").startswith("Bearer ")
                    and secrets.compare_digest(bearer, self.api_token))
        if not token_ok:
            if found is None or not found[1].logged_in:
                # checkAPIAuth hides the API: 404; 3.1+ answers 401 to an XHR.
                xhr = request.headers.get("x-requested-with") == "XMLHttpRequest"
                return Response(401 if xhr and self.version.clients_api else 404,
                                content_type="")
            if self.version.csrf and request.method not in ("GET", "HEAD", "OPTIONS") \
                    and not self._csrf_ok(request, found[1]):
                return Response(403, content_type="")
        host = request.headers.get("host", "127.0.0.1").rsplit(":", 1)[0]
        return answer(self.panel, route, params, request, host)
