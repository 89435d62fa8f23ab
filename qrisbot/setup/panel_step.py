"""Setup's panel step: a server sold through a web panel (3x-ui, Marzban, PasarGuard). The
address checked as check-config checks it, a self-signed certificate pinned once the seller
compared its fingerprint (what `servers trust ID` does), the login tried on the panel, its
inbounds or groups listed to pick from, then what buyers see and pay. The password or
token goes to secrets.env (QRISBOT_PANEL_<ID>_PASSWORD / _TOKEN), never to config.toml."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import trio
from tomlkit.items import Table

from qrisbot import config as cfg
from qrisbot.provision.panels import pins
from qrisbot.provision.panels.marzban import MarzbanBackend
from qrisbot.provision.panels.pasarguard import PasarGuardBackend
from qrisbot.provision.panels.xui import XuiBackend
from qrisbot.provision.port import BackendError
from qrisbot.setup import install
from qrisbot.setup.document import inline, plain
from qrisbot.setup.prompts import Terminal, printable
from qrisbot.setup.secrets_file import allowed
from qrisbot.setup.server_step import (
    _choice,
    _default_name,
    _host,
    _name,
    _new_id,
    _number,
    _price,
)
from qrisbot.setup.session import Session
from qrisbot.shop.texts import rupiah

TYPES: Final = ("3x-ui", "marzban", "pasarguard")
PROTOCOLS: Final = ("vmess", "vless", "trojan")
SECONDS: Final = 15.0  # for the certificate and the login with the listing
# Keys of the panel table that belong to one type; the others are dropped on a change.
PICKED: Final = {"3x-ui": "inbound_ids", "marzban": "inbounds", "pasarguard": "groups"}


@attrs.frozen
class Choice:
    """One inbound (3x-ui, Marzban) or group (PasarGuard) the panel listed."""

    key: str  # what the seller types: the inbound id on 3x-ui, its number otherwise
    value: int | str  # what config.toml holds
    line: str  # how it is shown
    protocols: frozenset[str]  # (PasarGuard's groups: unknown, empty)
    refused: str | None = None  # why it cannot be sold (a disabled group, shadowsocks)


def server(s: Session, table: Table | None) -> None:
    """One panel server, new (`table` None) or edited; saved when every answer was
    checked."""
    t = s.terminal
    now: dict[str, Any] = plain(table) if table is not None else {}
    panel = dict(now.get("panel") or {})
    kind = t.ask("panel_type", _choice(t, TYPES), default=panel.get("type") or "3x-ui")
    pins_path = panel.get("pins") or str(s.folder / "panel_pins")
    url = panel.get("url")
    while True:
        url = t.ask("panel_url", _url(t), default=url)
        if not _trusted(s, url, pins_path):
            continue
        draft, secrets = _credentials(s, now, kind, url, pins_path)
        try:
            choices = trio.run(_listed, draft)
        except BackendError as exc:
            t.say("panel_refused", why=printable(str(exc), 300))
            continue
        t.say("panel_login_ok", origin=pins.origin(url))
        if choices:
            break
        t.say("panel_nothing", kind=kind)
    picked, protocol = _pick(t, kind, choices, panel)
    name = t.ask("server_name", _name(t), default=now.get("name") or _default_name(s))
    server_id = now.get("id") or _new_id(s, name)
    domain = t.ask("server_domain", _host(t),
                   default=now.get("domain") or urlsplit(url).hostname)
    sub_url = t.ask("panel_sub_url", _url(t), default=panel.get("sub_url")
                    or _suggested_sub_url(kind, url))
    price = _price(s, now.get("price_per_month"))
    capacity = t.ask("server_capacity", _number(t, 1, 1_000_000),
                     default=str(now.get("capacity", 50)))
    quota = t.ask("panel_quota", _number(t, 0, 100_000), default=str(now.get("quota_gb", 0)))
    if kind == "3x-ui":
        ip_limit = t.ask("panel_ip_limit", _number(t, 0, 1000),
                         default=str(now.get("ip_limit", 0)))
    else:
        t.say("panel_no_ip_limit", kind=kind)
        ip_limit = 0
    if table is None:
        table = s.doc.add_server()
    for key, value in (("id", server_id), ("name", name), ("protocol", protocol),
                       ("domain", domain), ("price_per_month", price), ("capacity", capacity),
                       ("quota_gb", quota)):
        table[key] = value
    if kind == "3x-ui":
        table["ip_limit"] = ip_limit
    elif "ip_limit" in table:
        del table["ip_limit"]  # the panel cannot keep it: check-config would warn
    for gone in ("ssh", "xray", "linux", "commands"):
        if gone in table:
            del table[gone]
    written = inline(table, "panel")
    for key in (*PICKED.values(), *cfg.PANEL_SECRETS):  # secrets live in secrets.env
        if key in written:
            del written[key]
    fields: dict[str, Any] = {"type": kind, "url": url, PICKED[kind]: picked,
                              "sub_url": sub_url}
    assert draft.panel is not None
    if draft.panel.username:
        fields["username"] = draft.panel.username
    elif "username" in written:
        del written["username"]
    for key, value in fields.items():
        written[key] = value
    for key, value in secrets.items():
        s.secrets.set(cfg.panel_variable(server_id, key), value)
    s.save()
    t.say("server_saved", id=server_id, name=name, price=rupiah(price))


def _url(t: Terminal) -> Callable[[str], str]:
    """An address check-config takes (https, or http:// on this machine only)."""
    def check(answer: str) -> str:
        if next(cfg._url_problems("url", answer), None) is not None:
            raise t.wrong("panel_url_shape")
        return answer

    return check


def _trusted(s: Session, url: str, pins_path: str) -> bool:
    """The panel's certificate is one a public authority vouches for, or pinned (once the
    seller compared its fingerprint); plain http (this machine only) has none."""
    t = s.terminal
    if urlsplit(url).scheme != "https":
        return True
    origin = pins.origin(url)
    try:
        shown = trio.run(_presented, url)
    except (trio.TooSlowError, OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            type(exc).__name__
        t.say("panel_unreachable", origin=origin, why=printable(str(reason), 200))
        return False
    old = pins.pinned(pins_path, url)
    if old == shown.fingerprint:
        t.say("cert_known", fingerprint=shown.fingerprint)
        return True
    if old:
        t.say("cert_changed", origin=origin, path=pins_path, old=old, new=shown.fingerprint)
        return False
    if shown.untrusted_because is None:
        t.say("cert_public")
        return True
    t.say("cert_show", origin=origin, why=printable(shown.untrusted_because, 200),
          fingerprint=shown.fingerprint)
    if not t.yes("hostkey_same", default=False):
        t.say("cert_not_pinned")
        return False
    pins.add(pins_path, url, shown.fingerprint)
    install.give(Path(pins_path), s.gid, 0o640)
    t.say("cert_pinned", path=pins_path)
    return True


async def _presented(url: str) -> pins.Presented:
    with trio.fail_after(SECONDS):
        return await pins.presented(url)


def _credentials(s: Session, now: dict[str, Any], kind: str, url: str, pins_path: str
                 ) -> tuple[cfg.Server, dict[str, str]]:
    """The login the seller gives (a password, or a token where the panel has them) and
    the server as the listing reads it; Enter keeps a secret secrets.env already has."""
    t = s.terminal
    panel = dict(now.get("panel") or {})
    server_id = now.get("id")

    def kept(key: str) -> str | None:
        return s.secrets.get(cfg.panel_variable(server_id, key)) if server_id else None

    method = "password"
    if kind != "marzban":
        method = t.ask("panel_login", _choice(t, ("password", "token")),
                       default="token" if kept("token") and not kept("password")
                       else "password")
    username = ""
    if method == "password":
        username = t.ask("panel_username", _plain_value(t), default=panel.get("username")
                         or "admin")
    current = kept(method)
    typed = t.secret(f"panel_{method}", _secret(t), keep=current is not None)
    secret = typed or current or ""
    draft = cfg.Panel(type=kind, url=url, username=username,  # type: ignore[arg-type]
                      password=secret if method == "password" else "",
                      token=secret if method == "token" else "",
                      # Listing reads no configured inbound; the backend wants one to exist.
                      inbound_ids=(1,) if kind == "3x-ui" else (), pins=pins_path)
    probe = cfg.Server(id=server_id or "setup", name="setup", protocol="vless",
                       domain=urlsplit(url).hostname or "setup",
                       price_per_month=cfg.Rupiah(500), panel=draft)
    return probe, ({method: typed} if typed else {})


def _plain_value(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not 1 <= len(answer) <= 64 or any(c.isspace() or not c.isprintable()
                                             for c in answer):
            raise t.wrong("name_shape")
        return answer

    return check


def _secret(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not allowed(answer) or len(answer) > 512 or any(c.isspace() for c in answer):
            raise t.wrong("panel_secret_shape")
        return answer

    return check


async def _listed(server: cfg.Server) -> list[Choice]:
    """Log in and list what the panel offers to sell through (a wrong login, an
    unreachable panel or a refused certificate is a BackendError saying so)."""
    assert server.panel is not None
    shop = cfg.Shop()
    with trio.fail_after(SECONDS):
        if server.panel.type == "3x-ui":
            xui = XuiBackend(server, shop)
            try:
                inbounds = await xui.listed_inbounds()
            finally:
                await xui.aclose()
            return [Choice(str(i.id), i.id, f"{i.id}: {printable(i.remark)} ({i.protocol}, "
                           f"port {i.port})", frozenset({i.protocol}),
                           None if i.protocol in PROTOCOLS else i.protocol)
                    for i in inbounds]
        if server.panel.type == "marzban":
            marzban = MarzbanBackend(server, shop)
            try:
                tags = await marzban.listed_inbounds()
            finally:
                await marzban.aclose()
            return [Choice(str(n), tag, f"{n}. {printable(tag)} ({protocol})",
                           frozenset({protocol}), None if protocol in PROTOCOLS else protocol)
                    for n, (tag, protocol) in enumerate(sorted(tags.items()), 1)]
        pasarguard = PasarGuardBackend(server, shop)
        try:
            groups = await pasarguard.listed_groups()
        finally:
            await pasarguard.aclose()
        return [Choice(str(n), g.name, f"{n}. {printable(g.name)}"
                       f"{'' if g.enabled else ' (disabled)'}: "
                       + ", ".join(printable(tag) for tag in g.inbound_tags),
                       frozenset(_named_protocols(g.inbound_tags)),
                       None if g.enabled else "disabled")
                for n, g in enumerate(groups, 1)]


def _named_protocols(tags: tuple[str, ...]) -> set[str]:
    """PasarGuard lists a group's tags without their protocols: the ones their names say."""
    return {p for tag in tags for p in PROTOCOLS if p in tag.lower()}


def _pick(t: Terminal, kind: str, choices: list[Choice], panel: dict[str, Any]
          ) -> tuple[list[Any], str]:
    """What the seller picks and the protocol it sells (one protocol per server)."""
    for choice in choices:
        print(f"  {choice.line}", flush=True)
    by_key = {c.key: c for c in choices}
    before = panel.get(PICKED[kind]) or []
    default = ",".join(c.key for c in choices if c.value in before) or None

    def check(answer: str) -> list[Choice]:
        keys = [k.strip() for k in answer.replace(" ", ",").split(",") if k.strip()]
        if not keys or len(set(keys)) != len(keys):
            raise t.wrong("panel_pick_shape")
        for key in keys:
            if key not in by_key:
                raise t.wrong("panel_pick_unknown", which=printable(key, 20))
            refused = by_key[key].refused
            if refused is not None:
                raise t.wrong("panel_pick_refused", which=key, why=printable(refused, 20))
        protocols = {p for k in keys for p in by_key[k].protocols}
        if len(protocols) > 1 and kind != "pasarguard":
            raise t.wrong("panel_pick_mixed", protocols=", ".join(sorted(protocols)))
        return [by_key[k] for k in keys]

    picked = t.ask("panel_pick_ids" if kind == "3x-ui" else "panel_pick", check,
                   default=default)
    protocols = {p for c in picked for p in c.protocols}
    if kind == "pasarguard":
        # Every PasarGuard user has every protocol's secret: the seller says which is sold.
        guess = next(iter(protocols)) if len(protocols) == 1 else None
        protocol = t.ask("panel_protocol", _choice(t, PROTOCOLS), default=guess)
    else:
        (protocol,) = protocols
        t.say("panel_protocol_is", protocol=protocol)
    return [c.value for c in picked], protocol


def _suggested_sub_url(kind: str, url: str) -> str:
    """3x-ui's subscription service on its default port and path; Marzban and PasarGuard
    serve /sub/ on the panel's own address (their relative links are joined to it)."""
    parts = urlsplit(url)
    if kind == "3x-ui":
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f"https://{host}:2096/sub/"
    return f"{parts.scheme}://{parts.netloc}"
