"""`qrisbot servers check` and `check-config --online` for a panel server: can the shop reach
the panel, trust it, log in, and sell on what is configured?

The network and TLS are looked at here, before a password is sent; the rest (login,
version, inbounds or groups) is the backend's own `check()`, which knows its panel's API.
Every finding is one line a seller acts on; none carries a secret.
"""

from __future__ import annotations

import enum
import os
import ssl
import time
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs
import trio

from qrisbot.config import Server, is_loopback, panel_variable
from qrisbot.provision.panels import pins

SECONDS: Final = 15.0  # to connect, and for the TLS handshake


class Verdict(enum.Enum):
    OK = "ok"
    MISSING = "MISSING"  # something configured is not on the panel
    FAILED = "FAILED"


@attrs.frozen
class Finding:
    verdict: Verdict
    text: str

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def ok(text: str) -> Finding:
    return Finding(Verdict.OK, text)


def missing(text: str) -> Finding:
    return Finding(Verdict.MISSING, text)


def failed(text: str) -> Finding:
    return Finding(Verdict.FAILED, text)


@runtime_checkable
class Checked(Protocol):
    """A panel backend that can look at its own panel (login, version, inbounds)."""

    async def check(self) -> list[Finding]: ...


@attrs.frozen
class PanelReport:
    server: Server
    findings: tuple[Finding, ...]
    connect_ms: float | None = None  # None: not reached

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def where(self) -> str:
        assert self.server.panel is not None
        return f"{self.server.panel.type} panel at {pins.origin(self.server.panel.url)}"


async def check(server: Server, backend: object) -> PanelReport:
    """Reach the panel, look at its certificate, then let the backend (the server's own,
    from the registry) log in and look."""
    panel = server.panel
    assert panel is not None and isinstance(backend, Checked)
    parts = urlsplit(panel.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    origin = pins.origin(panel.url)
    started = time.monotonic()
    connect_ms: float | None = None
    with trio.move_on_after(SECONDS):
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            return PanelReport(server, (failed(
                f"reachable: cannot connect to {origin} ({_why(exc)}): is the panel "
                "running, and panel.url its address and port?"),))
        connect_ms = (time.monotonic() - started) * 1000
        await trio.aclose_forcefully(stream)
    if connect_ms is None:
        return PanelReport(server, (failed(
            f"reachable: {origin} did not take a connection within {SECONDS:g} s: is a "
            "firewall in the way?"),))
    found = [ok(f"reachable: connected to {origin} in {connect_ms:.0f} ms")]
    tls = await _tls(server, host)
    found.append(tls)
    if tls.ok:
        found.extend(await backend.check())
    return PanelReport(server, tuple(found), connect_ms)


async def _tls(server: Server, host: str) -> Finding:
    panel = server.panel
    assert panel is not None
    if urlsplit(panel.url).scheme != "https":
        if is_loopback(host):
            return ok("TLS: none needed, plain http on this machine (loopback)")
        return failed("TLS: plain http over the network: use the panel's https:// address")
    pinned = pins.pinned(panel.pins, panel.url)
    try:
        with trio.fail_after(SECONDS):
            shown = await pins.presented(panel.url)
    except (trio.TooSlowError, OSError, trio.BrokenResourceError, ssl.SSLError):
        return failed(f"TLS: no TLS handshake with {pins.origin(panel.url)}: is panel.url "
                      "the panel's https address (3x-ui: is its certificate set)?")
    if pinned == shown.fingerprint:
        return ok(f"TLS: certificate pinned in {panel.pins} and matching")
    if pinned:
        return failed(
            f"TLS: the certificate ({shown.fingerprint}) is NOT the one pinned ({pinned}): "
            "if you replaced the panel's certificate, delete its line in "
            f"{panel.pins} and run qrisbot servers trust {server.id}; otherwise someone may "
            "be in the middle")
    if shown.untrusted_because is None:
        return ok("TLS: certificate valid, from a public authority")
    return failed(f"TLS: certificate not trusted ({shown.untrusted_because}): compare and "
                  f"pin it: qrisbot servers trust {server.id}")


def not_logged_in(server: Server, error: Exception) -> Finding:
    """The login (or the first call, with a token) failed: what the panel said, and what
    to change when it refused the shop's credentials."""
    panel = server.panel
    assert panel is not None
    if getattr(error, "transient", True):
        return failed(f"logged in: {error}")
    keys = "panel.token" if panel.token else "panel.username and panel.password"
    variable = panel_variable(server.id, "token" if panel.token else "password")
    return failed(f"logged in: {str(error).rstrip('.')}: check {keys} (or {variable})")


def _why(error: OSError) -> str:
    """The system's reason (trio wraps each address's failure in one OSError)."""
    for exc in (error, error.__cause__, *getattr(error.__cause__, "exceptions", ())):
        if isinstance(exc, OSError) and exc.errno:
            return os.strerror(exc.errno)
    return "no connection"
