"""Share links as 3x-ui's clients/links and clients/subLinks hand them out (one per inbound)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from qrisbot.testing.xui.panel import Inbound


def share_link(inbound: Inbound, client: dict[str, Any], host: str) -> str:
    name = quote(f"{inbound.remark}-{client.get('email', '')}")
    if inbound.protocol == "vmess":
        body = json.dumps({"v": "2", "ps": f"{inbound.remark}-{client.get('email', '')}",
                           "add": host, "port": inbound.port, "id": client.get("id", ""),
                           "net": "tcp", "type": "none", "tls": "none"}, indent=2)
        return "vmess://" + base64.b64encode(body.encode()).decode()
    if inbound.protocol == "trojan":
        return (f"trojan://{client.get('password', '')}@{host}:{inbound.port}"
                f"?type=tcp&security=none#{name}")
    return (f"vless://{client.get('id', '')}@{host}:{inbound.port}"
            f"?type=tcp&encryption=none&security=none#{name}")
