"""Pinned certificates: a panel with a self-signed certificate is trusted like an SSH host.

`qrisbot servers trust ID` shows the SHA-256 fingerprint of the certificate the panel
presents (as `openssl x509 -noout -fingerprint -sha256` prints it, to compare on the
panel's machine) and, once confirmed, adds a line `<host>:<port> <fingerprint>` to the
panel's `pins` file (by default `panel_pins` beside config.toml, next to known_hosts).
A panel whose origin has a pin is reached only if it presents exactly that certificate;
one without a pin needs a certificate a public authority signed for its name.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import trio


def origin(url: str) -> str:
    """`host:port` of a panel URL, as its pin is filed ([v6]:port for an IPv6 address)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def fingerprint(der: bytes) -> str:
    """SHA-256 of the certificate as openssl prints it: AB:CD:... (upper case)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def read(path: str | os.PathLike[str]) -> dict[str, str]:
    """origin -> fingerprint; a file not made yet pins nothing. Lines that are not an
    origin and a fingerprint (comments, blanks) are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    pins = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#") and len(fields[1]) == 95:
            pins[fields[0]] = fields[1].upper()
    return pins


def pinned(path: str | os.PathLike[str], url: str) -> str | None:
    return read(path).get(origin(url)) if path else None


def add(path: str | os.PathLike[str], url: str, print_: str) -> None:
    """File `print_` as the pin of `url`'s origin (replacing an older pin of it), written
    whole to a new file that replaces the old one, so a reader never sees half of it."""
    target = Path(path)
    key = origin(url)
    kept = [line for line in (target.read_text(encoding="utf-8").splitlines()
                              if target.exists() else [])
            if line.split()[:1] != [key]]
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in [*kept, f"{key} {print_}"]))
    os.chmod(name, 0o640)  # readable by the daemon's group, like known_hosts
    os.replace(name, target)


@attrs.frozen
class Presented:
    """The certificate a panel presents: its fingerprint, and why a public authority's
    check refuses it (None: it passes, no pin is needed)."""

    fingerprint: str
    untrusted_because: str | None


async def presented(url: str) -> Presented:
    """Connect to the panel (nothing is sent) and say what certificate it presents.

    Raises OSError (or trio.BrokenResourceError) when it cannot be reached; callers put a
    cancel scope around it."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    anything = ssl.create_default_context()
    anything.check_hostname = False
    anything.verify_mode = ssl.CERT_NONE
    der = await _handshake(host, port, anything)
    try:
        await _handshake(host, port, ssl.create_default_context())
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        reason = (cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError)
                  else type(cause).__name__)
        return Presented(fingerprint(der), str(reason))
    return Presented(fingerprint(der), None)


async def _handshake(host: str, port: int, context: ssl.SSLContext) -> bytes:
    stream = await trio.open_tcp_stream(host, port)
    tls = trio.SSLStream(stream, context, server_hostname=host)
    try:
        await tls.do_handshake()
        return tls.getpeercert(binary_form=True) or b""
    finally:
        await trio.aclose_forcefully(tls)


class PanelTls(ssl.SSLContext):
    """The TLS settings of one panel: its pin (None: a public authority must vouch for the
    certificate), and why the last handshake was refused, for the error message (the
    transport reports only that it could not connect)."""

    pin: str | None = None
    refusal: str | None = None


def tls_context(pin: str | None) -> PanelTls:
    context = PanelTls(ssl.PROTOCOL_TLS_CLIENT)
    if pin:
        # The pin is the whole trust: the exact certificate, whoever signed it, any name.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_default_certs()
    context.pin = pin
    context.sslobject_class = _Checked
    return context


class _Checked(ssl.SSLObject):
    """Compares the certificate with the pin once the handshake is done."""

    def do_handshake(self) -> None:
        context = self.context
        assert isinstance(context, PanelTls)
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            context.refusal = f"its certificate is not trusted ({exc.verify_message})"
            raise
        if context.pin is None:
            return
        seen = fingerprint(self.getpeercert(binary_form=True) or b"")
        if seen != context.pin:
            context.refusal = (f"its certificate ({seen}) is not the one pinned "
                               f"({context.pin})")
            raise ssl.SSLCertVerificationError(context.refusal)
