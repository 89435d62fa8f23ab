"""`qrisbot check-config --online`: does the configuration work against the world, as the
daemon will meet it? One line per check, ✓ or ✗ with what to do; never a secret.

- telegram: the token works (getMe), naming the bot;
- channel (when `shop.join_channel` is set): the bot is an admin of it, so it can see who
  has joined (getChatMember of the bot itself);
- pakasir: Pakasir accepts the project slug and API key (a status question about a
  transaction that cannot exist: nothing is made, nothing costs);
- each server, as the unit's user would reach it: its key_file and known_hosts readable by
  that user, the host key known, the login taken, the layout fitting (`servers check`);
  a panel server: reached, its certificate trusted, logged in, its inbounds or groups
  there and of the server's protocol (the same check as `servers check`);
- webhook (when set): a qrisbot webhook answers at the listen address and path;
- ledger: its folder is writable by the unit's user (and the ledger, if there, too).

File checks run in a child process with the unit user's uid, gid and groups (as
`unit_files` does), so folders, modes and ACLs all count; the SSH login itself is made from
this process with the same files, which is what the unit's user would do once it can read
them. `check_online` runs its own trio loop: call it outside one.
"""

from __future__ import annotations

import errno
import os
import pwd
import shlex
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import httpx
import trio

from qrisbot import http, unit_files
from qrisbot.config import Config, Pakasir, Server
from qrisbot.pakasir import Pakasir as PakasirClient
from qrisbot.pakasir import PakasirError, Refused
from qrisbot.provision.panels.check import check as check_panel
from qrisbot.provision.ssh import hostkeys
from qrisbot.provision.ssh.check import check
from qrisbot.provision.ssh.connections import Connections, SshError
from qrisbot.telegram.api import BadRequest, BotApi, MemberStatus, TelegramError, Unauthorized

if TYPE_CHECKING:
    from qrisbot.provision import Registry

EXIT_OK, EXIT_FAILURE = 0, 1
WEBHOOK_TIMEOUT = 5.0  # seconds for the webhook listener to answer a GET
TOKEN_AT = "[telegram] token or QRISBOT_TELEGRAM_TOKEN"  # noqa: S105 - where it goes
KEY_AT = "[pakasir] api_key or QRISBOT_PAKASIR_API_KEY"


@attrs.frozen
class Line:
    ok: bool
    what: str
    text: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.what}: {self.text}"


@attrs.frozen
class Unit:
    """Who the daemon runs as, and what this process could check as that user."""

    account: pwd.struct_passwd | None  # None: whoever runs this (no other user named)
    name: str
    unreadable: dict[str, str] | None  # server files it cannot open (None: cannot tell)
    absent: frozenset[str]  # server files that are not there at all
    ledger: str | None  # why the ledger's folder is not writable ("" fine; None: cannot tell)


def check_online(config: Config, *, unit_user: str | None = None,
                 out: Callable[[str], None] = print,
                 config_path: str | os.PathLike[str] | None = None) -> int:
    """Print one line per check; 0 when every one passed, else 1.

    The unit's user is `unit_user`, else (with `config_path`) the one `servers check`
    infers from the config file (its owner, or the user named like its group), else the
    user running this."""
    try:
        account = _account(unit_user, config_path)
    except unit_files.UnknownUser:
        out(str(Line(False, "unit user", f"no user {unit_user} on this machine: create it "
                     f"(useradd --system --shell /usr/sbin/nologin {unit_user}) or name "
                     "the daemon's user with --unit-user")))
        return EXIT_FAILURE
    # Forked before any thread starts (the SSH and HTTP checks run in threads and trio).
    unit = _unit(config, account)
    out(f"checking as {unit.name}, the daemon's user"
        + ("" if unit_user or account is None else " (--unit-user names another)"))
    return trio.run(_check_all, config, unit, _ledger(config, unit), out)


def _account(name: str | None, config_path: str | os.PathLike[str] | None
             ) -> pwd.struct_passwd | None:
    if name is not None:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise unit_files.UnknownUser(f"no user {name}") from None
    if config_path is not None:
        return unit_files.unit_user(config_path)  # None: the daemon runs as root
    return None


