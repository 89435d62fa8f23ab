"""Share links buyers import into their apps: vmess:// (v2rayN), vless://, trojan://."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

import attrs


@attrs.frozen
class Endpoint:
    host: str  # the domain buyers connect to
    port: int
    tls: bool
    network: str = "ws"  # "ws" or "grpc"
    path: str = ""  # websocket path, or the gRPC service name


def vmess(uuid: str, endpoint: Endpoint, name: str) -> str:
    body = {
        "v": "2",
        "ps": name,
        "add": endpoint.host,
        "port": str(endpoint.port),
        "id": uuid,
        "aid": "0",
        "scy": "auto",
        "net": endpoint.network,
        "type": "gun" if endpoint.network == "grpc" else "none",
        "host": endpoint.host,
        "path": endpoint.path,
        "tls": "tls" if endpoint.tls else "",
        "sni": endpoint.host if endpoint.tls else "",
    }
    encoded = base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    return "vmess://" + encoded


def vless(uuid: str, endpoint: Endpoint, name: str) -> str:
    return _url("vless", uuid, endpoint, name, {"encryption": "none"})


def trojan(password: str, endpoint: Endpoint, name: str) -> str:
    return _url("trojan", password, endpoint, name, {})


def _url(scheme: str, user: str, endpoint: Endpoint, name: str, extra: dict[str, str]) -> str:
    query: dict[str, str] = {"type": endpoint.network,
                             "security": "tls" if endpoint.tls else "none", **extra}
    if endpoint.network == "grpc":
        query |= {"serviceName": endpoint.path, "mode": "gun"}
    else:
        query |= {"path": endpoint.path, "host": endpoint.host}
    if endpoint.tls:
        query["sni"] = endpoint.host
    return (
        f"{scheme}://{quote(user, safe='')}@{endpoint.host}:{endpoint.port}"
        f"?{urlencode(query, quote_via=quote, safe='')}#{quote(name, safe='')}"
    )


BUILDERS = {"vmess": vmess, "vless": vless, "trojan": trojan}
