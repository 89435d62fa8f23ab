"""A seller's server may carry any date a menu or a hand wrote: `0001-01-01`,
`9999-12-31`. On the real sshd, such a line is skipped and named by the operator's
commands (run as the operator runs them: `qrisbot ...`, a process of its own), never a
traceback, and the other accounts on the server are read as usual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio
from conftest import server_entry
from daemon import write_config
from test_autoscripts import GRACE, layout_text

from qrisbot import config
from qrisbot.ledger import Ledger
from qrisbot.provision.ssh import existing
from qrisbot.testing import config_for

OLD = "55555555-5555-5555-5555-555555555555"
FAR = "66666666-6666-6666-6666-666666666666"


def qrisbot(*args: str, config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qrisbot", *args, "--config",
                           str(config_file)], capture_output=True, text=True, timeout=120)


def extreme_world(tmp_path: Path, sshd) -> tuple[dict, Path]:
    """The classic layout, alice as the family wrote her, and two accounts whose dates
    no calendar arithmetic survives."""
    path = tmp_path / "config.json"
    path.write_text(layout_text("classic").replace("#vless\n", (
        f'#vless\n#& kuno 0001-01-01\n}},{{"id": "{OLD}","email": "kuno"\n'
        f'#& abadi 9999-12-31\n}},{{"id": "{FAR}","email": "abadi"\n'), 1))
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})],
                     {"grace_days": GRACE})
    return raw, path


async def test_a_line_with_a_date_out_of_range_is_skipped_and_named(sshd, tmp_path):
    raw, _ = extreme_world(tmp_path, sshd)
    (server,) = config.parse(raw, {}).servers
    found = await existing.read(server)
    assert [a.username for a in found.accounts] == ["alice"]
    assert found.skipped == 2
    assert len(found.notes) == 2
    assert any("kuno" in note and "0001-01-01" in note for note in found.notes)
    assert any("abadi" in note and "9999-12-31" in note for note in found.notes)
    assert not any(OLD in note or FAR in note for note in found.notes)  # no secret shown


async def test_import_and_reconcile_name_the_skipped_lines_without_a_traceback(
    sshd, tmp_path
):
    raw, _ = extreme_world(tmp_path, sshd)
    config_file = write_config(tmp_path / "config.toml", raw)
    Ledger.open(tmp_path / "ledger.sqlite3").close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return qrisbot(*args, config_file=config_file)

    done = await trio.to_thread.run_sync(run, "accounts", "import", "sg1")
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr
    assert "new     alice" in done.stdout
    for name, day in (("kuno", "0001-01-01"), ("abadi", "9999-12-31")):
        line = next(line for line in done.stdout.splitlines() if name in line)
        assert line.startswith("skipped") and day in line and "out of range" in line
    assert "1 imported" in done.stdout
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    assert [a.username for a in ledger.accounts()] == ["alice"]

    done = await trio.to_thread.run_sync(run, "servers", "reconcile", "sg1")
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr
    assert "sg1: no differences" in done.stdout
    assert sum(line.startswith("skipped") for line in done.stdout.splitlines()) == 2
    assert OLD not in done.stdout + done.stderr and FAR not in done.stdout + done.stderr


async def test_an_ssh_user_whose_expiry_no_calendar_holds_is_named(
    sshd, linux_users, tmp_path
):
    from test_ssh_import import menu_user

    linux_users += ["qbt_xnow", "qbt_xfar"]
    menu_user("qbt_xnow", expire="2027-02-01")
    menu_user("qbt_xfar", expire="2027-02-01")
    # As a hand-edited /etc/shadow may have it: an expiry day past any calendar.
    subprocess.run(["usermod", "-e", "9999-12-31", "qbt_xfar"], check=True)
    subprocess.run(["sed", "-i", r"s/^\(qbt_xfar:\([^:]*:\)\{6\}\)[0-9]*:/\199999999999:/",
                    "/etc/shadow"], check=True)
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())],
                     {"remind_days": []})
    (server,) = config.parse(raw, {}).servers
    found = await existing.read(server)
    names = {a.username for a in found.accounts}
    assert "qbt_xnow" in names and "qbt_xfar" not in names
    assert [n for n in found.notes if "qbt_x" in n] == [
        next(n for n in found.notes if "qbt_xfar" in n)]
