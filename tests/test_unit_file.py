"""contrib/qrisbot.service: systemd accepts it, and it keeps what the daemon relies on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from qrisbot.app import EXIT_TOKEN_REFUSED, GRACE
from qrisbot.cli import EXIT_CONFIG, EXIT_FAILURE

UNIT = Path(__file__).parent.parent / "contrib" / "qrisbot.service"
INSTALLED = "/usr/local/bin/qrisbot"


def verify(text: str, directory: Path) -> str:
    """systemd-analyze's complaints (it exits 0 on most of them, so the output is the verdict)."""
    # The unit names the installed command; point it at this checkout's so it exists here.
    unit = directory / "qrisbot.service"
    unit.write_text(text.replace(INSTALLED, str(Path(sys.executable).parent / "qrisbot")))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    return f"{result.returncode}: {result.stdout}{result.stderr}".strip()


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: `make test` installs it"
    text = UNIT.read_text()
    assert INSTALLED in text
    assert verify(text, tmp_path) == "0:"
    assert "Failed to parse service type" in verify(
        text.replace("Type=notify", "Type=notifyy"), tmp_path)


def test_unit_keeps_what_the_daemon_relies_on():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    service = parser["Service"]
    assert service["Type"] == "notify"  # READY=1 after resume and polling, STOPPING=1
    assert int(service["WatchdogSec"]) >= 30
    assert int(service["TimeoutStopSec"]) > GRACE  # running provisioning may finish
    assert service["User"] == "qrisbot" and service["StateDirectory"] == "qrisbot"
    assert service["EnvironmentFile"].startswith("-/etc/qrisbot/")
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert "/etc/qrisbot" in service["ReadOnlyPaths"]  # config, SSH key, known_hosts
    # A refused token or a bad configuration does not heal by restarting every 2 s; a
    # ledger held by another daemon (exit 1) may: the unit takes over once it is gone.
    final = set(service["RestartPreventExitStatus"].split())
    assert {str(EXIT_TOKEN_REFUSED), str(EXIT_CONFIG)} <= final
    assert str(EXIT_FAILURE) not in final