def _unit(config: Config, account: pwd.struct_passwd | None) -> Unit:
    me = account or pwd.getpwuid(os.geteuid())
    paths = {p for s in config.servers for p in _files(s)}
    absent = frozenset(p for p in paths if not os.path.exists(p))
    return Unit(account, me.pw_name, unit_files.unreadable(me, sorted(paths - absent)), absent,
                as_user(account, config.shop.database))


def _files(server: Server) -> tuple[str, ...]:
    """What the daemon's user must read to reach the server: its SSH key and known hosts,
    or a panel's pinned certificates (an https panel whose pins file is there)."""
    if server.panel is None:
        return server.ssh.key_file, server.ssh.known_hosts
    https = server.panel.url.startswith("https://")
    return (server.panel.pins,) if https and os.path.exists(server.panel.pins) else ()


async def _check_all(config: Config, unit: Unit, ledger: Line, out: Callable[[str], None]
                     ) -> int:
    """Every check at once (a slow server delays no other), printed in a fixed order."""
    from qrisbot.provision import Registry

    connections = Connections()
    backends = Registry(connections, shop=config.shop)
    checks: list[Callable[[], Awaitable[Line]]] = [
        lambda: _telegram(config),
        *([partial(_channel, config)] if config.shop.join_channel else []),
        lambda: _pakasir(config.pakasir),
        *[partial(_panel, config, s, unit, backends) if s.panel is not None
          else partial(_server, config, s, unit, connections) for s in config.servers],
        lambda: _webhook(config.pakasir),
        partial(_known, ledger),
    ]
    results: list[Line | None] = [None] * len(checks)
    done = [trio.Event() for _ in checks]

    async def run(i: int) -> None:
        results[i] = await checks[i]()
        done[i].set()

    try:
        async with trio.open_nursery() as nursery:
            for i in range(len(checks)):
                nursery.start_soon(run, i)
            for i, event in enumerate(done):
                await event.wait()
                out(str(results[i]))
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
            await backends.aclose()  # the SSH connections too
    return EXIT_OK if all(r is not None and r.ok for r in results) else EXIT_FAILURE


async def _known(line: Line) -> Line:
    return line


# --- telegram and pakasir -----------------------------------------------------------------

async def _telegram(config: Config) -> Line:
    tg = config.telegram
    if not tg.token:
        return Line(False, "telegram", f"no bot token: put the one @BotFather gave you in "
                                       f"{TOKEN_AT}")
    async with http.client(20.0) as client:
        try:
            bot = await BotApi(client, tg.token, tg.api_url).get_me(attempts=1)
        except Unauthorized:
            return Line(False, "telegram", f"Telegram refused the bot token (Unauthorized): "
                                           f"put the token @BotFather gave you in "
                                           f"{TOKEN_AT}")
        except TelegramError as exc:
            return Line(False, "telegram", f"no good answer from {tg.api_url} "
                                           f"({exc.description}): check that this machine "
                                           "reaches it ([telegram] api_url), then try again")
    return Line(True, "telegram", f"the token works: the bot is @{bot.username}")


async def _channel(config: Config) -> Line:
    """Is the bot an admin of shop.join_channel? Telegram shows a channel's members to its
    admins alone: otherwise every check fails and the gate lets everyone through."""
    tg, channel = config.telegram, config.shop.join_channel
    what = "channel"
    async with http.client(20.0) as client:
        api = BotApi(client, tg.token, tg.api_url)
        try:
            bot = await api.get_me(attempts=1)
            member = await api.get_chat_member(channel, bot.id, attempts=1)
        except Unauthorized:
            return Line(False, what, f"not checked: Telegram refused the bot token ({TOKEN_AT})")
        except BadRequest as exc:
            if "chat not found" in exc.description:
                return Line(False, what, f"Telegram knows no channel {channel} ({exc.description}"
                                         f"): put the channel's public @username in [shop] "
                                         "join_channel (t.me/ and that name opens it)")
            if "inaccessible" not in exc.description:
                return Line(False, what, f"Telegram refused to say whether the bot is an admin "
                                         f"of {channel} ({exc.description})")
            member = None
        except TelegramError as exc:
            return Line(False, what, f"no good answer from {tg.api_url} ({exc.description}): "
                                     "try again")
    if member is None or member.status not in (MemberStatus.ADMINISTRATOR,
                                               MemberStatus.CREATOR):
        return Line(False, what, f"@{bot.username} is not an admin of {channel}, so it cannot "
                                 "see who has joined and lets everyone through: add it as an "
                                 "administrator of the channel (no rights needed)")
    return Line(True, what, f"@{bot.username} is an admin of {channel}: it sees who has "
                            "joined")


