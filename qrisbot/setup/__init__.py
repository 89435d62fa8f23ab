"""`qrisbot setup`: the guided first run. Plain questions in the terminal, each answer
checked live before the next (the token with Telegram, the seller's id from their /start,
the Pakasir project and key with Pakasir, each server over SSH), then the files the unit
needs written with the owners and modes it needs, and the commands that start it.

Run again, it edits what is there (the current values are the defaults) and keeps every
key it does not ask about. Secrets are typed hidden and never shown or logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import attrs

from qrisbot.setup import bot_step, finish, install, pakasir_step, server_step, shop_key
from qrisbot.setup.document import Document, Unreadable
from qrisbot.setup.prompts import Aborted, Terminal
from qrisbot.setup.secrets_file import SecretsFile
from qrisbot.setup.session import PAKASIR_URL, TELEGRAM_URL, Session

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
LEDGER = "/var/lib/qrisbot/qrisbot.sqlite3"
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Folders setup would give to the unit's group: never one the whole system uses.
SHARED = frozenset(Path(p) for p in ("/", "/etc", "/root", "/home", "/usr", "/var", "/opt",
                                     "/srv", "/var/lib", "/usr/local", "/run",
                                     "/tmp"))  # noqa: S108 - refused, not used


@attrs.frozen
class Options:
    config: str = "/etc/qrisbot/config.toml"
    user: str = "qrisbot"
    database: str | None = None
    telegram_api_url: str | None = None
    pakasir_api_url: str | None = None
    lang: str = "id"
    only_server: bool = False  # `qrisbot setup server`: add a server to a configured shop


def run(options: Options) -> int:
    t = Terminal(options.lang)
    config_path = Path(options.config).absolute()
    if os.geteuid() != 0:
        t.say("not_root")
        return EXIT_USAGE
    if not USER_NAME.fullmatch(options.user):
        t.say("bad_user", user=options.user)
        return EXIT_USAGE
    if config_path.parent in SHARED or config_path.parent == Path.home():
        t.say("shared_folder", folder=config_path.parent)
        return EXIT_USAGE
    try:
        doc = Document.load(config_path)
    except Unreadable as exc:
        t.say("unreadable", why=str(exc))
        return EXIT_USAGE
    if options.only_server and not doc.existed:
        t.say("no_config", path=config_path)
        return EXIT_USAGE
    try:
        account, made = install.unit_account(options.user)
    except install.InstallError as exc:
        t.say("install_failed", why=str(exc))
        return EXIT_FAILURE
    s = Session(t, config_path, doc, SecretsFile.load(config_path.parent / "secrets.env"),
                account, _url(doc, "telegram", options.telegram_api_url, TELEGRAM_URL),
                _url(doc, "pakasir", options.pakasir_api_url, PAKASIR_URL))
    t.say("intro", path=config_path)
    t.say("user_made" if made else "user_there", user=account.pw_name)
    try:
        if options.only_server:
            server_step.servers(s, only_add=True)
        else:
            _everything(s, options.database)
    except (Aborted, KeyboardInterrupt):
        print(flush=True)
        t.say("aborted")
        return EXIT_FAILURE
    except (install.InstallError, shop_key.BadKey) as exc:
        t.say("install_failed", why=str(exc))
        return EXIT_FAILURE
    checked = finish.check(s)
    database = str(s.doc.get("shop", "database") or LEDGER)
    t.say("unit_head" if checked else "unit_head_after_fixing")
    for line in finish.unit_commands(s, database):
        print(f"  {line}", flush=True)
    t.say("done_more")
    return EXIT_OK if checked else EXIT_FAILURE


def _everything(s: Session, database: str | None) -> None:
    t = s.terminal
    name = s.doc.get("shop", "name")
    s.doc.set("shop", "name", t.ask("shop_name", _shop_name(t),
                                    default=name if isinstance(name, str) else "Toko VPN"))
    if s.doc.get("telegram", "api_url") != s.telegram_url:
        s.doc.set("telegram", "api_url", s.telegram_url)
    if s.doc.get("pakasir", "api_url") != s.pakasir_url:
        s.doc.set("pakasir", "api_url", s.pakasir_url)
    s.save()
    bot_step.token(s)
    s.save()
    bot_step.admins(s)
    s.save()
    pakasir_step.credentials(s)
    s.save()
    _ledger(s, database)
    s.save()
    server_step.servers(s)


def _url(doc: Document, table: str, given: str | None, default: str) -> str:
    """--telegram-api-url / --pakasir-api-url (or their environment variables), else the
    file's, else the public service."""
    if given:
        return given.rstrip("/")
    found = doc.get(table, "api_url")
    return found if isinstance(found, str) and found else default


def _shop_name(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not 1 <= len(answer) <= 64 or not answer.isprintable():
            raise t.wrong("name_shape")
        return answer

    return check


def _ledger(s: Session, given: str | None) -> None:
    """[shop] database: --database, else an absolute path already there, else the unit's
    state folder; its folder made the daemon's (0700) when setup makes it."""
    current = s.doc.get("shop", "database")
    path = Path(given or (current if isinstance(current, str) and current.startswith("/")
                          else LEDGER)).absolute()
    s.doc.set("shop", "database", str(path))
    folder = path.parent
    user = s.account
    if not folder.exists() or folder == Path(LEDGER).parent:
        install.folder(folder, user.pw_uid, user.pw_gid, 0o700)
    elif folder.stat().st_uid != user.pw_uid:
        s.terminal.say("ledger_folder_owner", folder=folder, user=user.pw_name)
    if folder.stat().st_uid == user.pw_uid:
        # A ledger a manual `qrisbot run` as root made is the daemon's again (its mode, 0600,
        # stays): the unit could not open it otherwise.
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            ledger = folder / name
            if ledger.is_file() and not ledger.is_symlink() and (
                    ledger.stat().st_uid != user.pw_uid):
                os.chown(ledger, user.pw_uid, user.pw_gid)
    s.terminal.say("ledger_at", path=path)
