"""Making accounts on the operator's servers: one backend per server (`port` is the
contract, `registry` builds them), and the details the buyer receives."""

from __future__ import annotations

from typing import Any

from qrisbot.config import Server
from qrisbot.provision.delivery import Delivery
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
    Usage,
)
from qrisbot.provision.registry import Backends, Registry
from qrisbot.provision.ssh.backend import SshBackend, delivery_for
from qrisbot.provision.ssh.connections import CommandFailed

__all__ = ["Account", "AccountMissing", "Backend", "BackendError", "Backends", "CommandFailed",
           "Delivery", "Existing", "Extension", "Feature", "Found", "NoAnswer", "Presence",
           "Registry", "Removal", "Removed", "SecretKind", "ServerError", "SshBackend",
           "SshProvisioner", "Usage", "UsernameTaken", "details"]


class SshProvisioner(Registry):
    """The registry with each call naming its server (tests and benchmarks of the SSH
    backend drive it this way)."""

    def ssh(self, server: Server) -> SshBackend:
        backend = self.backend(server)
        assert isinstance(backend, SshBackend)
        return backend

    async def presence(self, server: Server, username: str) -> Presence:
        return await self.ssh(server).presence(username)

    async def create(self, server: Server, account: Account) -> Delivery:
        return await self.ssh(server).create(account)

    async def extend(self, server: Server, extension: Extension) -> Delivery:
        return await self.ssh(server).extend(extension)

    async def remove(self, server: Server, removals: list[Removal]) -> dict[str, Removed]:
        return await self.ssh(server).remove(removals)

    async def read_accounts(self, server: Server) -> Found:
        return await self.ssh(server).read_accounts()

    async def password_opens(self, server: Server, username: str, password: str) -> bool:
        return await self.ssh(server).login_opens(username, password)

    def close(self) -> None:
        self._connections.close()


def details(server: Server, account: Account) -> dict[str, Any]:
    """What the buyer's message shows for an SSH server's account that the shop did not
    create just now (a claim, an import), as the ledger stores it."""
    return delivery_for(server, account.username, account.secret, account.expires).to_json()
