"""A loopback fake of Marzban 0.8 and of PasarGuard (its fork), one dialect per instance.

It keeps users, tokens and API keys and answers as the panels do, traps included (see
../shared/reference/panels.md): a token that stops working (`expire_tokens`), 409 for a
taken name, a relative subscription URL whose token changes on every read, PasarGuard's
groups, ISO `expire` and missing `links`. A test sets usage (`set_usage`), counts calls
and logins, and makes calls misbehave (`fail`, see panel_faults).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from qrisbot.testing.http import Fake, Request, Response
from qrisbot.testing.marzban_api import describe, user_call
from qrisbot.testing.marzban_rules import password_errors
from qrisbot.testing.marzban_users import Group, PanelUser, share_link
from qrisbot.testing.panel_faults import Fault

Dialect = Literal["marzban", "pasarguard"]

# tag -> protocol, as Marzban's default xray_config.json and a typical MarLing install.
INBOUNDS = {"VLESS TCP REALITY": "vless", "VLESS WS": "vless", "VMess WS": "vmess",
            "Trojan WS": "trojan"}
GROUPS = (Group(1, "Default", tuple(INBOUNDS)),
          Group(2, "VLESS only", ("VLESS TCP REALITY", "VLESS WS")),
          Group(3, "Old", ("VMess WS",), is_disabled=True))

USER_PATH = re.compile(r"/api/user/([^/]+)(/reset)?")
LINKS_PATH = re.compile(r"/sub/([^/]+)/links")


class FakeMarzban(Fake):
    def __init__(
        self, dialect: Dialect = "marzban", *, version: str | None = None,
        username: str = "admin", password: str = "Adm1n-Pa55word",
        inbounds: dict[str, str] | None = None, groups: tuple[Group, ...] = GROUPS,
        sub_prefix: str = "", host: str = "panel.example.com",
    ) -> None:
        self.dialect: Dialect = dialect
        self.version = version or ("0.8.4" if dialect == "marzban" else "5.2.1")
        if dialect == "pasarguard" and (errors := password_errors(password, username)):
            raise ValueError("; ".join(errors))  # PasarGuard would not have made this admin
        self.admin = (username, password)
        self.inbounds = dict(INBOUNDS if inbounds is None else inbounds)
        self.groups = {g.id: g for g in groups}
        self.sub_prefix = sub_prefix  # the panel's subscription URL prefix; "" = relative
        self.host = host
        self.users: dict[str, PanelUser] = {}
        self.calls: list[tuple[str, str]] = []  # (call, username)
        self.logins = 0
        self.clock: Callable[[], float] = time.time  # the panel's wall clock
        self._tokens: set[str] = set()
        self._api_keys: set[str] = set()
        self._faults: dict[str, list[Fault]] = {}
        self._ids = itertools.count(1)
        self._sub_tokens: dict[str, int] = {}
        self._sub_time = 0
        self._secret = secrets.token_bytes(16)

    # --- driving it -------------------------------------------------------------------------

    def fail(self, call: str, fault: Fault | None = None, *, times: int = 1) -> None:
        """call: token, create, get, list, modify, delete, reset, groups, inbounds,
        inbound_details, system, links."""
        self._faults.setdefault(call, []).extend([fault or Fault()] * times)

    def count(self, call: str, username: str | None = None) -> int:
        return sum(1 for c, u in self.calls if c == call and username in (None, u))

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (their 24 h are up, or the key rotated)."""
        self._tokens.clear()

    def make_api_key(self) -> str:
        """A PasarGuard API key (5.1+): `pg_key_<uuid4>`."""
        if self.dialect != "pasarguard" or _version(self.version) < (5, 1):
            raise ValueError(f"{self.dialect} {self.version} has no API keys")
        key = f"pg_key_{uuid.uuid4()}"
        self._api_keys.add(key)
        return key

    def set_usage(self, username: str, used: int) -> None:
        """The user has used `used` bytes (the review job then limits them if over)."""
        user = self.users[username]
        user.lifetime_used_traffic += max(used - user.used_traffic, 0)
        user.used_traffic = used
        user.review(self.clock())

    # --- what the handlers use --------------------------------------------------------------

    def protocols(self) -> set[str]:
        return set(self.inbounds.values())

    def next_id(self) -> int:
        return next(self._ids)

    def subscription_url(self, user: PanelUser) -> str:
        """A fresh subscription URL. The token carries ceil(now) (Marzban app/utils/jwt.py
        create_subscription_token; PasarGuard the same, HMAC-signed, with the user's id):
        a read one second later gives another URL. The fake moves that second on at every
        read, so a shop that compares URLs fails every time, not once a second."""
        self._sub_time = max(math.ceil(self.clock()), self._sub_time + 1)
        data = (f"{user.username},{self._sub_time}" if self.dialect == "marzban"
                else f"v3,{user.id},{self._sub_time}")
        payload = base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")
        signature = base64.urlsafe_b64encode(
            hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()).decode()
        token = (payload + signature[:10] if self.dialect == "marzban"
                 else payload + "." + signature.rstrip("="))
        self._sub_tokens[token] = user.id
        return f"{self.sub_prefix}/sub/{token}"

    def links(self, user: PanelUser) -> list[str]:
        if self.dialect == "marzban":
            pairs = [(proto, tag) for proto, tags in user.inbounds.items() for tag in tags]
        else:
            pairs = [(self.inbounds[tag], tag) for gid in user.group_ids
                     for tag in self.groups[gid].inbound_tags if tag in self.inbounds]
        return [share_link(proto, user.proxies[proto], tag, self.host, user.username)
                for proto, tag in pairs if proto in user.proxies]

    # --- the API ----------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        now = self.clock()
        for user in self.users.values():
            user.review(now)
        route = self._route(request)
        if route is None:
            return Response.json({"detail": "Not Found"}, 404)
        call, name = route
        self.calls.append((call, name))
        faults = self._faults.get(call)
        fault = faults.pop(0) if faults else None
        if fault is not None and not fault.after_work:
            return await fault.apply(None)
        answer = self._answer(call, name, request)
        return answer if fault is None else await fault.apply(answer)

    def _route(self, request: Request) -> tuple[str, str] | None:
        method, path = request.method, request.path.rstrip("/") or "/"
        if (method, path) == ("POST", "/api/admin/token"):
            return "token", ""
        if (method, path) == ("POST", "/api/user"):
            return "create", ""
        if (method, path) == ("GET", "/api/users"):
            return "list", ""
        if (method, path) == ("GET", "/api/inbounds") and self.dialect == "marzban":
            return "inbounds", ""
        if (method, path) == ("GET", "/api/groups") and self.dialect == "pasarguard":
            return "groups", ""
        if (method, path) == ("GET", "/api/system"):
            return "system", ""
        if (method, path) == ("GET", "/api/inbounds/details") and self.dialect == "pasarguard":
            return "inbound_details", ""
        if m := USER_PATH.fullmatch(path):
            call = {("GET", None): "get", ("PUT", None): "modify", ("DELETE", None): "delete",
                    ("POST", "/reset"): "reset"}.get((method, m.group(2)))
            return (call, m.group(1)) if call else None
        if (m := LINKS_PATH.fullmatch(path)) and method == "GET" and self.dialect == "pasarguard":
            return "links", m.group(1)
        return None

    def _answer(self, call: str, name: str, request: Request) -> Response:
        if call == "token":
            return self._login(request)
        if call == "links":
            return self._sub_links(name)
        if (refused := self._refuse(request)) is not None:
            return refused
        if call == "inbounds":
            by_protocol: dict[str, list[dict[str, Any]]] = {}
            for tag, proto in self.inbounds.items():
                by_protocol.setdefault(proto, []).append(
                    {"tag": tag, "protocol": proto, "network": "tcp", "tls": "none",
                     "port": 443})
            return Response.json(by_protocol)
        if call == "system":
            return Response.json(self._system())
        if call == "inbound_details":  # PasarGuard 3.0+: InboundSummary, sorted by tag
            return Response.json([{"tag": tag, "protocol": proto, "network": "tcp"}
                                  for tag, proto in sorted(self.inbounds.items())])
        if call == "groups":
            groups = [g.describe(sum(g.id in u.group_ids for u in self.users.values()))
                      for g in self.groups.values()]
            return Response.json({"groups": groups, "total": len(groups)})
        if call == "list":
            return self._list(request.query)
        try:
            body = request.json() if call in ("create", "modify") else {}
        except ValueError:
            return Response.json({"detail": {"body": "JSON decode error"}}, 422)
        if not isinstance(body, dict):
            return Response.json({"detail": {"body": "Input should be a valid dictionary"}}, 422)
        return user_call(self, call, name, body)

    def _login(self, request: Request) -> Response:
        # OAuth2PasswordRequestForm: form fields only; a JSON body is "Field required".
        fields, _ = request.form()
        missing = {f: "Field required" for f in ("username", "password") if f not in fields}
        if missing:
            return Response.json({"detail": missing}, 422)
        if (fields["username"], fields["password"]) != self.admin:
            return Response.json({"detail": "Incorrect username or password"}, 401)
        self.logins += 1
        token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(48)
        self._tokens.add(token)
        return Response.json({"access_token": token, "token_type": "bearer"})

    def _refuse(self, request: Request) -> Response | None:
        """401 unless the request carries a live token (or, PasarGuard 5.1+, an API key)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip() in self._tokens:
            return None
        if self.dialect == "pasarguard" and _version(self.version) >= (5, 1):
            # app/routers/authentication.py _extract_api_key: X-Api-Key first.
            key = request.headers.get("x-api-key", "").strip() or (
                credentials.strip() if scheme.lower() == "apikey" else "")
            if key in self._api_keys:
                return None
        if self.dialect == "marzban" and scheme.lower() != "bearer":
            # OAuth2PasswordBearer(auto_error=True) in Marzban; PasarGuard's is False.
            return Response.json({"detail": "Not authenticated"}, 401)
        return Response.json({"detail": "Could not validate credentials"}, 401)

    def _system(self) -> dict[str, Any]:
        """GET /api/system (SystemStats, app/models/system.py): the panel's version first."""
        statuses = [u.status for u in self.users.values()]
        users = {"total_user": len(statuses), "online_users": 0,
                 "users_active": statuses.count("active"),
                 "users_on_hold": statuses.count("on_hold"),
                 "users_disabled": statuses.count("disabled"),
                 "users_expired": statuses.count("expired"),
                 "users_limited": statuses.count("limited"),
                 "incoming_bandwidth": 0, "outgoing_bandwidth": 0}
        if self.dialect == "marzban":
            return {"version": self.version, "mem_total": 2 * 2**30, "mem_used": 2**29,
                    "cpu_cores": 2, "cpu_usage": 3.5, **users,
                    "incoming_bandwidth_speed": 0, "outgoing_bandwidth_speed": 0}
        # PasarGuard renamed the counters (SystemUsersStats: active_users, ...).
        renamed = {"total_user": users["total_user"], "online_users": 0,
                   **{f"{state}_users": users[f"users_{state}"]
                      for state in ("active", "on_hold", "disabled", "expired", "limited")},
                   "incoming_bandwidth": 0, "outgoing_bandwidth": 0}
        return {"version": self.version, "uptime_seconds": 86400, "mem_total": 2 * 2**30,
                "mem_used": 2**29, "disk_total": 40 * 2**30, "disk_used": 8 * 2**30,
                "cpu_cores": 2, "cpu_usage": 3.5, **renamed}

    def _list(self, query: dict[str, str]) -> Response:
        """GET /api/users: every user in one call (offset, limit, status, one username; a
        repeated `username` is not read, the fake's query keeps one value per name)."""
        users = [u for u in self.users.values()
                 if query.get("status") in (None, u.status)
                 and query.get("username") in (None, u.username)]
        offset = int(query.get("offset") or 0)
        limit = int(query["limit"]) if query.get("limit") else None
        page = users[offset:None if limit is None else offset + limit]
        return Response.json({"users": [describe(self, u) for u in page], "total": len(users)})

    def _sub_links(self, token: str) -> Response:
        user_id = self._sub_tokens.get(token)
        user = next((u for u in self.users.values() if u.id == user_id), None)
        if user is None:
            return Response.json({"detail": "Not Found"}, 404)
        return Response(200, "\n".join(self.links(user)).encode(), "text/plain; charset=utf-8")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])
