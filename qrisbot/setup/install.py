"""What setup puts on this machine: the unit's user, folders and files, each with the owner
and mode the daemon needs and nobody else gets (the unit reads as User=/Group= the same
name; systemd reads secrets.env as root).

    <config folder>/            root:<group> 0750
      config.toml               root:<group> 0640   (no secret in it)
      id_ed25519, known_hosts   root:<group> 0640
      secrets.env               root:root    0600
    <ledger folder>/            <user>:<group> 0700 (the daemon makes the ledger in it)
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

HOME = "/var/lib/qrisbot"


class InstallError(Exception):
    """Something this machine refused (useradd, a chown); the message says what."""


def unit_account(name: str) -> tuple[pwd.struct_passwd, bool]:
    """The unit's user, made (a system user with its own group, no login) if missing;
    True when it was made now."""
    try:
        return pwd.getpwnam(name), False
    except KeyError:
        pass
    shell = shutil.which("nologin") or "/usr/sbin/nologin"
    done = subprocess.run(  # noqa: S603 - a fixed program; the name was checked by the caller
        [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--user-group",
         "--home-dir", HOME, "--no-create-home", "--shell", shell, name],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"useradd {name}: {done.stderr.strip() or done.returncode}")
    return pwd.getpwnam(name), True


def folder(path: Path, uid: int, gid: int, mode: int) -> None:
    """`path` with this owner and mode (its missing parents are made root's, 0755)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(mode)


def write(path: Path, text: str, uid: int, gid: int, mode: int) -> None:
    """Replace `path` whole: a file beside it, owned and moded before a byte is written,
    renamed over it (a reader sees the old file or the new one, never half of one)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def give(path: Path, gid: int, mode: int) -> None:
    """A file setup made (or another command did) for the daemon: root's, its group's."""
    os.chown(path, 0, gid)
    path.chmod(mode)
