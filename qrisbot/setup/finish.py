"""The end of setup: the whole configuration checked as the unit will run it
(`check-config --online`, with secrets.env's variables), then the exact commands that
install and start the unit for the paths and user of this setup."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import qrisbot
from qrisbot.setup.session import Session

UNIT = "/etc/systemd/system/qrisbot.service"
# What contrib/qrisbot.service says; a setup with other paths gets a drop-in for them.
UNIT_CONFIG = "/etc/qrisbot/config.toml"
UNIT_USER = "qrisbot"
UNIT_STATE = "/var/lib/qrisbot"
UNIT_PROGRAM = "/usr/local/bin/qrisbot"


def check(s: Session) -> bool:
    """`qrisbot check-config --online` in a child process, its lines shown as they come."""
    s.terminal.say("checking")
    command = [sys.executable, "-m", "qrisbot", "check-config", "--online", "--config",
               str(s.config_path)]
    done = subprocess.run(command, env=s.environment(), check=False)  # noqa: S603
    return done.returncode == 0


def unit_commands(s: Session, database: str) -> list[str]:
    """Shell lines, in order, that install and start the unit for this setup."""
    lines = []
    program = Path(sys.executable).parent / "qrisbot"
    if not Path(UNIT_PROGRAM).exists() and program.exists():
        if program.is_relative_to("/root") or program.is_relative_to("/home"):
            s.terminal.say("unit_cannot_see", program=program)
        lines.append(f"ln -s {shlex.quote(str(program))} {UNIT_PROGRAM}")
    source = Path(qrisbot.__file__).resolve().parent.parent / "contrib" / "qrisbot.service"
    shown = shlex.quote(str(source)) if source.exists() else "contrib/qrisbot.service"
    lines.append(f"install -m 644 {shown} {UNIT}")
    drop_in = _drop_in(s, database)
    if drop_in:
        lines.append(f"mkdir -p {UNIT}.d && printf '%s\\n' "
                     + " ".join(shlex.quote(line) for line in drop_in)
                     + f" > {UNIT}.d/setup.conf")
    lines += ["systemctl daemon-reload", "systemctl enable --now qrisbot",
              "journalctl -u qrisbot -f"]
    return lines


def _drop_in(s: Session, database: str) -> list[str]:
    """The unit's settings that differ for this setup (none with the default paths)."""
    settings = []
    user = s.account.pw_name
    if user != UNIT_USER:
        settings += [f"User={user}", f"Group={user}"]
    if str(s.config_path) != UNIT_CONFIG:
        settings += [f"EnvironmentFile={s.secrets.path}", "ExecStart=",
                     f"ExecStart={UNIT_PROGRAM} run --config {s.config_path}",
                     f"ReadOnlyPaths={s.folder}"]
    ledger = Path(database)
    if ledger.is_absolute() and ledger.parent != Path(UNIT_STATE):
        settings.append(f"ReadWritePaths={ledger.parent}")  # ProtectSystem=strict
    return ["[Service]", *settings] if settings else []
