"""A provisioning stand-in that keeps accounts in memory (demo; MockClock tests).

Real provisioning runs paramiko in threads, which trio's MockClock cannot see; tests of
timing use this instead, while SSH behaviour is tested against a real sshd. One object
stands for every server (`backend(server)` gives a server's view of it), so a test reads
and changes all of them in one place.
"""

from __future__ import annotations

import datetime as dt

import attrs
import trio
import trio.lowlevel

from qrisbot.config import Server
from qrisbot.provision import (
    Account,
    AccountMissing,
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
    UsernameTaken,
)
from qrisbot.provision.delivery import Delivery
from qrisbot.provision.ssh.backend import delivery_for, features_of, secret_kind_of
from qrisbot.provision.ssh.connections import CommandFailed, Unreachable
from qrisbot.provision.ssh.recipes import is_sellable_username


@attrs.define
class LocalProvisioner:
    accounts: dict[tuple[str, str], Account] = attrs.Factory(dict)
    creates: int = 0
    extends: int = 0
    removes: int = 0
    failures_left: int = 0
    delay: float = 0.0
    unreachable: bool = False  # as if the server stopped answering SSH
    wedged: set[str] = attrs.Factory(set)  # ids of servers whose calls never return

    async def _answer(self, server: Server) -> None:
        if server.id in self.wedged:
            await trio.sleep_forever()
        if self.unreachable:
            raise Unreachable(f"root@{server.ssh.host}:{server.ssh.port}: cannot connect "
                              "(TimeoutError)")

    def take(self, server_id: str, username: str) -> None:
        """Someone else makes this username on the server (outside the shop)."""
        self.accounts[(server_id, username)] = Account(
            order_id="outside", username=username, secret="outside-pw",
            expires=dt.date(2099, 1, 1), months=1, days=30)

    async def presence(self, server: Server, username: str) -> Presence:
        await trio.lowlevel.checkpoint()
        await self._answer(server)
        return Presence.TAKEN if (server.id, username) in self.accounts else Presence.ABSENT

    async def create(self, server: Server, account: Account) -> Delivery:
        self.creates += 1
        if self.delay:
            await trio.sleep(self.delay)
        await self._answer(server)
        if self.failures_left > 0:
            self.failures_left -= 1
            raise CommandFailed("creating the account failed (exit 1): disk full", 1,
                                "disk full")
        existing = self.accounts.get((server.id, account.username))
        if existing is not None and existing.order_id != account.order_id:
            raise UsernameTaken(account.username)
        self.accounts[(server.id, account.username)] = account
        return delivery_for(server, account.username, account.secret, account.expires)

    async def extend(self, server: Server, extension: Extension) -> Delivery:
        self.extends += 1
        await self._answer(server)
        existing = self.accounts.get((server.id, extension.username))
        if existing is None:
            raise AccountMissing(extension.username)
        if existing.order_id != extension.made_by:
            raise UsernameTaken(extension.username)
        self.accounts[(server.id, extension.username)] = attrs.evolve(
            existing, expires=extension.expires)
        return delivery_for(server, extension.username, extension.secret, extension.expires)

    async def remove(self, server: Server, removals: list[Removal]) -> dict[str, Removed]:
        self.removes += 1
        await self._answer(server)
        outcomes = {}
        for removal in removals:
            existing = self.accounts.get((server.id, removal.username))
            if existing is None:
                outcomes[removal.username] = Removed.GONE
            elif existing.order_id != removal.made_by:
                outcomes[removal.username] = Removed.FOREIGN
            elif existing.expires > removal.expires:
                outcomes[removal.username] = Removed.KEPT
            else:
                del self.accounts[(server.id, removal.username)]
                outcomes[removal.username] = Removed.GONE
        return outcomes

    async def read_accounts(self, server: Server) -> Found:
        await trio.lowlevel.checkpoint()
        await self._answer(server)
        return Found(tuple(Existing(name, a.secret, a.expires)
                           for (server_id, name), a in sorted(self.accounts.items())
                           if server_id == server.id), 0)

    async def password_opens(self, server: Server, username: str, password: str) -> bool:
        await trio.lowlevel.checkpoint()
        await self._answer(server)
        account = self.accounts.get((server.id, username))
        return account is not None and account.secret == password

    def backend(self, server: Server) -> LocalBackend:
        return LocalBackend(self, server)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


@attrs.frozen
class LocalBackend:
    """One server's view of a LocalProvisioner, keeping the backend contract as the SSH
    backend of such a server would."""

    local: LocalProvisioner
    server: Server

    @property
    def features(self) -> frozenset[Feature]:
        return features_of(self.server)

    @property
    def secret_kind(self) -> SecretKind:
        return secret_kind_of(self.server)

    def is_sellable_username(self, name: str) -> bool:
        return is_sellable_username(name)

    async def presence(self, username: str) -> Presence:
        return await self.local.presence(self.server, username)

    async def create(self, account: Account) -> Delivery:
        return await self.local.create(self.server, account)

    async def extend(self, extension: Extension) -> Delivery:
        return await self.local.extend(self.server, extension)

    async def remove(self, removals: list[Removal]) -> dict[str, Removed]:
        return await self.local.remove(self.server, removals)

    async def read_accounts(self) -> Found:
        return await self.local.read_accounts(self.server)

    async def login_opens(self, username: str, password: str) -> bool:
        return await self.local.password_opens(self.server, username, password)

    async def delivery(self, username: str, secret: str, expires: dt.date) -> Delivery:
        await trio.lowlevel.checkpoint()
        return delivery_for(self.server, username, secret, expires)

    async def usage(self) -> dict[str, Usage]:
        raise BackendError(f"{self.server.id}: the server counts no traffic per account",
                           transient=False)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
