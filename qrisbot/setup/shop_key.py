"""The shop's own SSH key (ed25519, no passphrase: the daemon logs in unattended): made
once, readable by the unit's group; its public line is what the seller puts on a server."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class BadKey(Exception):
    """A key_file that is there but cannot be used (the message names it, never its bytes)."""


def ensure(path: Path, gid: int) -> tuple[str, bool]:
    """The public line of the key at `path`, making the key if there is none (root's, the
    group's to read, 0640); True when it was made now."""
    made = False
    if not path.parent.is_dir():
        raise BadKey(f"{path}: no folder {path.parent} for the shop's key")
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchown(fd, 0, gid)
            os.fchmod(fd, 0o640)
            os.write(fd, private)
        finally:
            os.close(fd)
        made = True
    try:
        loaded = paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise BadKey(f"{path}: not a private key without passphrase "
                     f"({type(exc).__name__})") from None
    return f"{loaded.get_name()} {loaded.get_base64()} qrisbot@{socket.gethostname()}", made


def authorize_command(public_line: str) -> str:
    """The one line the seller runs on the server (as root) to let the shop in."""
    return ("mkdir -p ~/.ssh && chmod 700 ~/.ssh && "
            f"echo '{public_line}' >> ~/.ssh/authorized_keys && "
            "chmod 600 ~/.ssh/authorized_keys")
