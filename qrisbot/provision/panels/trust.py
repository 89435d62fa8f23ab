"""`qrisbot servers trust ID` for a panel server: show its certificate's fingerprint and,
once the operator confirms it, pin it (as the SSH branch does with a host key)."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import trio

from qrisbot import unit_files
from qrisbot.config import Panel
from qrisbot.provision.panels import pins

EXIT_OK, EXIT_FAILURE = 0, 1
SECONDS = 15.0


def trust(server_id: str, panel: Panel, yes: bool, ask: Callable[[str], str] = input, *,
          config_path: str | None = None) -> int:
    url = panel.url
    if urlsplit(url).scheme != "https":
        print(f"{server_id}: {pins.origin(url)} is plain http on this machine; nothing to pin")
        return EXIT_OK
    try:
        shown = trio.run(_presented, url)
    except trio.TooSlowError:
        return _fail(f"{server_id}: {pins.origin(url)} did not answer within "
                     f"{SECONDS:g} s; nothing written")
    except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no TLS"
        return _fail(f"{server_id}: cannot reach {pins.origin(url)} over TLS ({reason}); "
                     "nothing written")
    print(f"{server_id} ({pins.origin(url)}) presents a certificate with SHA-256 "
          f"fingerprint {shown.fingerprint}")
    old = pins.pinned(panel.pins, url)
    if old == shown.fingerprint:
        print(f"already pinned in {panel.pins}")
        return _shared(panel.pins, config_path)
    if old:
        return _fail(
            f"WARNING: {panel.pins} pins a DIFFERENT certificate for {pins.origin(url)} "
            f"({old}). If you replaced the panel's certificate, delete that line and run "
            "this again; otherwise someone may be in the middle.")
    if shown.untrusted_because is None:
        print("a public authority vouches for it under this name: no pin is needed")
        return EXIT_OK
    print(f"(not publicly trusted: {shown.untrusted_because})")
    print("Compare it on the panel's machine: openssl x509 -noout -fingerprint -sha256 "
          "-in <the panel's certificate file>")
    if not yes:
        try:
            answer = ask(f"Pin this certificate for {server_id}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            return _fail("not pinned; nothing written")
    pins.add(panel.pins, url, shown.fingerprint)
    print(f"pinned in {panel.pins}")
    return _shared(panel.pins, config_path)


async def _presented(url: str) -> pins.Presented:
    with trio.fail_after(SECONDS):
        return await pins.presented(url)


def _shared(path: str, config_path: str | None) -> int:
    problem = config_path and unit_files.share(path, config_path)
    return _fail(f"{problem}; the daemon cannot reach the panel until it can read it"
                 ) if problem else EXIT_OK


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_FAILURE
