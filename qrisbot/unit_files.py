"""The files the daemon reads under its unit (each server's key_file and known_hosts): who
the daemon runs as, whether it can read them, and sharing a file the CLI writes for it.

The operator runs the CLI as root; the unit runs as its own user. Its group is the config
file's group (the README installs config.toml root:qrisbot 0640); its user is the config
file's owner unless that is root, else the user named like that group (the unit's
User=qrisbot Group=qrisbot), or whoever `servers check --unit-user` names.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable, Iterable
from pathlib import Path


class UnknownUser(Exception):
    """`--unit-user` names no user of this machine."""


def unit_user(config_path: str | os.PathLike[str], name: str | None = None
              ) -> pwd.struct_passwd | None:
    """The daemon's user, or None when it is root (or cannot be told)."""
    if name is not None:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise UnknownUser(f"--unit-user {name}: no such user") from None
    st = os.stat(config_path)
    if st.st_uid != 0:
        return pwd.getpwuid(st.st_uid)
    if st.st_gid == 0:
        return None
    try:
        account = pwd.getpwnam(grp.getgrgid(st.st_gid).gr_name)
    except KeyError:
        return None
    return account if account.pw_uid != 0 else None


def unreadable(account: pwd.struct_passwd, paths: Iterable[str]
               ) -> dict[str, str] | None:
    """The paths `account` cannot open for reading, with why; None when this process
    cannot tell (it is neither root nor that user). Tried for real, as that user (in a
    child process with its uid, gid and groups), so folders, ACLs and modes all count."""
    paths = list(paths)
    report = as_user(account, lambda: "\n".join(
        f"{p}\0{why}" for p, why in _try(paths).items()))
    if report is None:
        return None
    return dict(line.split("\0", 1) for line in report.splitlines() if line)


def as_user(account: pwd.struct_passwd, probe: Callable[[], str]) -> str | None:
    """What `probe` returns when run as `account`: here when this process is that user,
    else in a child process with its uid, gid and groups. None when this process can
    become neither (it is not root) or the child failed. `probe` makes only system calls
    (it runs in a forked child of a threaded process)."""
    if os.geteuid() == account.pw_uid:
        return probe()
    if os.geteuid() != 0:
        return None
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        status = 1
        try:
            os.close(reader)
            os.setgroups(os.getgrouplist(account.pw_name, account.pw_gid))
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.write(writer, probe().encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    chunks = []
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
    os.close(reader)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks).decode() if status == 0 else None


def _try(paths: list[str]) -> dict[str, str]:
    failed = {}
    for path in paths:
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as exc:
            failed[path] = exc.strerror or type(exc).__name__
    return failed


def share(path: str | os.PathLike[str], config_path: str | os.PathLike[str]) -> str | None:
    """Give a file the CLI wrote for the daemon to the config file's group, readable by it
    (never by others). Returns what could not be done, or None."""
    gid = os.stat(config_path).st_gid
    target = Path(path)
    try:
        if target.stat().st_gid != gid:
            os.chown(target, -1, gid)
        target.chmod((target.stat().st_mode & 0o7777) | 0o040)
    except PermissionError as exc:
        return f"could not make {target} readable by group {group_name(gid)} ({exc.strerror})"
    return None


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
