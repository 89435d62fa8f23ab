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
from qrisbot.provision.errors import NoAnswer, ServerError

log = logging.getLogger("qrisbot.ssh")


class SshError(ServerError):
    """Base of what can go wrong talking to a server over SSH."""


class HostKeyRejected(SshError):
    """The server's key is unknown or differs from the one in known_hosts."""

    silent = True


class Unreachable(SshError):
    """Connecting, authenticating or the connection itself failed."""

    silent = True


class TimedOut(SshError, NoAnswer):
    """The server did not finish a call (connect, session, command, exit status) in time."""


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
        # The longest a whole call may take: connecting (TCP, banner, login), opening the
        # session, and the command under `timeout`, with a margin for the network.
        self.deadline = 3 * access.connect_timeout + access.command_timeout + 5
        self._turn = trio.Lock()
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()  # guards _client against close() from another thread

    async def run(self, command: str, stdin: bytes = b"") -> Result:
        """Run `command` under `timeout`; `stdin` carries secrets (never the command line).

        Ends by `deadline` whatever the server does: paramiko's own waits (exec request,
        exit status) have no timeout, so the worker thread is abandoned and its connection
        closed, which wakes it. Raises only SshError (or Cancelled).
        """
        wrapped = f"timeout {self.access.command_timeout} sh -c {shlex.quote(command)}"
        used: list[paramiko.SSHClient] = []  # the client the worker thread took, if any
        with trio.move_on_after(self.deadline):
            try:
                async with self._turn:
                    return await trio.to_thread.run_sync(
                        self._run, wrapped, stdin, used, abandon_on_cancel=True)
            except trio.Cancelled:
                self._discard(used)
                raise
        self._discard(used)
        log.warning("%s: no answer within %d s; connection dropped", self.label, self.deadline)
        raise TimedOut(f"{self.label}: no answer within {self.deadline:g} s")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _discard(self, used: list[paramiko.SSHClient]) -> None:
        """Close the client a (possibly still running) call used, if it is still current."""
        with self._lock:
            for client in used:
                client.close()
                if self._client is client:
                    self._client = None

    def _run(self, command: str, stdin: bytes, used: list[paramiko.SSHClient]) -> Result:
        try:
            return self._exec(command, stdin, used)
        except SshError:
            self._discard(used)
            raise
        except TimeoutError:
            self._discard(used)
            raise TimedOut(f"{self.label}: the command did not finish in time") from None
        except Exception as exc:  # noqa: BLE001 - paramiko raises many kinds; all mean the same
            self._discard(used)
            raise Unreachable(f"{self.label}: {_describe(exc)}") from None

    def _exec(self, command: str, stdin: bytes, used: list[paramiko.SSHClient]) -> Result:
        channel = self._session(used)
        try:
            channel.settimeout(self.access.command_timeout + 15)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = _drain(channel, self.label)
            status = channel.recv_exit_status()
        finally:
            channel.close()
        if status == -1:
            raise CommandFailed(f"{self.label}: the session ended without an exit status",
                                -1, "")
        return Result(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _session(self, used: list[paramiko.SSHClient]) -> paramiko.Channel:
        client, reused = self._connected(used)
        try:
            return self._open(client)
        except (paramiko.SSHException, EOFError, OSError):
            if not reused:
                raise
        # The kept connection died while idle; nothing was started, so one retry is safe.
        self._discard(used)
        client, _ = self._connected(used)
        return self._open(client)

    def _open(self, client: paramiko.SSHClient) -> paramiko.Channel:
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise paramiko.SSHException("connection closed")
        return transport.open_session(timeout=self.access.connect_timeout)

    def _connected(self, used: list[paramiko.SSHClient]) -> tuple[paramiko.SSHClient, bool]:
        """The kept client (True) or a new one (False), added to `used` at once so that an
        abandoned call can close it even while it connects."""
        with self._lock:
            if self._client is not None:
                used.append(self._client)
                return self._client, True
        access = self.access
        client = paramiko.SSHClient()
        used.append(client)
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
        return client, False


def _describe(exc: BaseException) -> str:
    """A failure in words fit for the admin: paramiko's own messages name no secret."""
    if isinstance(exc, paramiko.ChannelException):
        return f"session refused ({exc.text})"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH failed ({str(exc)[:120] or type(exc).__name__})"
    if isinstance(exc, EOFError):
        return "connection closed by the server"
    return f"connection lost ({type(exc).__name__})"


def _drain(channel: paramiko.Channel, label: str) -> tuple[bytes, bytes]:
    """Read stdout, then stderr, to the end (before asking for the exit status).

    Our commands print little; a runaway one is cut off rather than read forever.
    """
    streams = []
    for receive in (channel.recv, channel.recv_stderr):
        data = bytearray()
        while chunk := receive(65536):
            data += chunk
            if len(data) > 1 << 20:
                raise CommandFailed(f"{label}: the command printed too much", -1, "")
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
