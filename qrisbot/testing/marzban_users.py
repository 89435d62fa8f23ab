"""Users of the Marzban/PasarGuard fake: what the panel stores and how its status moves.

Status rules follow the panels' crud (Marzban app/db/crud.py update_user and
reset_user_data_usage; PasarGuard app/db/crud/user.py modify_user) and their review job,
which the fake runs before every request instead of every few seconds.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from typing import Any
from urllib.parse import quote

import attrs

from qrisbot.testing.marzban_rules import iso


@attrs.frozen
class Group:
    """A PasarGuard group: the inbound tags its users get."""

    id: int
    name: str
    inbound_tags: tuple[str, ...]
    is_disabled: bool = False

    def describe(self, total_users: int) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "inbound_tags": list(self.inbound_tags),
                "is_disabled": self.is_disabled, "total_users": total_users}


@attrs.define
class PanelUser:
    id: int
    username: str
    proxies: dict[str, dict[str, str]]
    inbounds: dict[str, list[str]] = attrs.Factory(dict)  # Marzban: protocol -> tags
    group_ids: list[int] = attrs.Factory(list)  # PasarGuard
    expire: int | None = None  # UTC epoch seconds; None = never
    data_limit: int | None = None  # bytes; None = unlimited
    data_limit_reset_strategy: str = "no_reset"
    status: str = "active"
    used_traffic: int = 0
    lifetime_used_traffic: int = 0
    note: str | None = None
    created_at: str = ""

    def review(self, now: float) -> None:
        """The panels' review job: an active user past its limit or its expiry stops."""
        if self.status != "active":
            return
        if self.data_limit and self.used_traffic >= self.data_limit:
            self.status = "limited"
        elif self.expire and self.expire <= now:
            self.status = "expired"

    def set_expire(self, expire: int | None, now: float) -> None:
        self.expire = expire
        if self.status in ("active", "expired"):
            self.status = "active" if not expire or expire > now else "expired"

    def set_data_limit(self, limit: int | None) -> None:
        self.data_limit = limit or None
        if self.status not in ("expired", "disabled"):
            if not self.data_limit or self.used_traffic < self.data_limit:
                if self.status != "on_hold":
                    self.status = "active"
            else:
                self.status = "limited"

    def reset(self, dialect: str) -> None:
        self.used_traffic = 0
        if dialect == "pasarguard":
            if self.status == "limited":
                self.status = "active"
        # Marzban tests `status not in (expired or disabled)`, i.e. `not in "expired"`
        # (app/db/crud.py reset_user_data_usage): a disabled user comes back active.
        elif self.status != "expired":
            self.status = "active"


def proxy_settings(protocol: str, given: Any) -> dict[str, str]:
    """One protocol's settings with the panel's defaults for what is left out; ValueError
    for an `id` that is not a UUID (pydantic's UUID field)."""
    given = given if isinstance(given, dict) else {}
    if protocol in ("vmess", "vless"):
        settings = {"id": str(uuid.UUID(str(given["id"])) if given.get("id") else uuid.uuid4())}
        if protocol == "vless":
            settings["flow"] = str(given.get("flow") or "")
        return settings
    if protocol == "shadowsocks":
        return {"password": str(given.get("password") or secrets.token_urlsafe(16)),
                "method": str(given.get("method") or "chacha20-ietf-poly1305")}
    return {"password": str(given.get("password") or secrets.token_urlsafe(16))}


def share_link(protocol: str, settings: dict[str, str], tag: str, host: str,
               username: str) -> str:
    """A share link in the usual form, carrying the user's secret."""
    remark = quote(f"{username} [{tag}]")
    if protocol == "vmess":
        body = json.dumps({"v": "2", "ps": f"{username} [{tag}]", "add": host, "port": 443,
                           "id": settings["id"], "aid": 0, "net": "ws", "tls": "tls"})
        return "vmess://" + base64.b64encode(body.encode()).decode()
    if protocol == "vless":
        return (f"vless://{settings['id']}@{host}:443?security=reality&type=tcp"
                f"&flow={settings.get('flow', '')}#{remark}")
    if protocol == "shadowsocks":
        userinfo = base64.urlsafe_b64encode(
            f"{settings['method']}:{settings['password']}".encode()).decode()
        return f"ss://{userinfo}@{host}:443#{remark}"
    return f"trojan://{quote(settings['password'])}@{host}:443?security=tls&type=ws#{remark}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def describe_marzban(user: PanelUser, inbound_tags: dict[str, str], links: list[str],
                     subscription_url: str) -> dict[str, Any]:
    """GET /api/user/{username} on Marzban (app/models/user.py UserResponse)."""
    excluded = {protocol: [tag for tag, proto in inbound_tags.items()
                           if proto == protocol and tag not in user.inbounds.get(protocol, [])]
                for protocol in user.proxies}
    return {
        "proxies": user.proxies, "expire": user.expire, "data_limit": user.data_limit,
        "data_limit_reset_strategy": user.data_limit_reset_strategy,
        "inbounds": user.inbounds, "note": user.note, "sub_updated_at": None,
        "sub_last_user_agent": None, "online_at": None, "on_hold_expire_duration": None,
        "on_hold_timeout": None, "auto_delete_in_days": None, "next_plan": None,
        "username": user.username, "status": user.status, "used_traffic": user.used_traffic,
        "lifetime_used_traffic": user.lifetime_used_traffic, "created_at": user.created_at,
        "links": links, "subscription_url": subscription_url,
        "excluded_inbounds": excluded, "admin": {"username": "admin", "is_sudo": True},
    }


def describe_pasarguard(user: PanelUser, subscription_url: str) -> dict[str, Any]:
    """GET /api/user/{username} on PasarGuard (app/models/user.py UserResponse): no
    `links`, `expire` as an ISO string."""
    return {
        "proxy_settings": user.proxies, "expire": iso(user.expire),
        "data_limit": user.data_limit,
        "data_limit_reset_strategy": user.data_limit_reset_strategy, "note": user.note,
        "on_hold_expire_duration": None, "on_hold_timeout": None,
        "group_ids": user.group_ids, "auto_delete_in_days": None, "hwid_limit": None,
        "next_plan": None, "id": user.id, "username": user.username, "status": user.status,
        "used_traffic": user.used_traffic,
        "lifetime_used_traffic": user.lifetime_used_traffic, "created_at": user.created_at,
        "edit_at": None, "online_at": None, "subscription_url": subscription_url,
        "admin": {"username": "admin"},
    }