async def _pakasir(pk: Pakasir) -> Line:
    where = f"project {pk.project!r}"
    async with http.client(20.0) as client:
        api = PakasirClient(client, project=pk.project, api_key=pk.api_key,
                            base_url=pk.api_url, version=pk.api_version)
        try:
            accepted = await api.check_credentials()
        except Refused as exc:
            if exc.settings == ("api_key",):
                fix = (f"Pakasir refused the API key for {where} ({exc}): copy that "
                       f"project's API key from the Pakasir dashboard into {KEY_AT}")
            elif exc.settings == ("project",):
                fix = (f"Pakasir does not know the {where} ({exc}): put the slug of your "
                       "project, as the Pakasir dashboard shows it, in [pakasir] project")
            else:
                fix = (f"Pakasir refused the {where} or its API key ({exc}; API v1 does not "
                       f"say which): check [pakasir] project and {KEY_AT} against the "
                       "dashboard")
            return Line(False, "pakasir", fix)
        except PakasirError as exc:
            return Line(False, "pakasir", f"no good answer from {pk.api_url} ({exc}): check "
                                          "that this machine reaches it ([pakasir] api_url), "
                                          "then try again")
    if accepted.project_known:
        return Line(True, "pakasir", f"{where} and its API key accepted (API "
                                     f"v{pk.api_version})")
    return Line(True, "pakasir", f"the API key was not refused, but Pakasir's answer "
                                 f"({accepted.answer}) does not say it knows the {where}: "
                                 "compare the slug with the dashboard; the first QRIS tells")


# --- servers ------------------------------------------------------------------------------

async def _server(config: Config, server: Server, unit: Unit,
                  connections: Connections) -> Line:
    access = server.ssh
    what = f"server {server.id}"
    at = f"$.servers[{config.servers.index(server)}].ssh"
    if access.key_file in unit.absent:
        return Line(False, what, f"key_file {access.key_file} does not exist ({at}.key_file): "
                                 "put the shop's private key there (ssh-keygen -t ed25519 -N '' "
                                 f"-f {shlex.quote(access.key_file)} makes one)")
    if access.known_hosts in unit.absent:
        return Line(False, what, f"known_hosts {access.known_hosts} does not exist yet: run "
                                 f"qrisbot servers trust {server.id}")
    if unit.unreadable is None:
        return Line(False, what, f"cannot tell whether {unit.name} can read {access.key_file} "
                                 f"and {access.known_hosts}: run this as root or as {unit.name}")
    for key in ("key_file", "known_hosts"):
        path = getattr(access, key)
        if path in unit.unreadable:
            group = (unit_files.group_name(unit.account.pw_gid) if unit.account
                     else unit.name)
            return Line(False, what, f"{unit.name} cannot read {path} ({at}.{key}): "
                                     f"{unit.unreadable[path]}; the daemon cannot connect. "
                                     f"Run: chgrp {group} {shlex.quote(path)} && chmod g+r "
                                     f"{shlex.quote(path)} (and let the group pass its "
                                     "folders)")
    report = await check(server, connections)
    label = f"{access.user}@{access.host}:{access.port}"
    if report.error is not None:
        return Line(False, what, f"{report.error}; {await _ssh_fix(server, report.error)}")
    missing = [w for good, w in report.findings if not good]
    if missing:
        return Line(False, what, f"logged in to {label}, but the layout does not fit, "
                                 f"missing: {'; '.join(missing)}. See qrisbot servers check "
                                 f"{server.id}, and qrisbot servers detect {server.id} for "
                                 "the layout lines to paste")
    return Line(True, what, f"{unit.name} can read its key and known_hosts; logged in to "
                            f"{label} in {report.connect_ms:.0f} ms; the {server.protocol} "
                            "layout fits")


