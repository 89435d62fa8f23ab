"""systemd's notify protocol (Type=notify): READY, STOPPING, STATUS and watchdog pings.

Without NOTIFY_SOCKET (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

import trio

log = logging.getLogger("qrisbot")


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET")
    if address and address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    return address or None


def notify(message: str) -> None:
    address = _address()
    if address is None:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # never hold the event loop for systemd
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc.strerror)


async def watchdog() -> None:
    """Ping systemd's watchdog from the event loop (a stuck loop stops the pings).

    One socket for all pings, opened at the start: a ping must not need a new descriptor,
    which a flood of connections could have used up.
    """
    try:
        interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 1_000_000
    except ValueError:
        return
    address = _address()
    if interval <= 0 or address is None:
        return
    sock: socket.socket | None = None
    failing = False
    try:
        while True:
            try:
                if sock is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sock.setblocking(False)  # a full queue drops a ping, never blocks
                    sock.connect(address)
                sock.send(b"WATCHDOG=1")
                failing = False
            except OSError as exc:
                if not failing:
                    log.warning("could not ping systemd's watchdog: %s",
                                exc.strerror or type(exc).__name__)
                failing = True
                if sock is not None and not isinstance(exc, BlockingIOError):
                    sock.close()
                    sock = None
            await trio.sleep(interval / 2)
    finally:
        if sock is not None:
            sock.close()
