"""`qrisbot check-config --online` against a good world and each kind of broken one: the
Telegram and Pakasir fakes on loopback, the suite's real sshd, the shop itself running
with its webhook listener, and a real unprivileged Linux user as the unit's user."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from daemon import write_config
from sshd import free_port, keygen

from qrisbot import config
from qrisbot.online import check_online
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import Fault

UNIT_USER = "qbt_o1unit"
WEBHOOK_SECRET = "whsec-0123456789abcdef"  # test_webhook's: the log scan looks for it


@attrs.define
class World:
    etc: Path  # root:UNIT_USER 750, as the README installs /etc/qrisbot
    state: Path  # the ledger's folder, the unit user's
    raw: dict[str, Any]

    def config(self, **changes: Any) -> config.Config:
        """The configuration, with `changes` as {"pakasir.project": "x", ...}."""
        raw = {table: dict(value) if isinstance(value, dict) else value
               for table, value in self.raw.items()}
        raw["servers"] = [dict(s, ssh=dict(s["ssh"])) for s in raw["servers"]]
        for dotted, value in changes.items():
            *path, key = dotted.split(".")
            target: Any = raw
            for part in path:
                target = target[int(part)] if part.isdigit() else target[part]
            target[key] = value
        return config.parse(raw, {})


def shared(path: Path, mode: int = 0o640) -> Path:
    """A file as the daemon's group reads it: root:UNIT_USER, `mode`."""
    shutil.chown(path, "root", UNIT_USER)
    path.chmod(mode)
    return path


@pytest.fixture
def unit_user(linux_users) -> Iterator[str]:
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", UNIT_USER], check=True, capture_output=True)
    linux_users.append(UNIT_USER)
    yield UNIT_USER
    subprocess.run(["groupdel", UNIT_USER], capture_output=True)


@pytest.fixture
def world(unit_user, sshd, telegram, pakasir) -> Iterator[World]:
    etc = Path(tempfile.mkdtemp(prefix="qbt-o1-etc-"))
    state = Path(tempfile.mkdtemp(prefix="qbt-o1-state-"))
    shutil.chown(etc, "root", UNIT_USER)
    etc.chmod(0o750)
    shutil.chown(state, UNIT_USER, UNIT_USER)
    state.chmod(0o700)
    key = shared(Path(shutil.copy(sshd.key_file, etc / "id_ed25519")))
    known_hosts = shared(Path(shutil.copy(sshd.known_hosts, etc / "known_hosts")))
    server = {"id": "sg1", "name": "SG", "protocol": "ssh", "domain": "sg.tokovpn.id",
              "price_per_month": 10000,
              "ssh": sshd.access(key_file=str(key), known_hosts=str(known_hosts))}
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(state / "ledger.sqlite3"), [server],
                     {"admins": [9001]}, webhook_listen=f"127.0.0.1:{free_port()}",
                     webhook_secret=WEBHOOK_SECRET)
    yield World(etc, state, raw)
    shutil.rmtree(etc)
    shutil.rmtree(state)


async def running_shop(start_shop, world: World) -> None:
    """The shop with its webhook listener, its ledger handed to the unit's user (as if the
    daemon ran as it)."""
    await start_shop(world.config())
    for path in world.state.iterdir():
        shutil.chown(path, UNIT_USER, UNIT_USER)


async def online(cfg: config.Config) -> tuple[int, list[str]]:
    lines: list[str] = []
    run = partial(check_online, cfg, unit_user=UNIT_USER, out=lines.append)
    status = await trio.to_thread.run_sync(run)
    return status, lines