async def _panel(config: Config, server: Server, unit: Unit, backends: Registry) -> Line:
    """A panel server: `servers check`'s findings in one line (the failed ones, else what
    was found)."""
    panel = server.panel
    assert panel is not None
    what = f"server {server.id}"
    if unit.unreadable is not None and panel.pins in unit.unreadable:
        group = unit_files.group_name(unit.account.pw_gid) if unit.account else unit.name
        at = f"$.servers[{config.servers.index(server)}].panel.pins"
        return Line(False, what, f"{unit.name} cannot read {panel.pins} ({at}): "
                                 f"{unit.unreadable[panel.pins]}; the daemon cannot trust the "
                                 f"panel. Run: chgrp {group} {shlex.quote(panel.pins)} && "
                                 f"chmod g+r {shlex.quote(panel.pins)}")
    report = await check_panel(server, backends.backend(server))
    bad = [f.text for f in report.findings if not f.ok]
    if bad:
        return Line(False, what, f"{report.where}: {'; '.join(bad)}. See qrisbot servers "
                                 f"check {server.id}")
    return Line(True, what, f"{report.where}: " + "; ".join(f.text for f in report.findings))


async def _ssh_fix(server: Server, error: str) -> str:
    """What to do about a failed login, from the kind of failure check() reported."""
    access = server.ssh
    if "host key unknown" in error:
        return (f"run: qrisbot servers trust {server.id}, and compare the fingerprint it shows "
                "with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)")
    if "host key CHANGED" in error:
        return (f"if you rebuilt the server, remove the old key (ssh-keygen -f "
                f"{shlex.quote(access.known_hosts)} -R '{hostkeys.entry_name(access)}') and "
                f"run qrisbot servers trust {server.id}; otherwise someone may be in the middle")
    if "authentication refused" in error:
        return (f"add the shop's public key to {access.user}'s authorized_keys on the server: "
                f"ssh-keygen -y -f {shlex.quote(access.key_file)} | ssh -p {access.port} "
                f"{access.user}@{access.host} 'mkdir -p ~/.ssh && cat >> "
                "~/.ssh/authorized_keys'")
    try:  # no connection or no answer: the host key fetch says in one line why
        await trio.to_thread.run_sync(hostkeys.fetch, access)
    except SshError as exc:
        return str(exc)
    return f"check the server, then run qrisbot servers check {server.id}"


# --- webhook ------------------------------------------------------------------------------

async def _webhook(pk: Pakasir) -> Line:
    if not pk.webhook_listen:
        return Line(True, "webhook", f"off ([pakasir] webhook_listen is empty): payments are "
                                     f"seen by asking Pakasir every {pk.check_interval:g} s")
    host, _, port = pk.webhook_listen.rpartition(":")
    host = host.strip("[]")
    target = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    url = f"http://{f'[{target}]' if ':' in target else target}:{port}{pk.webhook_path}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=WEBHOOK_TIMEOUT) as client:
            response = await client.get(url)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        return Line(False, "webhook", _not_listening(pk.webhook_listen, host, int(port)))
    except httpx.TimeoutException:
        return Line(False, "webhook", f"{pk.webhook_listen} took the connection but did not "
                                      f"answer within {WEBHOOK_TIMEOUT:g} s: is it the "
                                      "daemon? (a stuck or foreign program holds the port)")
    except httpx.HTTPError as exc:
        return Line(False, "webhook", f"{pk.webhook_listen} does not speak HTTP "
                                      f"({type(exc).__name__}): another program holds the "
                                      "port; pick a free one for [pakasir] webhook_listen")
    said = _message(response)
    if response.status_code == 405 and said == "use POST":
        return Line(True, "webhook", f"the daemon's listener answers at {url} (set your "
                                     "public address of it as the webhook URL in the Pakasir "
                                     "dashboard)")
    if response.status_code == 404 and said == "not found":
        return Line(False, "webhook", f"a qrisbot listener answers on {pk.webhook_listen} but "
                                      f"not at {pk.webhook_path}: the running daemon has "
                                      "another [pakasir] webhook_path; restart it "
                                      "(systemctl restart qrisbot)")
    return Line(False, "webhook", f"something other than qrisbot answers at {url} (HTTP "
                                  f"{response.status_code}): another program holds the "
                                  "port; pick a free one for [pakasir] webhook_listen")


