"""Reading what Marzban and PasarGuard answer: a user, the user list, the groups, the
inbounds.

Nothing here trusts the panel: a field of the wrong type, a list that is not one, an
expiry that is no date all become `Malformed` (a BackendError naming the field, never its
value: a user's record carries their secrets)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from qrisbot.provision.port import BackendError


class Malformed(BackendError):
    """The panel answered, but not with what its API promises (another version? a proxy?)."""


@attrs.frozen
class PanelUser:
    username: str
    # protocol -> settings (`id` or `password`); Marzban's `proxies`, PasarGuard's
    # `proxy_settings`
    proxies: Mapping[str, Mapping[str, Any]] = attrs.field(repr=False)
    expire: int | None  # UTC epoch seconds; None = never
    data_limit: int  # bytes; 0 = unlimited
    used: int  # bytes
    status: str
    subscription_url: str = attrs.field(repr=False)  # may be relative; "" if none
    links: tuple[str, ...] | None = attrs.field(repr=False)  # None: PasarGuard has none
    inbounds: Mapping[str, tuple[str, ...]] = attrs.Factory(dict)  # Marzban: protocol -> tags
    group_ids: tuple[int, ...] = ()  # PasarGuard

    def secret(self, protocol: str) -> str | None:
        """The user's UUID (vmess, vless) or password (trojan) for `protocol`."""
        settings = self.proxies.get(protocol)
        if not isinstance(settings, Mapping):
            return None
        value = settings.get("password" if protocol == "trojan" else "id")
        if not isinstance(value, str) or not value:
            return None
        return value if protocol == "trojan" else value.lower()


def user(body: Any, what: str) -> PanelUser:
    if not isinstance(body, dict):
        raise Malformed(f"{what}: the answer is not a user")
    try:
        return _user(body)
    except _Field as field:
        raise Malformed(f"{what}: the answer's user has no valid {field}") from None


def users(body: Any, what: str) -> tuple[list[PanelUser], list[str]]:
    """The users of GET /api/users, and a note for each entry that is not one."""
    listed = body.get("users") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise Malformed(f"{what}: the answer has no list of users")
    found, notes = [], []
    for entry in listed:
        try:
            if not isinstance(entry, dict):
                raise _Field("record")
            found.append(_user(entry))
        except _Field as field:
            name = entry.get("username") if isinstance(entry, dict) else None
            shown = name if isinstance(name, str) and name.isprintable() else "?"
            notes.append(f"{shown[:64]}: no valid {field} in the panel's answer")
    return found, notes


@attrs.frozen
class Group:
    """A PasarGuard group as the panel lists it: its users get its inbounds."""

    id: int
    name: str
    enabled: bool
    inbound_tags: tuple[str, ...]  # strings only


def groups(body: Any, what: str) -> dict[str, Group]:
    """PasarGuard's GET /api/groups, by name."""
    listed = body.get("groups") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise Malformed(f"{what}: the answer has no list of groups")
    found = {}
    for entry in listed:
        if not isinstance(entry, dict):
            raise Malformed(f"{what}: a group is not a record")
        name, gid, tags = entry.get("name"), entry.get("id"), entry.get("inbound_tags")
        if not isinstance(name, str) or not isinstance(gid, int) or isinstance(gid, bool):
            raise Malformed(f"{what}: a group has no valid name or id")
        found[name] = Group(gid, name, entry.get("is_disabled") is not True,
                            tuple(t for t in tags if isinstance(t, str))
                            if isinstance(tags, list) else ())
    return found


def inbound_protocols(body: Any, what: str) -> dict[str, str]:
    """tag -> protocol, from Marzban's GET /api/inbounds (protocol -> [{tag, protocol,
    ...}]) or PasarGuard's GET /api/inbounds/details ([{tag, protocol, network}])."""
    if isinstance(body, dict):
        items = [(proto, item) for proto, listed in body.items()
                 if isinstance(listed, list) for item in listed]
    elif isinstance(body, list):
        items = [("", item) for item in body]
    else:
        raise Malformed(f"{what}: the answer is not a list of inbounds")
    found = {}
    for proto, item in items:
        tag = item.get("tag") if isinstance(item, dict) else None
        said = item.get("protocol") if isinstance(item, dict) else None
        if isinstance(tag, str):
            found[tag] = said if isinstance(said, str) else proto
    return found


_YEAR_9999 = 253_402_214_400  # past it a date cannot be shown (nor sold)


class _Field(Exception):
    """The named field is missing or of the wrong type."""


def _user(body: dict[str, Any]) -> PanelUser:
    name = body.get("username")
    if not isinstance(name, str) or not name:
        raise _Field("username")
    proxies = body.get("proxies", body.get("proxy_settings"))
    if not isinstance(proxies, dict):
        raise _Field("proxies")
    links = body.get("links")
    if links is not None and not (isinstance(links, list)
                                  and all(isinstance(link, str) for link in links)):
        raise _Field("links")
    sub = body.get("subscription_url") or ""
    if not isinstance(sub, str):
        raise _Field("subscription_url")
    status = body.get("status")
    if not isinstance(status, str):
        raise _Field("status")
    inbounds = body.get("inbounds") or {}
    if not (isinstance(inbounds, dict) and all(
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
            for tags in inbounds.values())):
        raise _Field("inbounds")
    group_ids = body.get("group_ids") or []
    if not (isinstance(group_ids, list) and all(_is_int(g) for g in group_ids)):
        raise _Field("group_ids")
    return PanelUser(username=name, proxies=proxies, expire=_expire(body.get("expire")),
                     data_limit=_bytes(body.get("data_limit"), "data_limit"),
                     used=_bytes(body.get("used_traffic"), "used_traffic"), status=status,
                     subscription_url=sub, links=None if links is None else tuple(links),
                     inbounds={str(p): tuple(tags) for p, tags in inbounds.items()},
                     group_ids=tuple(group_ids))


def _expire(value: Any) -> int | None:
    """Marzban: epoch seconds; PasarGuard: an ISO datetime (naive = UTC); 0/None: never."""
    if value is None or value == 0:
        return None
    if _is_int(value) and 0 < value < _YEAR_9999:
        return int(value)
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Field("expire") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = int(when.timestamp())
        if 0 < seconds < _YEAR_9999:
            return seconds
    raise _Field("expire")


def _bytes(value: Any, field: str) -> int:
    if value is None:
        return 0
    if _is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    raise _Field(field)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
