"""The files the daemon needs under its unit, installed the README's way: the CLI runs as
root, the daemon as its own unprivileged user (a real Linux user here), whose group is the
config file's."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import write_config

from qrisbot.cli import main
from qrisbot.testing import config_for

UNIT_USER = "qbt_h1unit"


def readable_as(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "cat", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def etc(linux_users) -> Iterator[Path]:
    """An /etc/qrisbot as the README installs it: root:<unit user> 750, config.toml 640,
    and the shop's key copied in as ssh-keygen leaves it (root only)."""
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", UNIT_USER], check=True, capture_output=True)
    linux_users.append(UNIT_USER)
    folder = Path(tempfile.mkdtemp(prefix="qbt-etc-"))
    shutil.chown(folder, "root", UNIT_USER)
    folder.chmod(0o750)
    yield folder
    shutil.rmtree(folder)
    subprocess.run(["groupdel", UNIT_USER], capture_output=True)


def install(etc: Path, sshd) -> Path:
    key = etc / "id_ed25519"
    shutil.copy(sshd.key_file, key)
    key.chmod(0o600)
    raw = config_for("http://127.0.0.1:9", "123456:TEST-token-for-the-fake",
                     "http://127.0.0.1:9", "p", "k", str(etc / "ledger.sqlite3"),
                     [{"id": "sg1", "name": "SG", "protocol": "ssh", "domain": "sg.tokovpn.id",
                       "price_per_month": 10000,
                       "ssh": sshd.access(key_file=str(key),
                                          known_hosts=str(etc / "known_hosts"))}])
    path = write_config(etc / "config.toml", raw)
    shutil.chown(path, "root", UNIT_USER)
    path.chmod(0o640)
    return path


def test_trust_writes_known_hosts_the_daemons_user_can_read_and_check_says_what_it_cannot(
    etc, sshd, capsys
):
    path = install(etc, sshd)
    assert main(["servers", "trust", "sg1", "--yes", "--config", str(path)]) == 0
    known_hosts = etc / "known_hosts"
    assert readable_as(UNIT_USER, known_hosts)  # was 0600 root: every SSH call failed
    assert known_hosts.stat().st_mode & 0o004 == 0  # and still not everyone's
    capsys.readouterr()

    # The key as ssh-keygen left it: root can connect, the daemon cannot. Check says so.
    assert main(["servers", "check", "sg1", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    key = etc / "id_ed25519"
    assert f"{UNIT_USER} cannot read {key} ($.servers[0].ssh.key_file" in out, out
    assert f"chgrp {UNIT_USER} {key}" in out

    shutil.chown(key, group=UNIT_USER)
    key.chmod(0o640)
    assert main(["servers", "check", "sg1", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cannot read" not in out and f"as {UNIT_USER}" in out

    # Another user may be named; one who cannot pass the folder cannot read anything in it.
    assert main(["servers", "check", "sg1", "--unit-user", "nobody", "--config",
                 str(path)]) == 1
    assert "nobody cannot read" in capsys.readouterr().out
