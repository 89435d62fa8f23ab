"""systemd's notify protocol (Type=notify): READY, STOPPING, STATUS and watchdog pings.

Without NOTIFY_SOCKET (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

import trio

log = logging.getLogger("qrisbot")


def notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc.strerror)


async def watchdog() -> None:
    """Ping systemd's watchdog from the event loop (a stuck loop stops the pings)."""
    try:
        interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 1_000_000
    except ValueError:
        return
    if interval <= 0:
        return
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval / 2)
