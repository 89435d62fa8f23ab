"""The state of a fake 3x-ui panel: inbounds holding clients, traffic rows, the email rule.

Operations raise `PanelError` with the error text the Go code builds; the server wraps it
in the `{"success": false, "msg": ...}` envelope. Sources are 3x-ui's
web/service/inbound.go and (3.1+) web/service/client.go, as cited per method.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import attrs

from qrisbot.testing.xui.version import Version

# The settings key that identifies a client in an inbound (DelInboundClient's client_key).
CLIENT_KEY = {"vless": "id", "vmess": "id", "trojan": "password", "shadowsocks": "email"}
RECORD_NOT_FOUND = "record not found"  # gorm.ErrRecordNotFound


class PanelError(Exception):
    """A Go error as the panel words it."""

    @property
    def text(self) -> str:
        return str(self.args[0])


def go_error(*parts: object) -> PanelError:
    # util/common NewError is fmt.Sprintln: operands joined by spaces AND a trailing
    # newline, so msg reads "Something went wrong (Duplicate email: bob\n)".
    return PanelError(" ".join(map(str, parts)) + "\n")


@attrs.define
class Inbound:
    id: int
    protocol: str
    port: int
    remark: str
    clients: list[dict[str, Any]] = attrs.Factory(list)

    def settings(self) -> str:
        # `settings` travels as a JSON *string* (model.Inbound.Settings), MarshalIndent'ed.
        return json.dumps({"clients": self.clients, "decryption": "none", "fallbacks": []},
                          indent=2)

    def key_of(self, client: dict[str, Any]) -> str:
        value = client.get(CLIENT_KEY.get(self.protocol, "id"), "")
        return value if isinstance(value, str) else ""


@attrs.define
class Traffic:
    """A client_traffics row: one per email (unique), shared by the inbounds of one email."""

    inbound_id: int
    email: str
    enable: bool
    total: int  # bytes
    expiry_time: int  # ms
    reset: int = 0
    up: int = 0
    down: int = 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _now_ms() -> int:
    return int(time.time() * 1000)


class Panel:
    def __init__(self, version: Version) -> None:
        self.version = version
        self.inbounds: dict[int, Inbound] = {}
        self.traffic: dict[str, Traffic] = {}  # by exact email, as SQLite's `email = ?`
        self._record_ids: dict[str, int] = {}  # 3.1's clients table ids

    # --- reading ----------------------------------------------------------------------------

    def inbound(self, inbound_id: int) -> Inbound:
        inbound = self.inbounds.get(inbound_id)
        if inbound is None:
            raise PanelError(RECORD_NOT_FOUND)
        return inbound

    def entries(self, email: str) -> list[tuple[Inbound, dict[str, Any]]]:
        return [(ib, c) for ib in sorted(self.inbounds.values(), key=lambda i: i.id)
                for c in ib.clients if c.get("email") == email]

    def inbound_json(self, inbound: Inbound) -> dict[str, Any]:
        stats = [self.traffic_json(t) for t in self.traffic.values()
                 if t.inbound_id == inbound.id]
        return {
            "id": inbound.id, "up": 0, "down": 0, "total": 0, "allTime": 0,
            "remark": inbound.remark, "enable": True, "expiryTime": 0,
            "trafficReset": "never", "lastTrafficResetTime": 0, "clientStats": stats,
            "listen": "", "port": inbound.port, "protocol": inbound.protocol,
            "settings": inbound.settings(), "streamSettings": json.dumps(
                {"network": "tcp", "security": "none"}),
            "tag": f"inbound-{inbound.port}", "sniffing": "{}",
        }

    def traffic_json(self, t: Traffic, client: dict[str, Any] | None = None) -> dict[str, Any]:
        row = {
            "id": list(self.traffic).index(t.email) + 1, "inboundId": t.inbound_id,
            "enable": t.enable, "email": t.email, "uuid": "", "subId": "", "up": t.up,
            "down": t.down, "allTime": t.up + t.down, "expiryTime": t.expiry_time,
            "total": t.total, "reset": t.reset, "lastOnline": 0,
        }
        if client is not None:
            row |= {"uuid": client.get("id", ""), "subId": client.get("subId", "")}
            if not self.version.at_least("2.9"):  # 2.8.x reported the client's own flag
                row["enable"] = bool(client.get("enable"))
        return row

    def client_traffic(self, email: str) -> dict[str, Any] | None:
        """GetClientTrafficByEmail. Up to 2.8.0 an unknown email is `obj: null`; from 2.8.1
        it goes through GetClientByEmail, whose miss is an error (success: false)."""
        t = self.traffic.get(email)
        if t is None:
            if not self.version.at_least("2.8.1"):
                return None
            raise go_error("Inbound Not Found For Email:", email)
        inbound = self.inbounds.get(t.inbound_id)
        client = next((c for c in inbound.clients if c.get("email") == email), None) \
            if inbound else None
        if client is None:
            raise go_error("Client Not Found In Inbound For Email:", email)
        return self.traffic_json(t, client)

    # --- the email rule -----------------------------------------------------------------------

    def _taken(self, clients: list[dict[str, Any]]) -> str | None:
        """checkEmailsExistForClients: the first email of `clients` that may not be added."""
        if not self.version.shared_emails:
            # 2.x: an email appears once in the whole panel, compared case-insensitively.
            existing = {str(c.get("email", "")).lower()
                        for ib in self.inbounds.values() for c in ib.clients}
            seen: set[str] = set()
            for client in clients:
                email = str(client.get("email") or "")
                if not email:
                    continue
                if email.lower() in seen or email.lower() in existing:
                    return email
                seen.add(email.lower())
            return None
        # 3.0+ (getAllEmailSubIDs): same email allowed only with the same non-empty subId;
        # an email already seen with two different subIds is locked.
        subs: dict[str, str] = {}
        for ib in self.inbounds.values():
            for c in ib.clients:
                email = str(c.get("email") or "").lower()
                if email:
                    sub = str(c.get("subId") or "")
                    subs[email] = sub if subs.get(email, sub) == sub else ""
        seen_sub: dict[str, str] = {}
        for client in clients:
            email = str(client.get("email") or "")
            if not email:
                continue
            sub, key = str(client.get("subId") or ""), email.lower()
            if key in seen_sub:
                if seen_sub[key] != sub or not sub:
                    return email
                continue
            seen_sub[key] = sub
            if key in subs and (not sub or not subs[key] or subs[key] != sub):
                return email
        return None

    def _shared(self, email: str, except_inbound: int) -> bool:
        return self.version.shared_emails and bool(email) and any(
            str(c.get("email", "")).lower() == email.lower()
            for ib in self.inbounds.values() if ib.id != except_inbound for c in ib.clients)

    # --- per-inbound client operations (2.x/3.0 endpoints; 3.1 runs them per inbound) --------

    def add_clients(self, inbound_id: int, clients: list[dict[str, Any]]) -> None:
        """AddInboundClient: the email check comes before the inbound is even looked up."""
        taken = self._taken(clients)
        if taken is not None:
            raise go_error("Duplicate email:", taken)
        inbound = self.inbound(inbound_id)
        for client in clients:
            if self.version.clients_api and not str(client.get("email") or "").strip():
                raise go_error("client email is required")
            if not inbound.key_of(client):
                raise go_error("empty client ID")
        now = _now_ms()
        for client in clients:
            stored = dict(client)
            stored.setdefault("created_at", now)
            stored["updated_at"] = now
            inbound.clients.append(stored)
            email = str(client.get("email") or "")
            if email and email not in self.traffic:  # unique email; 3.0 ON CONFLICT DO NOTHING
                self.traffic[email] = Traffic(
                    inbound_id, email, bool(client.get("enable")), _int(client.get("totalGB")),
                    _int(client.get("expiryTime")), _int(client.get("reset")))

    def update_client(self, inbound_id: int, client_id: str, new: dict[str, Any]) -> None:
        """UpdateInboundClient: the new client replaces the old one whole; usage is kept."""
        inbound = self.inbound(inbound_id)
        index = next((i for i, c in enumerate(inbound.clients)
                      if inbound.key_of(c) == client_id), None)
        if index is None or not inbound.key_of(new):
            raise go_error("empty client ID")
        old = inbound.clients[index]
        old_email, email = str(old.get("email") or ""), str(new.get("email") or "")
        if email and email != old_email:
            taken = self._taken([new])
            if taken is not None:
                raise go_error("Duplicate email:", taken)
        stored = dict(new)
        stored["created_at"] = old.get("created_at", _now_ms())
        stored["updated_at"] = _now_ms()
        inbound.clients[index] = stored
        row = self.traffic.pop(old_email, None)
        if email:
            if row is None:
                row = Traffic(inbound_id, email, False, 0, 0)
            row.email, row.enable = email, bool(new.get("enable"))
            row.total, row.expiry_time = _int(new.get("totalGB")), _int(new.get("expiryTime"))
            row.reset = _int(new.get("reset"))
            self.traffic[email] = row

    def delete_client(self, inbound_id: int, client_id: str) -> None:
        """DelInboundClient. Before 2.9.4 an unknown client id deletes nothing and succeeds;
        2.x and 3.0 refuse to remove an inbound's last client; 3.1 allows it."""
        inbound = self.inbound(inbound_id)
        kept = [c for c in inbound.clients if inbound.key_of(c) != client_id]
        gone = [c for c in inbound.clients if inbound.key_of(c) == client_id]
        if not gone and self.version.at_least("2.9.4"):
            raise go_error("Client Not Found In Inbound For ID:", client_id)
        if not kept and not self.version.clients_api:
            raise go_error("no client remained in Inbound")
        self._remove(inbound, kept, str(gone[-1].get("email") or "") if gone else "")

    def delete_by_email(self, inbound_id: int, email: str) -> None:
        """DelInboundClientByEmail (2.8+): exact email match."""
        inbound = self.inbound(inbound_id)
        kept = [c for c in inbound.clients if c.get("email") != email]
        if len(kept) == len(inbound.clients):
            raise go_error(f"client with email {email} not found")
        if not kept:
            raise go_error("no client remained in Inbound")
        self._remove(inbound, kept, email)

    def _remove(self, inbound: Inbound, kept: list[dict[str, Any]], email: str) -> None:
        inbound.clients = kept
        # 3.0+ keeps the traffic row while another inbound still holds the email.
        if email and not self._shared(email, inbound.id):
            self.traffic.pop(email, None)

    def reset_traffic(self, email: str) -> None:
        row = self.traffic.get(email)
        if row is not None:
            row.up = row.down = 0

    # --- 3.1+ clients/* (web/service/client.go) -----------------------------------------------

    def record(self, email: str) -> dict[str, Any]:
        """A ClientRecord: note `id` is the row's integer id and the UUID is `uuid`."""
        entries = self.entries(email)
        if not entries:
            raise PanelError(RECORD_NOT_FOUND)
        c = entries[0][1]
        # The clients table merges what each inbound needed (SyncInbound): a client in a
        # VLESS and a Trojan inbound has both a UUID and a password.
        uuid_ = next((e.get("id") for _, e in entries if e.get("id")), "")
        password = next((e.get("password") for _, e in entries if e.get("password")), "")
        record_id = self._record_ids.setdefault(email, len(self._record_ids) + 1)
        return {
            "id": record_id, "email": email, "subId": c.get("subId", ""),
            "uuid": uuid_, "password": password, "auth": "",
            "flow": c.get("flow", ""), "security": c.get("security", ""), "reverse": None,
            "limitIp": _int(c.get("limitIp")), "totalGB": _int(c.get("totalGB")),
            "expiryTime": _int(c.get("expiryTime")), "enable": bool(c.get("enable")),
            "tgId": _int(c.get("tgId")), "comment": c.get("comment", ""),
            "reset": _int(c.get("reset")), "createdAt": _int(c.get("created_at")),
            "updatedAt": _int(c.get("updated_at")),
        }

    def inbound_ids(self, email: str) -> list[int]:
        return sorted({ib.id for ib, _ in self.entries(email)})

    def create(self, client: dict[str, Any], inbound_ids: list[int]) -> None:
        """ClientService.Create: one inbound after another, no rollback of the earlier ones."""
        client = dict(client)
        if not str(client.get("email") or "").strip():
            raise go_error("client email is required")
        if not inbound_ids:
            raise go_error("at least one inbound is required")
        if not client.get("subId"):
            client["subId"] = str(uuid.uuid4())  # an empty subId becomes a random UUID
        client["enable"] = True  # `if !client.Enable { client.Enable = true }`
        existing = self.entries(str(client["email"]))
        if existing:
            sub = existing[0][1].get("subId") or ""
            if not sub or sub != client["subId"]:
                raise go_error("email already in use:", client["email"])
        for inbound_id in inbound_ids:
            self._fill_defaults(client, self.inbound(inbound_id))
            self.add_clients(inbound_id, [client])

    def update(self, email: str, new: dict[str, Any]) -> None:
        """ClientService.Update: the client is rewritten in every inbound it is in. A client
        sent without its `id` gets a fresh UUID (fillProtocolDefaults)."""
        record = self.record(email)
        new = dict(new)
        if not str(new.get("email") or "").strip():
            raise go_error("client email is required")
        new["subId"] = new.get("subId") or record["subId"] or str(uuid.uuid4())
        for inbound_id in self.inbound_ids(email):
            inbound = self.inbound(inbound_id)
            old_key = record["password"] if inbound.protocol == "trojan" else record["uuid"]
            if not old_key:
                continue
            self._fill_defaults(new, inbound)
            self.update_client(inbound_id, old_key, new)

    def delete(self, email: str, keep_traffic: bool) -> None:
        """ClientService.Delete. `keepTraffic=1` does not save the row in 3.1.0: the last
        DelInboundClient has already dropped it (the email is no longer shared)."""
        record = self.record(email)
        for inbound_id in self.inbound_ids(email):
            inbound = self.inbound(inbound_id)
            key = record["password"] if inbound.protocol == "trojan" else record["uuid"]
            kept = [c for c in inbound.clients if inbound.key_of(c) != key]
            self._remove(inbound, kept, email)
        if not keep_traffic:
            self.traffic.pop(email, None)
        self._record_ids.pop(email, None)

    @staticmethod
    def _fill_defaults(client: dict[str, Any], inbound: Inbound) -> None:
        if inbound.protocol in ("vless", "vmess") and not client.get("id"):
            client["id"] = str(uuid.uuid4())
        if inbound.protocol == "trojan" and not client.get("password"):
            client["password"] = uuid.uuid4().hex
