"""Host keys for `qrisbot servers trust`: fetch a server's key, show it, add it on request.

The shop itself never adds a key (paramiko's RejectPolicy); this is the operator's only
supported way to trust one, after comparing the fingerprint with the server's own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from pathlib import Path

import paramiko

from qrisbot.config import SshAccess
from qrisbot.provision.ssh.connections import Unreachable


def fetch(access: SshAccess) -> paramiko.PKey:
    """The key the server presents (no login is attempted). Unreachable says in one line
    why not: the host name, the connection, or the SSH handshake."""
    where = f"cannot reach {access.host}:{access.port}"
    try:
        sock = socket.create_connection((access.host, access.port), access.connect_timeout)
    except socket.gaierror:
        raise Unreachable(f"{where}: no such host name (check ssh.host)") from None
    except TimeoutError:
        raise Unreachable(f"{where}: no answer within {access.connect_timeout:g} s (is the "
                          "server up, and is a firewall dropping the port?)") from None
    except ConnectionRefusedError:
        raise Unreachable(f"{where}: connection refused (is sshd running on that port? "
                          "check ssh.port)") from None
    except OSError as exc:
        raise Unreachable(f"{where}: {exc.strerror or type(exc).__name__}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = access.connect_timeout
        transport.start_client(timeout=access.connect_timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise Unreachable(f"{access.host}:{access.port} answered, but not as an SSH server "
                          f"(no SSH handshake: {type(exc).__name__}; check ssh.port)"
                          ) from None
    finally:
        transport.close()


def fingerprint(key: paramiko.PKey) -> str:
    """As OpenSSH prints it: SHA256:<base64 without padding>."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def entry_name(access: SshAccess) -> str:
    return access.host if access.port == 22 else f"[{access.host}]:{access.port}"


def known(access: SshAccess) -> dict[str, paramiko.PKey]:
    """The keys known_hosts already holds for this server, by key type."""
    path = Path(access.known_hosts)
    if not path.exists():
        return {}
    keys = paramiko.HostKeys(str(path)).lookup(entry_name(access))
    return {name: keys[name] for name in keys} if keys is not None else {}


def add(access: SshAccess, key: paramiko.PKey) -> None:
    """Append the key to known_hosts (created 0600 if missing)."""
    line = f"{entry_name(access)} {key.get_name()} {key.get_base64()}\n"
    path = Path(access.known_hosts)
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        line = "\n" + line
    fd = os.open(access.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as file:
        file.write(line)