def failed(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


async def test_a_good_world_passes_every_check_and_each_broken_one_names_its_fix(
    world, start_shop, telegram, pakasir, sshd
):
    await running_shop(start_shop, world)
    status, lines = await online(world.config())
    assert status == 0, lines
    assert lines[0] == f"checking as {UNIT_USER}, the daemon's user"
    good = lines[1:]
    assert [line.split(":")[0] for line in good] == [
        "✓ telegram", "✓ pakasir", "✓ server sg1", "✓ webhook", "✓ ledger"], lines
    assert "the bot is @shop_bot" in good[0]
    assert f"project {pakasir.project!r} and its API key accepted" in good[1]
    assert f"{UNIT_USER} can read its key and known_hosts; logged in to root@127.0.0.1" in good[2]
    assert "the daemon's listener answers at http://127.0.0.1:" in good[3]
    assert f"{UNIT_USER} can write {world.state}" in good[4]
    assert not pakasir.transactions  # the credential check made nothing

    # Each broken world: exactly its own line fails, naming what to fix; exit status 1.
    other_key = world.etc / "other_ed25519"
    keygen(other_key)  # a key the server does not take
    shared(other_key)
    (world.etc / "empty_known_hosts").touch()
    empty_known_hosts = shared(world.etc / "empty_known_hosts")
    key = world.etc / "id_ed25519"
    xray = {"config": str(world.etc / "no-such-config.json")}
    broken = [
        ({"telegram.token": "123456:ABC-a-token-telegram-does-not-know-at-all"},
         "✗ telegram: Telegram refused the bot token (Unauthorized): put the token "
         "@BotFather gave you in [telegram] token or QRISBOT_TELEGRAM_TOKEN"),
        ({"pakasir.api_key": "pk-test-wrong-key"},
         f"✗ pakasir: Pakasir refused the API key for project {pakasir.project!r} (HTTP 401: "
         "invalid api key): copy that project's API key from the Pakasir dashboard into "
         "[pakasir] api_key or QRISBOT_PAKASIR_API_KEY"),
        ({"pakasir.project": "toko-lain"},
         "✗ pakasir: Pakasir does not know the project 'toko-lain' (HTTP 404: project not "
         "found): put the slug of your project, as the Pakasir dashboard shows it, in "
         "[pakasir] project"),
        ({}, f"✗ server sg1: {UNIT_USER} cannot read {key} ($.servers[0].ssh.key_file): "
             f"Permission denied; the daemon cannot connect. Run: chgrp {UNIT_USER} {key} && "
             f"chmod g+r {key}"),
        ({"servers.0.ssh.key_file": str(other_key)},
         f"authentication refused; add the shop's public key to root's authorized_keys on "
         f"the server: ssh-keygen -y -f {other_key} | ssh -p {sshd.port} root@127.0.0.1"),
        ({"servers.0.ssh.known_hosts": str(empty_known_hosts)},
         "host key unknown (not in"),
        ({"servers.0.protocol": "vless", "servers.0.xray": xray},
         f"✗ server sg1: logged in to root@127.0.0.1:{sshd.port}, but the layout does not "
         f"fit, missing: xray config {xray['config']}"),
        ({"shop.database": str(world.etc / "ledger.sqlite3")},
         f"✗ ledger: {UNIT_USER} cannot create files in {world.etc} (Permission denied): "
         "the daemon cannot keep its ledger there. Put shop.database in a folder it owns"),
        ({"pakasir.webhook_listen": f"127.0.0.1:{free_port()}"},
         "✗ webhook: not listening on 127.0.0.1:"),
    ]
    for changes, expected in broken:
        if not changes:  # the shop's key as ssh-keygen leaves it: root's alone
            key.chmod(0o600)
        status, lines = await online(world.config(**changes))
        key.chmod(0o640)
        assert status == 1, (changes, lines)
        assert len(failed(lines)) == 1 and expected in failed(lines)[0], (expected, lines)
        for secret in (telegram.token, pakasir.api_key, WEBHOOK_SECRET, "wrong-key"):
            assert secret not in "\n".join(lines)
    assert "(is the daemon running? systemctl start qrisbot)" in failed(lines)[0]
    assert "run: qrisbot servers trust sg1" in failed(
        (await online(world.config(**broken[5][0])))[1])[0]


async def test_the_cli_process_checks_online_as_the_config_files_group(
    world, start_shop, telegram, pakasir
):
    """`python -m qrisbot check-config --online`, as the operator runs it: secrets from the
    environment, config.toml root:<unit user> 640, the unit's user inferred from it."""
    await running_shop(start_shop, world)
    # The secrets stay out of the file, in the environment (as secrets.env puts them).
    file_raw = copy.deepcopy(world.raw)
    file_raw["telegram"]["token"] = ""
    file_raw["pakasir"].update(api_key="", webhook_secret="")
    path = shared(write_config(world.etc / "config.toml", file_raw))
    env = dict(os.environ, QRISBOT_TELEGRAM_TOKEN=telegram.token,
               QRISBOT_PAKASIR_API_KEY=pakasir.api_key,
               QRISBOT_PAKASIR_WEBHOOK_SECRET=WEBHOOK_SECRET)
    command = [sys.executable, "-m", "qrisbot", "check-config", "--online", "--config",
               str(path)]
    done = await trio.run_process(command, env=env, capture_stdout=True,
                                  capture_stderr=True, check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, (out, done.stderr.decode())
    assert f"checking as {UNIT_USER}, the daemon's user (--unit-user names another)" in out
    assert "✓ telegram: the token works: the bot is @shop_bot" in out
    assert out.count("✓") == 5 and "✗" not in out

    # Broken: a webhook address nothing listens on (the daemon is not running there).
    port = free_port()
    file_raw["pakasir"]["webhook_listen"] = f"127.0.0.1:{port}"
    write_config(path, file_raw)
    done = await trio.run_process(command, env=env, capture_stdout=True,
                                  capture_stderr=True, check=False)
    out = done.stdout.decode()
    assert done.returncode == 1, out
    assert (f"✗ webhook: not listening on 127.0.0.1:{port} (is the daemon running? "
            "systemctl start qrisbot)") in out
    assert out.count("✓") == 4
    everything = out + done.stderr.decode()
    for secret in (telegram.token, pakasir.api_key, WEBHOOK_SECRET):
        assert secret not in everything

    # An invalid configuration stays exit 2, and nothing is tried online.
    file_raw["servers"][0]["ssh"]["key_file"] = str(world.etc / "no-such-key")
    write_config(path, file_raw)
    done = await trio.run_process(command, env=env, capture_stdout=True,
                                  capture_stderr=True, check=False)
    assert done.returncode == 2 and "✓" not in done.stdout.decode()
    assert "(no online checks until the problems above are fixed)" in done.stderr.decode()


async def test_what_else_can_stand_in_the_way_is_named_too(world, telegram, pakasir):
    """No daemon running here: a webhook port another program holds, an address that is
    not this machine's, Telegram and Pakasir out of reach, a unit user that does not
    exist, a ledger folder not made yet."""
    cases = [
        ({"pakasir.webhook_listen": f"127.0.0.1:{telegram.port}"},
         f"✗ webhook: something other than qrisbot answers at http://127.0.0.1:{telegram.port}"
         "/pakasir/webhook (HTTP 404): another program holds the port"),
        ({"pakasir.webhook_listen": "192.0.2.1:8787"},
         "✗ webhook: 192.0.2.1 is not an address of this machine: fix [pakasir] "
         "webhook_listen"),
        ({"pakasir.webhook_listen": "", "telegram.api_url": "http://127.0.0.1:9"},
         "✗ telegram: no good answer from http://127.0.0.1:9 (network error (ConnectError))"),
        ({"pakasir.webhook_listen": "", "pakasir.api_url": "http://127.0.0.1:9"},
         "✗ pakasir: no good answer from http://127.0.0.1:9 (network error (ConnectError))"),
        ({"pakasir.webhook_listen": "", "shop.database": str(world.state / "new" / "l.db")},
         f"✗ ledger: the folder {world.state / 'new'} of shop.database does not exist: run: "
         f"install -d -m 700 -o {UNIT_USER} {world.state / 'new'}"),
    ]
    for changes, expected in cases:
        status, lines = await online(world.config(**changes))
        assert status == 1 and len(failed(lines)) == 1, lines
        assert expected in failed(lines)[0], (expected, lines)
    status, lines = await online(world.config(**{"pakasir.webhook_listen": ""}))
    assert status == 0 and "✓ webhook: off ([pakasir] webhook_listen is empty)" in lines[4]
    # A "not found" from Pakasir that names neither the project nor the transaction: the
    # key was not refused, the slug is not confirmed, and the line says so.
    pakasir.fail("status", Fault(404, b'{"message": "not found"}'))
    status, lines = await online(world.config(**{"pakasir.webhook_listen": ""}))
    assert status == 0 and lines[2] == (
        "✓ pakasir: the API key was not refused, but Pakasir's answer (HTTP 404: not found) "
        f"does not say it knows the project {pakasir.project!r}: compare the slug with the "
        "dashboard; the first QRIS tells")

    lines = []
    run = partial(check_online, world.config(), unit_user="qbt_o1nobody", out=lines.append)
    assert await trio.to_thread.run_sync(run) == 1
    assert lines == ["✗ unit user: no user qbt_o1nobody on this machine: create it (useradd "
                     "--system --shell /usr/sbin/nologin qbt_o1nobody) or name the daemon's "
                     "user with --unit-user"]
