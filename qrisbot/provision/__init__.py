"""Making accounts on the operator's servers: one backend per server (`port` is the
contract, `registry` builds them), and the details the buyer receives."""

from __future__ import annotations

from typing import Any

from qrisbot.config import Server
from qrisbot.provision import links
from qrisbot.provision.errors import AccountMissing, NoAnswer, ServerError, UsernameTaken
from qrisbot.provision.port import (
    Account,
    Backend,
    BackendError,
    Existing,
    Extension,
    Feature,
    Found,
    Presence,
    Removal,
    Removed,
    SecretKind,
)
from qrisbot.provision.registry import Backends, Registry
from qrisbot.provision.ssh.backend import SshBackend, recipe_for
from qrisbot.provision.ssh.connections import CommandFailed
from qrisbot.provision.ssh.recipes import LinuxUsers, XrayMarkers

__all__ = ["Account", "AccountMissing", "Backend", "BackendError", "Backends", "CommandFailed",
           "Existing", "Extension", "Feature", "Found", "NoAnswer", "Presence", "Registry",
           "Removal", "Removed", "SecretKind", "ServerError", "SshBackend", "SshProvisioner",
           "UsernameTaken", "can_extend", "can_read", "can_remove", "details"]


def can_extend(server: Server) -> bool:
    """Can accounts on this server be renewed (custom commands need `extend`)?"""
    return recipe_for(server).can_extend()


def can_remove(server: Server) -> bool:
    """Can expired accounts on this server be removed (custom commands need `delete`)?"""
    return recipe_for(server).can_remove()


def can_read(server: Server) -> bool:
    """Can the accounts on this server be read (for import and drift checks)?"""
    return isinstance(recipe_for(server), (XrayMarkers, LinuxUsers))


class SshProvisioner(Registry):
    """The registry with each call naming its server (tests and benchmarks of the SSH
    backend drive it this way)."""

    def ssh(self, server: Server) -> SshBackend:
        backend = self.backend(server)
        assert isinstance(backend, SshBackend)
        return backend

    async def presence(self, server: Server, username: str) -> Presence:
        return await self.ssh(server).presence(username)

    async def create(self, server: Server, account: Account) -> None:
        await self.ssh(server).create(account)

    async def extend(self, server: Server, extension: Extension) -> None:
        await self.ssh(server).extend(extension)

    async def remove(self, server: Server, removals: list[Removal]) -> dict[str, Removed]:
        return await self.ssh(server).remove(removals)

    async def read_accounts(self, server: Server) -> Found:
        return await self.ssh(server).read_accounts()

    async def password_opens(self, server: Server, username: str, password: str) -> bool:
        return await self.ssh(server).login_opens(username, password)

    def close(self) -> None:
        self._connections.close()


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

