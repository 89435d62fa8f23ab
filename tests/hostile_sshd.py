"""An SSH server on loopback that misbehaves on purpose (paramiko's server side).

Any client key is accepted. `mode` says how it treats the next session, and can change at
any time:
- "answer": every command ends at once with exit status 1 and no output
- "refuse": the session channel is refused ("Administratively prohibited")
- "slow-open": the session opens only after a minute
- "no-exit": the command is accepted, then the channel closes without an exit status
- "silent": the exec request is never answered
- "mute": the command is accepted and then never prints or ends
- "flood": the command prints forever
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paramiko

MODES = ("answer", "refuse", "slow-open", "no-exit", "silent", "mute", "flood")
_HOST_KEY: list[paramiko.RSAKey] = []  # one generated key for every server of the run


class HostileSshd:
    def __init__(self, mode: str = "answer") -> None:
        assert mode in MODES
        self.mode = mode
        self.commands: list[str] = []
        self._stop = threading.Event()
        if not _HOST_KEY:
            _HOST_KEY.append(paramiko.RSAKey.generate(2048))
        self.key = _HOST_KEY[0]
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def known_hosts(self, path: Path) -> Path:
        path.write_text(f"[127.0.0.1]:{self.port} {self.key.get_name()} "
                        f"{self.key.get_base64()}\n")
        return path

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for transport in self._transports:
            transport.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: HostileSshd) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        mode = self.server.mode
        if mode == "refuse":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if mode == "slow-open":
            self.server.wait(60)
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.server.commands.append(command.decode(errors="replace"))
        mode = self.server.mode
        if mode == "silent":
            self.server.wait(3600)  # holds the transport's thread: no reply ever goes out
            return False
        threading.Thread(target=self._behave, args=(channel, mode), daemon=True).start()
        return True

    def _behave(self, channel: paramiko.Channel, mode: str) -> None:
        self.server.wait(0.1)  # the transport sends the exec reply once this method returned
        try:
            if mode == "answer":
                channel.send_exit_status(1)
                channel.close()
            elif mode == "no-exit":
                channel.close()
            elif mode == "mute":
                self.server.wait(3600)
            elif mode == "flood":
                chunk = b"x" * 32768
                while not channel.closed and not self.server._stop.is_set():
                    channel.sendall(chunk)
        except (OSError, EOFError, paramiko.SSHException):
            pass
