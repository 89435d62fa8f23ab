"""Setup's server step: reach the server with the shop's own key, trust its host key once
the seller compared it, read which autoscript family laid it out (`servers detect`), check
that the chosen protocol fits it (`servers check`), then what buyers see and pay."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
from tomlkit.items import Table

from qrisbot import config as cfg
from qrisbot.provision.ssh import hostkeys
from qrisbot.provision.ssh.check import Report, check
from qrisbot.provision.ssh.connections import Connections, SshError
from qrisbot.provision.ssh.detect import Findings, detect
from qrisbot.setup import install, pakasir_step, shop_key
from qrisbot.setup.document import inline, plain
from qrisbot.setup.prompts import Terminal, printable
from qrisbot.setup.session import Session
from qrisbot.shop.texts import rupiah

PROTOCOLS = ("ssh", "vmess", "vless", "trojan")
# Markers that show an Xray protocol is on a server (classic, RMBL and Lunatic alike).
MARKERS = {"vmess": ("#vmess", "#vmessgrpc"), "vless": ("#vless", "#vlessgrpc"),
           "trojan": ("#trojanws", "#trojangrpc")}
DOMAIN_FILES = ("/etc/xray/domain", "/usr/local/etc/xray/domain")
BACK = "h"  # typed at a pause: back to the host question


def servers(s: Session, *, only_add: bool = False) -> None:
    """Edit the servers there are (when the seller says so), then add new ones."""
    t = s.terminal
    if not only_add:
        for table in s.doc.servers():
            now = plain(table)
            host = (now.get("ssh") or {}).get("host") or urlsplit(
                str((now.get("panel") or {}).get("url", ""))).hostname
            if t.yes("server_edit", default=False, id=now.get("id", "?"),
                     protocol=now.get("protocol", "?"), host=host or "?"):
                server(s, table)
    if not s.doc.servers() or only_add:
        server(s, None)
    while t.yes("server_more", default=False):
        server(s, None)


def server(s: Session, table: Table | None) -> None:
    """One server, new (`table` None) or edited; saved when every answer was checked."""
    t = s.terminal
    now: dict[str, Any] = plain(table) if table is not None else {}
    t.say("server_head", id=now.get("id") or t.text("new_server"))
    kind = "panel" if now.get("panel") else "ssh"
    if table is None:
        kind = t.ask("server_kind", _choice(t, ("ssh", "panel")), default="ssh")
    if kind == "panel":
        from qrisbot.setup import panel_step  # it reuses this module's questions

        panel_step.server(s, table)
        return
    ssh = dict(now.get("ssh") or {})
    key_file = Path(ssh.get("key_file") or _shop_key(s))
    known_hosts = Path(ssh.get("known_hosts") or s.folder / "known_hosts")
    public, made = shop_key.ensure(key_file, s.gid)
    if made:
        t.say("key_made", path=key_file)
    host, port = ssh.get("host"), ssh.get("port", 22)
    while True:
        host = t.ask("server_host", _host(t), default=host)
        port = t.ask("server_port", _number(t, 1, 65535), default=str(port))
        access = cfg.SshAccess(host=host, port=port, user=ssh.get("user", "root"),
                               key_file=str(key_file), known_hosts=str(known_hosts),
                               connect_timeout=float(ssh.get("connect_timeout", 10)))
        t.say("key_line", line=public, command=shop_key.authorize_command(public))
        if t.pause("key_added") == BACK:
            continue
        if _trusted(s, access) and _logged_in(t, access):
            break
    findings, domain = trio.run(_read, access)
    family = findings.family
    offered = [p for p in PROTOCOLS if p == "ssh" or _has(findings, p)]
    t.say("detected", family=family or t.text("no_family"), protocols=", ".join(offered))
    protocol = now.get("protocol") if now.get("protocol") in PROTOCOLS else offered[-1]
    while True:
        protocol = t.ask("server_protocol", _choice(t, PROTOCOLS), default=protocol)
        entry = _entry(now, access, protocol, findings)
        report = trio.run(_check, _structured(entry))
        if _fits(t, report):
            break
    name = t.ask("server_name", _name(t), default=now.get("name") or _default_name(s))
    server_id = now.get("id") or _new_id(s, name)
    domain = t.ask("server_domain", _host(t), default=now.get("domain") or domain or host)
    price = _price(s, now.get("price_per_month"))
    capacity = t.ask("server_capacity", _number(t, 1, 1_000_000),
                     default=str(now.get("capacity", 50)))
    if table is None:
        table = s.doc.add_server()
    for key, value in (("id", server_id), ("name", name), ("protocol", protocol),
                       ("domain", domain), ("price_per_month", price), ("capacity", capacity)):
        table[key] = value
    access_table = inline(table, "ssh")
    for key, value in (("host", host), ("port", port), ("user", access.user),
                       ("key_file", str(key_file)), ("known_hosts", str(known_hosts))):
        access_table[key] = value
    _write_layout(table, entry)
    s.save()
    t.say("server_saved", id=server_id, name=name, price=rupiah(price))


def _shop_key(s: Session) -> str:
    """The key file the other servers use, else `id_ed25519` beside the config."""
    for other in s.doc.servers():
        found = (plain(other).get("ssh") or {}).get("key_file")
        if isinstance(found, str) and found:
            return found
    return str(s.folder / "id_ed25519")


def _trusted(s: Session, access: cfg.SshAccess) -> bool:
    """The server's host key is in known_hosts (added once the seller compared it)."""
    t = s.terminal
    try:
        key = hostkeys.fetch(access)
    except SshError as exc:
        t.say("server_unreachable", why=printable(str(exc), 200))
        return False
    name, fingerprint = hostkeys.entry_name(access), hostkeys.fingerprint(key)
    known = hostkeys.known(access)
    if key.get_name() in known:
        if known[key.get_name()] != key:
            t.say("hostkey_changed", name=name, path=access.known_hosts, new=fingerprint,
                  old=hostkeys.fingerprint(known[key.get_name()]))
            return False
        t.say("hostkey_known", fingerprint=fingerprint)
        return True
    t.say("hostkey_show", kind=key.get_name(), fingerprint=fingerprint)
    if not t.yes("hostkey_same", default=False):
        t.say("hostkey_not_trusted")
        return False
    hostkeys.add(access, key)
    install.give(Path(access.known_hosts), s.gid, 0o640)
    t.say("hostkey_trusted", path=access.known_hosts)
    return True


