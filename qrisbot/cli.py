"""Command line: argument parsing and sub-commands; nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import trio

from qrisbot import __version__
from qrisbot import config as cfg
from qrisbot import ledger as L
from qrisbot import log as qlog
from qrisbot.shop.texts import rupiah

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    if args.command == "setup":
        from qrisbot import setup

        return setup.run(setup.Options(
            config=args.config, user=args.user, database=args.database,
            telegram_api_url=args.telegram_api_url, pakasir_api_url=args.pakasir_api_url,
            lang=args.lang, only_server=args.what == "server"))
    if args.command == "demo":
        from qrisbot import demo

        if not 30 <= args.pay_within <= 3600:
            parser.error("--pay-within must be 30-3600 seconds")
        return demo.main(demo.Options(
            Path(args.out), lang=args.lang, trial=args.trial, admin=args.admin,
            html=Path(args.html) if args.html else None, pay_within=args.pay_within),
            play=args.interactive)
    try:
        # Only the daemon (and refund's note to the buyer) needs the secrets.
        config = cfg.load(args.config, secrets_required=args.command in ("run", "check-config"))
    except cfg.ConfigError as exc:
        _print_problems(args.config, exc.problems)
        return EXIT_CONFIG
    trusted = config.server(args.id) if args.command == "servers" and args.action == "trust" \
        else None
    if trusted is not None and trusted.panel is not None:  # pinning needs no panel backend
        from qrisbot.provision.panels.trust import trust

        return trust(trusted.id, trusted.panel, args.yes, config_path=args.config)
    if args.command == "check-config":
        return _check_config(config, args.config, online=args.online,
                             unit_user=args.unit_user)
    if args.command == "run":
        return _run(config)
    from qrisbot import operate  # the operator's commands need none of the daemon

    # paramiko logs a failed handshake with its traceback; the commands say it in a line.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False

    if args.command == "backup":
        if args.telegram == (args.path is not None):
            parser.error("backup: give a FILE to write, or --telegram (one of them)")
        if args.telegram:
            from qrisbot.backups import sending

            return sending.send_now(config)
        return operate.backup(config, Path(args.path))
    if args.command == "restore":
        from qrisbot.backups import restore

        return restore.restore(config, Path(args.path),
                               Path(args.identity) if args.identity else None, args.yes)
    if args.command == "accounts":
        from qrisbot import operate_accounts as accounts

        if args.action == "list":
            return accounts.accounts_list(config, args.server, args.state, args.expiring)
        if args.action == "show":
            return accounts.accounts_show(config, args.server, args.username)
        if args.action == "assign":
            return accounts.accounts_assign(config, args.server, args.username, args.user)
        if args.action == "import":
            return accounts.accounts_import(config, args.server, args.dry_run)
        if args.action == "extend":
            return accounts.accounts_extend(config, args.server, args.username, args.days,
                                            args.wait)
        return accounts.accounts_remove(config, args.server, args.username, args.yes,
                                        args.wait)
    if args.command == "servers":
        if args.action == "check":
            return operate.servers_check(config, args.id, config_path=args.config,
                                         unit_user=args.unit_user)
        if args.action == "detect":
            return operate.servers_detect(config, args.id)
        if args.action == "reconcile":
            from qrisbot import operate_drift

            return operate_drift.servers_reconcile(config, args.id, fix=args.fix,
                                                   missing=args.missing, dates=args.dates,
                                                   secrets=args.secrets)
        return operate.servers_trust(config, args.id, args.yes, config_path=args.config)
    if args.command == "promo":
        from qrisbot import operate_promo as promo

        if args.action == "add":
            return promo.promo_add(config, promo.NewPromo(
                code=args.code, percent=args.percent, amount=args.amount,
                max_uses=args.max_uses, per_user=args.per_user, until=args.until,
                servers=args.servers, new_buyers_only=args.new_buyers_only, kind=args.kind))
        if args.action == "list":
            return promo.promo_list(config)
        return promo.promo_disable(config, args.code)
    if args.command == "resellers":
        from qrisbot import operate_resellers as resellers

        if args.action == "add":
            return resellers.resellers_add(config, args.user, args.discount, args.price or [])
        if args.action == "list":
            return resellers.resellers_list(config)
        return resellers.resellers_remove(config, args.user)
    if args.action == "list":
        return operate.orders_list(config, args.state, args.since)
    if args.action == "show":
        return operate.orders_show(config, args.id)
    if args.action == "retry":
        return operate.orders_retry(config, args.id, args.wait)
    return operate.orders_refund(config, args.id, args.yes)


def _check_config(config: cfg.Config, path: str, *, online: bool = False,
                  unit_user: str | None = None) -> int:
    """The summary, or the problems; and what is not ready to sell yet (placeholders).
    `online`: then whether it works against Telegram, Pakasir, the servers, the webhook
    and the ledger's folder, as the unit's user (exit 1 when something does not)."""
    from qrisbot.unfinished import findings

    found = findings(config)
    warnings = list(found.warnings)
    readable = _readable_by_others(path, config)
    if readable:
        warnings.append(readable)
    if found.errors:
        _print_problems(path, list(found.errors))
    else:
        head = (f"configuration OK: {path}" if not warnings else
                f"configuration usable, with {len(warnings)} warning(s) below: {path}")
        print(summary(config, path).replace(f"configuration OK: {path}", head, 1))
    for warning in warnings:
        print(warning if warning.startswith("warning:") else f"warning: {warning}",
              file=sys.stderr)
    if found.errors:
        if online:
            print("(no online checks until the problems above are fixed)", file=sys.stderr)
        return EXIT_CONFIG
    if not online:
        return EXIT_OK
    from qrisbot.online import check_online

    sys.stdout.flush()
    return check_online(config, unit_user=unit_user, config_path=path)


def _print_problems(path: str, problems: list[str]) -> None:
    print(f"{path}: configuration has {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def _readable_by_others(path: str, config: cfg.Config) -> str | None:
    """A warning when the file holds secrets that other users of the machine can read."""
    holds_secrets = any(
        s and s in Path(path).read_text(encoding="utf-8", errors="replace")
        for s in (config.telegram.token, config.pakasir.api_key, config.pakasir.webhook_secret,
                  *(getattr(v.panel, k) for v in config.servers if v.panel
                    for k in cfg.PANEL_SECRETS))
    )
    mode = Path(path).stat().st_mode
    if holds_secrets and mode & 0o044:
        return (f"warning: {path} holds secrets and is readable by other users "
                f"(mode {oct(mode & 0o777)}); run: chmod 600 {path} (or move the secrets "
                "to an EnvironmentFile)")
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qrisbot", description="Telegram shop for VPN accounts, paid by QRIS (Pakasir).",
        epilog="Exit status: 0 done, 1 failed or refused, 2 bad configuration or usage, 3 "
               "(run) Telegram refused the bot token.")
    parser.add_argument("--version", action="version", version=f"qrisbot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    default = os.environ.get("QRISBOT_CONFIG", "config.toml")
    with_config = []

    def add(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
            help_text: str) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text)
        with_config.append(sub)
        return sub

    add(commands, "run", "run the shop daemon (logs to stderr)")
    check_config = add(commands, "check-config",
                       "validate the configuration and print a summary")
    check_config.add_argument(
        "--online", action="store_true",
        help="also check it works, one line each: the bot token (getMe), the Pakasir key "
             "and project, each server as the daemon's user reaches it (files, host key, "
             "login, layout), the webhook listener, the ledger's folder (exit 1 if not)")
    check_config.add_argument(
        "--unit-user", metavar="USER",
        help="with --online: the user the daemon runs as (default: as servers check "
             "infers it from the config file)")
    backup = add(commands, "backup", "copy the ledger consistently (safe while the daemon runs)")
    backup.add_argument("path", nargs="?", help="where to write the copy (must not exist)")
    backup.add_argument("--telegram", action="store_true",
                        help="instead, send the admins a copy now, encrypted to "
                             "backup.age_recipient, as the daily backup is sent")
    restore = add(commands, "restore",
                  "put a backup in place of the ledger (the daemon must be stopped); the "
                  "current ledger is kept beside it as <database>.before-restore-<time>")
    restore.add_argument("path", help="the backup: an age file (.age) or a plain SQLite copy")
    restore.add_argument("--identity", metavar="KEYFILE",
                         help="the age secret key file (from age-keygen) that opens it")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    orders = commands.add_parser("orders", help="list, show, retry or refund orders",
                                 description="Orders in the ledger; safe while the daemon runs.")
    actions = orders.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = add(actions, "list", "one line per order (! = needs attention)")
    listing.add_argument("--state", choices=tuple(L.TRANSITIONS), metavar="STATE",
                         help=f"only orders in this state ({', '.join(L.TRANSITIONS)})")
    listing.add_argument("--since", type=float, metavar="DAYS",
                         help="only orders of the last DAYS days")
    add(actions, "show", "everything about one order and its events (no credentials)"
        ).add_argument("id", help="the order id (VPN...)")
    retry = add(actions, "retry", "have the daemon try a failed order's provisioning again")
    retry.add_argument("id", help="the order id (VPN...)")
    retry.add_argument("--wait", type=float, default=30, metavar="SECONDS",
                       help="follow the attempt this long (default 30)")
    refund = add(actions, "refund", "mark a failed order refunded (you returned the money) "
                                    "and tell the buyer")
    refund.add_argument("id", help="the order id (VPN...)")
    refund.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    accounts = commands.add_parser(
        "accounts", help="list, show, extend or remove buyers' accounts",
        description="Accounts in the ledger; safe while the daemon runs (it carries out "
                    "extend and remove).")
    account_actions = accounts.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = add(account_actions, "list", "one line per account (last day, days left, owner)")
    listing.add_argument("--server", metavar="ID", help="only accounts on this server")
    listing.add_argument("--state", help="only accounts in this state (active, expired, "
                                         "removed)")
    listing.add_argument("--expiring", type=int, metavar="DAYS",
                         help="only accounts whose last day is within DAYS days")

    def account_args(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("server", help="the server id")
        sub.add_argument("username", help="the account's username")
        return sub

    account_args(add(account_actions, "show", "one account and its orders (no secrets)"))
    account_args(add(account_actions, "assign", "give an account nobody owns (imported) to a "
                                                "Telegram user")).add_argument(
        "user", type=int, metavar="TELEGRAM_USER_ID", help="the buyer's Telegram user id")
    importing = add(account_actions, "import", "record the accounts already on a server "
                                               "(made before qrisbot: Xray clients, tunnel "
                                               "users), without owner")
    importing.add_argument("server", help="the server id")
    importing.add_argument("--dry-run", action="store_true", help="only say what would be "
                                                                  "imported")
    extend = account_args(add(account_actions, "extend",
                              "give an account more days (e.g. compensation); the daemon "
                              "sets them once and tells the buyer"))
    extend.add_argument("--days", type=int, required=True, help="days to add (1-366)")
    extend.add_argument("--wait", type=float, default=30, metavar="SECONDS",
                        help="follow it this long (default 30)")
    remove = account_args(add(account_actions, "remove",
                              "remove an account from its server now"))
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--wait", type=float, default=30, metavar="SECONDS",
                        help="follow it this long (default 30)")

    promo = commands.add_parser(
        "promo", help="add, list or disable promo codes",
        description="Promo codes buyers type at the confirmation (Punya kode promo?); safe "
                    "while the daemon runs.")
    promo_actions = promo.add_subparsers(dest="action", metavar="ACTION", required=True)
    adding = add(promo_actions, "add", "a new code (3-32 of A-Z 0-9 _ -, typed in any case)")
    adding.add_argument("code", help="the code")
    off = adding.add_mutually_exclusive_group(required=True)
    off.add_argument("--percent", type=int, metavar="N", help="N %% off the price (1-100)")
    off.add_argument("--amount", type=int, metavar="RP", help="RP rupiah off the price")
    adding.add_argument("--max-uses", type=int, metavar="N", help="N orders at most, in all")
    adding.add_argument("--per-user", type=int, metavar="N", help="N orders per buyer at most")
    adding.add_argument("--until", metavar="DATE",
                        help="valid through this day, shop time (YYYY-MM-DD)")
    adding.add_argument("--servers", metavar="ID,...", help="only on these servers")
    adding.add_argument("--new-buyers-only", action="store_true",
                        help="only for buyers who never paid an order")
    kind = adding.add_mutually_exclusive_group()
    kind.add_argument("--renewals", dest="kind", action="store_const", const="renewal",
                      help="only for renewals")
    kind.add_argument("--purchases", dest="kind", action="store_const", const="purchase",
                      help="only for new accounts")
    add(promo_actions, "list", "every code: discount, uses, left, until, limits, state")
    add(promo_actions, "disable", "stop a code (orders placed with it keep their price)"
        ).add_argument("code", help="the code")

    resellers = commands.add_parser(
        "resellers", help="add, list or remove resellers",
        description="Resellers see their own prices (and servers with reseller_only = true) "
                    "and can buy again on the same server at once; safe while the daemon "
                    "runs.")
    reseller_actions = resellers.add_subparsers(dest="action", metavar="ACTION", required=True)
    adding = add(reseller_actions, "add", "a reseller, or new terms for one (replacing theirs)")
    adding.add_argument("user", metavar="TELEGRAM_ID", help="their Telegram user id")
    adding.add_argument("--discount", metavar="N%",
                        help="N %% off every server's price (1-90)")
    adding.add_argument("--price", action="append", metavar="SERVER=RP",
                        help="their rupiah a month on that server (at least 500; wins over "
                             "--discount there); repeat for more servers")
    add(reseller_actions, "list", "every reseller and their terms")
    add(reseller_actions, "remove", "a reseller sees everyone's prices again"
        ).add_argument("user", metavar="TELEGRAM_ID", help="their Telegram user id")

    servers = commands.add_parser("servers", help="check or detect servers, trust a host key",
                                  description="The servers of the configuration.")
    server_actions = servers.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = add(server_actions, "check", "connect, verify the host key, time a harmless "
                                         "command, check what the recipe needs, and that "
                                         "the daemon's user can read the key files")
    check.add_argument("id", nargs="?", help="one server (default: all)")
    check.add_argument("--unit-user", metavar="USER",
                       help="the user the daemon runs as (default: the config file's owner, "
                            "or if that is root the user named like its group, as the "
                            "unit's User=qrisbot Group=qrisbot)")
    add(server_actions, "detect", "read a server (nothing is written) and say which "
                                  "autoscript family laid it out, with the config line to paste"
        ).add_argument("id", help="the server id")
    reconcile = add(server_actions, "reconcile", "compare the ledger's accounts on a server "
                                                 "with what the server has, report each "
                                                 "difference and, with --fix, settle it")
    reconcile.add_argument("id", help="the server id")
    reconcile.add_argument("--fix", action="store_true", help="settle the differences by the "
                                                              "policies below")
    reconcile.add_argument("--missing", choices=("recreate", "forget", "ignore"),
                           default="recreate", help="an account the server lost: make it "
                           "again (default), record it as removed, or leave it")
    reconcile.add_argument("--dates", choices=("longer", "server", "ledger", "ignore"),
                           default="longer", help="a last day changed on the server: the "
                           "later one wins (default), the server's, the ledger's, or neither")
    reconcile.add_argument("--secrets", choices=("panel", "ignore"), default="panel",
                           help="a UUID / trojan password changed on a panel: the ledger "
                           "takes the panel's and its owner gets the new links (default), "
                           "or leave it")
    trust = add(server_actions, "trust", "show a server's host key fingerprint and, once "
                                         "confirmed, add it to its known_hosts file")
    trust.add_argument("id", help="the server id")
    trust.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    for sub in with_config:
        sub.add_argument("-c", "--config", default=default,
                         help=f"path of config.toml (default: $QRISBOT_CONFIG or {default})")
    setup = commands.add_parser(
        "setup", help="guided first run (as root): bot, admin, Pakasir, servers, files, unit",
        description="Asks for the bot token, your Telegram id (from a /start you send), the "
                    "Pakasir project and key and each server, checking every answer live; "
                    "writes config.toml, secrets.env, the shop's SSH key and known_hosts; "
                    "makes the unit's user. Run again to change answers.")
    setup.add_argument("what", nargs="?", choices=("server",),
                       help="server: only add a server to a shop set up before")
    setup.add_argument("-c", "--config", default="/etc/qrisbot/config.toml",
                       help="config.toml to write or edit (default: /etc/qrisbot/config.toml)")
    setup.add_argument("--user", default="qrisbot",
                       help="the unit's user, made if missing (default: qrisbot)")
    setup.add_argument("--database", metavar="PATH",
                       help="the ledger (default: /var/lib/qrisbot/qrisbot.sqlite3)")
    setup.add_argument("--telegram-api-url", metavar="URL",
                       default=os.environ.get("QRISBOT_TELEGRAM_API_URL"),
                       help="a local Bot API server (or $QRISBOT_TELEGRAM_API_URL)")
    setup.add_argument("--pakasir-api-url", metavar="URL",
                       default=os.environ.get("QRISBOT_PAKASIR_API_URL"),
                       help="another Pakasir address (or $QRISBOT_PAKASIR_API_URL)")
    setup.add_argument("--lang", choices=("id", "en"), default="id",
                       help="language of the questions (default: id)")
    demo = commands.add_parser(
        "demo", help="run the shop against built-in fakes with a scripted buyer",
        description="Run the real shop against built-in fakes of Telegram and Pakasir (no "
                    "network, no config, no root) and print one buyer's purchase.")
    demo.add_argument("--out", default=".", help="folder for the QR image (default: here)")
    demo.add_argument("--interactive", action="store_true",
                      help="play the buyer yourself: type text, pick buttons by number, "
                           "`pay` to pay the QR")
    demo.add_argument("--lang", choices=("id", "en"), default="id",
                      help="the shop's language (default: id, Indonesian)")
    demo.add_argument("--trial", action="store_true",
                      help="the scripted buyer takes the free trial instead of buying")
    demo.add_argument("--admin", action="store_true",
                      help="then the seller (an admin) opens /admin")
    demo.add_argument("--html", metavar="FILE",
                      help="also write the conversation as a chat page (one HTML file)")
    demo.add_argument("--pay-within", type=float, default=300, metavar="SECONDS",
                      help="how long a QR can be paid, 30-3600 (default 300; 30 to see "
                           "one run out)")
    return parser


def summary(config: cfg.Config, path: str) -> str:
    shop, pk = config.shop, config.pakasir
    lines = [
        f"configuration OK: {path}",
        f"shop: {shop.name} (language {shop.language}, ledger {shop.database}, "
        f"up to {shop.max_months} months, {len(shop.admins)} admin(s))",
        f"telegram: {config.telegram.api_url} (long poll {config.telegram.poll_timeout}s)",
        f"pakasir: project {pk.project}, API v{pk.api_version}, status every "
        f"{pk.check_interval:g}s, QR payable for {pk.payment_timeout:g}s",
        f"accounts: reminded {', '.join(map(str, shop.remind_days)) or 'never'} day(s) "
        f"before the last day, removed {shop.grace_days} day(s) after it",
        "trials: " + (f"{config.trial.hours} h on "
                      f"{', '.join(config.trial.servers) or 'every enabled server'}, "
                      f"{config.trial.daily_limit or 'no'} a day at most"
                      if config.trial.hours else "off"),
        "backups: " + (f"daily at {config.backup.at} to the admins, encrypted to "
                       f"{config.backup.age_recipient}" if config.backup.telegram else
                       "not sent (qrisbot backup FILE copies the ledger)"),
        f"servers ({len(config.servers)}):",
    ]
    for s in config.servers:
        if s.panel is not None:
            lines.append(
                f"  {s.id:<16} {s.protocol:<6} {rupiah(s.price_per_month)}/month, capacity "
                f"{s.capacity}, {'enabled' if s.enabled else 'DISABLED'}; {s.name} "
                f"({s.domain}) via {s.panel.type} panel at {urlsplit(s.panel.url).netloc}")
            continue
        recipe = "custom commands" if s.commands else (
            "linux users" if s.protocol == "ssh" else f"xray {s.xray.config if s.xray else ''}")
        lines.append(
            f"  {s.id:<16} {s.protocol:<6} {rupiah(s.price_per_month)}/month, capacity "
            f"{s.capacity}, {'enabled' if s.enabled else 'DISABLED'}; {s.name} "
            f"({s.domain}) via {s.ssh.user}@{s.ssh.host}:{s.ssh.port}, {recipe}"
        )
        lines.extend(f"    cannot {what}" for what in _lifecycle_gaps(s))
    return "\n".join(lines)


def _lifecycle_gaps(server: cfg.Server) -> list[str]:
    """What the shop cannot do for accounts on this server, and what follows."""
    from qrisbot.provision import Feature, Registry

    features = Registry().backend(server).features  # from the config alone: nothing opened
    gaps = []
    if Feature.EXTEND not in features:
        gaps.append("renew accounts (no commands.extend): buyers get no Perpanjang button "
                    "and reminders have none")
    if Feature.REMOVE not in features:
        gaps.append("remove expired accounts (no commands.delete): they stay on the server "
                    "and keep their place")
    return gaps


def _run(config: cfg.Config) -> int:
    from qrisbot import app  # imported here: check-config needs none of it

    qlog.setup(cfg.secrets(config))
    try:
        trio.run(app.run_until_signal, config)
    except BaseException as exc:  # as trio's nurseries wrap it, in exception groups
        return _stopped(exc)
    return EXIT_OK


def _stopped(exc: BaseException) -> int:
    """The exit status for what stopped the daemon. A Fatal error is one line naming what
    to fix, wherever a nursery wrapped it; anything else is a bug and keeps its traceback."""
    from qrisbot import app

    leaves = list(_leaves(exc))
    log = logging.getLogger("qrisbot")
    fatal = next((e for e in leaves if isinstance(e, app.Fatal)), None)
    if fatal is not None:
        log.error("stopping: %s", fatal)
        return fatal.status
    if all(isinstance(e, KeyboardInterrupt) for e in leaves):
        return EXIT_OK
    if not all(isinstance(e, Exception | KeyboardInterrupt) for e in leaves):
        raise exc  # SystemExit and the like: not ours to translate
    for leaf in leaves:
        if isinstance(leaf, Exception):
            log.error("stopping on an unexpected error (a bug; please report it)",
                      exc_info=leaf)
    return EXIT_FAILURE


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


if __name__ == "__main__":
    sys.exit(main())
