"""Fatal start-up errors of the real `qrisbot run`: one line naming what to fix, no traceback,
an exit status systemd can act on (3, a refused token, is in RestartPreventExitStatus=)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import trio
from buyer import Buyer
from conftest import server_entry
from daemon import Daemon, write_config

from qrisbot.testing import config_for

STEP = 30


@pytest.fixture
def config(tmp_path, telegram, pakasir):
    def make(database: str | None = None, **pakasir_settings: object) -> Path:
        raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                         pakasir.api_key, database or str(tmp_path / "ledger.sqlite3"),
                         [server_entry()], **pakasir_settings)
        raw["telegram"]["poll_timeout"] = 2
        return write_config(tmp_path / "config.toml", raw)

    return make


async def run(config: Path) -> tuple[int, list[str]]:
    """`qrisbot run` until it exits by itself: its status and its stderr lines."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    with trio.fail_after(STEP):
        result = await trio.run_process(
            [sys.executable, "-m", "qrisbot", "run", "--config", str(config)],
            capture_stdout=True, capture_stderr=True, check=False, env=env)
    assert result.stdout == b""
    return result.returncode, result.stderr.decode().splitlines()


def one_line(lines: list[str]) -> str:
    assert len(lines) == 1 and "Traceback" not in lines[0], "\n".join(lines)
    return lines[0]


async def test_a_refused_token_is_one_line_and_an_exit_status_that_stops_restarts(
    config, telegram
):
    path = config()
    token = telegram.token
    telegram.token = "999:a-different-token-entirely"  # the one in the config is refused
    status, lines = await run(path)
    line = one_line(lines)
    assert status == 3, line
    assert "refused the bot token" in line
    assert "telegram.token" in line and "QRISBOT_TELEGRAM_TOKEN" in line
    assert token not in line and token.partition(":")[2] not in line


async def test_a_ledger_held_by_another_daemon_is_one_line(config, telegram, tmp_path):
    first = Daemon(config(), tmp_path / "first.log")
    await first.start()
    buyer = Buyer(telegram, 8701)
    buyer.says("/start")
    await buyer.sees("Pilih server", STEP)
    assert first.process is not None
    status, lines = await run(first.config)
    line = one_line(lines)
    assert status == 1
    assert f"in use by another qrisbot (process {first.process.pid})" in line
    assert "shop.database" in line
    assert first.process.returncode is None
    assert await first.stop() == 0


async def test_a_ledger_that_cannot_be_opened_is_one_line_naming_the_key(config, tmp_path):
    status, lines = await run(config(str(tmp_path / "no-such-folder" / "ledger.sqlite3")))
    line = one_line(lines)
    assert status == 1
    assert "shop.database" in line and "no-such-folder" in line


async def test_a_webhook_address_in_use_is_one_line_naming_the_key(config):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        status, lines = await run(config(webhook_listen=f"127.0.0.1:{port}",
                                         webhook_secret="whsec-0123456789abcdef"))
    finally:
        taken.close()
    line = one_line(lines)
    assert status == 1
    assert "pakasir.webhook_listen" in line and str(port) in line