def _logged_in(t: Terminal, access: cfg.SshAccess) -> bool:
    """Logged in with the shop's key (Enter tries again; BACK goes back to the host)."""
    while True:
        problem = trio.run(_login, access)
        if problem is None:
            t.say("login_ok", user=access.user, host=access.host)
            return True
        t.say("login_failed", why=printable(problem, 200))
        if t.pause("login_retry") == BACK:
            return False


async def _login(access: cfg.SshAccess) -> str | None:
    connections = Connections()
    try:
        await connections.get(access).run("true")
    except SshError as exc:
        return str(exc)
    finally:
        connections.close()
    return None


async def _read(access: cfg.SshAccess) -> tuple[Findings, str | None]:
    """What `servers detect` reads, and the domain the family's installer wrote down."""
    connections = Connections()
    try:
        probe = cfg.Server(id="setup", name="setup", protocol="ssh", domain=access.host,
                           price_per_month=cfg.Rupiah(500), ssh=access)
        findings = await detect(probe, connections)
        domain = None
        try:
            result = await connections.get(access).run(
                " || ".join(f"cat {path} 2>/dev/null" for path in DOMAIN_FILES) + " || true")
            first = (result.stdout.strip().splitlines() or [""])[0].strip()
            domain = first if cfg.HOSTNAME.fullmatch(first) else None
        except SshError:
            pass
        return findings, domain
    finally:
        connections.close()


async def _check(server: cfg.Server) -> Report:
    connections = Connections()
    try:
        return await check(server, connections)
    finally:
        connections.close()


def _has(findings: Findings, protocol: str) -> bool:
    seen = {m for found in findings.markers.values() for m in found}
    return bool(seen & set(MARKERS[protocol]))