def _message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None


def _not_listening(listen: str, host: str, port: int) -> str:
    """Nothing listens: could the daemon, once it runs? (binding says)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            return (f"{host} is not an address of this machine: fix [pakasir] webhook_listen "
                    f"({listen})")
        if exc.errno == errno.EACCES:
            return (f"nothing listens on {listen}, and port {port} needs privileges the "
                    "daemon's user lacks: pick a port above 1023 for [pakasir] webhook_listen")
        return f"nothing answers on {listen} ({exc.strerror}): is the daemon running?"
    return (f"not listening on {listen} (is the daemon running? systemctl start qrisbot); "
            "until it does, Pakasir's notifications are lost and payments are seen by "
            "status checks alone")


# --- ledger -------------------------------------------------------------------------------

def _ledger(config: Config, unit: Unit) -> Line:
    database = Path(config.shop.database)
    folder = database.absolute().parent
    if unit.ledger is None:
        return Line(False, "ledger", f"cannot tell whether {unit.name} can write {folder}: "
                                     f"run this as root or as {unit.name}")
    if unit.ledger == MISSING and folder.parent == Path("/var/lib"):
        return Line(True, "ledger", f"{folder} does not exist yet; systemd makes it for "
                                    f"{unit.name} when the unit starts (StateDirectory="
                                    f"{folder.name}, as in contrib/qrisbot.service)")
    if unit.ledger == MISSING:
        return Line(False, "ledger", f"the folder {folder} of shop.database does not exist: "
                                     f"run: install -d -m 700 -o {unit.name} "
                                     f"{shlex.quote(str(folder))}")
    if unit.ledger:
        return Line(False, "ledger", f"{unit.name} {unit.ledger}: the daemon cannot keep its "
                                     "ledger there. Put shop.database in a folder it owns "
                                     "(the unit's own is /var/lib/qrisbot), or run: chown -R "
                                     f"{unit.name} {shlex.quote(str(folder))}")
    relative = "" if database.is_absolute() else (
        " (shop.database is relative: checked from here; the daemon takes it from its "
        "working directory)")
    return Line(True, "ledger", f"{unit.name} can write {folder}{relative}")


MISSING = "missing"


def _ledger_probe(database: str) -> str:
    """Run as the daemon's user: "" when it can keep the ledger at `database`, MISSING when
    the folder is not there, else what it cannot do. Only system calls (see as_user)."""
    path = Path(database).absolute()
    folder = path.parent
    if not folder.is_dir():
        try:
            os.stat(folder)
        except FileNotFoundError:
            return MISSING
        except OSError as exc:
            return f"cannot reach {folder} ({exc.strerror})"
        return f"finds {folder} is not a folder"
    # SQLite makes its -wal and -shm files beside the ledger: the folder must take files.
    trial = folder / f".qrisbot-check-{os.getpid()}"
    try:
        os.close(os.open(trial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(trial)
    except OSError as exc:
        return f"cannot create files in {folder} ({exc.strerror})"
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            try:
                os.close(os.open(name, os.O_RDWR))
            except OSError as exc:
                return f"cannot write {name} ({exc.strerror})"
    return ""


def as_user(account: pwd.struct_passwd | None, database: str) -> str | None:
    """`_ledger_probe(database)` as `account` (None: as this process); None when this
    process can become neither (it is not root)."""
    if account is None:
        return _ledger_probe(database)
    return unit_files.as_user(account, lambda: _ledger_probe(database))
