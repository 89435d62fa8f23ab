"""The user endpoints of the Marzban/PasarGuard fake: create, read, modify, delete, reset.

Validation errors come back as the panels' own 422 handler shapes them (both
app/__init__.py / app/app_factory.py): `{"detail": {"<field>": "<message>"}}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrisbot.testing.http import Response
from qrisbot.testing.marzban_rules import (
    PROTOCOLS,
    STRATEGIES,
    expire_seconds,
    optional_int,
    username_error,
)
from qrisbot.testing.marzban_users import (
    PanelUser,
    describe_marzban,
    describe_pasarguard,
    now_iso,
    proxy_settings,
)

if TYPE_CHECKING:
    from qrisbot.testing.fake_marzban import FakeMarzban


def user_call(fake: FakeMarzban, call: str, name: str, body: dict[str, Any]) -> Response:
    if call == "create":
        return _create(fake, body)
    user = fake.users.get(name)
    if user is None:
        return _detail(404, "User not found")
    if call == "delete":
        del fake.users[name]
        if fake.dialect == "pasarguard":
            return Response(204, b"")
        return _detail(200, "User successfully deleted")
    if call == "reset":
        user.reset(fake.dialect)
    elif call == "modify":
        refused = _modify(fake, user, body)
        if refused is not None:
            return refused
    return Response.json(describe(fake, user))


def describe(fake: FakeMarzban, user: PanelUser) -> dict[str, Any]:
    if fake.dialect == "marzban":
        return describe_marzban(user, fake.inbounds, fake.links(user),
                                fake.subscription_url(user))
    return describe_pasarguard(user, fake.subscription_url(user))


def _create(fake: FakeMarzban, body: dict[str, Any]) -> Response:
    errors: dict[str, str] = {}
    username = body.get("username")
    if "username" not in body:
        errors["username"] = "Field required"
    elif (error := username_error(fake.dialect, username)) is not None:
        errors["username"] = error
    fields = _common_fields(fake, body, errors, creating=True)
    if fake.dialect == "marzban":
        proxies = _marzban_proxies(body.get("proxies"), errors, required=True)
        inbounds = _marzban_inbounds(fake, body.get("inbounds"), proxies, errors)
        group_ids: list[int] = []
    else:
        proxies = _pasarguard_proxies(body.get("proxy_settings"), errors)
        inbounds = {}
        group_ids = []
        # The key left out is not validated (pydantic skips defaults): a user with no
        # groups, so no inbounds. Present and empty (or null) is refused.
        if "group_ids" in body:
            group_ids = _group_ids(body["group_ids"], errors, required=True)
    if errors:
        return Response.json({"detail": errors}, 422)
    if fake.dialect == "marzban":
        for protocol in proxies:
            if protocol not in fake.protocols():  # app/routers/user.py add_user
                return _detail(400, f"Protocol {protocol} is disabled on your server")
    elif any(gid not in fake.groups for gid in group_ids):
        return _detail(404, "Group not found")
    assert isinstance(username, str)
    if username in fake.users:  # the unique index on username
        return _detail(409, "User already exists")
    user = PanelUser(fake.next_id(), username, proxies, inbounds, group_ids,
                     created_at=now_iso(), **fields)
    user.review(fake.clock())
    fake.users[username] = user
    return Response.json(describe(fake, user), 200 if fake.dialect == "marzban" else 201)


def _modify(fake: FakeMarzban, user: PanelUser, body: dict[str, Any]) -> Response | None:
    """PUT: null or absent leaves a field as it is (crud update_user / modify_user)."""
    errors: dict[str, str] = {}
    fields = _common_fields(fake, body, errors, creating=False)
    status = body.get("status")
    if status is not None and status not in ("active", "disabled", "on_hold"):
        errors["status"] = "Input should be 'active', 'disabled' or 'on_hold'"
    proxies: dict[str, dict[str, str]] = {}
    tags: dict[str, list[str]] = {}
    group_ids: list[int] | None = None
    if fake.dialect == "marzban":
        proxies = _marzban_proxies(body.get("proxies"), errors, required=False)
        tags = _marzban_tags(fake, body.get("inbounds"), errors)
    else:
        if body.get("proxy_settings") is not None:
            # A whole ProxyTable: protocols left out get new random secrets.
            proxies = _pasarguard_proxies(body["proxy_settings"], errors)
        if body.get("group_ids") is not None:
            # nullable_list lets [] through: the user then loses every group.
            group_ids = _group_ids(body["group_ids"], errors, required=False)
    if errors:
        return Response.json({"detail": errors}, 422)
    if fake.dialect == "marzban":
        for protocol in proxies:
            if protocol not in fake.protocols():
                return _detail(400, f"Protocol {protocol} is disabled on your server")
        if proxies:  # the protocols not named are removed
            user.proxies = proxies
            user.inbounds = {p: t for p, t in user.inbounds.items() if p in proxies}
            for protocol in proxies:
                user.inbounds.setdefault(protocol, _tags_of(fake, protocol))
        if tags:  # {} = no change
            user.inbounds.update({p: list(t) for p, t in tags.items() if p in user.proxies})
    else:
        if group_ids is not None and any(g not in fake.groups for g in group_ids):
            return _detail(404, "Group not found")
        if proxies:
            user.proxies = proxies
        if group_ids is not None:
            user.group_ids = group_ids
    if status is not None:
        user.status = status
    # Marzban applies data_limit then expire; PasarGuard expire then data_limit.
    steps = ["data_limit", "expire"] if fake.dialect == "marzban" else ["expire", "data_limit"]
    for step in steps:
        if step == "expire" and "expire" in fields:
            user.set_expire(fields["expire"], fake.clock())
        if step == "data_limit" and "data_limit" in fields:
            user.set_data_limit(fields["data_limit"])
    if "note" in fields:
        user.note = fields["note"] or None
    if "data_limit_reset_strategy" in fields:
        user.data_limit_reset_strategy = fields["data_limit_reset_strategy"]
    return None


def _common_fields(fake: FakeMarzban, body: dict[str, Any], errors: dict[str, str], *,
                   creating: bool) -> dict[str, Any]:
    """expire, data_limit, note, data_limit_reset_strategy and (create) status; on modify
    only the ones given and not null."""
    fields: dict[str, Any] = {}
    if body.get("expire") is not None or creating:
        expire, error = expire_seconds(fake.dialect, body.get("expire"))
        fields["expire"] = expire
        if error:
            errors["expire"] = error
    if body.get("data_limit") is not None or creating:
        limit, error = optional_int(body.get("data_limit"), minimum=0)
        fields["data_limit"] = limit or None
        if error:
            errors["data_limit"] = error
    if body.get("note") is not None:
        fields["note"] = str(body["note"])
    strategy = body.get("data_limit_reset_strategy")
    if strategy is not None:
        if strategy not in STRATEGIES:
            errors["data_limit_reset_strategy"] = "Input should be " + ", ".join(
                f"'{s}'" for s in STRATEGIES)
        fields["data_limit_reset_strategy"] = strategy
    if creating:
        status = body.get("status") or "active"
        if status not in ("active", "on_hold"):
            errors["status"] = "Input should be 'active' or 'on_hold'"
        fields["status"] = status
    return fields


def _marzban_proxies(value: Any, errors: dict[str, str], *, required: bool
                     ) -> dict[str, dict[str, str]]:
    if not value:
        if required:
            errors["proxies"] = "Value error, Each user needs at least one proxy"
        return {}
    if not isinstance(value, dict) or any(p not in PROTOCOLS for p in value):
        errors["proxies"] = "Input should be 'vmess', 'vless', 'trojan' or 'shadowsocks'"
        return {}
    try:
        proxies = {p: proxy_settings(p, s) for p, s in value.items()}
    except ValueError:
        errors["proxies"] = "Input should be a valid UUID"
        return {}
    if "trojan" in proxies:  # Marzban's TrojanSettings has a flow; PasarGuard's has not
        proxies["trojan"]["flow"] = str((value["trojan"] or {}).get("flow") or "")
    return proxies


def _marzban_inbounds(fake: FakeMarzban, value: Any, proxies: dict[str, dict[str, str]],
                      errors: dict[str, str]) -> dict[str, list[str]]:
    """Tags per protocol; a protocol given no tags gets all of its inbounds."""
    value = value if isinstance(value, dict) else {}
    inbounds = {}
    for protocol in proxies:
        tags = value.get(protocol)
        for tag in tags or ():
            if tag not in fake.inbounds:
                errors["inbounds"] = f"Value error, Inbound {tag} doesn't exist"
        inbounds[protocol] = list(tags) if tags else _tags_of(fake, protocol)
    return inbounds


def _marzban_tags(fake: FakeMarzban, value: Any, errors: dict[str, str]
                  ) -> dict[str, list[str]]:
    if not value:
        return {}
    if not isinstance(value, dict) or not all(isinstance(t, list) for t in value.values()):
        errors["inbounds"] = "Input should be a valid dictionary"
        return {}
    for tag in (t for tags in value.values() for t in tags):
        if tag not in fake.inbounds:
            errors["inbounds"] = f"Value error, Inbound {tag} doesn't exist"
    return {str(p): [str(t) for t in tags] for p, tags in value.items()}


def _pasarguard_proxies(value: Any, errors: dict[str, str]) -> dict[str, dict[str, str]]:
    value = value if isinstance(value, dict) else {}
    if any(p not in (*PROTOCOLS, "wireguard", "hysteria") for p in value):
        errors["proxy_settings"] = "Extra inputs are not permitted"
    try:
        return {p: proxy_settings(p, value.get(p)) for p in PROTOCOLS}
    except ValueError:
        errors["proxy_settings"] = "Input should be a valid UUID"
        return {}


def _group_ids(value: Any, errors: dict[str, str], *, required: bool) -> list[int]:
    if required and not value:  # app/models/validators.py ListValidator.not_null_list
        errors["group_ids"] = "Value error, you must select at least one group"
        return []
    if not isinstance(value, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) for g in value):
        errors["group_ids"] = "Input should be a valid list of integers"
        return []
    return list(value)


def _tags_of(fake: FakeMarzban, protocol: str) -> list[str]:
    return [tag for tag, proto in fake.inbounds.items() if proto == protocol]


def _detail(status: int, detail: str) -> Response:
    return Response.json({"detail": detail}, status)
