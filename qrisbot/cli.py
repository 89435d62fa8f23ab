"""Command line: argument parsing and sub-commands; nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

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
        return EXIT_OK
    return _run(config)


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
