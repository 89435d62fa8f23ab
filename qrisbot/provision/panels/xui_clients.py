"""3x-ui's clients as the shop reads and writes them: `inbounds/list` parsed into typed
entries (every version has it, with each inbound's clients in `settings`, a JSON string,
and their usage in `clientStats`), the client object sent back, and share links built from
an inbound's stream settings for panels older than 3.1 (which have no `clients/links`).

A panel's answer is foreign: anything malformed is skipped or a PanelError, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import attrs

from qrisbot.provision import links
from qrisbot.provision.panels.http import PanelError

KEY_FIELD: Final = {"vless": "id", "vmess": "id", "trojan": "password"}


@attrs.frozen
class Inbound:
    id: int
    protocol: str
    port: int
    remark: str
    stream: dict[str, Any]  # streamSettings, decoded ({} when unreadable)


@attrs.frozen
class Entry:
    """One client in one inbound."""

    inbound: Inbound
    email: str
    key: str = attrs.field(repr=False)  # the UUID (trojan: the password): the secret
    sub_id: str = attrs.field(repr=False)
    enable: bool
    total: int  # bytes; 0 = no limit
    expiry: int  # milliseconds; 0 = never, negative = a duration from first use
    comment: str
    raw: dict[str, Any] = attrs.field(repr=False)  # as stored: sent back whole on update


@attrs.frozen
class Snapshot:
    inbounds: dict[int, Inbound]
    entries: tuple[Entry, ...]
    used: dict[str, int]  # lower-case email -> bytes up + down (clientStats)

    def of(self, email: str) -> list[Entry]:
        """Every entry with this email, compared as the panel does (case-insensitive)."""
        return [e for e in self.entries if e.email.lower() == email.lower()]


def snapshot(what: str, obj: Any) -> Snapshot:
    if not isinstance(obj, list):
        raise PanelError(f"{what}: the inbound list is not a list", transient=True)
    inbounds: dict[int, Inbound] = {}
    entries: list[Entry] = []
    used: dict[str, int] = {}
    for item in obj:
        inbound = _inbound(item)
        if inbound is None:
            continue
        inbounds[inbound.id] = inbound
        entries.extend(_entries(inbound, item.get("settings")))
        stats = item.get("clientStats")
        for row in stats if isinstance(stats, list) else ():
            if isinstance(row, dict) and isinstance(row.get("email"), str):
                used[row["email"].lower()] = _int(row.get("up")) + _int(row.get("down"))
    return Snapshot(inbounds, tuple(entries), used)


def _inbound(item: Any) -> Inbound | None:
    if not isinstance(item, dict):
        return None
    inbound_id, port = item.get("id"), item.get("port")
    protocol, remark = item.get("protocol"), item.get("remark")
    if not (isinstance(inbound_id, int) and _is_int(inbound_id) and isinstance(protocol, str)):
        return None
    return Inbound(inbound_id, protocol, _int(port),
                   remark if isinstance(remark, str) else "", _decoded(item.get("streamSettings")))


def _entries(inbound: Inbound, settings: Any) -> Iterator[Entry]:
    clients = _decoded(settings).get("clients")
    for raw in clients if isinstance(clients, list) else ():
        if not isinstance(raw, dict) or not isinstance(raw.get("email"), str):
            continue
        key = raw.get(KEY_FIELD.get(inbound.protocol, "id"))
        sub_id, comment = raw.get("subId"), raw.get("comment")
        yield Entry(inbound, raw["email"], key if isinstance(key, str) else "",
                    sub_id if isinstance(sub_id, str) else "", raw.get("enable") is True,
                    _int(raw.get("totalGB")), _int(raw.get("expiryTime")),
                    comment if isinstance(comment, str) else "", raw)


def _decoded(value: Any) -> dict[str, Any]:
    """settings / streamSettings travel as JSON strings (some versions send objects)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int:
    return value if _is_int(value) else 0


@attrs.frozen
class Client:
    """What the shop writes for one client (the panel's field names in `to_json`)."""

    email: str
    secret: str = attrs.field(repr=False)
    sub_id: str = attrs.field(repr=False)
    total: int  # bytes
    expiry: int  # milliseconds
    limit_ip: int
    comment: str
    enable: bool = True

    def to_json(self, protocols: set[str], base: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """The whole client (an update replaces it: `base`, the stored one, keeps what
        the panel or the seller set that the shop does not manage, e.g. `flow`, `tgId`)."""
        client = {"flow": "", "tgId": 0, "reset": 0} | (base or {}) | {
            "email": self.email, "id": self.secret, "subId": self.sub_id,
            "totalGB": self.total, "expiryTime": self.expiry, "limitIp": self.limit_ip,
            "enable": self.enable, "comment": self.comment,
        }
        if "trojan" in protocols:
            client["password"] = self.secret  # Trojan's client id is its password
        for stale in ("created_at", "updated_at"):
            client.pop(stale, None)
        return client


def share_link(inbound: Inbound, host: str, secret: str, email: str) -> str | None:
    """A share link from the inbound's stream settings (ws, gRPC or plain TCP, with or
    without TLS); None for what needs more than that (REALITY, xhttp...): the buyer has
    the subscription for those."""
    network = inbound.stream.get("network", "tcp")
    security = inbound.stream.get("security", "none")
    build = links.BUILDERS.get(inbound.protocol)
    if build is None or security not in ("none", "tls") or inbound.port <= 0:
        return None
    if network == "ws":
        ws = inbound.stream.get("wsSettings")
        path = ws.get("path") if isinstance(ws, dict) else None
    elif network == "grpc":
        grpc = inbound.stream.get("grpcSettings")
        path = grpc.get("serviceName") if isinstance(grpc, dict) else None
    elif network == "tcp":
        path = ""
    else:
        return None
    endpoint = links.Endpoint(host, inbound.port, security == "tls", network,
                              path if isinstance(path, str) else "")
    return build(secret, endpoint, f"{inbound.remark}-{email}")
