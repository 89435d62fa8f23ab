"""What the buyer of a panel account receives: the panel's share links for that client and
its subscription URL, as the ledger stores it (`to_json`)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs


@attrs.frozen
class PanelDelivery:
    links: tuple[tuple[str, str], ...]  # (label, share link)
    subscription_url: str | None  # absolute

    def to_json(self) -> dict[str, Any]:
        return {"kind": "panel", "links": [[label, link] for label, link in self.links],
                "subscription": self.subscription_url}


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
