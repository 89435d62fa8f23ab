"""Command line: argument parsing and sub-commands; nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from qrisbot import config as cfg
from qrisbot import log as qlog
from qrisbot.shop.texts import rupiah

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    if args.command == "demo":
        from qrisbot import demo

        return demo.main(Path(args.out))
    try:
        config = cfg.load(args.config)
    except cfg.ConfigError as exc:
        print(f"{args.config}: configuration has {len(exc.problems)} problem(s):",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(summary(config, args.config))
        warning = _readable_by_others(args.config, config)
        if warning:
            print(warning, file=sys.stderr)
        return EXIT_OK
    if args.command == "backup":
        return _backup(config, Path(args.path))
    if args.command == "orders":
        return _orders(config, args)
    return _run(config)


def _readable_by_others(path: str, config: cfg.Config) -> str | None:
    """A warning when the file holds secrets that other users of the machine can read."""
    holds_secrets = any(
        s and s in Path(path).read_text(encoding="utf-8", errors="replace")
        for s in (config.telegram.token, config.pakasir.api_key, config.pakasir.webhook_secret)
    )
    mode = Path(path).stat().st_mode
    if holds_secrets and mode & 0o044:
        return (f"warning: {path} holds secrets and is readable by other users "
                f"(mode {oct(mode & 0o777)}); run: chmod 600 {path} (or move the secrets "
                "to an EnvironmentFile)")
    return None


def _backup(config: cfg.Config, target: Path) -> int:
    """A consistent online copy of the ledger, safe while the daemon runs."""
    import sqlite3

    source_path = Path(config.shop.database)
    if not source_path.exists():
        print(f"no ledger at {source_path}", file=sys.stderr)
        return EXIT_FAILURE
    if target.exists():
        print(f"{target} exists; not overwriting it", file=sys.stderr)
        return EXIT_FAILURE
    with sqlite3.connect(f"file:{source_path}?mode=ro", uri=True) as source, \
            sqlite3.connect(target) as copy:
        source.backup(copy)
    target.chmod(0o600)
    print(f"ledger copied to {target}")
    return EXIT_OK


def _orders(config: cfg.Config, args: argparse.Namespace) -> int:
    from qrisbot.ledger import Ledger

    if not Path(config.shop.database).exists():
        print(f"no ledger at {config.shop.database}", file=sys.stderr)
        return EXIT_FAILURE
    ledger = Ledger.open(config.shop.database)
    try:
        if args.action == "show":
            order = ledger.get(args.id)
            if order is None:
                print(f"no order {args.id}", file=sys.stderr)
                return EXIT_FAILURE
            for field, value in sorted(attrs.asdict(order).items()):
                if field not in ("secret", "account", "qr"):  # never print credentials
                    print(f"{field:16} {value}")
            for kind, detail in ledger.events(order.id):
                print(f"event {kind}: {detail}")
            return EXIT_OK
        since = time.time() - args.since * 86400 if args.since else 0
        for order in ledger.orders(args.state):
            if order.created_at >= since:
                flag = " !" if order.needs_attention else ""
                print(f"{order.id}  {order.state:17} {order.server_id:8} {order.username:16} "
                      f"{order.months:2} mo  {rupiah(order.amount):>11}{flag}")
        return EXIT_OK
    finally:
        ledger.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qrisbot", description="Telegram shop for VPN accounts, paid by QRIS (Pakasir)."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    default = os.environ.get("QRISBOT_CONFIG", "config.toml")
    for name, help_text in (
        ("run", "run the shop daemon (logs to stderr)"),
        ("check-config", "validate the configuration and print a summary"),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", default=default,
                         help=f"path of config.toml (default: $QRISBOT_CONFIG or {default})")
    backup = commands.add_parser(
        "backup", help="copy the ledger consistently (safe while the daemon runs)")
    backup.add_argument("path", help="where to write the copy (must not exist)")
    orders = commands.add_parser("orders", help="list or show orders in the ledger")
    actions = orders.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per order (! = needs attention)")
    listing.add_argument("--state", help="only orders in this state")
    listing.add_argument("--since", type=float, help="only orders of the last DAYS days")
    show = actions.add_parser("show", help="everything about one order (no credentials)")
    show.add_argument("id", help="the order id (VPN...)")
    for sub in (backup, listing, show):
        sub.add_argument("-c", "--config", default=default,
                         help=f"path of config.toml (default: $QRISBOT_CONFIG or {default})")
    demo = commands.add_parser(
        "demo", help="run the shop against built-in fakes with a scripted buyer",
        description="Run the real shop against built-in fakes of Telegram and Pakasir (no "
                    "network, no config, no root) and print one buyer's purchase.")
    demo.add_argument("--out", default=".", help="folder for the QR image (default: here)")
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
        f"servers ({len(config.servers)}):",
    ]
    for s in config.servers:
        recipe = "custom commands" if s.commands else (
            "linux users" if s.protocol == "ssh" else f"xray {s.xray.config if s.xray else ''}")
        lines.append(
            f"  {s.id:<16} {s.protocol:<6} {rupiah(s.price_per_month)}/month, capacity "
            f"{s.capacity}, {'enabled' if s.enabled else 'DISABLED'}; {s.name} "
            f"({s.domain}) via {s.ssh.user}@{s.ssh.host}:{s.ssh.port}, {recipe}"
        )
    return "\n".join(lines)


def _run(config: cfg.Config) -> int:
    from qrisbot import app  # imported here: check-config needs none of it

    qlog.setup(cfg.secrets(config))
    try:
        trio.run(app.run_until_signal, config)
    except app.Fatal as exc:
        logging.getLogger("qrisbot").error("stopping: %s", exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
