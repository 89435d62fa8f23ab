"""What the buyer receives for an account, as the backend that made it describes it.

Each kind is a frozen record whose `to_json` is exactly the JSON the ledger has always
stored in `details` (key for key, in the same order), so rows written before these records
existed read as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import attrs


@attrs.frozen
class _Base:
    protocol: str  # ssh | vmess | vless | trojan
    host: str
    username: str
    secret: str = attrs.field(repr=False)
    expires: dt.date

    def _base(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "host": self.host, "username": self.username,
                "secret": self.secret, "expires": self.expires.isoformat()}


@attrs.frozen
class SshDetails(_Base):
    """An SSH tunnel account: the ports to connect to and the websocket payload."""

    kind: ClassVar[str] = "ssh"
    ports: tuple[tuple[str, int], ...]  # (label, port)
    payload: str

    def to_json(self) -> dict[str, Any]:
        return self._base() | {"kind": self.kind,
                               "ports": [[label, port] for label, port in self.ports],
                               "payload": self.payload}


@attrs.frozen
class XrayLinks(_Base):
    """An Xray account on an autoscript layout: its share links per transport."""

    kind: ClassVar[str] = "xray"
    network: str  # "ws" or "ws, grpc"
    path: str
    ports: tuple[tuple[str, int], ...]  # (label, port) of the websocket endpoints
    links: tuple[tuple[str, str], ...]  # (label, share link)

    def to_json(self) -> dict[str, Any]:
        return self._base() | {"kind": self.kind, "network": self.network, "path": self.path,
                               "ports": [[label, port] for label, port in self.ports],
                               "links": [[label, link] for label, link in self.links]}


@attrs.frozen
class CustomDetails(_Base):
    """An account made by the seller's own commands: the shop knows no more than this."""

    kind: ClassVar[str] = "custom"

    def to_json(self) -> dict[str, Any]:
        return self._base() | {"kind": self.kind}


@attrs.frozen
class PanelLinks(_Base):
    """An account on a web panel: the panel's share links for it and its subscription URL
    (absolute; None when the panel gives none and no `sub_url` is configured)."""

    kind: ClassVar[str] = "panel"
    links: tuple[tuple[str, str], ...]  # (label, share link)
    subscription: str | None

    def to_json(self) -> dict[str, Any]:
        return self._base() | {"kind": self.kind,
                               "links": [[label, link] for label, link in self.links],
                               "subscription": self.subscription}


Delivery = SshDetails | XrayLinks | CustomDetails | PanelLinks
