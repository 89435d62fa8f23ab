"""A real OpenSSH server on a free loopback port, with throwaway keys, for the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import attrs

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@attrs.frozen
class Sshd:
    port: int
    directory: Path
    key_file: Path
    known_hosts: Path
    host_key_line: str
    process: subprocess.Popen[bytes]

    def access(self, **overrides: object) -> dict[str, object]:
        """The `ssh = {...}` table of a server entry pointing at this sshd."""
        return {
            "host": "127.0.0.1", "port": self.port, "user": "root",
            "key_file": str(self.key_file), "known_hosts": str(self.known_hosts),
            "connect_timeout": 10, "command_timeout": 30, **overrides,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qrisbot-test", "-f", str(path)],
        check=True,
    )


def start(directory: Path) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    keygen(directory / "host_ed25519")
    keygen(directory / "client_ed25519")
    shutil.copy(directory / "client_ed25519.pub", directory / "authorized_keys")
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory}/host_ed25519\n"
        f"PidFile {directory}/sshd.pid\nAuthorizedKeysFile {directory}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowTcpForwarding yes\nMaxSessions 50\nMaxStartups 50\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    process = subprocess.Popen([SSHD, "-D", "-E", str(directory / "sshd.log"), "-f", str(config)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sshd did not start") from None
            time.sleep(0.05)
    key_type, key_data = (directory / "host_ed25519.pub").read_text().split()[:2]
    line = f"[127.0.0.1]:{port} {key_type} {key_data}\n"
    (directory / "known_hosts").write_text(line)
    return Sshd(port, directory, directory / "client_ed25519", directory / "known_hosts",
                line, process)


def stop(server: Sshd) -> None:
    server.process.terminate()
    try:
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        server.process.kill()
