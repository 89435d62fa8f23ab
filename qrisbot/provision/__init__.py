"""Making accounts on the operator's servers: recipes run over SSH, details for the buyer."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from qrisbot.config import Server, Xray
from qrisbot.provision import links
from qrisbot.provision.recipes import (
    TAKEN,
    Account,
    CustomCommands,
    LinuxUsers,
    Presence,
    Recipe,
    XrayMarkers,
)
from qrisbot.provision.ssh import CommandFailed, Connections, SshError

log = logging.getLogger("qrisbot.provision")

__all__ = ["Account", "Presence", "Provisioner", "SshProvisioner", "UsernameTaken", "details"]


class UsernameTaken(Exception):
    """The username exists on the server and is not this order's account."""


class Provisioner(Protocol):
    """What the shop needs from provisioning (the demo and clock tests plug a local one in)."""

    async def presence(self, server: Server, username: str) -> Presence: ...

    async def create(self, server: Server, account: Account) -> None: ...

    def close(self) -> None: ...


def recipe_for(server: Server) -> Recipe:
    if server.commands is not None:
        return CustomCommands(server.commands)
    if server.protocol == "ssh":
        return LinuxUsers()
    return XrayMarkers(server.protocol, server.xray or Xray())


class SshProvisioner:
    def __init__(self, connections: Connections | None = None) -> None:
        self._connections = connections or Connections()

    async def presence(self, server: Server, username: str) -> Presence:
        recipe = recipe_for(server)
        script = recipe.exists(username)
        result = await self._connections.get(server.ssh).run(script.command, script.stdin)
        found = recipe.presence(result.status, result.stdout)
        if found is None:
            raise CommandFailed(
                f"checking a username failed (exit {result.status})", result.status,
                _clean(result.stderr),
            )
        return found

    async def create(self, server: Server, account: Account) -> None:
        script = recipe_for(server).create(account)
        result = await self._connections.get(server.ssh).run(script.command, script.stdin)
        if result.status == TAKEN:
            raise UsernameTaken(account.username)
        if result.status != 0:
            stderr = _clean(result.stderr).replace(account.secret, "***")
            raise CommandFailed(
                f"creating the account failed (exit {result.status}): {stderr}",
                result.status, stderr,
            )
        log.info("account %s created on %s", account.username, server.id)

    def close(self) -> None:
        self._connections.close()


def _clean(text: str) -> str:
    printable = "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
    return printable.strip()[-500:]


def details(server: Server, account: Account) -> dict[str, Any]:
    """Everything the buyer's message shows; stored in the ledger before it is sent."""
    base: dict[str, Any] = {
        "protocol": server.protocol,
        "host": server.domain,
        "username": account.username,
        "secret": account.secret,
        "expires": account.expires.isoformat(),
    }
    if server.protocol == "ssh":
        return base | {
            "kind": "ssh",
            "ports": [[label, port] for label, port in server.ports.items()],
            "payload": f"GET / HTTP/1.1[crlf]Host: {server.domain}[crlf]Upgrade: websocket"
                       "[crlf][crlf]",
        }
    if server.commands is not None or server.xray is None:
        return base | {"kind": "custom"}
    xray = server.xray
    build = links.BUILDERS[server.protocol]
    endpoints = []
    if xray.port_tls:
        endpoints.append(("TLS", links.Endpoint(server.domain, xray.port_tls, True, "ws",
                                                xray.path)))
    if xray.port_ntls:
        endpoints.append(("non-TLS", links.Endpoint(server.domain, xray.port_ntls, False, "ws",
                                                    xray.path)))
    if xray.grpc_service and xray.port_tls:
        endpoints.append(("gRPC", links.Endpoint(server.domain, xray.port_tls, True, "grpc",
                                                 xray.grpc_service)))
    name = f"{account.username}"
    return base | {
        "kind": "xray",
        "network": "ws" + (", grpc" if xray.grpc_service else ""),
        "path": xray.path,
        "ports": [[label, endpoint.port] for label, endpoint in endpoints
                  if endpoint.network == "ws"],
        "links": [[label, build(account.secret, endpoint, name)] for label, endpoint in endpoints],
    }


__all__ += ["SshError", "CommandFailed"]
