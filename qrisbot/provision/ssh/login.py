"""Does a password open an SSH account? A real login on the server's sshd, the test a
buyer's own client makes: host key verified against known_hosts, password offered, the
connection closed at once (no session, no command, nothing written on the server).

Used to prove a claim on an account made before the shop: the shop only ever had its hash
on the server. paramiko blocks, so the attempt runs in a worker thread under a deadline.
"""

from __future__ import annotations

import socket

import paramiko
import trio

from qrisbot.config import SshAccess
from qrisbot.provision.ssh.connections import HostKeyRejected, TimedOut, Unreachable
from qrisbot.provision.ssh.hostkeys import known


async def password_opens(access: SshAccess, username: str, password: str) -> bool:
    """True when sshd accepts `password` for `username`; False when it refuses it.
    Raises SshError when the question could not be asked (down, key changed, slow)."""
    deadline = 3 * access.connect_timeout + 5
    with trio.move_on_after(deadline):
        return await trio.to_thread.run_sync(_attempt, access, username, password,
                                             abandon_on_cancel=True)
    raise TimedOut(f"{access.host}:{access.port}: no answer within {deadline:g} s")


def _attempt(access: SshAccess, username: str, password: str) -> bool:
    label = f"{access.host}:{access.port}"
    trusted = known(access)
    try:
        sock = socket.create_connection((access.host, access.port), access.connect_timeout)
    except OSError as exc:
        raise Unreachable(f"{label}: cannot connect ({type(exc).__name__})") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.auth_timeout = access.connect_timeout
        transport.start_client(timeout=access.connect_timeout)
        key = transport.get_remote_server_key()
        if trusted.get(key.get_name()) != key:
            raise HostKeyRejected(f"{label}: host key unknown or changed; refusing")
        try:
            transport.auth_password(username, password)
        except paramiko.AuthenticationException:
            return False  # wrong password, expired or locked: the proof fails either way
        return transport.is_authenticated()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise Unreachable(f"{label}: SSH failed ({type(exc).__name__})") from None
    finally:
        transport.close()
