"""What a panel shares for one of its clients (its share links and subscription URL), and
the record the buyer receives made of it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from urllib.parse import unquote, urlsplit

import attrs

from qrisbot.config import Server
from qrisbot.provision.delivery import PanelLinks


@attrs.frozen
class PanelShare:
    links: tuple[tuple[str, str], ...]  # (label, share link)
    subscription_url: str | None  # absolute

    def delivery(self, server: Server, username: str, secret: str, expires: dt.date
                 ) -> PanelLinks:
        """The buyer's record: this share with the account's name, secret and last day."""
        return PanelLinks(protocol=server.protocol, host=server.domain, username=username,
                          secret=secret, expires=expires, links=self.links,
                          subscription=self.subscription_url)


def labelled(links: list[str]) -> tuple[tuple[str, str], ...]:
    """Share links with the label a buyer's app shows for them: the remark after `#`
    (vmess: its `ps`), else the protocol."""
    return tuple((_label(link), link) for link in links)


def _label(link: str) -> str:
    scheme, _, rest = link.partition("://")
    if scheme == "vmess":
        try:
            remark = json.loads(base64.b64decode(rest + "=" * (-len(rest) % 4))).get("ps")
        except (ValueError, binascii.Error, AttributeError):
            remark = None
        if isinstance(remark, str) and remark.strip():
            return remark.strip()
    fragment = unquote(urlsplit(link).fragment).strip() if "#" in link else ""
    return fragment or scheme.upper()
