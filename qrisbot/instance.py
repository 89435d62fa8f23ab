"""One daemon per ledger: `qrisbot run` holds a lock beside the ledger while it runs.

Two daemons on one ledger (a unit plus a forgotten manual run) would both resume and
provision the same orders. The lock is an flock on `<ledger>.run`, which the kernel drops
when the process dies however it dies; the file names the holder's pid for the message.
The operator commands (retry, refund, backup) do not take it: they work beside the daemon.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class InUse(Exception):
    """Another process runs the shop on this ledger."""


@contextmanager
def sole_daemon(ledger: str | Path) -> Iterator[None]:
    path = Path(f"{ledger}.run")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise InUse(f"the ledger {ledger} is in use by another qrisbot (process "
                        f"{holder}); stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
