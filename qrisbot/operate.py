"""The operator's sub-commands: backup, orders and servers. Safe while the daemon runs.

Each returns an exit status: 0 done, 1 refused or failed (the message says why). Order
actions are the ones the Telegram admin has (`shop.actions`), on the same ledger.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sqlite3
import sys
import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import trio

from qrisbot import config as cfg
from qrisbot import http, unit_files
from qrisbot import ledger as L
from qrisbot.ledger import Ledger
from qrisbot.provision.panels.check import PanelReport
from qrisbot.provision.panels.check import check as check_panel
from qrisbot.provision.port import Found
from qrisbot.provision.ssh import hostkeys
from qrisbot.provision.ssh.check import Report, check
from qrisbot.provision.ssh.connections import Connections, SshError
from qrisbot.provision.ssh.detect import Findings, detect
from qrisbot.shop import actions
from qrisbot.shop.texts import rupiah, text
from qrisbot.telegram.api import BotApi, TelegramError

EXIT_OK, EXIT_FAILURE = 0, 1

Ask = Callable[[str], str]  # prompts the operator, returns the answer (input() by default)


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_FAILURE


@contextmanager
def open_ledger(config: cfg.Config, *, create: bool = False) -> Iterator[Ledger | None]:
    """The ledger (None: said why not). `create`: make it if the daemon never ran (the
    commands that take on a server's accounts before the shop goes live)."""
    path = Path(config.shop.database)
    if not path.exists():
        if not create:
            print(f"no ledger at {path}", file=sys.stderr)
            yield None
            return
        if not path.parent.is_dir():
            print(f"no folder {path.parent} for the ledger {path}", file=sys.stderr)
            yield None
            return
        _make_ledger_file(path)
    ledger = Ledger.open(path)
    try:
        yield ledger
    finally:
        ledger.close()


def _make_ledger_file(path: Path) -> None:
    """An empty ledger file as the daemon makes it (owner-only, Ledger.open fills it in).
    Run as root, it belongs to the owner of its folder (the daemon's state directory), so
    the daemon can open it; SQLite gives its WAL files the same owner."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # the daemon made it meanwhile
    try:
        if os.geteuid() == 0:
            folder = path.parent.stat()
            os.fchown(fd, folder.st_uid, folder.st_gid)
    finally:
        os.close(fd)


def shop_today(config: cfg.Config) -> dt.date:
    """Today in the shop's time zone (the day accounts are counted by)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(config.shop.timezone)).date()


def when(config: cfg.Config, at: float | None, seconds: bool = True) -> str:
    """A moment of the ledger (epoch seconds) as the shop's clock shows it."""
    if at is None:
        return "-"
    moment = dt.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(config.shop.timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M")


def confirmed(question: str, yes: bool, ask: Ask) -> bool:
    if yes:
        return True
    try:
        return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


# --- backup -------------------------------------------------------------------------------

def backup(config: cfg.Config, target: Path) -> int:
    """A consistent online copy of the ledger (SQLite backup API)."""
    source_path = Path(config.shop.database)
    if not source_path.exists():
        return fail(f"no ledger at {source_path}")
    if target.exists():
        return fail(f"{target} exists; not overwriting it")
    # Written beside the target and renamed: a backup killed half-way leaves no file that
    # looks complete (only a .partial the next run replaces).
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    with sqlite3.connect(f"file:{source_path}?mode=ro", uri=True) as source, \
            sqlite3.connect(partial) as copy:
        source.backup(copy)
    copy.close()
    os.replace(partial, target)
    print(f"ledger copied to {target}")
    return EXIT_OK


# --- orders -------------------------------------------------------------------------------

def orders_list(config: cfg.Config, state: str | None, since_days: float | None) -> int:
    with open_ledger(config) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        since = time.time() - since_days * 86400 if since_days else 0
        for order in ledger.orders(state):
            if order.created_at >= since:
                flag = " !" if order.needs_attention else ""
                print(f"{order.id}  {when(config, order.created_at, False)}  "
                      f"{order.state:17} {order.server_id:8} {order.username:16} "
                      f"{order.months:2} mo  {rupiah(order.amount):>11}{flag}")
        return EXIT_OK


def orders_show(config: cfg.Config, order_id: str) -> int:
    with open_ledger(config) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        order = ledger.get(order_id)
        if order is None:
            return fail(f"no order {order_id}")
        for field, value in sorted(attrs.asdict(order).items()):
            if field in ("created_at", "deadline", "updated_at", "paid_at"):
                value = when(config, value)
            if field not in ("secret", "account", "qr"):  # never print credentials
                print(f"{field:16} {value}")
        for at, kind, detail in ledger.timed_events(order.id):
            print(f"event {when(config, at)} {kind}: {detail}")
        return EXIT_OK


def orders_retry(config: cfg.Config, order_id: str, wait: float) -> int:
    """Ask the daemon to try a failed order again, and follow it for up to `wait` seconds."""
    with open_ledger(config) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        try:
            before = actions.request_retry(ledger, order_id, f"cli {getpass.getuser()}")
        except actions.Refused as exc:
            return fail(str(exc))
        print(f"retry requested for {order_id}; the running daemon takes it within seconds")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            order = ledger.get(order_id)
            assert order is not None
            if order.state in (L.PROVISIONED, L.DELIVERED):
                print(f"account made; order is {order.state}")
                return EXIT_OK
            if order.state == L.FAILED and order.attempts > before.attempts:
                return fail(f"the attempt failed: {order.last_error}\n(the daemon keeps "
                             f"retrying; `qrisbot orders show {order_id}` follows it)")
            time.sleep(0.5)
        print(f"not finished within {wait:g} s; if the daemon is not running, the order is "
              "retried when it starts")
        return EXIT_OK


def orders_refund(config: cfg.Config, order_id: str, yes: bool, ask: Ask = input) -> int:
    """Mark a failed order refunded (the money went back outside the shop); tell the buyer."""
    with open_ledger(config) as ledger:
        if ledger is None:
            return EXIT_FAILURE
        order = ledger.get(order_id)
        if order is None or not actions.refundable(order):
            state = order.state if order else "unknown"
            return fail(f"order {order_id} is {state}; only failed orders and flagged "
                         "payments can be refunded")
        question = (f"Mark {order.id} ({order.username} on {order.server_id}, "
                    f"{rupiah(order.total or order.amount)}) as refunded to the buyer?")
        if not confirmed(question, yes, ask):
            return fail("not changed")
        zone = zoneinfo.ZoneInfo(config.shop.timezone)
        try:
            order = actions.mark_refunded(ledger, order_id, f"cli {getpass.getuser()}",
                                          dt.datetime.now(zone))
        except actions.Refused as exc:
            return fail(str(exc))
        print(f"{order_id} marked refunded")
        if not config.telegram.token:
            print("warning: no bot token here (QRISBOT_TELEGRAM_TOKEN), so the buyer was not "
                  "told; the ledger is updated", file=sys.stderr)
            return EXIT_OK
        try:
            trio.run(_tell, config, order.chat_id,
                     text("buyer_refunded", order.language, order_id=order.id))
        except TelegramError as exc:
            print(f"warning: could not tell the buyer ({exc.description})", file=sys.stderr)
        return EXIT_OK


async def _tell(config: cfg.Config, chat_id: int, message: str) -> None:
    async with http.client(20.0) as client:
        await BotApi(client, config.telegram.token, config.telegram.api_url).send_message(
            chat_id, message)


# --- servers ------------------------------------------------------------------------------

def _servers(config: cfg.Config, server_id: str | None) -> list[cfg.Server] | None:
    if server_id is None:
        return list(config.servers)
    server = config.server(server_id)
    if server is None:
        known = ", ".join(s.id for s in config.servers)
        print(f"no server {server_id!r} in the configuration (servers: {known})",
              file=sys.stderr)
        return None
    return [server]


def servers_check(config: cfg.Config, server_id: str | None, *,
                  config_path: str | None = None, unit_user: str | None = None) -> int:
    """Each server as the shop reaches it; with `config_path`, also whether the daemon's
    user (`unit_files.unit_user`) can read the files the unit needs."""
    servers = _servers(config, server_id)
    if servers is None:
        return EXIT_FAILURE
    readable = True
    if config_path is not None:
        try:
            readable = _readable_by_the_unit(config, servers, config_path, unit_user)
        except unit_files.UnknownUser as exc:
            return fail(str(exc))
    reports = trio.run(_check_all, config, servers)
    for report in reports:
        _print_report(report)
    return EXIT_OK if readable and all(r.ok for r in reports) else EXIT_FAILURE


def _readable_by_the_unit(config: cfg.Config, servers: list[cfg.Server], config_path: str,
                          name: str | None) -> bool:
    account = unit_files.unit_user(config_path, name)
    if account is None:
        return True  # the daemon runs as root
    user = account.pw_name
    needed: dict[str, list[str]] = {}  # path -> the keys that name it
    for server in servers:
        at = f"$.servers[{config.servers.index(server)}]"
        if server.panel is not None:  # a pinned certificate is read as a known host is
            if server.panel.url.startswith("https://"):
                needed.setdefault(server.panel.pins, []).append(f"{at}.panel.pins")
            continue
        for key in ("key_file", "known_hosts"):
            needed.setdefault(getattr(server.ssh, key), []).append(f"{at}.ssh.{key}")
    # Files that are not there are check-config's and servers trust's to name.
    failed = unit_files.unreadable(account, [p for p in needed if os.path.exists(p)])
    if failed is None:
        print(f"(cannot tell whether {user}, the daemon's user, can read the server files: "
              "run this as root or as that user)")
        return True
    group = unit_files.group_name(account.pw_gid)
    for path, why in failed.items():
        print(f"{user} cannot read {path} ({', '.join(needed[path])}): {why}; the daemon "
              f"cannot connect. Run: chgrp {group} {path} && chmod g+r {path} "
              "(and let the group pass its folders)")
    if not failed:
        print(f"files the unit needs: readable as {user}")
    return not failed


async def _check_all(config: cfg.Config, servers: list[cfg.Server]
                     ) -> list[Report | PanelReport]:
    from qrisbot.provision import Registry

    connections = Connections()
    backends = Registry(connections, shop=config.shop)
    try:
        return [await check_panel(server, backends.backend(server))
                if server.panel is not None else await check(server, connections)
                for server in servers]
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
            await backends.aclose()


def _print_report(report: Report | PanelReport) -> None:
    s = report.server
    if isinstance(report, PanelReport):
        print(f"{s.id} ({s.protocol}) {report.where}: {'OK' if report.ok else 'PROBLEMS'}")
        for finding in report.findings:
            print(f"  {finding.verdict.value:7} {finding.text}")
        return
    head = f"{s.id} ({s.protocol}) {s.ssh.user}@{s.ssh.host}:{s.ssh.port}"
    if report.error is not None:
        print(f"{head}: FAILED\n  {report.error}")
        return
    print(f"{head}: {'OK' if report.ok else 'PROBLEMS'}; host key verified, connected in "
          f"{report.connect_ms:.0f} ms, round trip {report.round_trip_ms:.0f} ms")
    for good, what in report.findings:
        print(f"  {'ok     ' if good else 'MISSING'} {what}")


def servers_detect(config: cfg.Config, server_id: str, root: str = "") -> int:
    """Read a server (nothing is written) and say which autoscript family laid it out."""
    servers = _servers(config, server_id)
    if servers is None:
        return EXIT_FAILURE
    if servers[0].panel is not None:
        return fail(f"{server_id}: a {servers[0].panel.type} panel has no autoscript layout to "
                    "detect (servers check tells what the panel has)")
    found = trio.run(_detect, servers[0], root)
    if found.error is not None:
        return fail(f"{server_id}: {found.error}")
    print(f"{server_id}: looks like {found.family or 'no known autoscript family'}")
    for path in found.files:
        print(f"  config   {path}: markers {' '.join(found.markers.get(path, ())) or '-'}")
        for prefix, (fields, count) in sorted(found.prefixes.get(path, {}).items()):
            uuid = ", with UUID" if fields == 4 else ""
            print(f"  accounts {path}: {count} comment line(s) '{prefix} <user> <date>{uuid}'")
    for what, values in (("stats API port", found.ports), ("account list", found.lists),
                         ("expiry cron", found.crons)):
        for value in values:
            print(f"  {what:8} {value}")
    if found.skipped:
        print(f"  ({found.skipped} line(s) of unexpected output skipped)")
    lines = found.config_lines()
    if lines:
        print(f"paste into [[servers]] id = \"{server_id}\":\n  " + "\n  ".join(lines))
    return EXIT_OK


async def _detect(server: cfg.Server, root: str) -> Findings:
    connections = Connections()
    try:
        return await detect(server, connections, root)
    finally:
        connections.close()


def accounts_on(config: cfg.Config, server_id: str) -> tuple[cfg.Server, Found] | None:
    """The server and the accounts it holds (None: said why not)."""
    from qrisbot.provision import Feature, Registry, ServerError

    servers = _servers(config, server_id)
    if servers is None:
        return None
    backends = Registry(shop=config.shop)
    if Feature.READ not in backends.backend(servers[0]).features:
        fail(f"{server_id}: the accounts on a server with custom commands cannot be read")
        return None

    async def read() -> Found:
        try:
            return await backends.backend(servers[0]).read_accounts()
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
                await backends.aclose()

    try:
        return servers[0], trio.run(read)
    except ServerError as exc:
        fail(f"{server_id}: {exc}")
        return None


def servers_trust(config: cfg.Config, server_id: str, yes: bool, ask: Ask = input, *,
                  config_path: str | None = None) -> int:
    """Add a server's host key to its known_hosts once confirmed; with `config_path`, the
    file is shared with the daemon's group (the config file's)."""
    servers = _servers(config, server_id)
    if servers is None:
        return EXIT_FAILURE
    access = servers[0].ssh
    try:
        key = hostkeys.fetch(access)
    except SshError as exc:
        return fail(f"{server_id}: {exc}; nothing written")
    name = hostkeys.entry_name(access)
    print(f"{server_id} ({name}) presents {key.get_name()} key {hostkeys.fingerprint(key)}")
    already = hostkeys.known(access)
    if key.get_name() in already:
        if already[key.get_name()] == key:
            print(f"already trusted in {access.known_hosts}")
            problem = config_path and unit_files.share(access.known_hosts, config_path)
            return fail(problem) if problem else EXIT_OK
        old = hostkeys.fingerprint(already[key.get_name()])
        return fail(
            f"WARNING: {access.known_hosts} holds a DIFFERENT {key.get_name()} key for {name} "
            f"({old}). If you rebuilt the server, remove the old entry with\n"
            f"  ssh-keygen -f {access.known_hosts} -R '{name}'\nand run this again; "
            "otherwise someone may be in the middle.")
    print("Compare it with the server's own: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub")
    if not confirmed(f"Trust this key for {server_id}?", yes, ask):
        return fail("not trusted; nothing written")
    hostkeys.add(access, key)
    print(f"added to {access.known_hosts}")
    if config_path is not None:
        problem = unit_files.share(access.known_hosts, config_path)
        if problem:
            return fail(f"{problem}; the daemon cannot connect until it can read it")
    return EXIT_OK
