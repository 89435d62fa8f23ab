"""One reused, host-key-verified SSH connection per server; commands run one at a time.

paramiko is blocking, so every command runs in a worker thread. A one-slot limiter per
connection serialises the commands sent to a server: two buyers on the same server never
edit its files at the same moment, and one SSHClient is never used by two threads.
"""

from __future__ import annotations

import logging
import shlex
import threading

import attrs
import paramiko
import trio

from qrisbot.config import SshAccess

log = logging.getLogger("qrisbot.ssh")


class SshError(Exception):
    """Base of what can go wrong talking to a server."""


class HostKeyRejected(SshError):
    """The server's key is unknown or differs from the one in known_hosts."""


class Unreachable(SshError):
    """Connecting, authenticating or the connection itself failed."""


class CommandFailed(SshError):
    def __init__(self, message: str, status: int, stderr: str) -> None:
        super().__init__(message)
        self.status = status
        self.stderr = stderr


@attrs.frozen
class Result:
    status: int
    stdout: str
    stderr: str


class Connection:
    def __init__(self, access: SshAccess) -> None:
        self.access = access
        self.label = f"{access.user}@{access.host}:{access.port}"
        self._limiter = trio.CapacityLimiter(1)
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()  # guards _client against close() from another thread

    async def run(self, command: str, stdin: bytes = b"") -> Result:
        """Run `command` under `timeout`; `stdin` carries secrets (never the command line)."""
        wrapped = f"timeout {self.access.command_timeout} sh -c {shlex.quote(command)}"
        return await trio.to_thread.run_sync(self._run, wrapped, stdin, limiter=self._limiter)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _run(self, command: str, stdin: bytes) -> Result:
        try:
            channel = self._session()
        except paramiko.SSHException:
            # The connection died while idle; the command was not started, so one retry is safe.
            self.close()
            channel = self._session()
        try:
            channel.settimeout(self.access.command_timeout + 15)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = _drain(channel)
            status = channel.recv_exit_status()
        except TimeoutError:
            self.close()
            raise CommandFailed("the command did not finish in time", -1, "") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise Unreachable(f"{self.label}: connection lost ({type(exc).__name__})") from None
        finally:
            channel.close()
        return Result(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _session(self) -> paramiko.Channel:
        client = self._connected()
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            self.close()
            client = self._connected()
            transport = client.get_transport()
            assert transport is not None
        return transport.open_session(timeout=self.access.connect_timeout)

    def _connected(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None:
                return self._client
        access = self.access
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(access.known_hosts)
        except OSError as exc:
            raise HostKeyRejected(
                f"{self.label}: cannot read known_hosts {access.known_hosts} ({exc.strerror})"
            ) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            key = paramiko.PKey.from_path(access.key_file)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise Unreachable(
                f"{self.label}: cannot load key_file {access.key_file} ({type(exc).__name__})"
            ) from None
        try:
            client.connect(
                access.host, port=access.port, username=access.user, pkey=key,
                allow_agent=False, look_for_keys=False, timeout=access.connect_timeout,
                banner_timeout=access.connect_timeout, auth_timeout=access.connect_timeout,
                channel_timeout=access.connect_timeout,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise HostKeyRejected(
                f"{self.label}: host key CHANGED, differs from {access.known_hosts}; refusing"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise Unreachable(f"{self.label}: authentication refused") from None
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc):
                raise HostKeyRejected(
                    f"{self.label}: host key unknown (not in {access.known_hosts}); refusing"
                ) from None
            raise Unreachable(f"{self.label}: SSH failed ({exc})") from None
        except (OSError, EOFError) as exc:
            client.close()
            raise Unreachable(f"{self.label}: cannot connect ({type(exc).__name__})") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)
        log.info("connected to %s", self.label)
        with self._lock:
            self._client = client
        return client


def _drain(channel: paramiko.Channel) -> tuple[bytes, bytes]:
    """Read stdout, then stderr, to the end (before asking for the exit status).

    Our commands print little; a runaway one is cut off rather than read forever.
    """
    streams = []
    for receive in (channel.recv, channel.recv_stderr):
        data = bytearray()
        while chunk := receive(65536):
            data += chunk
            if len(data) > 1 << 20:
                raise CommandFailed("the command printed too much", -1, "")
        streams.append(bytes(data))
    return streams[0], streams[1]


class Connections:
    """One Connection per (host, port, user): servers on the same VPS share it (and its lock)."""

    def __init__(self) -> None:
        self._by_target: dict[tuple[str, int, str], Connection] = {}

    def get(self, access: SshAccess) -> Connection:
        target = (access.host, access.port, access.user)
        if target not in self._by_target:
            self._by_target[target] = Connection(access)
        return self._by_target[target]

    def close(self) -> None:
        for connection in self._by_target.values():
            connection.close()