def _entry(now: dict[str, Any], access: cfg.SshAccess, protocol: str, findings: Findings
           ) -> dict[str, Any]:
    """The server as it will be written (the keys not asked yet from `now` or stand-ins),
    with the layout `servers detect` found for this protocol."""
    entry = {"id": "setup", "name": "setup", "domain": access.host,
             "price_per_month": 10000, **now, "protocol": protocol}
    entry["ssh"] = {**(now.get("ssh") or {}), "host": access.host, "port": access.port,
                    "user": access.user, "key_file": access.key_file,
                    "known_hosts": access.known_hosts}
    entry.pop("xray", None) if protocol == "ssh" else entry.pop("linux", None)
    if protocol == "ssh":
        if findings.family == "rmbl":
            entry["linux"] = {**(now.get("linux") or {}), "layout": "rmbl"}
    elif "commands" not in entry:
        settings = findings.xray_settings(protocol) or _custom_config(findings, protocol)
        if settings or now.get("xray"):
            entry["xray"] = {**(now.get("xray") or {}), **settings}
    return entry


def _custom_config(findings: Findings, protocol: str) -> dict[str, str]:
    """No family's layout: the Xray config holding this protocol's marker, where it is not
    the common place."""
    for path, markers in findings.markers.items():
        if set(markers) & set(MARKERS[protocol]):
            return {} if path == cfg.DEFAULT_XRAY[protocol].config else {"config": path}
    return {}


def _structured(entry: dict[str, Any]) -> cfg.Server:
    """The entry as the daemon will read it (its family's defaults filled in)."""
    raw = {"telegram": {}, "pakasir": {"project": "setup"}, "servers": [entry]}
    return cfg.parse(raw, {}, secrets_required=False).servers[0]


def _fits(t: Terminal, report: Report) -> bool:
    if report.error is not None:
        t.say("check_failed", why=printable(report.error, 200))
    else:
        for good, what in report.findings:
            print(f"  {'✓' if good else '✗'} {printable(what, 200)}")
    if report.ok:
        return True
    return t.yes("check_keep_anyway", default=False)


def _write_layout(table: Table, entry: dict[str, Any]) -> None:
    """The layout keys of `entry` into the seller's table (their other keys stay)."""
    for name in ("xray", "linux"):
        if name not in entry:
            if name in table:
                del table[name]
            continue
        settings = inline(table, name)
        for key, value in entry[name].items():
            settings[key] = value


def _price(s: Session, current: object) -> int:
    t = s.terminal
    months = s.doc.get("shop", "max_months")
    months = months if isinstance(months, int) and 1 <= months <= 12 else 12
    highest = 10_000_000 // months

    def check(answer: str) -> int:
        amount = _rupiah(answer)
        if amount is None:
            raise t.wrong("price_shape")
        if not 500 <= amount <= highest:
            raise t.wrong("price_range", low=rupiah(500), high=rupiah(highest), months=months)
        return amount

    default = str(current) if isinstance(current, int) else None
    price = t.ask("server_price", check, default=default)
    fee = pakasir_step.fee(s, price)
    if fee is None:
        t.say("fee_unknown", price=rupiah(price))
    else:
        t.say("fee", price=rupiah(price), fee=rupiah(fee), total=rupiah(price + fee))
    return price


def _rupiah(answer: str) -> int | None:
    """10000, 10.000, Rp10.000 or 10,000: whole rupiah as sellers write them."""
    answer = re.sub(r"(?i)^rp\.?\s*", "", answer.strip()).replace(" ", "")
    if re.fullmatch(r"\d{1,8}", answer):
        return int(answer)
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", answer):
        return int(re.sub(r"[.,]", "", answer))
    return None


def _host(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not cfg.HOSTNAME.fullmatch(answer):
            raise t.wrong("host_shape")
        return answer

    return check


def _number(t: Terminal, low: int, high: int) -> Callable[[str], int]:
    def check(answer: str) -> int:
        if not re.fullmatch(r"\d{1,9}", answer) or not low <= int(answer) <= high:
            raise t.wrong("number_range", low=low, high=high)
        return int(answer)

    return check


def _choice(t: Terminal, options: tuple[str, ...]) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if answer.lower() not in options:
            raise t.wrong("choice", options=", ".join(options))
        return answer.lower()

    return check


def _name(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not 1 <= len(answer) <= 40 or not answer.isprintable():
            raise t.wrong("name_shape")
        return answer

    return check


def _default_name(s: Session) -> str:
    return f"Server {len(s.doc.servers()) + 1}"


def _new_id(s: Session, name: str) -> str:
    """[a-z0-9-]{1,16} from the name, unlike every other server's."""
    taken = {plain(t).get("id") for t in s.doc.servers()}
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:13] or "server"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
